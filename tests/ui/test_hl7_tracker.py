"""The HL7 tracker driven by the Pilot: the links' counters, the message log (newest first,
filtered with ``/``, paged with ``[`` and ``]``), a message's detail with the patient masked.

Scripted engine (fixed HL7 targets, a message log in a real history, the bodies of the newer
messages kept as a listener keeps them); every check reads the screen as the user sees it.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.screens import message_log
from pacs_tui.screens.hl7_tracker import Hl7TrackerScreen
from pacs_tui.screens.message_detail import MessageDetailScreen
from pacs_tui.screens.message_log import parse_filter

from .conftest import (
    HL7_LOG,
    NOW,
    PATIENT_ID,
    PATIENT_NAME,
    screen_text,
    scripted_engine,
    wait_for,
)


def log_lines(app: PacsApp) -> list[str]:
    """The message log's rows as drawn (the lines with a control ID)."""
    return [line for line in screen_text(app).splitlines() if " HIS00000" in line]


def first_shown(app: PacsApp) -> str:
    """The control ID of the log's first row as drawn ("" when none)."""
    lines = log_lines(app)
    return next(w for w in lines[0].split() if w.startswith("HIS")) if lines else ""


def summary(app: PacsApp) -> str:
    return next(line for line in screen_text(app).splitlines() if "· [ older" in line)


async def open_tracker(
    pilot: Pilot[None], drawn: str = "no ACK: the upstream closed"
) -> Hl7TrackerScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app, PacsApp) and app.ctx is not None)
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
    await wait_for(pilot, lambda: "HIS0000029" in screen_text(pilot.app))  # type: ignore[arg-type]
    # The log's columns are measured when the table is next idle, after its rows are drawn:
    # wait for the widest column (the note) to be drawn whole, not cut to its header's width.
    # (The table is idle only between the app's other messages: on a loaded machine, later.)
    await wait_for(
        pilot,
        lambda: drawn in screen_text(pilot.app),  # type: ignore[arg-type]
        timeout=30,
    )
    screen = app.screen
    assert isinstance(screen, Hl7TrackerScreen)
    return screen


def make_app() -> PacsApp:
    return PacsApp(scripted_engine(nodes=False, hl7=True), clock=lambda: NOW)


async def test_the_tracker_lists_each_link_with_its_counters_and_the_newest_messages() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        text = screen_text(app)
        tap = next(line for line in text.splitlines() if " his-to-ris " in line and "tap" in line)
        assert "1,843" in tap and " 12 " in tap  # received, AE
        lines = log_lines(app)
        ids = [next(w for w in line.split() if w.startswith("HIS000")) for line in lines]
        assert ids[:3] == ["HIS0000029", "HIS0000028", "HIS0000027"]  # newest first
        no_ack = next(line for line in lines if "HIS0000027" in line)
        assert "— none" in no_ack and "no ACK: the upstream closed" in no_ack
        assert "▲ AA late" in next(line for line in lines if "HIS0000021" in line)
        assert "▲ AE" in next(line for line in lines if "HIS0000025" in line)
        assert "the newest 30 messages · live" in summary(app)
        assert PATIENT_NAME not in text and PATIENT_ID not in text


@pytest.mark.parametrize(
    ("typed", "expected", "said"),
    [
        ("AE", {"HIS0000025"}, "filter: ACK AE"),
        ("none", {"HIS0000027", "HIS0000021"}, "filter: no ACK"),  # none, and a late one
        ("ORU", {f"HIS{i:07d}" for i in range(30) if i % 4 == 2}, "filter: type ORU"),
        ("id:HIS0000013", {"HIS0000013"}, "filter: control ID HIS0000013"),
        ("ar ORU^R01", {"HIS0000026"}, "filter: type ORU^R01, ACK AR"),
        ("#5e1b0c2d9a7f3e03", {f"HIS{i:07d}" for i in (3, 10, 17, 24)}, "filter: one patient"),
    ],
)
async def test_slash_filters_the_messages(typed: str, expected: set[str], said: str) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab", "slash")  # the log has the focus: / filters the messages
        await pilot.press(*typed, "enter")

        def shown() -> set[str]:
            return {w for line in log_lines(app) for w in line.split() if w.startswith("HIS000")}

        await wait_for(pilot, lambda: shown() == expected)
        assert said in summary(app)
        await pilot.press("escape")  # every message again
        await wait_for(pilot, lambda: len(log_lines(app)) == len(HL7_LOG))


