"""Debian's Monitoring Plugins (monitoring-plugins-basic) through run_plugin and parse_output:
check_dummy, check_tcp, check_disk, check_load, check_procs. A missing plugin skips the test
(fails it under CI=true), like the other interop peers."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from pacs_tui.probes.perfdata import PerfValue, PluginOutput, parse_output
from pacs_tui.probes.plugin_run import PluginRun, exit_status_words, run_plugin

from ..peers import HOST
from .conftest import require_peer

pytestmark = pytest.mark.interop

PLUGIN_DIR = "/usr/lib/nagios/plugins"
PACKAGE = "monitoring-plugins-basic"
ENV = {"PATH": f"/usr/bin:/bin:{PLUGIN_DIR}", "LC_ALL": "C"}
MIB = 2**20


def check(name: str) -> str:
    return require_peer(f"{PLUGIN_DIR}/{name}", PACKAGE)


async def run(*argv: str, timeout: float = 15.0) -> tuple[PluginRun, PluginOutput]:
    done = await run_plugin(argv, timeout=timeout, env=ENV)
    assert done.error is None and not done.timed_out, done
    return done, parse_output(done.output)


def item(parsed: PluginOutput, label: str) -> PerfValue:
    found = [p for p in parsed.perfdata if p.label == label]
    assert found, f"no perfdata {label!r} in {parsed}"
    return found[0]


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel completes them; nobody answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((HOST, 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("state", "prefix"), [(0, "OK"), (1, "WARNING"), (2, "CRITICAL"), (3, "UNKNOWN")]
)
async def test_check_dummy_states(state: int, prefix: str) -> None:
    done, parsed = await run(check("check_dummy"), str(state), "PACS archive reachable")
    assert done.exit_code == state
    assert exit_status_words(done) == (state, prefix)
    assert parsed == PluginOutput(f"{prefix}: PACS archive reachable", (), (), ())


async def test_check_dummy_out_of_range_state_and_lookup_on_path() -> None:
    check("check_dummy")
    done, parsed = await run("check_dummy", "4")
    assert exit_status_words(done) == (3, "UNKNOWN")
    assert parsed.summary == "UNKNOWN: Status 4 is not a supported error state"


async def test_check_tcp_ok_with_time_in_seconds(listening: int) -> None:
    done, parsed = await run(
        check("check_tcp"), "-H", HOST, "-p", str(listening), "-w", "2", "-c", "3"
    )
    assert exit_status_words(done) == (0, "OK"), done
    assert parsed.summary.startswith("TCP OK - ")
    time_ = item(parsed, "time")
    assert time_.unit == "s" and time_.uom == "s"
    assert time_.value is not None and 0 <= time_.value < 2
    assert (time_.warn, time_.crit) == ("2.000000", "3.000000")
    assert time_.warn_range is not None and time_.warn_range.end == 2.0
    assert time_.maximum == 10.0  # check_tcp's default socket timeout, in seconds
    assert parsed.problems == ()


async def test_check_tcp_closed_port_is_critical() -> None:
    port = closed_port()
    done, parsed = await run(check("check_tcp"), "-H", HOST, "-p", str(port))
    assert exit_status_words(done) == (2, "CRITICAL")
    assert "Connection refused" in parsed.summary
    assert parsed.perfdata == ()


async def test_a_hung_real_plugin_is_killed_at_our_deadline(listening: int) -> None:
    """check_tcp waiting (for its own 10 s) for a banner that never comes."""
    argv = [check("check_tcp"), "-H", HOST, "-p", str(listening), "-e", "220", "-t", "10"]
    done = await run_plugin(argv, timeout=0.5, env=ENV)
    assert done.timed_out and done.elapsed < 1.0
    assert exit_status_words(done) == (3, "timed out after 0.5 s, process group killed")


async def test_check_disk_perfdata_is_in_bytes_and_mb_means_mebibytes() -> None:
    """Debian's check_disk 2.3.3 prints perfdata in B, rounded to whole units of ``-u``
    (MB by default), and writes "MiB" in its text: its MB is 2^20 bytes."""
    done, parsed = await run(check("check_disk"), "-w", "10%", "-c", "5%", "-p", "/tmp")
    stats = os.statvfs("/tmp")
    total = stats.f_blocks * stats.f_frsize
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    assert done.exit_code in (0, 1, 2), done
    assert "MiB" in parsed.summary
    (disk,) = parsed.perfdata
    assert disk.unit == "B" and disk.uom == "B"
    assert disk.maximum is not None and disk.value is not None and disk.minimum == 0.0
    assert disk.maximum % MIB == 0 and 0 <= total - disk.maximum < MIB
    # Used space may move while the tests run; 64 MiB of slack and the rounding.
    assert abs(disk.value - used) < 65 * MIB
    assert disk.warn_range is not None and disk.crit_range is not None
    assert disk.warn_range.end == pytest.approx(disk.maximum * 0.9, rel=1e-3)
    assert disk.crit_range.end == pytest.approx(disk.maximum * 0.95, rel=1e-3)

    _, in_gb = await run(check("check_disk"), "-w", "10%", "-c", "5%", "-p", "/tmp", "-u", "GB")
    assert "GiB" in in_gb.summary
    maximum = in_gb.perfdata[0].maximum
    assert maximum is not None and maximum % 2**30 == 0 and 0 <= total - maximum < 2**30


async def test_check_load() -> None:
    done, parsed = await run(check("check_load"), "-w", "1000,1000,1000", "-c", "2000,2000,2000")
    assert exit_status_words(done) == (0, "OK")
    assert parsed.summary.startswith("LOAD OK - total load average: ")
    assert [p.label for p in parsed.perfdata] == ["load1", "load5", "load15"]
    load1 = item(parsed, "load1")
    assert load1.unit == "" and load1.value is not None and load1.value >= 0
    assert abs(load1.value - os.getloadavg()[0]) < 2.0
    assert load1.warn_range is not None and load1.warn_range.end == 1000.0
    assert load1.minimum == 0.0
    assert parsed.problems == ()

    _, scaled = await run(check("check_load"), "-r", "-w", "1000,1000,1000", "-c", "2000,2000,2000")
    assert {p.label for p in scaled.perfdata} >= {"load1", "scaled_load1", "scaled_load15"}


async def test_check_procs() -> None:
    done, parsed = await run(check("check_procs"), "-w", "100000", "-c", "200000")
    assert exit_status_words(done) == (0, "OK")
    procs = item(parsed, "procs")
    assert procs.value is not None and procs.value >= 1
    assert (procs.warn, procs.crit, procs.minimum) == ("100000", "200000", 0.0)
