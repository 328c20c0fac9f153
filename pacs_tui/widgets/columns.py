"""Fixed column widths fitted to a width: the flexible column takes what the others leave."""

from __future__ import annotations

from collections.abc import Sequence

#: ``(label, key, width)``; a ``None`` width marks the column that takes the rest.
Column = tuple[str, str, int | None]
#: ``(label, key, width)`` with every width fixed.
FittedColumn = tuple[str, str, int]


def fit_layout(columns: Sequence[Column], width: int, padding: int) -> tuple[FittedColumn, ...]:
    """``columns`` with the ``None`` width replaced by the rest of ``width`` (at least 12),
    ``padding`` cells on each side of every column and 2 kept for a vertical scrollbar."""
    fixed = sum(w for _, _, w in columns if w is not None)
    rest = max(12, width - fixed - 2 * padding * len(columns) - 2)
    return tuple((label, key, w if w is not None else rest) for label, key, w in columns)


def leave_out(
    columns: Sequence[Column], width: int, padding: int, first: Sequence[str]
) -> tuple[Column, ...]:
    """``columns`` without those that do not fit ``width``: the keys in ``first`` are left
    out in that order until the fixed widths (each with ``padding`` cells on each side, 2 kept
    for a vertical scrollbar, as :func:`fit_layout`) fit, so that no header is ever cut. A
    ``None`` width counts as its header's width here (it takes the rest)."""
    kept = list(columns)

    def needed() -> int:
        return sum((w if w is not None else len(label)) + 2 * padding for label, _, w in kept) + 2

    for key in first:
        if needed() <= width:
            break
        kept = [c for c in kept if c[1] != key]
    return tuple(kept)
