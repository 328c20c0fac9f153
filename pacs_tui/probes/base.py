"""The shape every periodic check has, so the scheduler can run any of them the same way."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pacs_tui.model import Result, Target


@runtime_checkable
class Check(Protocol):
    """A periodic probe of one target.

    The scheduler calls :meth:`check` every ``interval`` seconds (with jitter), reports it DOWN
    when it has not answered ``timeout`` + 1 seconds after it started (the probe's own timeouts
    should fire first, with a better reason) and backs off while the target is DOWN. ``check``
    must not raise for a failure of the target: it returns a DOWN result whose reason says what
    went wrong in words.
    """

    target: Target
    interval: float
    timeout: float

    async def check(self) -> Result: ...

    async def close(self) -> None: ...
