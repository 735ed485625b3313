"""The `shortscience import` and `shortscience export` commands (their arguments are in
bot/cli.py, so that building the parser does not load the importer)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.app import build_context, open_database
from bot.config import AppConfig
from bot.imports.exporter import export_file
from bot.imports.importer import (
    Importer,
    UnreadableFile,
    demo_entries,
    read_entries,
    read_file,
)
from bot.service import console_actor
from storage.imports import AuthorRecord
from storage.types import utcnow

EXIT_OK = 0
EXIT_NOTHING_IMPORTED = 1
"""Every summary of the file was skipped, or it held none: nothing could be imported."""
EXIT_USAGE = 2
"""Bad arguments, or a file refused whole (nothing written)."""


def cmd_import(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience import FILE|--demo`: read and check the file before anything is written."""
    if args.demo == (args.file is not None):
        print("shortscience: import: give a FILE or --demo (one of them)", file=sys.stderr)
        return EXIT_USAGE
    try:
        text, source = "", "the demo data"
        if not args.demo:
            text, source = read_file(Path(args.file)), Path(args.file).name
    except UnreadableFile as error:
        print(f"shortscience: import: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:  # before the database is opened: a file we cannot read changes nothing
        kind, entries = demo_entries(utcnow()) if args.demo else read_entries(text)
    except UnreadableFile as error:
        print(f"shortscience: import: {source}: {error}", file=sys.stderr)
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
            report = importer.import_entries(kind, entries, source)
        finally:
            if ctx.publisher is not None:
                ctx.publisher.clients.close()
    finally:
        db.dispose()
    print(report.closing_line())
    return EXIT_NOTHING_IMPORTED if report.nothing_imported else EXIT_OK


def cmd_export(args: argparse.Namespace, config: AppConfig) -> int:
    """`shortscience export FILE`: every approved summary with its paper, as JSON."""
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
