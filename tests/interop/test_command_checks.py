"""A site watched only by ``[[command]]`` checks, end to end through the CLI: ``status`` (exit
code = worst status, JSON metrics in base units), ``collect`` then ``history``, with Debian's
Monitoring Plugins and scripts of ours (odd perfdata, a hang that must be killed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacs_tui.model import Status
from pacs_tui.probes.command_source import SOURCE, CommandCheck, CommandConfig

from ..peers import HOST
from .conftest import require_peer

pytestmark = pytest.mark.interop

PLUGINS = "/usr/lib/nagios/plugins"
PACKAGE = "monitoring-plugins-basic"
OURS = Path(__file__).resolve().parent.parent / "plugins"


def plugin(name: str) -> str:
    return require_peer(f"{PLUGINS}/{name}", PACKAGE)


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])  # closed once the with ends: nothing listens


def entry(check_id: str, argv: list[str], **extra: str) -> str:
    text = f'[[command]]\nid = "{check_id}"\ncommand = {json.dumps(argv)}\n'
    return text + "".join(f'{key} = "{value}"\n' for key, value in extra.items())


def pacs_tui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pacs_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_status_of_a_command_only_site(tmp_path: Path, listening: int) -> None:
    config = tmp_path / "site.toml"
    text = f'[site]\nname = "Plugins"\n[history]\npath = "{tmp_path / "h.sqlite"}"\n'
    text += entry("tcp-up", [plugin("check_tcp"), "-H", HOST, "-p", str(listening)])
    text += entry("tcp-down", [plugin("check_tcp"), "-H", HOST, "-p", str(closed_port())])
    text += entry("dummy-warn", [plugin("check_dummy"), "1", "disk filling"])
    text += entry("disk", [plugin("check_disk"), "-w", "1%", "-c", "1%", "-p", str(tmp_path)])
    text += entry("odd", [str(OURS / "odd_perfdata.sh")])
    config.write_text(text)

    checked = pacs_tui("config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "5 command checks" in checked.stdout

    out = pacs_tui("status", "--json", "--config", str(config))
    assert out.returncode == 2, out.stderr  # tcp-down is CRIT
    by_id = {t["id"]: t for t in json.loads(out.stdout)["targets"]}
    assert by_id["tcp-up"]["status"] == "OK"
    assert 0 <= by_id["tcp-up"]["metrics"]["perf.time_seconds"] < 5
    assert by_id["tcp-down"]["status"] == "CRIT"
    assert "Connection refused" in by_id["tcp-down"]["reason"]
    assert by_id["dummy-warn"]["status"] == "WARN"
    assert by_id["dummy-warn"]["reason"] == "WARNING: disk filling"
    disk = by_id["disk"]["metrics"]
    used = [v for k, v in disk.items() if k.endswith("_bytes")]
    assert used and all(v > 0 for v in used)  # "MB" perfdata read as bytes
    assert all(k.startswith("perf.") or k == "run_seconds" for k in by_id["odd"]["metrics"])

    table = pacs_tui("status", "--config", str(config))
    assert table.returncode == 2
    assert "VALUE" in table.stdout and "time " in table.stdout


def test_collect_records_plugin_samples_for_history(tmp_path: Path, listening: int) -> None:
    config = tmp_path / "site.toml"
    text = f'[history]\npath = "{tmp_path / "h.sqlite"}"\n'
    text += entry(
        "tcp",
        [plugin("check_tcp"), "-H", HOST, "-p", str(listening)],
        interval="1s",
        timeout="900ms",
    )
    config.write_text(text)
    argv = [sys.executable, "-m", "pacs_tui", "collect", "--config", str(config)]
    collect = subprocess.Popen(
        [*argv, "--log-level", "debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        samples: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if not (tmp_path / "h.sqlite").exists():
                continue
            shown = pacs_tui("history", "--config", str(config), "--json", "--since", "5m")
            if shown.returncode == 0:
                samples = json.loads(shown.stdout)["samples"]
                if any(s["metric"] == "perf.time_seconds" for s in samples):
                    break
        else:
            raise AssertionError("collect recorded no perf.time_seconds sample")
        assert {s["target"] for s in samples} == {"tcp"}
    finally:
        collect.send_signal(signal.SIGTERM)
        collect.wait(timeout=10)
    stderr = collect.stderr.read() if collect.stderr else ""
    assert collect.returncode == 0, stderr
    # Even at debug, the log never carries the history's rows (aiosqlite logs its statements
    # with their parameters: a plugin's output would be in them).
    assert "DEBUG" in stderr  # the level was on
    assert "INSERT" not in stderr and "aiosqlite" not in stderr


async def test_a_hung_plugin_is_killed_with_its_process_group(tmp_path: Path) -> None:
    """A plugin that never answers is CRIT at its timeout, in words, and neither it nor the
    child it started outlives the check."""
    pids_file = tmp_path / "pids"
    argv = (str(OURS / "grandchild.sh"), str(pids_file))
    check = CommandCheck(CommandConfig("hang", argv, interval=60.0, timeout=0.5))
    started = time.monotonic()
    result = await check.check()
    assert time.monotonic() - started < 1.5
    assert result.status is Status.CRIT
    assert "timed out after 0.5 s" in result.reason
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 2  # the plugin and the sleep it started
    deadline = time.monotonic() + 5
    for pid in pids:  # killed (and reaped by us or by init): gone
        while _alive(pid):
            assert time.monotonic() < deadline, f"pid {pid} outlived its check"
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped: read its state.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_command_source_headline_is_the_first_perfdata_value() -> None:
    from pacs_tui.model import Target, TargetState

    state = TargetState(
        Target("x", "command"),
        details={"headline": "perf.time_seconds"},
        metrics={"perf.time_seconds": 0.01},
    )
    assert SOURCE.headline_metric(state) == "perf.time_seconds"
    assert SOURCE.metric("perf.time_seconds").unit == "s"


@pytest.mark.parametrize(
    ("argv", "status", "reason"),
    [
        (["99"], Status.UNKNOWN, "exit code 99: not a plugin status (0 to 3); EXIT - exit code 99"),
        (["signal", "9"], Status.UNKNOWN, "killed by signal 9 (SIGKILL); SIGNAL - about to get"),
        (["2"], Status.CRIT, "EXIT - exit code 2"),
        (["3"], Status.UNKNOWN, "EXIT - exit code 3"),
    ],
)
async def test_the_reason_says_why_a_plugin_is_unknown(
    argv: list[str], status: Status, reason: str
) -> None:
    check = CommandCheck(CommandConfig("x", (str(OURS / "exit_code.sh"), *argv)))
    result = await check.check()
    assert result.status is status
    assert result.reason.startswith(reason)


async def test_binary_output_is_said_to_be_binary_not_shown() -> None:
    script = "head -c 3000 /dev/urandom | tr -d '\\n'; echo ' | x=1'; exit 0"  # random bytes, NULs
    check = CommandCheck(CommandConfig("bin", ("/bin/sh", "-c", script)))
    result = await check.check()
    assert result.status is Status.OK  # the plugin's exit code still counts
    assert result.reason.startswith("output is not text (")
    assert set(result.metrics) == {"run_seconds"}  # no perfdata read out of garbage
