"""History store: raw samples, 5-minute and hourly tiers, events, the message log and targets
in SQLite (WAL).

Producers only enqueue; one background writer batches rows into a transaction about once a
second; an upkeep task rolls closed buckets up and applies the retention in short steps.

The package: :mod:`.schema` (tables, migrations, retention, which tier answers a window),
:mod:`.tiers` (the packed tiers' layout and arithmetic), :mod:`.migrate` (migrations that move
data), :mod:`.files` (the history as a file: refusing, creating, locking, header, probing),
:mod:`.errors` (:class:`StoreError`), :mod:`.lifecycle` (:class:`Store`: open, identity,
migrate, close), :mod:`.writer` (queueing and the background writer), :mod:`.maintenance`
(rollups and retention) and :mod:`.queries` (reads, on a connection of their own).
Importing it imports aiosqlite: the engine and the CLI import it lazily, only when a history
is used.
"""

from __future__ import annotations

from pacs_tui.store.errors import StoreError
from pacs_tui.store.lifecycle import Store
from pacs_tui.store.schema import (
    APPLICATION_ID,
    DAY,
    FIVE_MINUTE_MAX_WINDOW,
    HOUR,
    MIGRATIONS,
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
    "FIVE_MINUTE_MAX_WINDOW",
    "HOUR",
    "MIGRATIONS",
    "RAW_MAX_WINDOW",
    "SCHEMA_VERSION",
    "Resolution",
    "Retention",
    "SeriesPoint",
    "Store",
    "StoreError",
    "choose_resolution",
]
