"""What a new admin reads is whole: nothing on screen is cut without a mark, no header is cut to
a few letters, no line ends in a label without its value, and a figure reads as its neighbours
do. Each test reads the screen as the user sees it, at the size the trial used.

Scripted sites (fixed checks, a fixed clock, a scripted history); the collector's tests attach
to one served in the test's loop (``test_snapshots.attached_app``) and stop it.
"""

from __future__ import annotations

import logging
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from pacs_tui.app import PacsApp
from pacs_tui.config import Config, SiteConfig
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status, Target, TargetKind
from pacs_tui.screens.hl7_tracker import Hl7TrackerScreen
from pacs_tui.screens.sessions import AuditLog, SessionsScreen
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen

from .conftest import (
    NOW,
    SITE,
    FixedCheck,
    screen_text,
    scripted_engine,
    scripted_history,
    wait_for,
)
from .test_snapshots import attached_app

SIZES = [(160, 48), (100, 30)]


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def lines(app: PacsApp) -> list[str]:
    return screen_text(app).splitlines()


def line_with(app: PacsApp, *words: str) -> str:
    """The first line on screen holding every one of ``words`` ("" when none does)."""
    return next((line for line in lines(app) if all(w in line for w in words)), "")


def check_of(engine: Engine, target_id: str) -> FixedCheck:
    return next(c for c in engine.checks if isinstance(c, FixedCheck) and c.target.id == target_id)


async def report(pilot: Pilot[None], engine: Engine, target_id: str, result: Result) -> None:
    """Make ``target_id``'s check return ``result`` and check it until the engine has it (a
    trigger while its check runs may be taken by that run)."""
    check_of(engine, target_id).result = result
    for _ in range(10):
        assert engine.probe_now(target_id)
        try:
            await wait_for(pilot, lambda: engine.states[target_id].reason == result.reason, 1.0)
        except AssertionError:
            continue  # asked while its check ran: ask again
        return
    raise AssertionError(f"{target_id} never reported {result.reason!r}")


def one_target_engine(target: Target, result: Result) -> Engine:
    """A site of one target with a fixed result (and the scripted history)."""
    return Engine(
        Config(site=SiteConfig(name=SITE, timezone="UTC")),
        checks=[FixedCheck(target, result)],
        store=scripted_history(),
        first_run_spread=0.0,
    )


async def started(pilot: Pilot[None]) -> PacsApp:
    app = pilot.app
    assert isinstance(app, PacsApp)
    await wait_for(pilot, lambda: app.ctx is not None and app.ready_at is not None)
    return app


async def open_sessions(pilot: Pilot[None]) -> SessionsScreen:
    app = await started(pilot)
    await pilot.press("8")
    await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    await wait_for(pilot, lambda: "tech-leroy" in screen_text(app))  # the sessions drawn
    return screen


# -- 1. the audit trail's filter says its whole syntax ---------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
async def test_the_audit_filters_placeholder_is_read_whole(size: tuple[int, int]) -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        screen = await open_sessions(pilot)
        await pilot.press("slash")
        field = screen.query_one(AuditLog).query_one("#log-filter", Input)
        await wait_for(pilot, lambda: field.has_focus)
        await wait_for(pilot, lambda: bool(line_with(app, "Filter:")))
        shown = line_with(app, "Filter:").split("Filter:", 1)[1].strip()
        assert shown == AuditLog.PLACEHOLDER, shown
        # Every kind of word it takes: an event code, a user, a patient (ID or reference).
        for said in ("110114", "user:ID", "patient:ID or #ref"):
            assert said in shown


# -- 2. the message log says why it cannot read, whole ----------------------------------------


@contextmanager
def refusing_socket(path: Path) -> Iterator[None]:
    """A socket file at ``path`` that nobody accepts on: a collector killed (its socket left
    behind) refuses connections."""
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        dead.bind(str(path))
        yield
    finally:
        dead.close()


def log_summary(app: PacsApp) -> str:
    """The message log's line under its rows, its wrapped lines joined (up to the footer)."""
    shown = lines(app)
    start = next(i for i, line in enumerate(shown) if "could not read the message log" in line)
    return " ".join(" ".join(line.split()) for line in shown[start:-1] if line.strip())