async def test_brackets_page_back_through_the_history_and_forward_to_live(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_log, "PAGE", 12)
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await open_tracker(pilot)

        def first() -> str:
            return first_shown(app)

        assert first() == "HIS0000029" and len(log_lines(app)) == 12
        await pilot.press("tab", "left_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000017")
        assert "older page (] newer" in summary(app) and len(log_lines(app)) == 12
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000005")
        assert len(log_lines(app)) == 6  # the oldest page: what is left
        await pilot.press("left_square_bracket")  # nothing older: it stays, and says so
        await wait_for(pilot, lambda: "No older messages" in screen_text(app))
        assert first() == "HIS0000005"
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000017")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000029")
        assert "live" in summary(app)
        await pilot.press("down", "down")  # reading: the rows stay put
        await wait_for(pilot, lambda: "paused (Home follows)" in summary(app))
        await pilot.press("home")
        await wait_for(pilot, lambda: "· live ·" in summary(app))
        # Two pages back, Home is the newest page again, followed live.
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000005")
        await pilot.press("home")
        await wait_for(pilot, lambda: first() == "HIS0000029" and "· live ·" in summary(app))


async def test_an_oldest_page_exactly_full_says_there_is_nothing_older(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_log, "PAGE", 15)  # the 30 messages: two pages exactly
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await open_tracker(pilot)

        def first() -> str:
            return first_shown(app)

        await pilot.press("tab", "left_square_bracket")
        await wait_for(pilot, lambda: first() == "HIS0000014")
        await pilot.press("left_square_bracket")  # the page before is empty: it stays, and says
        await wait_for(pilot, lambda: "No older messages" in screen_text(app))
        assert first() == "HIS0000014" and len(log_lines(app)) == 15
        await pilot.press("right_square_bracket")  # one ] back to the newest, as before
        await wait_for(pilot, lambda: first() == "HIS0000029")
        assert "live" in summary(app)


async def test_enter_shows_a_message_with_the_patient_masked() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab", "down", "enter")  # HIS0000028, an ADT^A01 of adt-copy
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDetailScreen))
        await wait_for(pilot, lambda: "fields masked" in screen_text(app))
        text = screen_text(app)
        assert "ADT^A01 HIS0000028" in text
        assert "MSH-10  HIS0000028" in text and "PV1-2  I" in text
        assert "PID-3  ••• masked (20 characters)" in text
        assert "PID-5  ••• masked" in text and "PID-7  ••• masked" in text
        assert PATIENT_NAME not in text and PATIENT_ID not in text and "19610412" not in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))


async def test_an_older_message_says_its_segments_are_not_kept() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab", "end", "enter")  # HIS0000000, older than what is kept
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDetailScreen))
        await wait_for(pilot, lambda: "not kept" in screen_text(app))
        assert "ADT^A01 HIS0000000" in screen_text(app)


def test_the_filter_words_say_what_they_are() -> None:
    assert parse_filter("") == parse_filter("   ")
    assert parse_filter("ae").ack == "AE"
    assert parse_filter("noack").ack == "none"
    assert parse_filter("ADT^A01").type_prefix == "ADT^A01"
    assert parse_filter("adt").control_id == "adt"  # lower case: not a type, an ID
    assert parse_filter("type:ORU ack:AR id:X-1") == parse_filter("ORU AR X-1")
    assert parse_filter("id:AE").control_id == "AE"  # said explicitly: an ID, not a code
    assert parse_filter("patient:PAT-1").patient == "PAT-1"
    assert parse_filter("patient:PAT-1").describe() == "one patient"  # not the ID, on screen


async def test_the_overview_tile_says_the_traffic_and_the_errors() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.ctx is not None)
        # Two listeners at 3 a minute each; the tap's 12 AE, 3 AR and 1 unanswered.
        await wait_for(pilot, lambda: "6 msg/min · 12 AE · 3 AR · 1 no ACK" in screen_text(app))
        tile = next(line for line in screen_text(app).splitlines() if "msg/min" in line)
        assert "▲ 1 WARN" in tile and "✔ 2 OK" in tile  # the counts stay first


async def test_a_patients_id_typed_in_the_filter_does_not_stay_on_screen() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab", "slash", *f"patient:{PATIENT_ID}", "enter")
        await wait_for(pilot, lambda: "filter: one patient" in summary(app))
        assert PATIENT_ID not in screen_text(app)


