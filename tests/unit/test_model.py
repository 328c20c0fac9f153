"""Status ordering, words, glyphs and exit codes."""

from __future__ import annotations

import pytest

from pacs_tui.durations import parse_duration, seconds_words
from pacs_tui.model import Status, iso


def test_worst_of_ordering() -> None:
    assert Status.worst([Status.OK, Status.WARN, Status.OK]) is Status.WARN
    assert Status.worst([Status.CRIT, Status.DOWN, Status.WARN]) is Status.DOWN
    assert Status.worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert Status.worst([Status.UNKNOWN, Status.WARN]) is Status.WARN
    assert Status.worst([]) is Status.UNKNOWN
    ranks = [s.rank for s in (Status.OK, Status.UNKNOWN, Status.WARN, Status.CRIT, Status.DOWN)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5


def test_every_status_has_a_distinct_word_and_glyph() -> None:
    glyphs = {s.glyph for s in Status}
    assert len(glyphs) == len(Status)
    assert Status.DOWN.label == "▼ DOWN"
    assert [s.exit_code for s in (Status.OK, Status.WARN, Status.CRIT, Status.DOWN)] == [0, 1, 2, 2]
    assert Status.UNKNOWN.exit_code == 3


def test_iso_has_utc_offset() -> None:
    assert iso(0.0) == "1970-01-01T00:00:00.000+00:00"
    assert iso(None) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("2d", 172800),
        ("1.5s", 1.5),
        ("90", 90),
        ("0", 0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "5m3", "-1s", "1.2.3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5.0, "5 s"), (0.5, "0.5 s"), (2.5, "2.5 s"), (0.05, "0.05 s"), (1 / 3, "0.33 s"),
     (599, "599 s"), (900, "15 min"), (5400, "90 min"), (7200, "2 h"), (86400, "24 h")],
)  # fmt: skip
def test_a_wait_is_said_one_way_everywhere(seconds: float, words: str) -> None:
    """Every reason writes a timeout with a space before its unit ("no ACK within 5 s"); the
    config's "5s" is how it is typed."""
    assert seconds_words(seconds) == words
