"""Reading and writing summary files: ShortScience.org's RSS and CSV exports, and our JSON.

Parsers (``shortscience_rss``, ``csv_rows``, ``export_format``) turn a file into
:class:`~bot.imports.entries.Entry` objects, or a :class:`~bot.imports.entries.Problem`
naming the item or line that could not be read. ``importer`` fetches the papers and
stores the entries through ``storage.imports``; ``export_format`` also writes the JSON.
"""