@pytest.mark.parametrize("width", [80, 100])
async def test_below_the_wide_width_the_links_table_fits_and_cuts_its_state_with_a_mark(
    width: int,
) -> None:
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_for(pilot, lambda: app.ctx is not None)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))

        def link_rows() -> list[str]:
            lines = screen_text(app).splitlines()
            return [line for line in lines[:8] if " his-to-ris " in line or " adt-copy " in line]

        await wait_for(pilot, lambda: len(link_rows()) == 2)
        header = next(line for line in screen_text(app).splitlines() if " Per min " in line)
        # The whole table in sight (no sideways scroll): the last column's header and every
        # state end inside the screen, a long one cut with "…", never by the screen's edge.
        assert "State" in header
        assert ("Last 1h" in header) is (width >= 100)  # at 80 the trend makes way
        tap = next(line for line in link_rows() if " his-to-ris " in line)
        assert " 12 " in tap  # AE, with AR and No ACK beside it
        assert tap.rstrip().endswith("…") and "tapping 127" in tap
    app = make_app()
    async with app.run_test(size=(160, 30)) as pilot:  # wide: the trend is back
        await wait_for(pilot, lambda: app.ctx is not None)
        await pilot.press("4")
        await wait_for(pilot, lambda: "Last 1h" in screen_text(app))


async def test_a_huge_header_field_is_cut_in_the_log_and_shown_at_length_in_the_detail() -> None:
    """One sender's 5,000-character control ID (and application) must not push the ACK and the
    note off the screen for every row: the log cuts them with "…"; Enter shows them at length."""
    from dataclasses import replace

    from pacs_tui.model import LoggedMessage

    huge = "L" * 5000
    newest = LoggedMessage(
        NOW - 5, "his-to-ris", "in", "ADT^A08", huge, "AA", 0.0005, 5200, "H" * 300, "RIS",
        "", "2.5", "MAIN", "RAD", "",
    )  # fmt: skip
    app = PacsApp(
        scripted_engine(
            nodes=False, hl7=True, extra_messages=[newest, replace(newest, ts=NOW - 4)]
        ),
        clock=lambda: NOW,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        # Measured: the control IDs drawn at their cut length, not their header's.
        await open_tracker(pilot, drawn="L" * 23 + "…")
        rows = [line for line in screen_text(app).splitlines() if "LLLL" in line]
        assert len(rows) == 2
        for row in rows:
            assert "L" * 23 + "…" in row and "L" * 25 not in row
            assert "H" * 23 + "…" in row
            assert "✓ AA" in row  # the ACK is still on screen
        late = next(line for line in log_lines(app) if "HIS0000021" in line)
        assert "▲ AA late" in late
        await pilot.press("tab", "enter")  # the newest: one of the two
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDetailScreen))
        await wait_for(pilot, lambda: "L" * 150 in screen_text(app).replace("\n", ""))


async def test_at_80_columns_the_log_pages_sideways_and_the_detail_pages_down() -> None:
    """At 80x24 the log's last columns are off to the right: Shift+→ (or >) shows them a screen
    at a time, Shift+← (or <) goes back; the message's tree pages with PageDown, Home."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ctx is not None)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
        await wait_for(pilot, lambda: "HIS0000029" in screen_text(app))
        assert "Patient" not in screen_text(app)
        await pilot.press("tab", "shift+right")
        await wait_for(pilot, lambda: "Patient" in screen_text(app))
        # The Time column stays (fixed), and the page starts at a column's edge.
        header = next(line for line in screen_text(app).splitlines() if "Patient" in line)
        assert header.split()[:3] == ["Time", "Latency", "Size"], header
        await pilot.press("greater_than_sign")  # the rest: the end of the rows
        await wait_for(pilot, lambda: "Control ID" not in screen_text(app))
        assert "Note" in screen_text(app)
        await pilot.press("less_than_sign", "shift+left")
        await wait_for(pilot, lambda: "Control ID" in screen_text(app))
        await pilot.press("down", "enter")  # HIS0000028
        await wait_for(pilot, lambda: isinstance(app.screen, MessageDetailScreen))
        await wait_for(pilot, lambda: "fields masked" in screen_text(app))
        assert "PV1" not in screen_text(app)  # below the fold
        await pilot.press("pagedown", "pagedown")
        await wait_for(pilot, lambda: "PV1" in screen_text(app))
        await pilot.press("home")
        await wait_for(pilot, lambda: "MSH-1 " in screen_text(app) or "MSH-3" in screen_text(app))
