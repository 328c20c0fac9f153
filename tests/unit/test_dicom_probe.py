"""The C-ECHO check against an in-process pynetdicom server and raw sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pynetdicom import AE, VerificationPresentationContexts, evt

from pacs_tui.model import Status, Target, TargetKind
from pacs_tui.probes import dicom
from pacs_tui.probes.dicom import DicomEchoCheck, echo, make_executor, reject_reason
from pacs_tui.source import Check

SCP_AET = "TESTSCP"
HOST = "127.0.0.1"


@contextlib.contextmanager
def serve(handlers: list[Any] | None = None, **ae_settings: Any) -> Iterator[int]:
    """A pynetdicom Verification SCP on a free loopback port; yields the port."""
    ae = AE(ae_title=SCP_AET)
    ae.supported_contexts = VerificationPresentationContexts
    ae.require_called_aet = True
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    for name, value in ae_settings.items():
        setattr(ae, name, value)
    server = ae.start_server((HOST, 0), block=False, evt_handlers=handlers or [])
    assert server is not None  # block=False returns the running server
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def scp_port() -> Iterator[int]:
    """One plain SCP shared by the tests that need nothing special from it."""
    with serve() as port:
        yield port


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = make_executor(2)
    yield pool
    pool.shutdown(wait=True)


def make_check(
    port: int,
    executor: ThreadPoolExecutor,
    *,
    called_aet: str = SCP_AET,
    timeout: float = 3.0,
    warn_latency: float = 2.0,
) -> DicomEchoCheck:
    return DicomEchoCheck(
        Target("pacs1", TargetKind.DICOM_NODE, {"site": "test"}),
        host=HOST,
        port=port,
        called_aet=called_aet,
        calling_aet="PACSTUI",
        interval=30.0,
        timeout=timeout,
        warn_latency=warn_latency,
        executor=executor,
    )


def free_port() -> int:
    """A port nothing listens on: bind to port 0, read the port, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def raw_server(handle: Callable[[socket.socket], object]) -> tuple[int, Callable[[], None]]:
    """A TCP server on a free port that runs ``handle`` on the first connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(4)
    done = threading.Event()

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        listener.close()
        thread.join(5)

    return int(listener.getsockname()[1]), stop


def test_check_satisfies_the_protocol(executor: ThreadPoolExecutor) -> None:
    check = make_check(104, executor)
    assert isinstance(check, Check)
    assert (check.interval, check.timeout) == (30.0, 3.0)


async def test_echo_ok_with_timings_and_peer_facts(
    scp_port: int, executor: ThreadPoolExecutor
) -> None:
    check = make_check(scp_port, executor)
    result = await check.check()
    assert result.status is Status.OK, result.reason
    assert result.reason == "echo ok"
    assert set(result.metrics) == {
        "associate_seconds",
        "dimse_seconds",
        "release_seconds",
        "echo_seconds",
    }
    assert all(value > 0 for value in result.metrics.values())
    parts = sum(result.metrics[k] for k in ("associate_seconds", "dimse_seconds"))
    assert result.metrics["echo_seconds"] >= parts + result.metrics["release_seconds"]
    assert result.details["peer_implementation_version_name"].startswith("PYNETDICOM")
    assert result.details["peer_implementation_class_uid"]
    assert result.details["called_aet"] == SCP_AET
    assert result.details["calling_aet"] == "PACSTUI"
    assert result.details["accepted"] is True
    assert result.details["echo_status"] == 0
    await check.close()


def test_echo_outcome_fields(scp_port: int) -> None:
    outcome = echo(HOST, scp_port, SCP_AET, "PACSTUI", timeout=3)
    assert outcome.ok and outcome.accepted and outcome.released and not outcome.rejected
    assert outcome.status == 0x0000
    assert outcome.peer_max_pdu is not None
    assert outcome.address == HOST
    assert outcome.echo_seconds is not None
    assert outcome.elapsed_seconds >= outcome.echo_seconds


async def test_warn_when_slower_than_warn_latency(
    scp_port: int, executor: ThreadPoolExecutor
) -> None:
    result = await make_check(scp_port, executor, warn_latency=1e-6).check()
    assert result.status is Status.WARN
    assert result.reason.startswith("slow: echo ")
    assert result.reason.endswith(" ms > 0.0 ms")  # 1 µs, as ms
    assert "echo_seconds" in result.metrics


async def test_wrong_called_aet_is_rejected(scp_port: int, executor: ThreadPoolExecutor) -> None:
    result = await make_check(scp_port, executor, called_aet="NOSUCHAET").check()
    assert result.status is Status.DOWN
    assert result.reason == "association rejected: called AE title not recognised (permanent)"
    assert result.details["accepted"] is False
    # The A-ASSOCIATE-RJ came back, so the association round trip was measured; nothing else.
    assert set(result.metrics) == {"associate_seconds"}


def test_unknown_calling_aet_is_rejected() -> None:
    with serve(require_calling_aet=["SOMEONE"]) as port:
        outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=3)
    assert not outcome.ok
    assert outcome.reason == "association rejected: calling AE title not recognised (permanent)"
    assert (outcome.reject_result, outcome.reject_source, outcome.reject_diagnostic) == (1, 1, 3)


def test_local_limit_exceeded_is_transient() -> None:
    with serve(maximum_associations=1) as port:
        holder = AE(ae_title="HOLDER")
        holder.add_requested_context("1.2.840.10008.1.1")
        held = holder.associate(HOST, port, ae_title=SCP_AET)
        try:
            assert held.is_established
            outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=3)
        finally:
            held.release()
    assert outcome.reason == "association rejected: local limit exceeded (transient)"


def test_failure_status_is_reported() -> None:
    with serve([(evt.EVT_C_ECHO, lambda event: 0x0211)]) as port:
        outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=3)
    assert not outcome.ok
    assert outcome.reason == "C-ECHO failed with status 0x0211"
    assert outcome.status == 0x0211
    assert outcome.released


def test_slow_c_echo_response_times_out() -> None:
    def slow(event: Any) -> int:
        time.sleep(1.0)
        return 0

    with serve([(evt.EVT_C_ECHO, slow)]) as port:
        started = time.monotonic()
        outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=0.5)
        assert time.monotonic() - started < 1.0
    assert not outcome.ok
    assert outcome.reason.startswith("timed out after ")
    assert outcome.reason.endswith(" waiting for C-ECHO response")
    assert outcome.dimse_seconds is None and outcome.echo_seconds is None


async def test_closed_port_is_connection_refused(executor: ThreadPoolExecutor) -> None:
    port = free_port()
    result = await make_check(port, executor).check()
    assert result.status is Status.DOWN
    assert "connection refused" in result.reason
    assert f"127.0.0.1:{port}" in result.reason
    assert result.metrics == {}


async def test_silent_peer_times_out_without_blocking_the_loop(
    executor: ThreadPoolExecutor,
) -> None:
    hold = threading.Event()
    port, stop = raw_server(lambda conn: hold.wait(10))
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    timeout = 1.0
    started = time.monotonic()
    try:
        result = await make_check(port, executor, timeout=timeout).check()
    finally:
        tick.cancel()
        hold.set()
        stop()
    elapsed = time.monotonic() - started
    assert result.status is Status.DOWN
    assert "timed out" in result.reason
    assert result.reason == "timed out after 1 s waiting for A-ASSOCIATE response"
    assert timeout * 0.9 <= elapsed < timeout + 1.0
    assert gaps and max(gaps) < 0.5  # the loop kept running while the association waited


def test_peer_that_closes_at_once_is_aborted() -> None:
    port, stop = raw_server(lambda conn: None)
    try:
        outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=2)
    finally:
        stop()
    assert "association aborted" in outcome.reason
    assert outcome.elapsed_seconds < 1.0


def test_peer_a_abort_is_aborted() -> None:
    a_abort = bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0])  # A-ABORT-RQ, source 0: service-user

    def answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(a_abort)
        time.sleep(0.2)

    port, stop = raw_server(answer)
    try:
        outcome = echo(HOST, port, SCP_AET, "PACSTUI", timeout=2)
    finally:
        stop()
    assert outcome.reason == "association aborted by the peer (service-user)"


def test_host_not_found() -> None:
    outcome = echo("no-such-node.invalid", 104, SCP_AET, "PACSTUI", timeout=2)
    assert not outcome.ok
    assert outcome.reason.startswith("host not found: no-such-node.invalid")


@pytest.mark.parametrize(
    ("called", "calling", "words"),
    [
        ("", "PACSTUI", "invalid called AE title '': empty"),
        (SCP_AET, "X" * 17, "longer than 16 characters"),
        ("A\\B", "PACSTUI", "backslash"),
    ],
)
def test_invalid_ae_titles(called: str, calling: str, words: str) -> None:
    outcome = echo(HOST, 104, called, calling, timeout=1)
    assert not outcome.ok and words in outcome.reason


async def test_check_runs_in_the_executor(
    scp_port: int, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real_echo = dicom.echo

    def spy(*args: Any, **kwargs: Any) -> dicom.EchoOutcome:
        threads.append(threading.current_thread())
        return real_echo(*args, **kwargs)

    monkeypatch.setattr(dicom, "echo", spy)
    result = await make_check(scp_port, executor).check()
    assert result.status is Status.OK
    assert len(threads) == 1
    assert threads[0] is not threading.current_thread()
    assert threads[0].name.startswith("dicom")


def test_make_executor_names_threads() -> None:
    pool = make_executor(3)
    try:
        assert pool._max_workers == 3
        assert pool.submit(lambda: threading.current_thread().name).result().startswith("dicom")
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    ("result", "source", "diagnostic", "words"),
    [
        (1, 1, 1, "no reason given (permanent)"),
        (1, 1, 2, "application context name not supported (permanent)"),
        (1, 1, 3, "calling AE title not recognised (permanent)"),
        (1, 1, 7, "called AE title not recognised (permanent)"),
        (2, 2, 1, "no reason given (transient)"),
        (1, 2, 2, "protocol version not supported (permanent)"),
        (2, 3, 1, "temporary congestion (transient)"),
        (2, 3, 2, "local limit exceeded (transient)"),
        (1, 1, 5, "reason 5 from source 1 (permanent)"),
    ],
)
def test_reject_reason_words(result: int, source: int, diagnostic: int, words: str) -> None:
    assert reject_reason(result, source, diagnostic) == words
