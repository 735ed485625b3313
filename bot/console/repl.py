"""Reads commands from a stream, one per line, and prints each reply.

The same loop serves a person at a terminal and a script feeding a pipe: a bad line
prints its message and the next line is read; only the end of input stops it.

Bytes that are not UTF-8 reach us as lone surrogates (the stream is read with
``surrogateescape``): such a line is refused with its number and its bytes. Inside a
submission the draft is kept: the line is left out and the next one continues the body
(on a terminal, type it again).

A draft (``/submit``, ``/edit``) follows the same rules typed or piped:

- the paper (or the summary to edit) is checked before the TL;DR is asked for, and the
  TL;DR as soon as it is entered; a refused line is left out and the next line takes its
  place (a body line too: control characters, or past the length limit);
- a line that starts with a known command (``/mine``, ``/help``, ...) is never text: the
  draft is put aside, kept and not sent, and the command runs; ``/retry`` reopens it where
  it stopped. ``/cancel`` drops the draft. A line starting with a space is always text;
- a submission refused when it is sent keeps its draft: ``/retry`` sends it again,
  ``/draft`` shows it, ``/cancel`` drops it. One draft is kept at a time.

On a terminal (standard input and output both), lines are read with prompt_toolkit (see
``bot.console.prompt``): line editing, history, and log lines printed above the prompt.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from bot.commands import digests, moderation, papers, submissions, votes
from bot.commands.context import Actor, CommandContext
from bot.commands.parsing import digest_number, summary_number, vote_direction
from bot.commands.replies import Reply
from bot.console.render import render, render_error
from bot.errors import UserError

log = logging.getLogger(__name__)

END_OF_BODY = "."
NOT_A_COMMAND = "Commands start with /, e.g. /summary 1606.04474. /help lists them."

HELP = """Commands (one per line):
  /summary <arXiv id>          a paper and its community summaries
  /search <words>              stored papers and summaries; arXiv when nothing matches
  /browse year|venue|category <value>
  /submit <arXiv id> [--anonymous]
                               then the TL;DR on the next line, then the body,
                               ended by a line holding only "."; --anonymous shows
                               "Anonymous" as the author to all but moderators
  /cancel                      drop the draft being written (or kept)
  /retry                       reopen a draft put aside, or send a refused one again
  /draft                       show the kept draft
  /vote <number> up|down       vote on someone else's published summary
  /edit <number>               the same, replacing your pending summary
  /withdraw <number>           take back your pending summary
  /mine                        your summaries and their status
  /queue                       pending summaries (moderators)
  /approve <number>            (moderators)
  /reject <number> <reason>    (moderators)
  /digests                     digests waiting for approval (moderators)
  /approve-digest <number>, /reject-digest <number>
  /drop-from-digest <number> <summary>   take a summary out of a draft digest
  /help, /quit

While a draft is open, a line starting with one of these commands is not text: the
draft is put aside (kept, not sent) and the command runs. Start a line with a space to
write it as text.
"""

DRAFT_COMMANDS = ("/cancel", "/retry", "/draft")
QUIT = ("/quit", "/exit")


class UndecodableLine(UserError):
    """A line holding bytes that are not UTF-8; the message names the line and the bytes."""


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]+")
"""Bytes that were not UTF-8, as ``surrogateescape`` hands them over."""


def undecodable(text: str, number: int) -> UndecodableLine | None:
    """The error for line ``number`` when it holds bytes that are not UTF-8, else None."""
    found = _ESCAPED_BYTE.search(text)
    if found is None:
        return None
    shown = " ".join(
        f"{ord(char) - 0xDC00:02x}" for run in _ESCAPED_BYTE.finditer(text) for char in run.group()
    )
    before = text[: found.start()][-20:]
    where = f"after “{before}”" if before.strip() else "at the start"
    return UndecodableLine(
        f"Line {number} is not UTF-8 text: bytes {shown} (hex), the first {where}, cannot be read."
    )


class Interrupted(Exception):
    """Ctrl-C at a terminal prompt: a draft is put aside, the session's prompt ends it."""


class LineSource(Protocol):
    """Where the console's lines come from: a stream (:class:`Input`) or a terminal prompt."""

    number: int

    async def line(self, prompt: str = "", default: str = "") -> str | None:
        """The next line without its end, or None at the end of input."""
        ...


