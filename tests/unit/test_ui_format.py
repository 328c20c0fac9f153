"""Pure UI formatting helpers: relative times, milliseconds, clocks, sparklines, bar charts."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from pacs_tui.model import Status
from pacs_tui.ui_format import (
    BLOCKS,
    DOWN_MARK,
    ago,
    bar_chart,
    bucket_series,
    clock,
    count_summary,
    down_periods,
    duration_short,
    mark_buckets,
    ms,
    series_summary,
    sparkline,
    status_class,
    when,
)

NOW = 1_709_608_320.0  # 2024-03-05 03:12:00 UTC


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (3600 + 5 * 60, "1h 05m"),
        (86399, "23h 59m"),
        (86400, "1d"),
        (3 * 86400 + 4 * 3600 + 59, "3d 4h"),
    ],
)
def test_duration_short(seconds: float, text: str) -> None:
    assert duration_short(seconds) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (0, "just now"),
        (4.9, "just now"),
        (-4, "just now"),  # a little clock skew is not "in the future"
        (12, "12s ago"),
        (180, "3m ago"),
        (5000, "1h 23m ago"),
        (2 * 86400, "2d ago"),
        (-120, "in 2m"),
    ],
)
def test_ago(delta: float, text: str) -> None:
    assert ago(NOW - delta, NOW) == text


def test_ago_never() -> None:
    assert ago(None, NOW) == "—"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (math.nan, "—"),
        (0.0, "0.0 ms"),
        (0.00042, "0.4 ms"),
        (0.0032, "3.2 ms"),
        (0.0099, "9.9 ms"),
        (0.0123, "12 ms"),
        (0.812, "812 ms"),
        (0.9996, "1000 ms"),
        (1.0, "1.00 s"),
        (1.254, "1.25 s"),
        (66.41, "66.4 s"),
        (119.4, "119 s"),
        (181.0, "3 min"),
        (412.7, "7 min"),
    ],
)
def test_ms(seconds: float | None, text: str) -> None:
    assert ms(seconds) == text


def test_clock_and_when_in_a_given_zone() -> None:
    assert clock(NOW, "UTC") == "03:12:00"
    assert clock(NOW, "Europe/Paris") == "04:12:00"
    assert when(NOW - 60, NOW, "UTC") == "03:11:00"
    assert when(NOW - 86400, NOW, "UTC") == "Mar 04 03:12"
    # 23:12 UTC on the 4th is "yesterday" in UTC but already "today" (00:12) in Paris.
    assert when(NOW - 4 * 3600, NOW, "UTC") == "Mar 04 23:12"
    assert when(NOW - 4 * 3600, NOW, "Europe/Paris") == "00:12:00"
    assert when(None, NOW) == "—"


def test_clock_without_zone_uses_local_time() -> None:
    code = (
        "from pacs_tui.ui_format import clock; import time; "
        "print(clock(1709608320.0), time.strftime('%H:%M:%S', time.localtime(1709608320.0)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "Asia/Kolkata", "PATH": ""},
    ).stdout.split()
    assert out == ["08:42:00", "08:42:00"]


def test_status_helpers() -> None:
    assert status_class(Status.DOWN) == "status-down"
    assert count_summary([Status.OK] * 5 + [Status.DOWN, Status.WARN]) == (
        "▼ 1 DOWN  ▲ 1 WARN  ✔ 5 OK"
    )
    assert count_summary([]) == "nothing configured"
    assert count_summary([Status.UNKNOWN, Status.CRIT]) == "✖ 1 CRIT  ? 1 UNKNOWN"


def test_bucket_series_average_max_and_gaps() -> None:
    points = [(0.0, 1.0), (5.0, 3.0), (25.0, 10.0), (40.0, 4.0), (-1.0, 99.0), (41.0, 99.0)]
    assert bucket_series(points, 0.0, 40.0, 4) == [2.0, None, 10.0, 4.0]
    assert bucket_series(points, 0.0, 40.0, 4, how="max") == [3.0, None, 10.0, 4.0]
    assert bucket_series([], 0.0, 40.0, 3) == [None, None, None]
    assert bucket_series(points, 0.0, 0.0, 3) == []
    assert bucket_series(points, 0.0, 10.0, 0) == []
    assert bucket_series([(1.0, math.nan)], 0.0, 10.0, 1) == [None]
    with pytest.raises(ValueError):
        bucket_series(points, 0.0, 10.0, 2, how="median")


def test_sparkline_scales_and_gaps() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BLOCKS
    assert sparkline([1.0, None, 1.0], gap="·") == "▁·▁"  # all equal: lowest block
    assert sparkline([None, None]) == "  "
    assert sparkline([]) == ""
    # A fixed scale clamps and lets rows compare.
    assert sparkline([-5, 0, 10, 20], lo=0, hi=10) == "▁▁██"
    # Log scale: 1 ms, 10 ms, 100 ms, 1 s on 1 ms..1 s land a third apart.
    line = sparkline([0.001, 0.01, 0.1, 1.0], lo=0.001, hi=1.0, log=True)
    assert line == "▁▃▆█"
    assert sparkline([0.0, 5.0], lo=0.001, hi=1.0, log=True) == "▁█"


def test_sparkline_marks_down_buckets_with_the_down_glyph() -> None:
    marks = [False, True, True, False]
    assert Status.DOWN.glyph == DOWN_MARK
    assert sparkline([0, None, 5, 7], gap="·", marks=marks) == "▁▼▼█"
    assert sparkline([None, None], gap="·", marks=[True, False]) == "▼·"
    assert sparkline([1.0, 2.0], marks=[False]) == "▁█"  # short marks: the rest unmarked


def test_down_periods_from_status_changes() -> None:
    changes = [
        (30.0, "OK", "DOWN"),
        (50.0, Status.DOWN, Status.OK),
        (80.0, "OK", "DOWN"),
        (30.0, "OK", "DOWN"),  # the same change twice (history and live): counted once
    ]
    assert down_periods(changes, 0.0, 100.0) == [(30.0, 50.0), (80.0, 100.0)]
    # The status at the window's start comes from the first change's "before" ...
    assert down_periods([(10.0, "DOWN", "OK")], 0.0, 100.0) == [(0.0, 10.0)]
    # ... or from a change before the window.
    assert down_periods([(-50.0, "OK", "DOWN"), (20.0, "DOWN", "WARN")], 0.0, 100.0) == [
        (0.0, 20.0)
    ]
    # No change in the window: the current status says it all.
    assert down_periods([], 0.0, 100.0, current=Status.DOWN, since=-500.0) == [(0.0, 100.0)]
    assert down_periods([], 0.0, 100.0, current=Status.OK, since=-500.0) == []
    # A change the list missed is filled in from the current status and its "since".
    assert down_periods([], 0.0, 100.0, current=Status.DOWN, since=90.0) == [(90.0, 100.0)]
    # UNKNOWN (never checked) and WARN are not DOWN; an unreadable word changes nothing.
    assert down_periods([(10.0, "UNKNOWN", "WARN"), (20.0, "WARN", "bogus")], 0, 100) == []
    assert down_periods([(10.0, "OK", "DOWN")], 100.0, 100.0) == []


def test_mark_buckets_any_overlap_counts() -> None:
    assert mark_buckets([(30.0, 50.0)], 0.0, 100.0, 10) == [False] * 3 + [True] * 2 + [False] * 5
    # A few seconds still mark their slot; a period ending on a boundary leaves the next alone.
    assert mark_buckets([(41.0, 42.0)], 0.0, 100.0, 4) == [False, True, False, False]
    assert mark_buckets([(0.0, 25.0)], 0.0, 100.0, 4) == [True, False, False, False]
    # Clamped to the window; the end belongs to the last slot.
    assert mark_buckets([(-50.0, 10.0), (100.0, 100.0)], 0.0, 100.0, 4) == [
        True,
        False,
        False,
        True,
    ]
    assert mark_buckets([(200.0, 300.0)], 0.0, 100.0, 4) == [False] * 4
    assert mark_buckets([], 0.0, 100.0, 0) == []


def test_bar_chart() -> None:
    rows = bar_chart([0.0, 1.0, 2.0, None, 4.0], 2, gap="·")
    assert rows == [
        "    █",
        " ▄█·█",
    ]
    # Above zero is never drawn as nothing, so "fast" does not look like "no data".
    assert bar_chart([0.0001, 100.0], 1) == ["▁█"]
    assert bar_chart([None], 2, gap="·") == [" ", "·"]
    assert bar_chart([1.0, 2.0], 0) == []
    assert bar_chart([0.0, 0.0], 1) == ["  "]


def test_series_summary_weights_rollups() -> None:
    assert series_summary([]) is None
    assert series_summary([(1.0, 3.0, 2.0, 1), (0.5, 9.0, 5.0, 3)]) == (0.5, 4.25, 9.0)
    assert series_summary([(1.0, 1.0, 1.0, 0)]) is None


def test_ui_format_does_not_import_textual() -> None:
    code = "import pacs_tui.ui_format, sys; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
