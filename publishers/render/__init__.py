"""From text in Markdown and LaTeX to what each network receives."""