class Input:
    """Lines from a stream, read by a daemon thread so the event loop never waits on it.

    Not the default executor: a read blocked on a quiet terminal would keep
    ``asyncio.run`` from finishing after SIGTERM. A daemon thread is simply left behind.
    """

    def __init__(self, stream: TextIO, out: TextIO, *, interactive: bool) -> None:
        self.stream = stream
        self.out = out
        self.interactive = interactive
        self.number = 0
        """How many lines have been read: the number of the last one."""
        self._lines: asyncio.Queue[str] | None = None

    def _start(self) -> asyncio.Queue[str]:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str] = asyncio.Queue()

        def pump() -> None:
            while True:
                text = self.stream.readline()
                try:
                    loop.call_soon_threadsafe(lines.put_nowait, text)
                except RuntimeError:  # the loop is gone: nobody is listening any more
                    return
                if text == "":
                    return

        threading.Thread(target=pump, name="console-input", daemon=True).start()
        return lines

    async def line(self, prompt: str = "", default: str = "") -> str | None:
        """The next line, or None at the end of input; with the prompt when typed by a person
        (``default`` is for prompts that can prefill the line; a stream has nothing to
        prefill)."""
        if self._lines is None:
            self._lines = self._start()
        if self.interactive and prompt:
            self.out.write(prompt)
            self.out.flush()
        text = await self._lines.get()
        if text == "":
            self._lines.put_nowait("")  # the end of input stays the end for later reads
            return None
        self.number += 1
        line = text.rstrip("\r\n")
        problem = undecodable(line, self.number)
        if problem is not None:
            raise problem
        return line


@dataclass
class Draft:
    """A summary being written, or kept after it was put aside or refused when sent."""

    command: str
    """How it was opened ("/submit 1606.04474"), for the messages that name it."""
    send: Callable[[str, str], Awaitable[Reply]]
    """(TL;DR, body) -> the reply: the submission or the edit."""
    tldr: str | None = None
    body: list[str] = field(default_factory=list)
    finished: bool = False
    """Ended by "." and sent, but refused: /retry sends it again as it is."""
    tldr_default: str = ""
    """What a terminal prefills at the TL;DR prompt: the refused one, or the text edited."""


class PutAside(Exception):
    """A draft was left by a command line (``line``) or Ctrl-C (None); it is kept."""

    def __init__(self, line: str | None) -> None:
        super().__init__(line)
        self.line = line


