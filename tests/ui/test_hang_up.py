"""An SSH drop (SIGHUP) while the UI runs: it leaves promptly, history flushed, lock freed."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pacs_tui.store import Store


def _read_until(fd: int, wanted: bytes, deadline: float = 20.0) -> bytes:
    """Read the terminal's output until *wanted* appears (a condition, not a fixed wait)."""
    seen = b""
    end = time.monotonic() + deadline
    while wanted not in seen:
        left = end - time.monotonic()
        assert left > 0, f"{wanted!r} never reached the terminal; last output {seen[-300:]!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            seen += os.read(fd, 65536)
    return seen


@pytest.mark.parametrize(
    ("stage", "signals"),
    # during start-up (first bytes drawn); once the node is seen DOWN; twice, as SSH does
    [("start", 1), ("down", 1), ("down", 2)],
)
def test_hang_up_stops_the_engine_and_frees_the_history(
    tmp_path: Path, stage: str, signals: int
) -> None:
    history = tmp_path / "h.sqlite"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[history]\npath = "{history}"\n[dicom]\ninterval = "1s"\ntimeout = "500ms"\n'
        'warn_latency = "200ms"\n[[dicom.node]]\nid = "n"\naet = "N"\nhost = "127.0.0.1"\n'
        "port = 9\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm-256color"}
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacs_tui", "run", "--config", str(config)],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    try:
        # Wait for what the user would see: the first frame, or the node's DOWN status.
        _read_until(main, b"\x1b" if stage == "start" else b"DOWN")
        for _ in range(signals):
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.01)
        os.close(main)  # the terminal is gone, as after an SSH drop
        main = -1
        code = proc.wait(timeout=15)
        # Before the app installs its handler there is nothing to flush: the default action
        # (death by SIGHUP) is fine then. Once it runs, it must leave cleanly.
        assert code == 0 or (stage == "start" and code == -signal.SIGHUP)
    finally:
        if proc.poll() is None:
            proc.kill()
        if main >= 0:
            os.close(main)

    async def reopen() -> int:
        store = await Store.open(history)  # would fail if the lock were still held
        try:
            return len(await store.events())
        finally:
            await store.close()

    events = asyncio.run(reopen())
    if stage == "down":
        assert events >= 1  # the node's first status change was flushed before leaving
        log = (tmp_path / "state" / "pacs-tui" / "pacs-tui.log").read_text()
        assert "hang-up: engine stopped, exiting" in log
