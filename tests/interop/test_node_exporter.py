"""A real Prometheus node_exporter (Debian's prometheus-node-exporter) on a free loopback port,
scraped as a [[host]] with a url: its figures are this machine's, as psutil reads them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pacs_tui.model import Status
from pacs_tui.probes.host_source import HostCheck, HostConfig

from .conftest import require_peer


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[str]:
    binary = require_peer("/usr/bin/prometheus-node-exporter", "prometheus-node-exporter")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "node_exporter.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
         "--collector.cpu", "--collector.meminfo", "--collector.loadavg",
         "--collector.diskstats", "--collector.netdev"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                answer.read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise AssertionError((tmp_path / "node_exporter.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)
    log.close()


async def test_a_node_exporter_is_scraped_into_this_machines_figures(node_exporter: str) -> None:
    check = HostCheck(HostConfig("here", url=node_exporter, timeout=5, cpu_warn=1.0,
                                 cpu_crit=1.0, memory_warn=1.0, memory_crit=1.0))  # fmt: skip
    first = await check.check()
    assert first.status is Status.OK, first.reason
    assert first.metrics["memory_total_bytes"] == psutil.virtual_memory().total
    assert 0 < first.metrics["memory_used_ratio"] < 1
    assert first.reason.startswith("CPU measuring")  # a rate needs two scrapes
    await asyncio.sleep(1.2)
    second = await check.check()
    assert 0 <= second.metrics["cpu_ratio"] <= 1
    assert second.metrics["network_receive_bytes_per_second"] >= 0
    assert second.metrics["load1"] == pytest.approx(psutil.getloadavg()[0], abs=1.5)
    assert second.details["where"] == node_exporter