@dataclass
class Console:
    ctx: CommandContext
    actor: Actor
    source: LineSource
    out: TextIO
    seen: dict[int, int] = field(default_factory=dict)
    """Summary number -> the revision this session last showed its moderator."""
    seen_digests: dict[int, int] = field(default_factory=dict)
    """Draft digest number -> its revision as /digests last showed it."""
    failures: int = 0
    """Lines that failed: commands refused or gone wrong, and lines that could not be read."""
    kept: Draft | None = None
    """The draft being written, or put aside, or refused: what /retry, /draft, /cancel see."""

    def write(self, text: str) -> None:
        """Print and flush, so a piped reader sees each reply as it comes."""
        self.out.write(text)
        self.out.flush()

    def fail(self, message: str) -> None:
        """Print a refusal and count it: a piped session with failures exits non-zero."""
        self.failures += 1
        self.write(render_error(message))

    async def _draft_line(self, prompt: str, default: str = "") -> str | None:
        """The next line of a draft; an unreadable one is reported and left out, and the
        draft goes on with the line after it. Ctrl-C puts the draft aside."""
        while True:
            try:
                return await self.source.line(prompt, default)
            except UndecodableLine as error:
                self.fail(
                    f"{error} It was left out of your draft, which is kept: type the line "
                    "again, or go on."
                )
            except Interrupted:
                raise PutAside(None) from None

    def _is_command(self, line: str) -> bool:
        """A line starting with a known command (not with a space): never a draft's text."""
        words = line.split(maxsplit=1)
        return line.startswith("/") and words[0].lower() in self._known()

    def _known(self) -> list[str]:
        return [*self._handlers(), *QUIT]

    def _cancelled(self, line: str) -> bool:
        """True for /cancel; any other command line puts the draft aside (PutAside)."""
        if not self._is_command(line):
            return False
        if line.split(maxsplit=1)[0].lower() == "/cancel":
            return True
        raise PutAside(line)

    def _open(self, draft: Draft) -> None:
        if self.kept is not None and self.kept is not draft:
            self.write(f"Note: your kept draft of {self.kept.command} was dropped for this one.\n")
        self.kept = draft

    def _drop(self) -> Reply:
        draft, self.kept = self.kept, None
        what = f" of {draft.command}" if draft is not None else ""
        return Reply(text=f"Draft{what} dropped; nothing was saved.")

    async def _write(self, draft: Draft) -> Reply:
        """Read the TL;DR (checked at once) and the body up to ".", then send the draft.

        The draft stays in ``self.kept`` until it is sent: a command line or Ctrl-C leaves
        it there (PutAside), and a refusal when it is sent too.
        """
        self._open(draft)
        limits = self.ctx.limits
        while draft.tldr is None:
            line = await self._draft_line("TL;DR> ", draft.tldr_default)
            if line is None:
                self.kept = None
                raise UserError("Input ended before the TL;DR; nothing was saved.")
            if self._cancelled(line):
                return self._drop()
            try:
                draft.tldr = submissions.clean_tldr(line, limits)
            except UserError as error:
                draft.tldr_default = line
                self.fail(f"{error} Type the TL;DR again, or /cancel to drop the draft.")
        while not draft.finished:
            line = await self._draft_line("... ")
            if line is None:
                self.kept = None
                raise UserError(
                    'Input ended before the line holding only "." that ends the body; '
                    "nothing was saved."
                )
            if self._cancelled(line):
                return self._drop()
            if line.strip() == END_OF_BODY:
                try:
                    submissions.clean_body("\n".join(draft.body), limits)
                except UserError as error:
                    self.fail(f'{error} Then end it with a line holding only ".".')
                    continue
                draft.finished = True
                break
            try:
                submissions.clean_body("\n".join([*draft.body, line]), limits, finished=False)
            except UserError as error:
                self.fail(
                    f"{error} That line was left out of your draft, which is kept: type it "
                    "again, or go on."
                )
                continue
            draft.body.append(line)
        return await self._send(draft)

    async def _send(self, draft: Draft) -> Reply:
        """Send a finished draft; refused, it is kept for /retry."""
        try:
            reply = await draft.send(draft.tldr or "", "\n".join(draft.body))
        except UserError as error:
            raise UserError(
                f"{error} Your draft is kept: /retry sends it again, /draft shows it, "
                "/cancel drops it."
            ) from None
        self.kept = None
        return reply

    async def _retry(self, _rest: str) -> Reply:
        draft = self.kept
        if draft is None:
            raise UserError("There is no draft to retry. /submit <arXiv id> starts one.")
        if draft.finished:
            return await self._send(draft)
        lines = len(draft.body)
        so_far = (
            f"TL;DR: {draft.tldr}; {lines} line{'s' if lines != 1 else ''} of body so far. "
            'Go on; a line holding only "." ends the body.'
            if draft.tldr is not None
            else "Type the TL;DR."
        )
        self.write(render(Reply(text=f"Draft of {draft.command} reopened. {so_far}")))
        return await self._write(draft)

    async def _cancel(self, _rest: str) -> Reply:
        if self.kept is None:
            raise UserError("There is no draft to cancel.")
        return self._drop()

    async def _show_draft(self, _rest: str) -> Reply:
        draft = self.kept
        if draft is None:
            raise UserError("There is no draft. /submit <arXiv id> starts one.")
        state = (
            "refused when sent: /retry sends it again"
            if draft.finished
            else "not finished: /retry reopens it"
        )
        return Reply(
            title=f"Your draft of {draft.command}",
            lead=draft.tldr or "",
            text="\n".join(draft.body) or "(no body yet)",
            footer=f"It is {state}; /cancel drops it.",
        )

    async def dispatch(self, line: str) -> Reply | None:
        """Run one typed line as its command; None for a line that is not one."""
        name, _, rest = line.strip().partition(" ")
        name, rest = name.lower(), rest.strip()
        handler = self._handlers().get(name)
        if handler is None:
            close = difflib.get_close_matches(name, self._known(), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UserError(f"Unknown command {name[:30]!r}.{hint} Type /help for the list.")
        return await handler(rest)

    def _handlers(self) -> dict[str, Callable[[str], Awaitable[Reply | None]]]:
        return {
            "/summary": self._summary,
            "/search": lambda rest: papers.search(self.ctx, rest),
            "/browse": self._browse,
            "/submit": self._submit,
            "/vote": self._vote,
            "/edit": self._edit,
            "/withdraw": lambda rest: submissions.withdraw(
                self.ctx, self.actor, summary_number(_required(rest, "/withdraw 12"))
            ),
            "/mine": lambda _rest: submissions.mine(self.ctx, self.actor),
            "/queue": lambda _rest: moderation.queue(self.ctx, self.actor),
            "/approve": self._approve,
            "/reject": self._reject,
            "/digests": lambda _rest: digests.drafts(self.ctx, self.actor),
            "/approve-digest": lambda rest: self._decide_digest(
                rest, "/approve-digest 3", "approve digests", digests.approve_and_send
            ),
            "/reject-digest": lambda rest: self._decide_digest(
                rest, "/reject-digest 3", "reject digests", digests.reject_draft
            ),
            "/drop-from-digest": self._drop_from_digest,
            "/cancel": self._cancel,
            "/retry": self._retry,
            "/draft": self._show_draft,
            "/help": self._help,
        }

    async def _help(self, _rest: str) -> Reply:
        return Reply(text=HELP.rstrip())

    async def _summary(self, rest: str) -> Reply:
        return await papers.summary(
            self.ctx, _required(rest, "/summary 1606.04474"), viewer=self.actor
        )

    async def _browse(self, rest: str) -> Reply:
        facet, _, value = rest.replace("=", " ", 1).partition(" ")
        return await papers.browse(self.ctx, facet, value)

    async def _submit(self, rest: str) -> Reply:
        words = rest.split()
        anonymous = "--anonymous" in words
        unknown = [word for word in words if word.startswith("--") and word != "--anonymous"]
        if unknown:
            raise UserError(
                f"Unknown option {unknown[0][:30]!r}. Use /submit 1606.04474 or "
                "/submit 1606.04474 --anonymous."
            )
        reference = _required(
            " ".join(word for word in words if word != "--anonymous"), "/submit 1606.04474"
        )
        # What can be refused before anyone writes is refused now: the id, the rate limit,
        # a summary of this paper already waiting, a paper arXiv does not have.
        await submissions.check_can_submit(self.ctx, self.actor, reference)

        async def send(tldr: str, body: str) -> Reply:
            return await submissions.submit(
                self.ctx, self.actor, reference, tldr, body, anonymous=anonymous
            )

        anonymously = " --anonymous" if anonymous else ""
        return await self._write(Draft(f"/submit {reference}{anonymously}", send))

    async def _vote(self, rest: str) -> Reply:
        number, _, direction = rest.partition(" ")
        if not number or not direction.strip():
            raise UserError("Name the summary and up or down: /vote 12 up")
        return await votes.vote(
            self.ctx, self.actor, summary_number(number), vote_direction(direction)
        )

    async def _edit(self, rest: str) -> Reply:
        number = summary_number(_required(rest, "/edit 12"))
        current = await submissions.own_pending(self.ctx, self.actor, number)

        async def send(tldr: str, body: str) -> Reply:
            return await submissions.edit(self.ctx, self.actor, number, tldr, body)

        return await self._write(Draft(f"/edit {number}", send, tldr_default=current.tldr))

    def _moderated(self, text: str, parse: Callable[[str], int], what: str) -> int:
        """The number a moderator typed; anyone else is refused before it is even read."""
        moderation.require_moderator(self.actor, what)
        return parse(text)

    def _seen_revision(self, number: str, what: str) -> tuple[int, int | None]:
        """The summary, and the revision of it this moderator was shown (None: never shown;
        the decision then says what became of it, or asks them to read it first)."""
        summary_id = self._moderated(number, summary_number, what)
        return summary_id, self.seen.get(summary_id)

    async def _approve(self, rest: str) -> Reply:
        number = _required(rest, "/approve 12")
        summary_id, revision = self._seen_revision(number, "approve summaries")
        return await moderation.approve(
            self.ctx, self.actor, summary_id, revision=revision, must_have_read=True
        )

    async def _reject(self, rest: str) -> Reply:
        number, _, reason = rest.partition(" ")
        if not number:
            raise UserError("Name the summary and the reason: /reject 12 <reason>")
        summary_id, revision = self._seen_revision(number, "reject summaries")
        return await moderation.reject(
            self.ctx, self.actor, summary_id, reason, revision=revision, must_have_read=True
        )

    async def _decide_digest(
        self, rest: str, example: str, what: str, decide: Callable[..., Awaitable[Reply]]
    ) -> Reply:
        """On the draft as /digests last showed it, if it did."""
        digest_id = self._moderated(_required(rest, example), digest_number, what)
        return await decide(
            self.ctx, self.actor, digest_id, revision=self.seen_digests.get(digest_id)
        )

    async def _drop_from_digest(self, rest: str) -> Reply:
        number, _, summary = rest.strip().partition(" ")
        if not number or not summary.strip():
            raise UserError("Name the digest and the summary: /drop-from-digest 12 34")
        digest_id = self._moderated(number, digest_number, "change digests")
        return await digests.drop(self.ctx, self.actor, digest_id, summary_number(summary))

    def _remember(self, reply: Reply) -> None:
        for action in reply.actions:
            if action.revision is None:
                continue
            if action.command in ("approve", "reject"):
                self.seen[int(action.argument)] = action.revision
            elif action.command in ("approve-digest", "reject-digest"):
                self.seen_digests[int(action.argument)] = action.revision

    async def run(self) -> int:
        """Serve lines until the input ends or /quit; returns how many lines failed."""
        pending: str | None = None
        """A command line that put a draft aside: it runs next."""
        while True:
            line: str | None
            if pending is not None:
                line, pending = pending, None
            else:
                try:
                    line = await self.source.line("shortscience> ")
                except UndecodableLine as error:
                    self.fail(f"{error} Send commands as UTF-8 text.")
                    continue
                except Interrupted:
                    break
            if line is None:
                break
            if not line.strip():
                continue
            if line.strip().lower() in QUIT:
                break
            if not line.lstrip().startswith("/"):
                self.fail(NOT_A_COMMAND)
                continue
            try:
                reply = await self.dispatch(line)
            except PutAside as aside:
                pending = aside.line
                self._put_aside(aside)
                continue
            except UserError as error:
                self.fail(str(error))
                continue
            except Exception:
                log.exception("command failed: %s", line.split(" ", 1)[0])
                self.fail("Something went wrong on our side; it has been logged.")
                continue
            if reply is not None:
                self._remember(reply)
                self.write(render(reply))
        if self.kept is not None:
            self.write(f"Note: your draft of {self.kept.command} was not sent.\n")
        return self.failures

    def _put_aside(self, aside: PutAside) -> None:
        command = self.kept.command if self.kept is not None else "a summary"
        then = "/retry reopens it where it stopped, /cancel drops it."
        if aside.line is None:  # Ctrl-C: asked for, not a mistake
            self.write(f"\nNote: your draft of {command} is put aside, not sent. {then}\n")
            return
        typed = aside.line.split(maxsplit=1)[0]
        self.fail(
            f"Your draft of {command} is put aside, not sent: {typed[:30]} is a command. "
            f'A draft ends with a line holding only "."; to write a line starting with '
            f"{typed[:30]} as text, start it with a space. {then}"
        )


def _required(rest: str, example: str) -> str:
    """The command's argument; a missing one gets an example of the command."""
    if not rest.strip():
        raise UserError(f"{example.split(' ', 1)[0]} needs an argument, e.g. {example}")
    return rest.strip()


async def chat(
    ctx: CommandContext, actor: Actor, stream: TextIO, out: TextIO, *, interactive: bool
) -> int:
    """Run the console until the input ends; returns the number of failed lines.

    A person at a terminal (``stream`` and ``out`` both one) gets prompt_toolkit's line
    editor, with log lines printed above the prompt; anything else, the plain reader.
    """
    banner = (
        f"shortscience chat as {actor.display_name}"
        f"{' (moderator)' if actor.is_moderator else ''}. /help lists the commands.\n"
    )
    if interactive and _is_terminal(stream) and _is_terminal(out):
        from bot.console.prompt import PromptInput, terminal  # only a terminal needs it

        with terminal() as screen:
            screen.write(banner)
            return await Console(ctx, actor, PromptInput(), screen).run()
    if interactive:
        out.write(banner)
    console = Console(ctx, actor, Input(stream, out, interactive=interactive), out)
    return await console.run()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or closed
        return False
