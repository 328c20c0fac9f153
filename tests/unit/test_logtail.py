"""Following logs as a hostile disk serves them: rotation by rename, copytruncate, a file that
goes and comes back, a FIFO at the path, a 2 GB file started at its end, a line of 1 MiB; the
matching lines counted, their rate judged, and patients' names and identifiers masked."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pacs_tui.config import ConfigError, parse_config
from pacs_tui.logtail import Follower, mask_phi
from pacs_tui.model import Result, Status
from pacs_tui.probes import logtail_source
from pacs_tui.probes.logtail_source import LogTail, LogtailConfig


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_a_file_is_followed_from_its_end_and_through_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "Orthanc.log"
    log.write_text("old line, before we started\n")
    follower = Follower(str(log))
    assert follower.poll().lines == []  # started at its end
    append(log, "one\ntwo")
    assert follower.poll().lines == ["one"]  # "two" has no newline yet
    append(log, " halves\n")
    assert follower.poll().lines == ["two halves"]
    # logrotate: rename, a new file; the old one's last lines first, then the new one's.
    append(log, "last of the old\n")
    log.rename(tmp_path / "Orthanc.log.1")
    log.write_text("first of the new\n")
    polled = follower.poll()
    assert polled.lines == ["last of the old", "first of the new"]
    assert polled.notes == ["rotated: following the new file"]


def test_copytruncate_is_read_again_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("")
    follower = Follower(str(log))
    follower.poll()
    append(log, "a long line before the truncation\n")
    assert follower.poll().lines == ["a long line before the truncation"]
    os.truncate(log, 0)
    append(log, "after\n")
    polled = follower.poll()
    assert polled.lines == ["after"]
    assert "truncated: reading it again from its start" in polled.notes


def test_a_file_that_goes_away_and_comes_back_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    follower = Follower(str(log))
    assert follower.poll().notes == ["the file is missing"]
    assert follower.missing == "the file is missing"
    log.write_text("written before we saw it\n")
    polled = follower.poll()
    assert polled.lines == ["written before we saw it"] and "the file is back" in polled.notes
    assert follower.missing == ""


def test_a_fifo_at_the_path_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    follower = Follower(str(fifo))
    polled = follower.poll()  # returns: no open of the FIFO waiting for a writer
    assert polled.lines == [] and follower.missing.startswith("not a regular file")


def test_a_2_gb_file_is_started_at_its_end(tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    with log.open("wb") as f:
        f.truncate(2 * 2**30)  # sparse: 2 GB that are not read
    follower = Follower(str(log), budget=2**20)
    assert follower.poll().lines == []
    append(log, "\nnew error line\n")
    assert follower.poll().lines == ["new error line"]  # an empty line is no line


def test_a_line_of_1_mib_is_cut_and_the_next_line_read(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("")
    follower = Follower(str(log), max_line=1024)
    follower.poll()
    append(log, "E" * 2**20 + "\nnext\n")
    lines, cut = [], 0
    for _ in range(3):
        polled = follower.poll()
        lines += polled.lines
        cut += polled.cut
    assert lines == ["E" * 1024, "next"] and cut == 1


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "E: Store SCP: patient DOE^JANE, PatientID=123456 failed",
            "E: Store SCP: patient •••, PatientID=••• failed",
        ),
        ("W1202 (0010,0020) [MRN55512345] missing", "W1202 (0010,0020) ••• missing"),
        ("accession 20261202001 stored", "accession ••• stored"),
        ('PatientName: "Martin Paul" study 1.2.3', "PatientName: ••• study 1.2.3"),
        # A tagged value ends before a closing bracket; a time's fraction is not an ID.
        (
            "E1202 16:47:32.123456 C-STORE of DOE^JO (PatientID=900123) failed",
            "E1202 16:47:32.123456 C-STORE of ••• (PatientID=•••) failed",
        ),
        ("I 2026-12-02 16:47:32,987654 mrn:12345678]", "I 2026-12-02 16:47:32,987654 mrn:•••]"),
        ("at 00:00:00.5550123456789 ok", "at 00:00:00.••• ok"),  # no ID hidden behind a time
    ],
)
def test_patient_data_in_a_line_is_masked(line: str, shown: str) -> None:
    assert mask_phi(line) == shown


def test_the_default_patterns_match_orthanc_dcmtk_and_c_store_failures() -> None:
    tail = LogTail(LogtailConfig("pacs", "/var/log/pacs.log"))
    tail.take([
        "I1202 10:11:12.000001 main.cpp:100] Orthanc has started",
        "E1202 10:11:13.000002 StoreScp.cpp:50] Cannot write to the storage area",
        "E: Association Request Failed: 0006:0317 Peer aborted Association",
        "I: Received Store Request",
        "2026-12-02 10:11:14 WARN C-STORE of 1.2.840.113619 failed: status 0xA700",
        "2026-12-02 10:11:15 INFO C-STORE of 1.2.840.113619 succeeded",
    ])  # fmt: skip
    assert (tail.lines, tail.matches) == (6, 3)


def test_the_rate_is_judged_and_the_last_line_shown_masked() -> None:
    tail = LogTail(LogtailConfig("pacs", "/var/log/pacs.log", warn=2, crit=5))
    assert tail.report(1000.0).status is Status.OK
    tail.take(["E: C-STORE for DOE^JOHN failed"] * 3)
    result: Result = tail.report(1060.0)
    assert (result.status, result.metrics["log_errors_per_minute"]) == (Status.WARN, 3.0)
    assert result.reason == "3 matching lines a minute ≥ 2; last: E: C-STORE for ••• failed"
    assert "DOE" not in repr(result)


def test_bad_patterns_name_the_key_and_the_regular_expression_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[[logtail]]\nid = "x"\npath = "/l"\npatterns = ["(unclosed"]\n')
    (problem,) = [str(p) for p in info.value.problems]
    assert ".patterns = " in problem and "missing ), unterminated subpattern" in problem


async def test_the_service_follows_its_file_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logtail_source, "POLL_SECONDS", 0.02)
    log = tmp_path / "pacs.log"
    log.write_text("E: an error from before we started\n")
    results: list[Result] = []

    class Emit:
        def result(self, target_id: str, result: Result) -> None:
            results.append(result)

        def event(self, event: object) -> None: ...

        def messages(self, rows: object) -> None: ...

    tail = LogTail(LogtailConfig("pacs", str(log), interval=1))
    task = asyncio.create_task(tail.serve(Emit()))
    try:
        async with asyncio.timeout(10):
            while not results:
                await asyncio.sleep(0.01)
            append(log, "E: Store SCP failed\nI: fine\n")
            while tail.matches < 1:
                await asyncio.sleep(0.01)
            first = len(results)
            while len(results) == first:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (tail.lines, tail.matches) == (2, 1)  # what was there before is not counted
    assert results[-1].metrics["log_matches_total"] == 1
    assert results[-1].details["recent"][0].endswith("E: Store SCP failed")


def test_two_lines_at_start_up_are_two_a_minute_not_a_few_seconds_scaled_up() -> None:
    tail = LogTail(LogtailConfig("pacs", "/var/log/pacs.log", warn=5, crit=10))
    tail.report(1000.0)
    tail.take(["E: Store SCP failed", "E: Store SCP failed"])
    result = tail.report(1005.0)
    assert result.metrics["log_errors_per_minute"] == 2.0 and result.status is Status.OK
