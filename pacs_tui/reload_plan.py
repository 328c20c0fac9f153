"""What a config reload changes: which running checks go on untouched, which start, which stop.

A check goes on when the new config builds one of the same kind for the same targets, with the
same interval, timeout and settings (the probe's own: a node's address and AE titles, a
plugin's argv and environment); anything else is stopped and started afresh. A long-running
service (an HL7 listener or tap, an audit receiver, a log follower) likewise: kept when its
kind, targets and settings are the same, else stopped and a new one started (a listener moved
to another port). No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pacs_tui.source import BatchCheck, Check, Runnable, Service, runnable_targets

Periodic = Check | BatchCheck
R = TypeVar("R", bound=Runnable)


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a config reload changed: target ids added and removed, checks started and kept."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    started: int
    kept: int


def plan_reload(
    running: Sequence[Runnable], built: Sequence[Runnable]
) -> tuple[list[Periodic], list[Periodic], list[Periodic]]:
    """``(keep, start, stop)``: the running periodic checks to keep, the new ones to start and
    the running ones to stop (services: :func:`plan_services`)."""
    periodic = [r for r in running if not isinstance(r, Service)]
    return _plan(periodic, [r for r in built if not isinstance(r, Service)], _same)


def plan_services(
    running: Sequence[Runnable], built: Sequence[Runnable]
) -> tuple[list[Service], list[Service], list[Service]]:
    """``(keep, start, stop)`` for the long-running services, as :func:`plan_reload` for the
    periodic checks: the same kind, targets and settings go on with their connections and
    counts; anything else is stopped and started afresh."""
    services = [r for r in running if isinstance(r, Service)]
    return _plan(services, [r for r in built if isinstance(r, Service)], _same)


def _plan(
    running: Sequence[R], built: Sequence[R], same: Callable[[R, R], bool]
) -> tuple[list[R], list[R], list[R]]:
    by_key = {_key(run): run for run in running}
    keep: list[R] = []
    start: list[R] = []
    for run in built:
        old = by_key.get(_key(run))
        if old is not None and same(old, run):
            keep.append(by_key.pop(_key(run)))
        else:
            start.append(run)
    return keep, start, list(by_key.values())


def _key(run: Runnable) -> tuple[str, tuple[str, ...]]:
    return type(run).__name__, tuple(t.id for t in runnable_targets(run))


def _same(old: Runnable, new: Runnable) -> bool:
    """Does ``new`` watch the same targets the same way as ``old`` (a service: no interval)?"""
    return (
        tuple(runnable_targets(old)) == tuple(runnable_targets(new))
        and getattr(old, "interval", None) == getattr(new, "interval", None)
        and getattr(old, "timeout", None) == getattr(new, "timeout", None)
        and getattr(old, "settings", None) == getattr(new, "settings", None)
    )
