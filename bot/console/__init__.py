"""The terminal front end: the chat commands, typed or piped, one per line."""
