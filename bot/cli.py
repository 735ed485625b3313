"""The `shortscience` command line."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.app import StartupError, build_context, connect, open_database
from bot.commands.context import Actor
from bot.commands.user_text import check_external_id
from bot.config import CONFIG_ENV, AppConfig, ConfigError, load_config
from bot.errors import UserError
from bot.logging_setup import setup_logging
from bot.service import console_actor, run
from bot.wording import counted
from publishers.render.templates import TemplateProblem
from storage import migrate
from storage.database import describe_url

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(Exception):
    """SIGTERM reached a command that serves no loop of its own (`chat`): it stops at once,
    as Ctrl-C does, and says so instead of vanishing without a word."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


"""Bad input (arguments or config) exits 2, like argparse; an outage exits 1."""

log = logging.getLogger("shortscience")


def package_version() -> str:
    """The installed version; "unknown" when run from a checkout that was never installed."""
    try:
        return version("shortscience-bot")
    except PackageNotFoundError:
        return "0+unknown"


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS lets the options stand before or after the subcommand without clobbering.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"config file (default: ${CONFIG_ENV}, else ./config.toml)",
    )
    noise = common.add_mutually_exclusive_group()
    noise.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug detail"
    )
    noise.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="log warnings only"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and option, each with its help, in one parser."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="shortscience",
        description="Research-paper summaries: chat commands, moderation and social digests.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run_parser = commands.add_parser(
        "run",
        parents=[common],
        help="run the service: chat front ends, scheduler, publishers",
        description="Starts every configured part. Without DISCORD_TOKEN, on a terminal, it "
        "serves the chat commands there, as --user (or [console].user) and, with --moderator "
        "(or [console].moderator), as a moderator.",
    )
    _add_console_user(run_parser, "the terminal's user when there is no Discord")
    chat = commands.add_parser(
        "chat",
        parents=[common],
        help="the chat commands in the terminal, one per line (typed or piped)",
        description="Reads /summary, /submit, /search ... from standard input, one per line, "
        "and prints the replies. /help lists the commands.",
    )
    _add_console_user(chat, "act as this user")
    commands.add_parser("version", parents=[common], help="print the version")

    digest = commands.add_parser("digest", parents=[common], help="digests of new summaries")
    digest_commands = digest.add_subparsers(dest="digest_command", metavar="ACTION", required=True)
    preview = digest_commands.add_parser(
        "preview",
        parents=[common],
        help="the posts a channel would get now, as the network will receive them",
        description="Selects and renders the channel's next digest; records nothing.",
    )
    preview.add_argument("channel", help="a channel name from config.toml or /digest subscribe")
    preview.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
    send = digest_commands.add_parser(
        "send",
        parents=[common],
        help="build the channel's digest now and deliver it (a draft if it needs approval)",
    )
    send.add_argument("channel", help="a channel name")
    digest_commands.add_parser(
        "deliver", parents=[common], help="run the delivery worker once over everything due"
    )
    status = digest_commands.add_parser(
        "status", parents=[common], help="digests with their state and deliveries"
    )
    status.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)
    status.add_argument("--limit", type=int, default=20, help="how many digests (default 20)")
    for verb, what in (("approve", "approve a draft digest"), ("reject", "reject a draft digest")):
        decision = digest_commands.add_parser(verb, parents=[common], help=what)
        decision.add_argument("digest", help="the digest's number (digest status lists them)")
        decision.add_argument("--user", metavar="NAME", help="who decides (default: $USER)")
    release = digest_commands.add_parser(
        "release",
        parents=[common],
        help="decide on parts held because the network could not say whether they were posted",
    )
    release.add_argument("digest", help="the digest's number")
    release.add_argument(
        "verdict", choices=("posted", "resend"), help="posted: it is there; resend: send again"
    )
    resume = digest_commands.add_parser(
        "resume", parents=[common], help="start a stopped channel again and resend its failures"
    )
    resume.add_argument("channel", help="a channel name")
    digest_commands.add_parser(
        "schedule", parents=[common], help="each channel's next digest, in its own time zone"
    )
    site = commands.add_parser("site", parents=[common], help="the public archive web site")
    site_commands = site.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    site_build = site_commands.add_parser(
        "build",
        parents=[common],
        help="write the static archive of approved summaries into DIR",
        description="Pages per paper, year, venue and category, a home page and an Atom feed.",
    )
    site_build.add_argument("directory", metavar="DIR", help="the folder to write (created)")
    site_build.add_argument(
        "--no-search",
        action="store_true",
        help="skip the search index (Pagefind needs ~135 KB of memory per paper page)",
    )
    health = commands.add_parser(
        "health",
        parents=[common],
        help="database, scheduler holder, channels and failed deliveries; exit 0 when healthy",
    )
    health.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)

    db = commands.add_parser("db", parents=[common], help="database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", parents=[common], help="create the database or bring it to the newest schema"
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    db_commands.add_parser("current", parents=[common], help="show the schema revision")
    _add_import_parsers(commands, common)
    _describe_all(parser)
    return parser


FORMAT_HELP = "text (default): for a person; json: only JSON on standard output, for scripts"


def _describe_all(parser: argparse.ArgumentParser) -> None:
    """A subcommand without a description of its own gets its one-line help as one, so
    `shortscience run --help` says what run does, like `shortscience --help` does."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for choice in action._choices_actions:
            sub = action.choices[choice.dest]
            if sub.description is None and choice.help:
                sub.description = choice.help[0].upper() + choice.help[1:] + "."
            _describe_all(sub)


def export_format_doc() -> Path:
    """The export format's description as installed with the package (bot/docs)."""
    from importlib.resources import files  # only `export --help` and --format-doc need it

    return Path(str(files("bot").joinpath("docs", "export-format.md")))


def _add_console_user(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--user", metavar="NAME", help=f"{what} (default: [console].user, else $USER)"
    )
    parser.add_argument(
        "--moderator",
        action="store_true",
        help="act as a moderator: /queue, /approve, /reject, digests (or [console].moderator)",
    )


def _add_import_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    # Here rather than in bot.imports, whose importer (tqdm, defusedxml) `run` never needs.
    importing = commands.add_parser(
        "import",
        parents=[common],
        help="import summaries: ShortScience.org's RSS or CSV export, or a JSON export of ours",
        description="Imports every summary in FILE (ShortScience.org's RSS export, its CSV "
        "export, or a file written by `shortscience export`), fetching the papers from arXiv. "
        "Importing a file again changes nothing; malformed items are reported and skipped.",
    )
    importing.add_argument("file", nargs="?", metavar="FILE", help="the file to import")
    importing.add_argument(
        "--pending",
        action="store_true",
        help="the summaries wait for a moderator (default: they arrive approved)",
    )
    importing.add_argument(
        "--demo",
        action="store_true",
        help="import the ShortScience.org summaries shipped with the package (no FILE)",
    )
    exporting = commands.add_parser(
        "export",
        parents=[common],
        help="write every approved summary with its paper to FILE as JSON",
        description="Writes every approved summary with its paper to FILE as JSON, in the "
        f"versioned format described in {export_format_doc()} (installed with the package; "
        "--format-doc prints it); `shortscience import FILE` reads it back.",
    )
    exporting.add_argument("file", nargs="?", metavar="FILE", help="the JSON file to write")
    exporting.add_argument(
        "--format-doc",
        action="store_true",
        help="print the description of the export format (Markdown) instead of exporting",
    )


def _log_level(args: argparse.Namespace, config: AppConfig | None) -> str:
    if getattr(args, "verbose", False):
        return "DEBUG"
    if getattr(args, "quiet", False):
        return "WARNING"
    return config.settings.logging.level if config is not None else "INFO"


def cmd_version(_args: argparse.Namespace, _config: AppConfig) -> int:
    """`shortscience version`."""
    print(f"shortscience-bot {package_version()}")
    return EXIT_OK


def terminal_actor(args: argparse.Namespace, config: AppConfig) -> Actor:
    """The terminal's user: --user and --moderator, else [console] user and moderator, else
    the login name. A bad --user is a UserError."""
    if args.user is not None:
        check_external_id(args.user)
    name = args.user if args.user is not None else config.settings.console.user or None
    return console_actor(name, moderator=args.moderator or config.settings.console.moderator)


def cmd_run(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience run`: every configured part until stopped."""
    try:
        actor = terminal_actor(args, config)
    except UserError as error:
        print(f"shortscience: --user: {error}", file=sys.stderr)
        return EXIT_USAGE
    return run(config, actor)


def cmd_chat(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience chat`: the chat commands on standard input, as a named user."""
    try:
        actor = terminal_actor(args, config)
    except UserError as error:
        print(f"shortscience: --user: {error}", file=sys.stderr)
        return EXIT_USAGE
    from bot.console.repl import chat  # start-up: only the terminal front end needs it

    # Bytes that are not UTF-8 arrive as lone surrogates, so the console can say which
    # line held which bytes instead of failing on them (or, strict, losing the stream).
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="surrogateescape")
    interactive = sys.stdin.isatty()
    db = open_database(config)
    before = signal.signal(signal.SIGTERM, _terminate)
    try:
        ctx = build_context(config, db)
        failures = asyncio.run(chat(ctx, actor, sys.stdin, sys.stdout, interactive=interactive))
    finally:
        signal.signal(signal.SIGTERM, before)
        db.dispose()
    if failures and not interactive:
        # A script learns that something it sent was refused; a person saw each error.
        print(
            f"shortscience: chat: {counted(failures, 'line')} failed (each error is printed above)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


def cmd_db(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience db upgrade|current`."""
    if args.db_command == "current":
        db = connect(config)
        try:
            current = migrate.current_revision(db)
            head = migrate.head_revision()
            state = "up to date" if current == head else f"newest is {head}"
            print(f"{describe_url(db.url)}: schema {current or 'none'} ({state})")
        finally:
            db.dispose()
        return EXIT_OK
    db = connect(config)
    try:
        before, after = migrate.upgrade(db, args.revision)
    finally:
        db.dispose()
    if before == after:
        print(f"{describe_url(db.url)}: schema {after} is already current")
    else:
        print(f"{describe_url(db.url)}: schema upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def cmd_digest(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience digest ...`: previews, sending and decisions from the command line."""
    from bot.console.digests import digest_command  # start-up: only `digest` needs it

    db = open_database(config)
    try:
        ctx = build_context(config, db)
        try:
            output = asyncio.run(digest_command(ctx, args))
        except UserError as error:
            print(f"shortscience: {error}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            if ctx.publisher is not None:
                ctx.publisher.clients.close()
    finally:
        db.dispose()
    sys.stdout.write(output)
    return EXIT_OK


def cmd_site(args: argparse.Namespace, config: AppConfig) -> int:
    # start-up: only `site build` needs the site builder
    """`shortscience site build DIR`; the folder `run` keeps (``[site] directory``) is built
    in its turn with `run`'s passes, and its change log is taken up by the build."""
    from bot.archive import site_builder, site_directory
    from publishers.site.search_index import SearchIndexError
    from storage.leader import ArchiveLock

    directory = Path(args.directory).resolve()
    db = open_database(config)
    try:
        # a missing templates folder stops us here
        builder = site_builder(config, db, search=False if args.no_search else None)
        if directory == site_directory(config):
            lock = ArchiveLock(db)
            lock.acquire(wait=True)
            try:
                report = builder.build(directory, keeps_changes=True)
            finally:
                lock.release()
        else:
            report = builder.build(directory)
    except SearchIndexError as error:  # the pages are written; only search is missing
        sys.stderr.write(f"error: the pages are built, but not the search index: {error}\n")
        return EXIT_FAILURE
    finally:
        db.dispose()
    sys.stdout.write(report.text())
    return EXIT_OK


def cmd_health(args: argparse.Namespace, config: AppConfig) -> int:
    """Healthy: the database answers at the current schema, a process runs the scheduler
    while channels are scheduled, no channel is stopped, and no delivery failed or waits for
    a moderator; exit 1 otherwise, each problem printed with what to do."""
    from bot.health import check_health  # start-up: only `health` needs it

    report = check_health(config)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(report.text())
    return EXIT_OK if report.healthy else EXIT_FAILURE


def cmd_import(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience import`, its parser loaded only when used."""
    from bot.imports import commands as import_commands  # start-up: only import needs it

    return import_commands.cmd_import(args, config)


def cmd_export(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience export`, its writer loaded only when used."""
    if args.format_doc:
        sys.stdout.write(export_format_doc().read_text(encoding="utf-8"))
        return EXIT_OK
    if args.file is None:
        print(
            "shortscience: export: name the FILE to write (`shortscience export FILE`), "
            "or pass --format-doc to read about the format",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from bot.imports import commands as import_commands  # start-up: only export needs it

    return import_commands.cmd_export(args, config)


COMMANDS: dict[str, Callable[[argparse.Namespace, AppConfig], int]] = {
    "run": cmd_run,
    "chat": cmd_chat,
    "version": cmd_version,
    "db": cmd_db,
    "digest": cmd_digest,
    "health": cmd_health,
    "site": cmd_site,
    "import": cmd_import,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: one line and exit 2 for a bad config, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as error:
        setup_logging(_log_level(args, None))
        print(f"shortscience: config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(_log_level(args, config), config.secrets.revealed())
    if config.path is None:
        log.debug("no config file found; using built-in defaults")
    try:
        return COMMANDS[args.command](args, config)
    except StartupError as error:
        print(f"shortscience: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except TemplateProblem as error:
        # The operator's templates are input, like the config: one line, exit 2.
        print(f"shortscience: template problem: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"shortscience: database error: {first_line}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        # Ctrl-C: whatever was in flight (an arXiv request too) is abandoned, and said so.
        print("shortscience: interrupted (Ctrl-C); stopped", file=sys.stderr)
        return 130
    except Terminated:
        print("shortscience: terminated (SIGTERM); stopped", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (`shortscience chat ... | head -1`): say so once, quietly.
        _silence_stdout()
        print(
            "shortscience: standard output was closed before all replies were written; "
            "stopped (pipe into a file or a pager to keep everything)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
