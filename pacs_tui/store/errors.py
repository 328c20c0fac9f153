"""The store's one exception, and SQLite errors put into words that name the history."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StoreError(RuntimeError):
    """The store cannot do what was asked (not started, closed, newer schema, …). Every SQLite
    and OS error at the store's boundary comes out as one, in words, naming the history."""


def _describe(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """An SQLite error in words, naming the history (no traceback reaches the user)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    if code == sqlite3.SQLITE_CORRUPT:
        return StoreError(
            f"the history file {path} is corrupt: {exc}. Move it aside to start a new history."
        )
    if code == sqlite3.SQLITE_NOTADB:
        return StoreError(f"{path} is not a pacs-tui history ({exc})")
    if code == sqlite3.SQLITE_FULL:
        return StoreError(f"disk full writing the history {path}: {exc}")
    if code == sqlite3.SQLITE_IOERR:
        return StoreError(f"I/O error trying to {doing} the history {path}: {exc}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"the history {path} is locked by another program: {exc}")
    return StoreError(f"cannot {doing} the history {path}: {exc}")


class UpkeepStopped(Exception):
    """The store is closing: the rollups and the retention stop between two of their steps."""
