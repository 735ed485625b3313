"""The public archive: a static web site of approved summaries (``shortscience site build``)."""
