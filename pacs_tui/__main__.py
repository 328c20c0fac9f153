"""Entry point for ``python -m pacs_tui``."""

from pacs_tui.cli import entry

entry()
