"""``pacs-tui check``'s verdict and line: statuses, staleness, thresholds, and perfdata that a
parser following the Monitoring Plugins guidelines reads back (ours, the command source's)."""

from __future__ import annotations

import pytest

from pacs_tui.model import Status, Target, TargetKind, TargetState
from pacs_tui.nagios import Thresholds, judge, render
from pacs_tui.probes.dicom_source import DicomNodeConfig, node_target
from pacs_tui.probes.perfdata import parse_output, parse_range
from pacs_tui.probes.storage_source import VolumeConfig, volume_target
from pacs_tui.scheduler import MAX_BACKOFF

NOW = 1_800_000_000.0


def node(
    tid: str, status: Status, echo: float | None, checked: float, reason: str = ""
) -> TargetState:
    metrics = {"echo_seconds": echo} if echo is not None else {}
    return TargetState(
        Target(tid, TargetKind.DICOM_NODE, {"aet": tid.upper()}),
        status=status,
        reason=reason or status.word,
        since=checked - 100,
        metrics=metrics,
        checked=checked,
    )


def test_one_target_ok_with_its_perfdata_read_back_by_the_guidelines() -> None:
    verdicts = judge([node("archive", Status.OK, 0.0032, NOW - 5)], now=NOW)
    line = render(verdicts)
    assert line.startswith("PACS-TUI OK - archive OK: OK | ")
    parsed = parse_output(line)
    assert parsed.problems == ()
    (echo,) = parsed.perfdata
    assert echo.label == "archive echo"
    assert echo.value == pytest.approx(0.0032) and echo.unit == "s"
    assert echo.warn == "0.5" and echo.minimum == 0.0  # the declared WARN threshold


def test_several_targets_worst_first_and_down_is_critical() -> None:
    states = [
        node("archive", Status.OK, 0.003, NOW - 5),
        node("ct-1", Status.DOWN, None, NOW - 5, "connection refused"),
        node("viewer", Status.WARN, 0.8, NOW - 5, "slow: echo 800 ms > 500 ms"),
    ]
    verdicts = judge(states, now=NOW)
    line = render(verdicts)
    assert line.startswith(
        "PACS-TUI CRITICAL - 3 targets: 1 DOWN, 1 WARN, 1 OK; ct-1 DOWN: connection refused; "
        "viewer WARN: slow: echo 800 ms > 500 ms | "
    )
    assert [p.label for p in parse_output(line).perfdata] == ["archive echo", "viewer echo"]
    assert Status.worst(v.status for v in verdicts).exit_code == 2


def test_a_stale_state_is_unknown_in_words() -> None:
    intervals = {"archive": 30.0, "ct-1": 30.0}
    states = [
        node("archive", Status.OK, 0.003, NOW - 61),  # two intervals and a second ago
        # DOWN backs off up to MAX_BACKOFF: not stale before twice that.
        node("ct-1", Status.DOWN, None, NOW - MAX_BACKOFF, "connection refused"),
    ]
    archive, ct = judge(states, now=NOW, intervals=intervals)
    assert archive.status is Status.UNKNOWN
    assert archive.reason == (
        "stale: last checked 61s ago, every 30s expected (is the collector probing?)"
    )
    assert ct.status is Status.DOWN
    (late,) = judge(
        [node("ct-1", Status.DOWN, None, NOW - 2 * MAX_BACKOFF - 1)], now=NOW, intervals=intervals
    )
    assert late.status is Status.UNKNOWN and "stale: last checked 10m ago" in late.reason
    fresh = judge([node("archive", Status.OK, 0.003, NOW - 59)], now=NOW, intervals=intervals)
    assert fresh[0].status is Status.OK


def test_thresholds_on_the_headline_value() -> None:
    warn, crit = parse_range("0.01"), parse_range("0.1")
    limits = Thresholds(warn, crit, "0.01", "0.1")
    states = [
        node("fast", Status.OK, 0.005, NOW),
        node("slowish", Status.OK, 0.05, NOW),
        node("slow", Status.OK, 0.2, NOW),
        node("down", Status.DOWN, None, NOW, "connection refused"),
    ]
    fast, slowish, slow, down = judge(states, now=NOW, thresholds=limits)
    assert fast.status is Status.OK
    assert (slowish.status, slowish.reason) == (Status.WARN, "echo 50 ms (0.05 s) outside 0.01")
    assert (slow.status, slow.reason) == (Status.CRIT, "echo 200 ms (0.2 s) outside 0.1")
    assert down.status is Status.DOWN  # no value: the threshold cannot make it better
    perf = parse_output(render([fast], limits)).perfdata
    assert (perf[0].warn, perf[0].crit) == ("0.01", "0.1")
    inside = Thresholds(parse_range("@0:0.01"), None, "@0:0.01", "")
    (quick,) = judge([node("fast", Status.OK, 0.005, NOW)], now=NOW, thresholds=inside)
    assert (quick.status, quick.reason) == (Status.WARN, "echo 5.0 ms (0.005 s) inside 0:0.01")


