"""`status` and `collect` as processes against every hostile peer at once: bounded memory,
every node reported with its reason, and an exit within 5 s of SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import hostile_peers as hp

CLI = [sys.executable, "-m", "pacs_tui"]


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, hp.HostilePeer]]:
    with contextlib.ExitStack() as stack:
        running = {name: stack.enter_context(hp.running(b)) for name, b in hp.BEHAVIOURS.items()}
        running["good"] = stack.enter_context(hp.running(hp.polite))
        yield running


def write_config(tmp_path: Path, peers: dict[str, hp.HostilePeer], workers: int) -> Path:
    ports = {name: peer.port for name, peer in peers.items()}
    path = tmp_path / "pacs-tui.toml"
    path.write_text(hp.site_config(tmp_path / "history.sqlite", ports, workers=workers))
    return path


def env(tmp_path: Path) -> dict[str, str]:
    full = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    full["XDG_STATE_HOME"] = str(tmp_path / "state")
    full.pop("PACS_TUI_CONFIG", None)
    return full


def test_status_reports_every_hostile_node_in_bounded_memory(
    tmp_path: Path, peers: dict[str, hp.HostilePeer]
) -> None:
    config = write_config(tmp_path, peers, workers=8)
    proc = subprocess.Popen(
        [*CLI, "status", "--json", "--config", str(config)],
        env=env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    # wait4 gives the child's own peak RSS; the bombs would take it past a gigabyte.
    deadline = started + 60
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not pid:
        proc.kill()
        pytest.fail("status did not exit within 60 s")
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    assert proc.returncode == 2, err  # some nodes are DOWN
    # pydicom warns about the peer's character set: said in the log, made visible.
    assert b"Traceback" not in err and b"\x1b" not in err, err
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < 300, f"status peaked at {peak_mb:.0f} MB"
    # Every node on 8 workers, each back within timeout + 1 s: a few rounds and start-up.
    assert elapsed < 20, elapsed
    doc = json.loads(out)
    by_id = {t["id"]: t for t in doc["targets"]}
    assert by_id["good"]["status"] == "OK"
    assert by_id["huge-header-stream"]["status"] == "DOWN"
    assert "4,294,967,295 bytes" in by_id["huge-header-stream"]["reason"]
    assert "P-DATA-TF of 2,147,483,647 bytes" in by_id["pdata-bomb"]["reason"]
    assert "1 byte a second" in by_id["ac-trickle"]["reason"] or (
        "then went silent" in by_id["ac-trickle"]["reason"]
    )


def echo_rows(history: Path, target: str) -> int:
    try:
        with sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True) as db:
            query = "SELECT count(*) FROM samples WHERE target = ? AND metric = 'echo_seconds'"
            return int(db.execute(query, (target,)).fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def test_collect_exits_within_5s_of_sigterm_among_stalling_peers(
    tmp_path: Path, peers: dict[str, hp.HostilePeer]
) -> None:
    config = write_config(tmp_path, peers, workers=2)
    history = tmp_path / "history.sqlite"
    proc = subprocess.Popen(
        [*CLI, "collect", "--config", str(config)],
        env=env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert hp.wait_for(lambda: echo_rows(history, "good") >= 2, 40, every=0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"collect still running 15 s after SIGTERM:\n{err}")
    waited = time.monotonic() - sent
    assert proc.returncode == 0, err
    assert waited < 5, f"collect took {waited:.1f}s to exit after SIGTERM"
    assert "Traceback" not in err, err
