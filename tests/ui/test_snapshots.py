"""Snapshots of the Overview and Nodes screens at 80x24 and 160x48 (pytest-textual-snapshot).

Deterministic: fixed checks, a fixed clock (also driving the header clock), a scripted history
and the UTC time zone. Regenerate with ``pytest tests/ui --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.model import Status

from .conftest import NOW, scripted_engine

SIZES = [(80, 24), (160, 48)]


def make_app(**options: Any) -> PacsApp:
    return PacsApp(scripted_engine(), clock=lambda: NOW, **options)


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every node has its status and the history workers are done."""
    app = pilot.app
    assert isinstance(app, PacsApp)
    for _ in range(500):
        if app.ready_at is not None and app.ctx is not None:
            states = app.ctx.view.states()
            if all(s.status is not Status.UNKNOWN for s in states):
                break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the scripted engine never delivered every status")
    await app.workers.wait_for_complete()
    await pilot.pause()


def on_screen(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=on_screen())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_nodes(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=on_screen("2"))


def test_nodes_ansi_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(ansi=True), terminal_size=(80, 24), run_before=on_screen("2"))


def test_node_detail_80x24(snap_compare: Any) -> None:
    # The cursor starts on the worst row (flaky-us, DOWN); Enter opens it.
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=on_screen("2", "enter"))


def test_help_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=on_screen("question_mark"))


def test_checks_160x48(snap_compare: Any) -> None:
    """The command checks' table: the same screen class as Nodes, from the command source's
    column spec (value in its unit, plugin, output)."""
    app = PacsApp(scripted_engine(commands=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(160, 48), run_before=on_screen("3"))


def test_overview_with_two_areas_80x24(snap_compare: Any) -> None:
    app = PacsApp(scripted_engine(commands=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=on_screen())
