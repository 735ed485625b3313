"""The console at a terminal: prompt_toolkit's line editor, with log lines above the prompt.

Imported only when standard input and output are both a terminal (a piped session and the
headless service never load prompt_toolkit). Log records and replies written while a
line is being typed appear above the prompt, which is drawn again below them with what
was typed so far (``patch_stdout``). Line editing and history (up and down arrows) come
with the prompt; history lasts as long as the session.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from bot.console.repl import Interrupted


class PromptInput:
    """Lines typed at the terminal. Ctrl-D ends the input; Ctrl-C raises Interrupted.

    Commands and a draft's lines have separate histories, so the up arrow at the command
    prompt recalls commands, not lines of a summary.
    """

    def __init__(self) -> None:
        self.number = 0
        self._commands: PromptSession[str] = PromptSession(history=InMemoryHistory())
        self._drafts: PromptSession[str] = PromptSession(history=InMemoryHistory())
        self._pasted: deque[str] = deque()
        """The further lines of a paste that held several: each is a line of its own."""

    async def line(self, prompt: str = "", default: str = "") -> str | None:
        """The next typed line, the prompt drawn by prompt_toolkit; ``default`` prefilled."""
        if not self._pasted:
            session = self._commands if prompt.startswith("shortscience") else self._drafts
            try:
                # handle_sigint off: `run` keeps its own SIGINT handler (a signal stops it);
                # Ctrl-C typed here is a key, and raises KeyboardInterrupt.
                text = await session.prompt_async(prompt, default=default, handle_sigint=False)
            except EOFError:
                return None
            except KeyboardInterrupt:
                raise Interrupted from None
            self._pasted.extend(text.replace("\r\n", "\n").split("\n"))
        self.number += 1
        return self._pasted.popleft()


@contextmanager
def terminal() -> Iterator[TextIO]:
    """Standard output (and the log handlers that wrote to the terminal) routed above the
    prompt while the console runs; yields the stream replies are written to."""
    before = (sys.stdout, sys.stderr)
    with patch_stdout(raw=True):
        moved: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in before:
                stream = handler.stream
                if _is_terminal(stream):
                    handler.setStream(sys.stderr if stream is before[1] else sys.stdout)
                    moved.append((handler, stream))
        try:
            yield sys.stdout
        finally:
            for handler, stream in moved:
                handler.setStream(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
