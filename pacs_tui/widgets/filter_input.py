"""A filter field that never holds a character it cannot show: control characters typed or
pasted into it (a paste from a log with escape sequences) are dropped, so that what the field
shows is what it filters by."""

from __future__ import annotations

import unicodedata

from textual.widgets import Input


def printable(text: str) -> str:
    """``text`` without control characters (C0, C1, DEL) or line and paragraph separators."""
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Zl", "Zp"))


class FilterInput(Input):
    """An :class:`~textual.widgets.Input` whose every insertion (a key, a paste) is made
    :func:`printable` first."""

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(printable(text), start, end)
