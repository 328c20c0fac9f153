"""Real DICOM peers for the interop tests: Orthanc, DCMTK storescp and dcmqrscp.

Each peer runs as a subprocess on a free loopback port with its files in a temporary directory,
and is killed at the end (its own process group: dcmqrscp forks one child per association).
A missing peer binary skips the test, except under ``CI=true`` where it fails: see
:func:`require_peer`.

Orthanc and DCMTK cannot be told a listen address (they listen on all interfaces); the tests only
ever connect to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pacs_tui.probes.dicom import echo, make_executor

from ..peers import (
    DCMQRSCP,
    HOST,
    ORTHANC,
    STORESCP,
    dcmqrscp_args,
    free_port,
    orthanc_args,
    storescp_args,
)

CALLING_AET = "PACSTUI"
READY_WITHIN = 15.0


def require_peer(path_or_name: str, package: str) -> str:
    """The peer's executable path; skip the test when it is missing, or fail under CI=true.

    CI installs every peer (``scripts/test.sh``), so there a missing one is a broken setup,
    not a reason to pass quietly.
    """
    found = (
        path_or_name
        if os.path.isabs(path_or_name) and os.access(path_or_name, os.X_OK)
        else shutil.which(path_or_name)
    )
    if found:
        return found
    message = (
        f"{os.path.basename(path_or_name)} not found: this test needs "
        f"{package} (apt-get install {package})"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class Peer:
    """A running peer: where it listens, its AE title, its process and its log."""

    name: str
    aet: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path
    stop_grace: float = 5.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nobody answers (a hung PACS)."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_grace`` seconds; the whole process group."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        # dcmqrscp's per-association children may outlive the parent for a moment.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_peer(
    name: str,
    aet: str,
    workdir: Path,
    command: Callable[[int], list[str]],
    *,
    stop_grace: float = 5.0,
    attempts: int = 3,
) -> Peer:
    """Start ``command(port)`` on a free port and wait until it answers an A-ASSOCIATE request.

    An association (accepted or rejected) rather than a bare TCP connect as the readiness probe:
    dcmqrscp logs an error for a connection closed without one. When the process dies at once
    (the port was taken between picking and binding), retry on another port.
    """
    last = ""
    for attempt in range(attempts):
        port = free_port()
        log = workdir / f"{name}-{attempt}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command(port),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        peer = Peer(name, aet, port, process, workdir, log, stop_grace)
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline and peer.running:
            outcome = echo(HOST, port, aet, CALLING_AET, timeout=1.0)
            if outcome.accepted or outcome.rejected:
                return peer
            time.sleep(0.05)
        last = peer.log_tail()
        peer.stop()
        if time.monotonic() >= deadline:
            break
    pytest.fail(f"{name} did not become ready on {HOST}; its log:\n{last}", pytrace=False)


def orthanc_command(workdir: Path, aet: str, **settings: object) -> Callable[[int], list[str]]:
    binary = require_peer(ORTHANC, "orthanc")
    return lambda port: orthanc_args(binary, workdir, aet, port, **settings)


def storescp_command(workdir: Path, aet: str, *options: str) -> Callable[[int], list[str]]:
    binary = require_peer(STORESCP, "dcmtk")
    return lambda port: storescp_args(binary, workdir, aet, port, *options)


def dcmqrscp_command(
    workdir: Path, aet: str, hosts: dict[str, tuple[str, str, int]] | None = None
) -> Callable[[int], list[str]]:
    binary = require_peer(DCMQRSCP, "dcmtk")
    return lambda port: dcmqrscp_args(binary, workdir, aet, port, hosts=hosts)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Stock Orthanc (DicomCheckCalledAet on). It takes seconds to exit on SIGTERM and keeps
    nothing worth saving here, so it gets half a second before SIGKILL."""
    workdir = tmp_path_factory.mktemp("orthanc")
    peer = start_peer(
        "orthanc", "ORTHANC", workdir, orthanc_command(workdir, "ORTHANC"), stop_grace=0.5
    )
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def storescp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    workdir = tmp_path_factory.mktemp("storescp")
    peer = start_peer("storescp", "STORESCP", workdir, storescp_command(workdir, "STORESCP"))
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    workdir = tmp_path_factory.mktemp("dcmqrscp")
    peer = start_peer("dcmqrscp", "PEERQR", workdir, dcmqrscp_command(workdir, "PEERQR"))
    yield peer
    peer.stop()


@pytest.fixture
def own_storescp(tmp_path: Path) -> Iterator[Peer]:
    """A storescp for one test, which may pause or stop it."""
    peer = start_peer("storescp", "STORESCP", tmp_path, storescp_command(tmp_path, "STORESCP"))
    yield peer
    peer.stop()


@pytest.fixture(params=["orthanc", "storescp", "dcmqrscp"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """Each of the three peers in turn."""
    found: Peer = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = make_executor(8)
    yield pool
    pool.shutdown(wait=True)
