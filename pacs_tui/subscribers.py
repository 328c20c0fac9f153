"""A list of callbacks told of every update, each safe from the others' failures: the engine's
change stream and the attached view's share it. No Textual, no I/O here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

U = TypeVar("U")


class Subscribers(Generic[U]):
    """Callbacks of updates of type ``U``, called in order on the caller's thread."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[U], None]] = []

    def add(self, callback: Callable[[U], None]) -> Callable[[], None]:
        """Tell ``callback`` of every update from now on; returns the unsubscribe function."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def publish(self, update: U) -> None:
        for callback in list(self._callbacks):
            try:
                callback(update)
            except Exception:
                log.exception("subscriber failed")
