"""The last messages of one listener or tap, in memory only, for the detail view's segment tree.

The history keeps each message's header metadata and never its body (patient data stays off
disk); the detail view needs the body to show the segments, masked. So each server keeps its
newest messages here, bounded by count and bytes, and forgets them when it stops. The bytes
leave the server only through :func:`~pacs_tui.hl7.segments.segment_tree`, masked.
"""

from __future__ import annotations

from collections import deque

#: Messages kept per listener or tap, and their bytes at most.
KEEP_MESSAGES = 1000
KEEP_BYTES = 16 * 1024 * 1024
#: A message larger than this is not kept (its tree would be too large to show anyway).
KEEP_ONE_AT_MOST = 1024 * 1024
#: Two timestamps this close (seconds) name the same message (the history keeps milliseconds).
SAME_TIME = 0.0015


class RecentMessages:
    """Newest last: (time, control ID, bytes, charset)."""

    def __init__(self, keep: int = KEEP_MESSAGES, keep_bytes: int = KEEP_BYTES) -> None:
        self._items: deque[tuple[float, str, bytes, str]] = deque()
        self._keep = keep
        self._keep_bytes = keep_bytes
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, ts: float, control_id: str, data: bytes, charset: str = "") -> None:
        if len(data) > KEEP_ONE_AT_MOST:
            return
        self._items.append((ts, control_id, data, charset))
        self._bytes += len(data)
        while self._items and (len(self._items) > self._keep or self._bytes > self._keep_bytes):
            self._bytes -= len(self._items.popleft()[2])

    def find(self, ts: float, control_id: str) -> tuple[bytes, str] | None:
        """The bytes and charset of the message received at ``ts`` with ``control_id``: of
        those within :data:`SAME_TIME`, the closest (messages with no control ID, headerless
        ones, can come a fraction of a millisecond apart)."""
        best: tuple[bytes, str] | None = None
        off = SAME_TIME
        for when, cid, data, charset in reversed(self._items):
            if cid == control_id and abs(when - ts) <= off:
                best, off = (data, charset), abs(when - ts)
            elif when < ts - SAME_TIME:
                break  # older still: none nearer
        return best
