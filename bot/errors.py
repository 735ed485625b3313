"""Errors whose message is safe, and meant, to be shown to the person who caused them."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused action: the message says what was wrong and what to do.

    Front ends show ``str(error)`` as it is and change nothing; anything that is not
    a ``UserError`` is a bug or an outage and gets a generic apology instead.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
