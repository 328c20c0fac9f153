"""History store: samples, per-minute/per-hour rollups, events and targets in SQLite (WAL).

Producers only enqueue; one background writer batches rows into a transaction about once a second.

The package: :mod:`.schema` (tables, migrations, retention, rollups), :mod:`.files` (the history
as a file: refusing, creating, locking, header, probing), :mod:`.errors` (:class:`StoreError`),
:mod:`.lifecycle` (:class:`Store`: open, identity, migrate, close), :mod:`.writer` (queueing and
the background writer) and :mod:`.queries` (reads). Importing it imports aiosqlite: the engine
and the CLI import it lazily, only when a history is used.
"""

from __future__ import annotations

from pacs_tui.store.errors import StoreError
from pacs_tui.store.lifecycle import Store
from pacs_tui.store.schema import (
    APPLICATION_ID,
    DAY,
    HOUR,
    MIGRATIONS,
    MINUTE_MAX_WINDOW,
    RAW_MAX_WINDOW,
    SCHEMA_VERSION,
    Resolution,
    Retention,
    SeriesPoint,
    choose_resolution,
)

__all__ = [
    "APPLICATION_ID",
    "DAY",
    "HOUR",
    "MIGRATIONS",
    "MINUTE_MAX_WINDOW",
    "RAW_MAX_WINDOW",
    "SCHEMA_VERSION",
    "Resolution",
    "Retention",
    "SeriesPoint",
    "Store",
    "StoreError",
    "choose_resolution",
]