@pytest.mark.parametrize("size", SIZES, ids=size_id)
async def test_the_message_log_says_whole_why_it_cannot_read_the_collector(
    size: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pacs_tui.screens.message_log")
    with tempfile.TemporaryDirectory(prefix="pt-") as folder:
        app, servers = attached_app(Path(folder), nodes=False, hl7=True)
        async with app.run_test(size=size) as pilot:
            await started(pilot)
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
            await wait_for(pilot, lambda: "HIS0000029" in screen_text(app))
            server = servers[0]
            await server.stop()
            with refusing_socket(server.path):
                await server.engine.stop()
                assert app.ctx is not None
                view = app.ctx.view

                def refused() -> bool:
                    link = view.link
                    return link is not None and "refuses connections" in link.reason

                await wait_for(pilot, refused)
                assert view.link is not None
                reason = view.link.reason
                assert "its socket" in reason and reason.endswith("starts it again)")
                said = f"could not read the message log: {reason}"
                await wait_for(pilot, lambda: "could not read the message log" in screen_text(app))
                await wait_for(pilot, lambda: said in log_summary(app))

                def failed_reads() -> list[logging.LogRecord]:
                    return [
                        r
                        for r in caplog.records
                        if r.getMessage().startswith("could not read the message log")
                    ]

                # Read again every second meanwhile: said once in the log, not each time.
                await wait_for(pilot, lambda: len(failed_reads()) >= 3, timeout=15)
                levels = [r.levelno for r in failed_reads()]
                assert levels.count(logging.WARNING) == 1 and levels[0] == logging.WARNING
                await pilot.press("q")


# -- 3. a path too long for its column keeps its file name, after "…" ---------------------------

LONG_PATH = "/var/log/orthanc/archive-node-2/storage-commitment.log"


async def test_a_log_path_too_long_for_its_column_is_cut_with_an_ellipsis() -> None:
    log = Target("archive-log", TargetKind.LOGTAIL, {"path": LONG_PATH, "site": SITE})
    words = "3 matching lines a minute ≥ 1; last: E0304 03:11:40 StoreScp.cpp:96] failed"
    engine = one_target_engine(
        log, Result(Status.WARN, words, {"log_errors_per_minute": 3.0}, ts=NOW - 2)
    )
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await wait_for(pilot, lambda: bool(line_with(app, "archive-log", "WARN")))
        header, row = line_with(app, "Path", "Reason"), line_with(app, "archive-log", "WARN")
        assert LONG_PATH not in row  # the column is narrower than the path ...
        start = header.index("Path")
        cell = row[start:].split()[0]  # a path without a space
        assert "…" in cell, cell  # ... and says it is cut
        assert cell.endswith("/storage-commitment.log"), cell  # the file name kept
        assert cell.startswith("/var"), cell  # and where it is, as far as it fits
        assert LONG_PATH in screen_text(app)  # in full on the selected line


# -- 4. the active sessions' headers are whole at 100 columns -----------------------------------

SESSION_HEADERS = ("State", "User", "Role", "Last activity", "Host", "Since", "Studies",
                   "Events", "Exports")  # fmt: skip


@pytest.mark.parametrize("size", [(100, 30), (80, 24), (160, 48)], ids=size_id)
async def test_every_header_of_the_active_sessions_is_whole(size: tuple[int, int]) -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        await open_sessions(pilot)
        shown = lines(app)
        title = next(i for i, line in enumerate(shown) if "Open sessions:" in line)
        header = shown[title + 1]
        labels = re.split(r"\s{2,}", header.strip())
        assert labels[:2] == ["State", "User"], header
        assert set(labels) <= set(SESSION_HEADERS), header  # none cut ("Stu")
        assert "Last activity" in labels
        row = line_with(app, "tech-leroy")
        assert "● active" in row and "03:10:00" in row  # the user and the last activity
        if size[0] >= 160:
            assert labels == list(SESSION_HEADERS)  # room for every column
        if size[0] >= 100:
            assert {"Role", "Host", "Studies"} <= set(labels)
            assert "technologist" in row and "10.1.30.5" in row


# -- 5. the selected line never ends in "since" without its time ---------------------------------

#: The end of a selected line that says since when: the time whole, its age whole or none.
SINCE = re.compile(r" · since \d\d:\d\d:\d\d( \((just now|\d+[smhd] ago)\))?$")


def selected_line(app: PacsApp) -> str:
    """The line under the links' table (the HL7 tracker shows one line of it)."""
    shown = lines(app)
    rules = [i for i, line in enumerate(shown) if line.strip() and set(line.strip()) == {"─"}]
    return shown[rules[0] + 1].rstrip() if rules else ""


async def test_the_selected_line_says_since_whole_or_not_at_all() -> None:
    """Reasons of every length about the screen's edge: the line the admin sees ends in a
    whole "since 03:11:58 (just now)" or leaves it to the next line, never "· since"."""
    engine = scripted_engine(nodes=False, hl7=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
        await wait_for(pilot, lambda: "ris-hl7" in selected_line(app))
        base = "AE in 4.1 ms: PID-3 missing, " * 10
        status = Status.WARN
        # The line is 158 wide; "▲ WARN  ris-hl7 10.20.0.40:2575 test message — " 47 of it.
        for length in range(88, 112):
            reason = f"[{length}] " + base[: length - 6].rstrip(" ,")
            status = Status.CRIT if status is Status.WARN else Status.WARN  # drawn at once
            await report(pilot, engine, "ris-hl7", Result(status, reason, ts=NOW - 2))
            await wait_for(pilot, lambda r=f"[{length}]": r in selected_line(app))
            line = selected_line(app)
            assert not re.search(r"(·|since|\(\S*)$", line), line  # no label without its value
            if "since" in line:
                assert SINCE.search(line), line


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_a_reason_too_long_for_the_selected_line_is_cut_before_since(
    size: tuple[int, int],
) -> None:
    """The HL7 tracker has one line under its table: a long reason is cut with "…" so the
    status, the id and a whole "since" stay in sight (it was cut off at the edge, since and all);
    at 80 and 100 columns, where both do not fit, the reason keeps the room."""
    engine = scripted_engine(nodes=False, hl7=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        await started(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
        await wait_for(pilot, lambda: "ris-hl7" in selected_line(app))
        reason = "START AE in 4.1 ms: " + "PID-3 missing, " * 30 + "END"
        await report(pilot, engine, "ris-hl7", Result(Status.CRIT, reason, ts=NOW - 2))
        await wait_for(pilot, lambda: "START" in selected_line(app))
        line = selected_line(app)
        assert line.lstrip().startswith("✖ CRIT  ris-hl7"), line
        assert "…" in line and "END" not in line, line
        assert len(line) <= size[0], line
        assert len(line.split("START", 1)[1]) >= 20, line  # the reason keeps some room
        if size[0] >= 160:
            assert SINCE.search(line), line
        else:  # at 80 and 100 columns no room for both: the reason's, not since's
            assert "since" not in line, line


# -- 6. the Logs tile: "1 matching line/min" ----------------------------------------------------


async def test_the_logs_tile_says_one_matching_line_in_the_singular() -> None:
    log = Target("orthanc-log", TargetKind.LOGTAIL, {"path": "/var/log/orthanc/Orthanc.log"})
    words = "1 matching line a minute ≥ 1; last: E0304 03:11:40 StoreScp.cpp:96] failed"
    engine = one_target_engine(
        log, Result(Status.WARN, words, {"log_errors_per_minute": 1.0}, ts=NOW - 2)
    )
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: "matching line" in line_with(app, "▲ 1 WARN"))
        counts = line_with(app, "▲ 1 WARN")
        assert "1 matching line/min" in counts, counts
        assert "lines/min" not in counts


# -- 7. a backup's age over 90 s reads as its reason does -------------------------------------


async def test_a_backup_age_of_two_minutes_reads_two_min() -> None:
    engine = scripted_engine(nodes=False, backups=True)
    check = check_of(engine, "pacs-restic")
    metrics = {
        "backup_age_seconds": 133.0,
        "backup_rpo_ratio": 133.0 / 86400,
        "backup_size_bytes": 41.5 * 2**30,
        "backup_snapshots": 30.0,
        "backup_check_ok": 1.0,
        "backup_check_age_seconds": 5 * 3600.0,
    }
    words = "newest good snapshot 2 min ago (RPO 24 h)"
    check.result = Result(Status.OK, words, metrics, ts=NOW - 2)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press("9")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        screen = app.screen
        assert isinstance(screen, TargetTableScreen)
        await wait_for(pilot, lambda: "pacs-restic" in line_with(app, "OK", "restic"))
        rows = [str(row.key.value) for row in screen.table.ordered_rows]
        screen.table.move_cursor(row=rows.index("pacs-restic"))
        await wait_for(pilot, lambda: screen.selected_id() == "pacs-restic")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await wait_for(pilot, lambda: "last hour" in screen_text(app))
        age = line_with(app, "Age ")
        assert re.search(r"\bAge\s+2 min\b", age), age
        assert "2 min ago" in screen_text(app)  # the reason, worded alike
        assert "133 s" not in screen_text(app)


# -- 8. the header's overall status says the values are stale ----------------------------------


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=size_id)
async def test_the_headers_overall_status_says_stale_when_the_collector_is_gone(
    size: tuple[int, int],
) -> None:
    with tempfile.TemporaryDirectory(prefix="pt-") as folder:
        app, servers = attached_app(Path(folder))
        async with app.run_test(size=size) as pilot:
            await started(pilot)

            def overall() -> str:
                """The header's words after the site's name."""
                header = next(iter(lines(app)), "")  # nothing drawn yet: ""
                return header.split(SITE, 1)[1].strip() if SITE in header else ""

            await wait_for(pilot, lambda: overall().startswith("▼ DOWN"))
            await servers[0].stop()
            await servers[0].engine.stop()
            await wait_for(pilot, lambda: app.screen.has_class("-stale"))
            # Whole once the header is laid out again for the longer words (a frame before
            # that may show them cut to the status word's room).
            said = ("⚠ stale: last known ▼ DOWN", "⚠ stale: ▼ DOWN")
            await wait_for(pilot, lambda: overall().split("  ")[0] in said)
            assert "03:10:45" in lines(app)[0]  # since when, as before
            await pilot.press("q")
