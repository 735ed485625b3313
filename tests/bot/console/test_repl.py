"""The terminal front end: commands one per line, typed or piped, replies as plain text."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.commands import submissions
from bot.commands.context import Actor, CommandContext
from bot.console.repl import NOT_A_COMMAND, chat
from storage.database import Database
from storage.models import Summary
from tests.servers.arxiv_server import FakeArxiv

ADA = Actor(platform="console", external_id="ada", display_name="ada")
MIA = Actor(platform="console", external_id="mia", display_name="mia", is_moderator=True)


async def _chat(ctx: CommandContext, text: str, actor: Actor = ADA) -> tuple[str, int]:
    out = io.StringIO()
    failures = await chat(ctx, actor, io.StringIO(text), out, interactive=False)
    return out.getvalue(), failures


async def test_summary_prints_title_authors_and_abstract(ctx: CommandContext) -> None:
    output, failures = await _chat(ctx, "/summary 1606.04474\n")
    assert failures == 0
    assert output.startswith("Learning to learn by gradient descent by gradient descent\n")
    assert "Authors: Marcin Andrychowicz, Misha Denil, Sergio Gomez" in output
    assert "The move from hand-designed features to learned features" in output
    assert "No summaries yet. Be the first: /submit 1606.04474" in output


async def test_a_multi_line_submission_then_approval(ctx: CommandContext, db: Database) -> None:
    script = (
        "/submit 1606.04474\n"
        "An LSTM learns to optimize.\n"
        "# Idea\n"
        "\n"
        "Train the optimizer $g_\\phi$ by gradient descent.\n"
        ".\n"
    )
    output, failures = await _chat(ctx, script)
    assert failures == 0
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert f"Summary #{summary.id} received" in output
    assert summary.tldr == "An LSTM learns to optimize."
    assert summary.body == "# Idea\n\nTrain the optimizer $g_\\phi$ by gradient descent."
    output, failures = await _chat(ctx, f"/queue\n/approve {summary.id}\n", actor=MIA)
    assert failures == 0
    assert f"Summary #{summary.id} approved" in output
    output, _ = await _chat(ctx, "/summary 1606.04474\n")
    assert f"--- #{summary.id} by ada\nTL;DR: An LSTM learns to optimize." in output
    assert "Train the optimizer $g_\\phi$ by gradient descent." in output


async def test_bad_lines_print_a_message_and_the_console_goes_on(
    ctx: CommandContext, db: Database
) -> None:
    script = (
        "hello\n"
        "/frobnicate\n"
        "/summary not-an-id\n"
        "/summary\n"
        "/approve 1\n"
        "/reject 1\n"
        "/browse colour red\n"
        "/summary 1810.03292\n"
    )
    output, failures = await _chat(ctx, script)
    assert failures == 7
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: Commands start with /, e.g. /summary 1606.04474. /help lists them.",
        "Error: Unknown command '/frobnicate'. Type /help for the list.",
        "Error: 'not-an-id' is not an arXiv id. Try one like 1606.04474, 2006.09661v3, "
        "hep-th/9901001 or https://arxiv.org/abs/1606.04474.",
        "Error: /summary needs an argument, e.g. /summary 1606.04474",
        "Error: Only moderators can approve summaries. Ask one of your server's moderators.",
        "Error: Only moderators can reject summaries. Ask one of your server's moderators.",
        "Error: Browse by year, venue or category, e.g. /browse year 2016, "
        "/browse category cs.LG or /browse venue NeurIPS",
    ]
    assert "Sanity Checks for Saliency Maps" in output


async def test_typed_numbers_and_votes_are_read_by_the_console(ctx: CommandContext) -> None:
    """The console parses what is typed; the commands take numbers and directions."""
    script = (
        "/withdraw twelve\n"
        "/vote 1 sideways\n"
        "/edit #\n"
        "/approve-digest three\n"
        "/drop-from-digest 3 x\n"
    )
    output, failures = await _chat(ctx, script, actor=MIA)
    assert failures == 5
    assert [line for line in output.splitlines() if line.startswith("Error: ")] == [
        "Error: “twelve” is not a summary number. Use one like #12.",
        "Error: “sideways” is not a vote. Vote up or down, e.g. /vote 12 up.",
        "Error: “#” is not a summary number. Use one like #12.",
        "Error: “three” is not a digest number. Use one like 12.",
        "Error: “x” is not a summary number. Use one like #12.",
    ]


async def test_input_ending_inside_a_submission_saves_nothing(
    ctx: CommandContext, db: Database
) -> None:
    output, failures = await _chat(ctx, "/submit 1606.04474\nTL;DR\nbody without an end\n")
    assert failures == 1
    assert 'Input ended before the line holding only "."' in output
    with db.sessions() as session:
        assert session.scalars(select(Summary)).all() == []


async def test_quit_stops_reading(ctx: CommandContext) -> None:
    output, _ = await _chat(ctx, "/help\n/quit\n/summary 1606.04474\n")
    assert "/summary <arXiv id>" in output
    assert "Learning to learn" not in output


def _config(tmp_path: Path, arxiv_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[arxiv]\napi_url = '{arxiv_url}'\nrequest_interval_seconds = 0.0\n"
        "timeout_seconds = 2.0\nmax_retries = 1\n",
        encoding="utf-8",
    )
    return path


def _shortscience_chat(
    tmp_path: Path, config: Path, stdin: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SHORTSCIENCE_CONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "chat", *args],
        input=stdin,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_piped_into_shortscience_chat(tmp_path: Path, arxiv_server: FakeArxiv) -> None:
    config = _config(tmp_path, arxiv_server.url)
    result = _shortscience_chat(tmp_path, config, "/summary 1606.04474\n")
    assert result.returncode == 0, result.stderr
    assert "Learning to learn by gradient descent by gradient descent" in result.stdout
    assert "Marcin Andrychowicz" in result.stdout
    assert "The move from hand-designed features" in result.stdout
    assert arxiv_server.request_count == 1


def test_a_scripted_session_with_user_and_moderator_flags(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    config = _config(tmp_path, arxiv_server.url)
    submitted = _shortscience_chat(
        tmp_path,
        config,
        "/submit 1810.03292\nRandomized models expose bad saliency maps.\nBody.\n.\n",
        "--user",
        "ada",
    )
    assert "Summary #1 received" in submitted.stdout
    approved = _shortscience_chat(
        tmp_path, config, "/queue\n/approve #1\n", "--user", "mia", "--moderator"
    )
    assert "Summary #1 approved" in approved.stdout
    shown = _shortscience_chat(tmp_path, config, "/summary 1810.03292\n/mine\n", "--user", "ada")
    assert "--- #1 by ada\nTL;DR: Randomized models expose bad saliency maps." in shown.stdout
    assert "#1 · approved · Sanity Checks for Saliency Maps" in shown.stdout
    assert arxiv_server.request_count == 1  # the paper was stored by the first lookup


def test_arxiv_down_in_a_pipe_prints_the_reason(tmp_path: Path, arxiv_server: FakeArxiv) -> None:
    config = _config(tmp_path, arxiv_server.url)
    arxiv_server.fail_next(10, status=503)
    result = _shortscience_chat(tmp_path, config, "/summary 1606.04474\n")
    assert result.returncode == 1  # a script learns that a line failed
    assert "Error: arXiv is not answering right now and 1606.04474 is not stored here yet" in (
        result.stdout
    )
    assert "Traceback" not in result.stderr


async def test_control_characters_in_stored_text_never_reach_the_terminal(
    ctx: CommandContext, db: Database
) -> None:
    """Text stored before such characters were refused (or written by another tool)."""
    await _chat(ctx, "/submit 1606.04474\nHarmless.\nA body.\n.\n")
    with db.transaction() as session:
        summary = session.scalars(select(Summary)).one()
        summary.body = "Visible\x1b[2K\rHidden\x07 and \x9b31m"
        summary.tldr = "Clear\x1b]0;title\x07"
    output, _ = await _chat(ctx, "/queue\n", actor=MIA)
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    assert "\r" not in output
    assert "Visible\\x1b[2K\\x0dHidden\\x07 and \\x9b31m" in output


async def _until(out: io.StringIO, text: str) -> None:
    async with asyncio.timeout(10):
        while text not in out.getvalue():
            await asyncio.sleep(0.01)


async def test_a_console_moderator_decides_on_the_revision_they_were_shown(
    ctx: CommandContext, db: Database
) -> None:
    await _chat(ctx, "/submit 1606.04474\nFirst.\nFirst body.\n.\n")
    output, failures = await _chat(ctx, "/approve 1\n", actor=MIA)
    assert failures == 1
    assert "Read summary #1 before deciding" in output

    # One moderator session: it shows the queue, the author edits, the moderator approves.
    reader, writer = os.pipe()
    out = io.StringIO()
    with os.fdopen(reader, "r") as stream, os.fdopen(writer, "w") as typed:
        session = asyncio.create_task(chat(ctx, MIA, stream, out, interactive=False))
        typed.write("/queue\n")
        typed.flush()
        await _until(out, "First body.")
        await submissions.edit(ctx, ADA, 1, "Second.", "Second body.")
        typed.write("/approve 1\n")
        typed.flush()
        await _until(out, "Error: ")
        assert "was edited after you read it" in out.getvalue()
        typed.write("/queue\n/approve 1\n")
        typed.flush()
        await _until(out, "Summary #1 approved")
        typed.close()
        await session
    with db.sessions() as session_:
        summary = session_.scalars(select(Summary)).one()
    assert (summary.tldr, summary.revision, summary.status.value) == ("Second.", 2, "approved")


async def test_an_anonymous_submission_and_votes_from_the_terminal(
    ctx: CommandContext, db: Database
) -> None:
    script = "/submit 1606.04474 --anonymous\nLearned optimizers.\nBody.\n.\n"
    output, failures = await _chat(ctx, script)
    assert failures == 0
    assert "shown as written by Anonymous" in output
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.anonymous
    output, _ = await _chat(ctx, f"/queue\n/approve {summary.id}\n/summary 1606.04474\n", MIA)
    assert f"--- #{summary.id} by ada (shown as Anonymous)" in output
    bob = Actor(platform="console", external_id="bob", display_name="bob")
    output, failures = await _chat(
        ctx, f"/vote {summary.id} up\n/vote {summary.id}\n/summary 1606.04474\n", bob
    )
    assert failures == 1
    assert f"You voted #{summary.id} up. Its score is now +1." in output
    assert "Name the summary and up or down: /vote 12 up" in output
    assert f"--- #{summary.id} by Anonymous" in output
    output, failures = await _chat(ctx, "/submit 1605.08803 --anon\n")
    assert failures == 1
    assert "Unknown option '--anon'" in output


# --- bytes that are not UTF-8, bidirectional controls (issue 16) -----------------------------

HOSTILE_SCRIPT = (
    b"/submit 1606.04474\n"
    b"In Latin-1: caf\xe9\n"  # line 2
    b"The TL;DR, again in UTF-8: caf\xc3\xa9.\n"
    b"First body line.\n"
    b"\xff\xfe half a line\n"  # line 5
    b"Last body line.\n"
    b".\n"
    b"/mine\xa0\n"  # line 8
)


async def test_bytes_that_are_not_utf8_name_their_line_and_the_draft_is_kept(
    ctx: CommandContext, db: Database
) -> None:
    """They lost the submission with "Something went wrong on our side"."""
    stream = io.TextIOWrapper(
        io.BytesIO(HOSTILE_SCRIPT), encoding="utf-8", errors="surrogateescape"
    )
    out = io.StringIO()
    failures = await chat(ctx, ADA, stream, out, interactive=False)
    errors = [line for line in out.getvalue().splitlines() if line.startswith("Error: ")]
    kept = "It was left out of your draft, which is kept: type the line again, or go on."
    assert errors == [
        "Error: Line 2 is not UTF-8 text: bytes e9 (hex), the first after “In Latin-1: caf”, "
        f"cannot be read. {kept}",
        "Error: Line 5 is not UTF-8 text: bytes ff fe (hex), the first at the start, cannot be "
        f"read. {kept}",
        "Error: Line 8 is not UTF-8 text: bytes a0 (hex), the first after “/mine”, cannot be "
        "read. Send commands as UTF-8 text.",
    ]
    assert failures == 3
    assert "Something went wrong" not in out.getvalue()
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.tldr == "The TL;DR, again in UTF-8: café."
    assert summary.body == "First body line.\nLast body line."


def test_a_piped_session_with_errors_exits_1_and_says_so(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    config = _config(tmp_path, arxiv_server.url)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SHORTSCIENCE_CONFIG")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "chat", "--user", "ada"],
        input=HOSTILE_SCRIPT,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "shortscience: chat: 3 lines failed (each error is printed above)"
    )
    assert "Error: Line 5 is not UTF-8 text: bytes ff fe (hex)" in stdout
    assert "Summary #1 received" in stdout
    clean = _shortscience_chat(tmp_path, config, "/mine\n", "--user", "ada")
    assert clean.returncode == 0, clean.stderr
    assert "#1 · pending" in clean.stdout


async def test_bidirectional_controls_in_stored_text_never_reach_the_terminal(
    ctx: CommandContext, db: Database
) -> None:
    """Rows stored before they were refused: a moderator reads them in stored order."""
    await _chat(ctx, "/submit 1606.04474\nHarmless.\nA body.\n.\n")
    with db.transaction() as session:
        summary = session.scalars(select(Summary)).one()
        summary.tldr = "Approve \u202egnp.exe\u202c now"
        summary.body = "Isolated \u2067txet\u2069 and marked \u200f(ok)"
    output, failures = await _chat(ctx, "/queue\n", actor=MIA)
    assert failures == 0
    assert not any(chr(code) in output for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
    assert "Approve gnp.exe now" in output
    assert "Isolated txet and marked \u200f(ok)" in output


async def test_deciding_on_a_summary_never_shown_says_what_became_of_it(
    ctx: CommandContext,
) -> None:
    output, failures = await _chat(ctx, "/approve 99\n/reject 99 Off topic.\n", actor=MIA)
    assert failures == 2
    assert output.count("There is no summary #99.") == 2
    assert "Read summary" not in output
    await _chat(ctx, "/submit 1606.04474\nFirst.\nFirst body.\n.\n")
    output, failures = await _chat(ctx, "/approve 1\n", actor=MIA)
    assert "Read summary #1 before deciding" in output, "pending and never shown: read it first"
    await _chat(ctx, "/queue\n/approve 1\n", actor=MIA)
    output, failures = await _chat(ctx, "/approve 1\n/reject 1 Too short.\n", actor=MIA)
    assert failures == 2
    assert output.count("Summary #1 is already approved by mia; nothing changed.") == 2
    await _chat(ctx, "/submit 1605.08386\nSecond.\nSecond body.\n.\n/withdraw 2\n")
    output, _ = await _chat(ctx, "/approve 2\n", actor=MIA)
    assert "Summary #2 was withdrawn by its author; there is nothing to decide." in output


# --- drafts: checked as typed, put aside by a command, cancelled, kept when refused (issue 17) --


async def _summaries(db: Database) -> list[tuple[str, str, str]]:
    with db.sessions() as session:
        return [
            (summary.tldr, summary.body, summary.status.value)
            for summary in session.scalars(select(Summary).order_by(Summary.id))
        ]


async def test_a_tldr_over_the_limit_is_refused_before_the_body_and_asked_again(
    ctx: CommandContext, db: Database
) -> None:
    long = "word " * 60  # 299 characters once the spaces are folded
    script = f"/submit 1606.04474\n{long}\nShort enough.\nThe body.\n.\n"
    output, failures = await _chat(ctx, script)
    assert failures == 1
    [error] = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert error == (
        "Error: The TL;DR has 299 characters; keep it to 280. The details belong in the body. "
        "Type the TL;DR again, or /cancel to drop the draft."
    )
    assert await _summaries(db) == [("Short enough.", "The body.", "pending")]


async def test_body_lines_are_checked_as_they_come_and_a_refused_one_is_left_out(
    ctx: CommandContext, db: Database
) -> None:
    script = (
        "/submit 1606.04474\nTL;DR.\n"
        ".\n"  # an empty body is asked again
        "First.\n"
        "Bell\x07 here.\n"  # a control character: the line is left out
        " /mine is text: it starts with a space.\n"
        f"{'x' * 20_001}\n"  # past the body's limit: left out
        "Last.\n.\n"
    )
    output, failures = await _chat(ctx, script)
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert failures == 3, errors
    assert errors[0].startswith("Error: The summary body is empty.")
    assert errors[0].endswith('Then end it with a line holding only ".".')
    assert "contains a control character (U+0007)" in errors[1]
    assert errors[1].endswith(
        "That line was left out of your draft, which is kept: type it again, or go on."
    )
    assert "The summary has 20,0" in errors[2] and "the limit is 20,000" in errors[2]
    assert "You have" not in output, "/mine after a space is text, not a command"
    assert await _summaries(db) == [
        ("TL;DR.", "First.\n /mine is text: it starts with a space.\nLast.", "pending")
    ]


async def test_cancel_drops_the_draft_at_the_tldr_or_in_the_body(
    ctx: CommandContext, db: Database
) -> None:
    script = (
        "/submit 1606.04474\n/cancel\n"
        "/submit 1606.04474 --anonymous\nTL;DR.\nA body line.\n/CANCEL\n"
        "/cancel\n"
        "/mine\n"
    )
    output, failures = await _chat(ctx, script)
    assert output.count("Draft of /submit 1606.04474 dropped; nothing was saved.") == 1
    assert "Draft of /submit 1606.04474 --anonymous dropped; nothing was saved." in output
    assert failures == 1
    assert "Error: There is no draft to cancel." in output
    assert await _summaries(db) == []


async def test_a_command_line_puts_the_draft_aside_and_retry_reopens_it(
    ctx: CommandContext, db: Database
) -> None:
    """The final "." forgotten: /mine runs and nothing becomes summary text."""
    script = (
        "/submit 1606.04474\nLearned optimizers.\nFirst line.\n"
        "/mine\n"
        "/draft\n"
        "/retry\nSecond line.\n.\n"
        "/retry\n"
    )
    output, failures = await _chat(ctx, script)
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: Your draft of /submit 1606.04474 is put aside, not sent: /mine is a command. "
        'A draft ends with a line holding only "."; to write a line starting with /mine as '
        "text, start it with a space. /retry reopens it where it stopped, /cancel drops it.",
        "Error: There is no draft to retry. /submit <arXiv id> starts one.",
    ]
    assert failures == 2
    assert "You have not submitted any yet." in output, "/mine ran"
    assert "Your draft of /submit 1606.04474\n" in output
    assert "TL;DR: Learned optimizers.\n\nFirst line.\n" in output
    assert (
        "Draft of /submit 1606.04474 reopened. TL;DR: Learned optimizers.; 1 line of body so "
        'far. Go on; a line holding only "." ends the body.'
    ) in output
    assert "Summary #1 received" in output
    assert await _summaries(db) == [("Learned optimizers.", "First line.\nSecond line.", "pending")]


async def test_a_draft_refused_when_sent_is_kept_and_sent_again_with_retry(
    ctx: CommandContext, db: Database
) -> None:
    """The author's other summary of the paper arrives (another front end) while they write:
    the draft is refused but kept; they withdraw the other one and /retry."""
    reader, writer = os.pipe()
    out = io.StringIO()
    with os.fdopen(reader, "r") as stream, os.fdopen(writer, "w") as typed:
        # Interactive over a pipe: the plain reader, with its prompts, which show where it is.
        session = asyncio.create_task(chat(ctx, ADA, stream, out, interactive=True))
        typed.write("/submit 1606.04474\nThe console's TL;DR.\nThe console's body.\n")
        typed.flush()
        await _until(out, "TL;DR> ... ... ")  # the body's first line is read
        other = await submissions.submit(ctx, ADA, "1606.04474", "Discord's.", "Discord's body.")
        assert other.summary_id == 1
        typed.write(".\n")
        typed.flush()
        await _until(out, "Error: ")
        typed.write("/draft\n/withdraw 1\n/retry\n")
        typed.flush()
        await _until(out, "Summary #2 received")
        typed.close()
        assert await session == 1
    output = out.getvalue()
    # After a prompt: the plain reader writes its prompts without a line end.
    [error] = [line[line.index("Error: ") :] for line in output.splitlines() if "Error: " in line]
    assert "already" in error
    assert error.endswith(
        "Your draft is kept: /retry sends it again, /draft shows it, /cancel drops it."
    )
    assert "It is refused when sent: /retry sends it again; /cancel drops it." in output
    assert await _summaries(db) == [
        ("Discord's.", "Discord's body.", "withdrawn"),
        ("The console's TL;DR.", "The console's body.", "pending"),
    ]


async def test_edit_is_checked_before_the_text_is_asked_for(
    ctx: CommandContext, db: Database
) -> None:
    output, failures = await _chat(ctx, "/edit 7\nNew TL;DR.\n")
    assert failures == 2
    assert "Error: You have no summary #7. /mine lists yours." in output
    assert f"Error: {NOT_A_COMMAND}" in output, "the text after a refused /edit is not read"
    await _chat(ctx, "/submit 1606.04474\nOld.\nOld body.\n.\n")
    output, failures = await _chat(ctx, "/edit 1\nNew.\nNew body.\n.\n")
    assert failures == 0
    assert await _summaries(db) == [("New.", "New body.", "pending")]
    output, failures = await _chat(ctx, "/submit 1606.04474\nAnother TL;DR.\n")
    assert failures == 2, "a second summary of the paper is refused before its TL;DR"
    assert "Error: You already have summary #1 of this paper" in output
    assert f"Error: {NOT_A_COMMAND}" in output


async def test_an_unknown_command_gets_the_nearest_one_suggested(ctx: CommandContext) -> None:
    output, failures = await _chat(ctx, "/sumary 1606.04474\n/QUEU\n/frobnicate\n/retyr\n")
    assert failures == 4
    assert [line for line in output.splitlines() if line.startswith("Error: ")] == [
        "Error: Unknown command '/sumary'. Did you mean /summary? Type /help for the list.",
        "Error: Unknown command '/queu'. Did you mean /queue? Type /help for the list.",
        "Error: Unknown command '/frobnicate'. Type /help for the list.",
        "Error: Unknown command '/retyr'. Did you mean /retry? Type /help for the list.",
    ]
