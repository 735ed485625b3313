"""The `shortscience import` and `shortscience export` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.app import build_context, open_database
from bot.config import AppConfig
from bot.imports.exporter import export_file
from bot.imports.importer import Importer, UnreadableFile, demo_text, read_file
from bot.service import console_actor
from storage.imports import AuthorRecord

EXIT_OK = 0
EXIT_USAGE = 2


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
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
        description="Writes the JSON export described in docs/export-format.md; "
        "`shortscience import FILE` reads it back.",
    )
    exporting.add_argument("file", metavar="FILE", help="the JSON file to write")


def cmd_import(args: argparse.Namespace, config: AppConfig) -> int:
    if args.demo == (args.file is not None):
        print("shortscience: import: give a FILE or --demo (one of them)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.demo:
            text, source = demo_text(), "the demo data"
        else:
            text, source = read_file(Path(args.file)), Path(args.file).name
    except UnreadableFile as error:
        print(f"shortscience: import: {error}", file=sys.stderr)
        return EXIT_USAGE
    actor = console_actor()
    operator = AuthorRecord(actor.platform, actor.external_id[:64], actor.display_name)
    db = open_database(config)
    try:
        ctx = build_context(config, db)
        try:
            importer = Importer(
                ctx.lookups,
                ctx.limits,
                pending=args.pending,
                operator=operator,
                progress=sys.stderr.isatty(),
            )
            report = importer.import_text(text, source)
        except UnreadableFile as error:
            print(f"shortscience: import: {source}: {error}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            if ctx.publisher is not None:
                ctx.publisher.clients.close()
    finally:
        db.dispose()
    print(report.closing_line())
    return EXIT_OK


def cmd_export(args: argparse.Namespace, config: AppConfig) -> int:
    path = Path(args.file)
    if not path.parent.is_dir():
        print(f"shortscience: export: no folder {path.parent}", file=sys.stderr)
        return EXIT_USAGE
    db = open_database(config)
    try:
        count = export_file(db, path)
    finally:
        db.dispose()
    print(f"exported {count} summar{'y' if count == 1 else 'ies'} to {path}")
    return EXIT_OK
