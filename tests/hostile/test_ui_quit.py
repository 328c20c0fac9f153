"""The UI, as a process on a terminal, quits within 5 s of `q` while stalling peers hold
every DICOM worker, and within 5 s of SIGTERM."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import hostile_peers as hp

STALLERS = ("huge_header_silent", "ac_trickle", "partial_ac_silent", "accept_no_echo", "silent")


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with contextlib.ExitStack() as stack:
        ports = {
            name: stack.enter_context(hp.running(hp.BEHAVIOURS[name])).port for name in STALLERS
        }
        path = tmp_path / "pacs-tui.toml"
        text = hp.site_config(
            tmp_path / "history.sqlite",
            ports,
            site="Quit Test",
            interval="4s",
            timeout="3s",
            warn_latency="2s",
        )
        path.write_text(text)
        yield path


class Terminal:
    """The app on a pseudo-terminal of 100x30; reads what it draws."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": "100",
            "LINES": "30",
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pacs_tui", "run", "--config", str(config)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def read(self) -> None:
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen += chunk

    def wait_for_text(self, text: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if text in self.screen:
                return True
        return False

    def wait_exit(self, timeout: float) -> float | None:
        """Seconds until the process exited (draining its output), or None."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.read()
            if self.proc.poll() is not None:
                return time.monotonic() - started
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.mark.parametrize("how", ["q", "SIGTERM"])
def test_ui_quits_within_5s_while_stalling_peers_hold_the_workers(
    config: Path, tmp_path: Path, how: str
) -> None:
    term = Terminal(config, tmp_path)
    try:
        assert term.wait_for_text(b"Quit Test", 30), term.screen[-2000:]
        # Both workers are now inside 3 s stalls (the checks start within the first second).
        assert term.wait_for_text(b"DOWN", 30), term.screen[-2000:]
        if how == "q":
            os.write(term.master, b"q")
        else:
            term.proc.send_signal(signal.SIGTERM)
        waited = term.wait_exit(15)
        assert waited is not None, "the UI was still running 15 s later"
        assert waited < 5, f"the UI took {waited:.1f}s to exit"
        assert term.proc.returncode == 0
        assert b"Traceback" not in term.screen
    finally:
        term.close()
