"""What a config reload changes: which running checks go on untouched, which start, which stop.

A check goes on when the new config builds one of the same kind for the same targets, with the
same interval, timeout and settings (the probe's own: a node's address and AE titles, a
plugin's argv and environment); anything else is stopped and started afresh. A long-running
service (an HL7 listener or tap, an audit receiver, a log follower) likewise: kept when its
kind, targets and settings are the same, else stopped and a new one started (a listener moved
to another port). No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pacs_tui.source import BatchCheck, Check, Runnable, Service, runnable_targets

Periodic = Check | BatchCheck


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
    the running ones to stop. Services are left out (they are kept as they are)."""
    by_key: dict[tuple[str, tuple[str, ...]], Periodic] = {
        _key(run): run for run in running if not isinstance(run, Service)
    }
    keep: list[Periodic] = []
    start: list[Periodic] = []
    for run in built:
        if isinstance(run, Service):
            continue
        old = by_key.get(_key(run))
        if old is not None and _same(old, run):
            keep.append(by_key.pop(_key(run)))
        else:
            start.append(run)
    return keep, start, list(by_key.values())


def plan_services(
    running: Sequence[Runnable], built: Sequence[Runnable]
) -> tuple[list[Service], list[Service], list[Service]]:
    """``(keep, start, stop)`` for the long-running services, as :func:`plan_reload` for the
    periodic checks: the same kind, targets and settings go on with their connections and
    counts; anything else is stopped and started afresh."""
    by_key: dict[tuple[str, tuple[str, ...]], Service] = {
        _key(run): run for run in running if isinstance(run, Service)
    }
    keep: list[Service] = []
    start: list[Service] = []
    for run in built:
        if not isinstance(run, Service):
            continue
        old = by_key.get(_key(run))
        if old is not None and _same_service(old, run):
            keep.append(by_key.pop(_key(run)))
        else:
            start.append(run)
    return keep, start, list(by_key.values())


def _same_service(old: Service, new: Service) -> bool:
    return tuple(old.targets) == tuple(new.targets) and getattr(old, "settings", None) == getattr(
        new, "settings", None
    )


def _key(run: Runnable) -> tuple[str, tuple[str, ...]]:
    return type(run).__name__, tuple(t.id for t in runnable_targets(run))


def _same(old: Periodic, new: Periodic) -> bool:
    """Does ``new`` check the same targets the same way as ``old``?"""
    return (
        tuple(runnable_targets(old)) == tuple(runnable_targets(new))
        and old.interval == new.interval
        and old.timeout == new.timeout
        and getattr(old, "settings", None) == getattr(new, "settings", None)
    )
