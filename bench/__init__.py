"""``python -m bench``: fill a database with synthetic content and measure the bot on it."""
