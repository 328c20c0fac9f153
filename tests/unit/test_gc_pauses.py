"""Freezing the start-up objects: garbage is collected first, never frozen."""

from __future__ import annotations

import gc
import weakref

from pacs_tui.gc_pauses import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_freeze_collects_the_garbage_first_and_freezes_what_lives() -> None:
    kept = Node()
    lost_a, lost_b = Node(), Node()
    lost_a.other, lost_b.other = lost_b, lost_a  # a cycle: only the collector frees it
    gone = weakref.ref(lost_a)
    del lost_a, lost_b
    try:
        frozen = freeze_startup_objects()
        assert gone() is None  # collected, not frozen
        assert frozen == gc.get_freeze_count() > 0
        # Out of the collector's sight: no collection walks it any more.
        assert not any(o is kept for o in gc.get_objects())
    finally:
        gc.unfreeze()  # the other tests' objects go back to the collector