def test_outside_strings_cannot_break_the_line() -> None:
    nasty = node("ct|1", Status.CRIT, 0.003, NOW, "peer said \x1b[2J|x=1\nOK")
    line = render(judge([nasty], now=NOW))
    assert "\n" not in line and "\x1b" not in line
    head = line.partition(" | ")[0]
    assert "|" not in head and "␛[2J" in head
    assert [p.label for p in parse_output(line).perfdata] == ["ct¦1 echo"]
    assert render([]) == "PACS-TUI UNKNOWN - no targets"


def test_two_metrics_that_read_alike_get_labels_of_their_own() -> None:
    """Each metric's label is its own: a graphing tool keys on it (the echo's total and its
    C-ECHO part once both read "echo")."""
    state = node("archive", Status.OK, 0.021, NOW - 5)
    state = TargetState(
        state.target, Status.OK, "OK", NOW - 100,
        metrics={"echo_seconds": 0.021, "dimse_seconds": 0.007}, checked=NOW - 5,
    )  # fmt: skip
    parsed = parse_output(render(judge([state], now=NOW)))
    labels = [p.label for p in parsed.perfdata]
    assert labels == ["archive c-echo", "archive echo"]
    assert len(set(labels)) == len(labels)


def test_a_ratio_past_its_target_has_no_maximum_of_one() -> None:
    mirror = TargetState(
        Target("pair", TargetKind.MIRROR, {"rpo": "1 h"}), Status.CRIT, "lag", NOW - 100,
        metrics={"mirror_lag_seconds": 7200.0, "mirror_rpo_ratio": 2.0}, checked=NOW - 5,
    )  # fmt: skip
    parsed = parse_output(render(judge([mirror], now=NOW)))
    assert parsed.problems == ()
    ratio = next(p for p in parsed.perfdata if p.label == "pair lag / rpo")
    assert ratio.value == 2.0 and ratio.maximum is None


def test_a_drill_never_run_is_left_out_unless_asked_for() -> None:
    from pacs_tui.cli_check import CheckProblem, _chosen

    drill = TargetState(Target("dr-drill", TargetKind.DRILL, {}), reason="no drill run yet")
    states = [node("archive", Status.OK, 0.003, NOW - 5), drill]
    assert [s.id for s in _chosen(states, None, None)] == ["archive"]
    (asked,) = _chosen(states, "dr-drill", None)
    (verdict,) = judge([asked], now=NOW)
    assert verdict.status is Status.UNKNOWN and verdict.reason == "no drill run yet"
    # Asked for by its kind (a "drills" service in Nagios): the same UNKNOWN, not "no targets".
    assert _chosen(states, None, "drill") == [asked]
    with pytest.raises(CheckProblem):
        _chosen(states, "dr-dril", None)


def test_a_kind_the_site_has_none_of_is_said_apart_from_a_typo() -> None:
    from pacs_tui.cli_check import CheckProblem, _chosen

    states = [node("archive", Status.OK, 0.003, NOW - 5)]
    with pytest.raises(CheckProblem, match=r"^this site has no target of kind 'backup'$"):
        _chosen(states, None, "backup")
    with pytest.raises(CheckProblem, match=r"^no kind of target 'dicom-nod' \(did you mean"):
        _chosen(states, None, "dicom-nod")
    with pytest.raises(CheckProblem, match=r"^no kind of target 'nodes'; known: dicom-node$"):
        _chosen(states, None, "nodes")  # nothing close: the kinds it has, listed


def test_perfdata_carries_each_targets_own_thresholds_from_its_config() -> None:
    volume = volume_target(
        VolumeConfig("archive", "/archive", warn=0.7, crit=0.9, warn_days=10, crit_days=2)
    )
    slow_node = node_target(DicomNodeConfig("ct", "CT", "127.0.0.1", 104, warn_latency=1.5))
    metrics = {"used_ratio": 0.5, "inodes_used_ratio": 0.1, "days_to_full": 40.0}
    states = [
        TargetState(volume, Status.OK, "ok", metrics=metrics, checked=NOW),
        TargetState(slow_node, Status.OK, "ok", metrics={"echo_seconds": 0.9}, checked=NOW),
    ]
    perf = {p.label: p for p in parse_output(render(judge(states, now=NOW))).perfdata}
    assert (perf["archive used"].warn, perf["archive used"].crit) == ("0.7", "0.9")
    assert (perf["archive inodes"].warn, perf["archive inodes"].crit) == ("0.7", "0.9")
    # Fewer days than the limit alerts: Nagios' "N:" (outside N to infinity).
    assert (perf["archive full in"].warn, perf["archive full in"].crit) == ("10:", "2:")
    assert perf["ct echo"].warn == "1.5"  # not the declared 0.5
    assert perf["ct echo"].warn_range is not None and not perf["ct echo"].warn_range.alerts(0.9)


def test_a_threshold_label_that_is_not_a_range_falls_back_to_the_declared_one() -> None:
    target = Target("ct", TargetKind.DICOM_NODE, {"warn:echo_seconds": "1;2 | 'x'=3"})
    state = TargetState(target, Status.OK, "ok", metrics={"echo_seconds": 0.2}, checked=NOW)
    (echo,) = parse_output(render(judge([state], now=NOW))).perfdata
    assert echo.warn == "0.5"
