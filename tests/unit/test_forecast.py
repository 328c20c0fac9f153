"""Days to full from recorded usage: steady growth, a purge, a step, an empty volume, noise,
too little history."""

from __future__ import annotations

import random

import pytest

from pacs_tui.forecast import DAY, MIN_SPAN, days_words, forecast

GIB = 2.0**30
NOW = 1_800_000_000.0


def hourly(values: list[float], end: float = NOW) -> list[tuple[float, float]]:
    """``values`` an hour apart, the last at ``end``."""
    return [(end - (len(values) - 1 - i) * 3600, v) for i, v in enumerate(values)]


def test_steady_growth_gives_the_days_left_at_that_rate() -> None:
    # 1 GiB a day on a 100 GiB volume with 60 GiB used: 40 days.
    points = [(NOW - d * DAY, (60 - d) * GIB) for d in range(7)]
    found = forecast(points, 100 * GIB, NOW)
    assert found.rate == pytest.approx(GIB / DAY)
    assert found.days == pytest.approx(40.0)
    assert found.words == "full in 40 days" and found.points == 7


def test_a_purge_starts_the_fit_afresh_after_it() -> None:
    # Grew 5 GiB a day to 90, purged to 50, then 1 GiB a day for 3 days: the rate after the purge.
    before = [(NOW - (6 - d) * DAY - 4 * DAY, (70 + 5 * d) * GIB) for d in range(5)]
    after = [(NOW - (3 - d) * DAY, (50 + d) * GIB) for d in range(4)]
    found = forecast(before + after, 100 * GIB, NOW, window=14 * DAY)
    assert found.rate == pytest.approx(GIB / DAY)
    assert found.days == pytest.approx(47.0)
    assert found.points == 4 and found.since == after[0][0]


def test_a_step_up_is_growth_and_counts() -> None:
    # Flat at 40 GiB, one import of 30 GiB, flat again: the fit says it grew, and days are few.
    points = hourly([40 * GIB] * 24 + [70 * GIB] * 24)
    found = forecast(points, 100 * GIB, NOW)
    assert found.rate is not None and found.rate > 0
    assert found.days is not None and found.days < 5  # 30 GiB a day or so, 30 GiB free


def test_an_empty_volume_that_does_not_grow_has_no_forecast() -> None:
    found = forecast(hourly([0.0] * 48), 100 * GIB, NOW)
    assert found.days is None and found.words == "not growing"


def test_a_shrinking_volume_says_so() -> None:
    # A slow decline (under the purge threshold between points) is shrinking, not a purge.
    found = forecast(hourly([50 * GIB - i * 0.001 * GIB for i in range(48)]), 100 * GIB, NOW)
    assert found.days is None and found.words == "shrinking"


def test_noise_around_a_steady_growth_gives_about_the_same_answer() -> None:
    rng = random.Random(7)
    points = [
        (NOW - h * 3600, 60 * GIB - h * GIB / 24 + rng.gauss(0, 0.05 * GIB)) for h in range(168)
    ]
    found = forecast(points, 100 * GIB, NOW)
    assert found.days == pytest.approx(40.0, rel=0.1)


def test_too_little_history_gives_no_number_yet() -> None:
    found = forecast([(NOW - 60, 1.0), (NOW, 2.0)], 100 * GIB, NOW)
    assert found.days is None and found.rate is None
    assert found.words.startswith("no forecast yet: 2 points over 1 min")
    assert forecast([], 100 * GIB, NOW).words.startswith("no forecast yet: 0 points")


def test_points_outside_the_window_are_left_out() -> None:
    old = [(NOW - 30 * DAY, 0.0)]  # would make the rate far lower
    recent = [(NOW - d * DAY, (60 - d) * GIB) for d in range(7)]
    assert forecast(old + recent, 100 * GIB, NOW).days == pytest.approx(40.0)


def test_growth_far_beyond_ten_years_is_said_in_words() -> None:
    points = hourly([10 * GIB + i for i in range(int(MIN_SPAN // 3600) + 3)])
    assert forecast(points, 100 * GIB, NOW).words == "not full within 10 years"


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (40.2, "40 days"),
        (1.2, "1 day"),
        (0.5, "12 hours"),
        (0.05, "1 hour"),
        (0.01, "14 minutes"),
        (0.0001, "< 1 minute"),
    ],
)
def test_days_read_as_a_person_says_them(days: float, words: str) -> None:
    assert days_words(days) == words
