"""The C-ECHO check against real DICOM peers nobody here wrote: Orthanc, DCMTK storescp/dcmqrscp.

Only outcomes are asserted, never timings (those are for ``bench/echo_sweep.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pacs_tui.model import Status, Target, TargetKind
from pacs_tui.probes.dicom import DicomEchoCheck, echo

from ..peers import HOST, free_port
from .conftest import (
    CALLING_AET,
    Peer,
    require_peer,
    start_peer,
    storescp_command,
)

pytestmark = pytest.mark.interop


def make_check(
    port: int, called_aet: str, executor: ThreadPoolExecutor, *, timeout: float = 5.0
) -> DicomEchoCheck:
    return DicomEchoCheck(
        Target(f"node-{port}", TargetKind.DICOM_NODE, {"role": "archive"}),
        host=HOST,
        port=port,
        called_aet=called_aet,
        calling_aet=CALLING_AET,
        interval=30.0,
        timeout=timeout,
        warn_latency=5.0,
        executor=executor,
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A socket that accepts connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    listener.close()
    for conn in accepted:
        conn.close()
    thread.join(5)


async def test_echo_ok(peer: Peer, executor: ThreadPoolExecutor) -> None:
    result = await make_check(peer.port, peer.aet, executor).check()
    assert result.status is Status.OK, f"{peer.name}: {result.reason}\n{peer.log_tail()}"
    assert set(result.metrics) == {
        "associate_seconds",
        "dimse_seconds",
        "release_seconds",
        "echo_seconds",
    }
    assert all(value > 0 for value in result.metrics.values())
    # Orthanc and DCMTK's tools are all built on DCMTK and say so in the A-ASSOCIATE-AC.
    assert str(result.details["peer_implementation_version_name"]).startswith("OFFIS_DCMTK")
    assert result.details["peer_implementation_class_uid"].startswith("1.2.276.0.7230010.3")
    assert result.details["accepted"] is True
    assert result.details["echo_status"] == 0


def test_echo_outcome_is_released(peer: Peer) -> None:
    outcome = echo(HOST, peer.port, peer.aet, CALLING_AET, timeout=5)
    assert outcome.ok and outcome.released, outcome.reason
    assert outcome.peer_max_pdu is not None and outcome.peer_max_pdu > 0


@pytest.mark.parametrize("name", ["orthanc", "dcmqrscp"])
async def test_wrong_called_aet_is_rejected(
    name: str, request: pytest.FixtureRequest, executor: ThreadPoolExecutor
) -> None:
    peer: Peer = request.getfixturevalue(name)
    result = await make_check(peer.port, "NOT" + peer.aet[:13], executor).check()
    assert result.status is Status.DOWN
    assert result.reason == "association rejected: called AE title not recognised (permanent)"
    assert result.details["accepted"] is False


def test_storescp_ignores_the_called_aet(storescp: Peer) -> None:
    # DCMTK 3.6.7's storescp has no option to check the called AE title: it accepts any.
    outcome = echo(HOST, storescp.port, "ANYTHING", CALLING_AET, timeout=5)
    assert outcome.ok, outcome.reason


def test_refusing_storescp_is_rejected(tmp_path: Path) -> None:
    # storescp --refuse answers A-ASSOCIATE-RJ (permanent, service-user, no reason) and closes
    # at once, which races pynetdicom's reading of the reply; run it a few times.
    command = storescp_command(tmp_path, "STORESCP", "--refuse")
    peer = start_peer("storescp-refuse", "STORESCP", tmp_path, command)
    try:
        reasons = {
            echo(HOST, peer.port, "STORESCP", CALLING_AET, timeout=5).reason for _ in range(10)
        }
    finally:
        peer.stop()
    assert reasons == {"association rejected: no reason given (permanent)"}


async def test_closed_port_is_connection_refused(executor: ThreadPoolExecutor) -> None:
    port = free_port()
    result = await make_check(port, "ANY", executor).check()
    assert result.status is Status.DOWN
    assert "connection refused" in result.reason


async def test_stopped_peer_is_connection_refused(
    own_storescp: Peer, executor: ThreadPoolExecutor
) -> None:
    check = make_check(own_storescp.port, own_storescp.aet, executor)
    assert (await check.check()).status is Status.OK
    own_storescp.stop()
    result = await check.check()
    assert result.status is Status.DOWN
    assert result.reason == f"connection refused by {HOST}:{own_storescp.port}"


async def test_silent_socket_times_out(silent_listener: int, executor: ThreadPoolExecutor) -> None:
    timeout = 1.5
    started = time.monotonic()
    result = await make_check(silent_listener, "ANY", executor, timeout=timeout).check()
    elapsed = time.monotonic() - started
    assert result.status is Status.DOWN
    assert "timed out" in result.reason
    assert result.reason.endswith("waiting for A-ASSOCIATE response")
    assert elapsed < timeout + 1.0


async def test_hung_peer_times_out(own_storescp: Peer, executor: ThreadPoolExecutor) -> None:
    # A stopped process: the kernel completes the TCP handshake from the listen backlog, but
    # nobody reads the A-ASSOCIATE-RQ — what a hung PACS looks like from outside.
    timeout = 1.0
    own_storescp.pause()
    try:
        started = time.monotonic()
        result = await make_check(
            own_storescp.port, own_storescp.aet, executor, timeout=timeout
        ).check()
        elapsed = time.monotonic() - started
    finally:
        own_storescp.resume()
    assert result.status is Status.DOWN
    assert result.reason == "timed out after 1 s waiting for A-ASSOCIATE response"
    assert elapsed < timeout + 1.0


async def test_concurrent_checks_share_the_pool(
    orthanc: Peer, executor: ThreadPoolExecutor
) -> None:
    checks = [make_check(orthanc.port, orthanc.aet, executor) for _ in range(24)]
    results = await asyncio.gather(*(check.check() for check in checks))
    assert [r.status for r in results] == [Status.OK] * len(checks), [r.reason for r in results]


def test_missing_peer_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "/nonexistent/bin/Orthanc"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs orthanc \(apt-get install orthanc\)"):
        require_peer(missing, "orthanc")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs orthanc"):
        require_peer(missing, "orthanc")
    assert require_peer("sh", "dash").endswith("/sh")
