"""The Prometheus exporter over an in-process engine: names, labels and values as
prometheus-client's own parser reads them, no probe per scrape, and clients that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pacs_tui import exporter
from pacs_tui.config import Config, SiteConfig
from pacs_tui.engine import Engine
from pacs_tui.exporter import MetricsServer, metric_name
from pacs_tui.model import Result, Status, Target, TargetKind


class Fixed:
    def __init__(self, target: Target, result: Result) -> None:
        self.target = target
        self.interval = 3600.0
        self.timeout = 1.0
        self.result = result
        self.runs = 0

    async def check(self) -> Result:
        self.runs += 1
        return self.result

    async def close(self) -> None:
        return None


CHECKS = [
    Fixed(
        Target("archive", TargetKind.DICOM_NODE, {"role": "archive", "site": "main", "aet": "A"}),
        Result(Status.OK, "", {"echo_seconds": 0.0032}),
    ),
    Fixed(
        Target("ct-1", TargetKind.DICOM_NODE, {"role": "modality", "site": "main", "aet": "C"}),
        Result(Status.DOWN, "connection refused"),
    ),
    Fixed(
        Target("ris-db", TargetKind.COMMAND, {"site": "main"}),
        Result(Status.WARN, "slow", {"run_seconds": 0.2, "perf.time_seconds": 0.15}),
    ),
]


@pytest.fixture
async def served() -> AsyncIterator[tuple[MetricsServer, list[Fixed]]]:
    engine = Engine(Config(site=SiteConfig("Ward")), checks=CHECKS, first_run_spread=0)
    await engine.start()
    while any(s.checked is None for s in engine.states.values()):
        await asyncio.sleep(0.01)
    server = MetricsServer(engine, "127.0.0.1", 0, lambda: 2)
    await server.start()
    yield server, CHECKS
    await server.stop()
    await engine.stop()


async def get(server: MetricsServer, request: bytes) -> bytes:
    """The answer; nothing when the server closes the connection (or resets it: closed with
    our request unread) without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    try:
        async with asyncio.timeout(10):
            return await reader.read()
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_a_scrape_reads_the_state_and_probes_nothing(
    served: tuple[MetricsServer, list[Fixed]],
) -> None:
    server, checks = served
    runs = [c.runs for c in checks]
    answer = await get(server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"text/plain; version=" in head
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    archive = {"target": "archive", "kind": "dicom-node", "site": "main", "role": "archive"}
    ct = {**archive, "target": "ct-1", "role": "modality"}
    ris = {"target": "ris-db", "kind": "command", "site": "main", "role": ""}
    assert value("pacs_tui_target_up", **archive) == 1
    assert value("pacs_tui_target_up", **ct) == 0
    assert value("pacs_tui_target_up", **ris) == 1  # WARN: it answered
    assert value("pacs_tui_target_status", status="DOWN", **ct) == 1
    assert value("pacs_tui_target_status", status="OK", **ct) == 0
    assert sum(v for (n, _), v in samples.items() if n == "pacs_tui_target_status") == 3
    assert value("pacs_tui_echo_seconds", **archive) == pytest.approx(0.0032)
    assert value("pacs_tui_perf_time_seconds", **ris) == pytest.approx(0.15)
    assert value("pacs_tui_run_seconds", **ris) == pytest.approx(0.2)
    assert value("pacs_tui_viewers") == 2
    assert value("pacs_tui_target_last_check_timestamp_seconds", **archive) > 1.7e9
    assert [c.runs for c in checks] == runs  # no probe for a scrape


async def test_clients_that_misbehave_are_answered_or_closed(
    served: tuple[MetricsServer, list[Fixed]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    assert (await get(server, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
    assert (await get(server, b"GET /admin HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
    assert (await get(server, b"\x16\x03\x01 garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
    head = await get(server, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    assert await get(server, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10_000) == b""
    monkeypatch.setattr(exporter, "REQUEST_SECONDS", 0.2)
    silent = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(16)]
    await asyncio.sleep(0.05)
    # Every place is taken: the next one is closed unanswered, and the silent ones time out.
    assert await get(server, b"GET /metrics HTTP/1.1\r\n\r\n") == b""
    for reader, _ in silent:
        async with asyncio.timeout(5):
            assert await reader.read() == b""
    answer = await get(server, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


def test_metric_names() -> None:
    assert metric_name("echo_seconds") == "pacs_tui_echo_seconds"
    assert metric_name("perf.time_seconds") == "pacs_tui_perf_time_seconds"
    assert metric_name("perf.3xx~ab12") == "pacs_tui_perf_3xx_ab12"
    assert metric_name("3xx") == "pacs_tui_3xx"
