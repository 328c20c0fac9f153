"""Soak: `pacs-tui collect` for N minutes against healthy and hostile peers.

Prints the collector's threads, open file descriptors and RSS at the start (after a warm-up)
and every minute to the end, beside the healthy node's echo count, then how long the
collector took to exit after SIGTERM. Flat threads, fds and RSS are the goal: a guard that
leaks a thread or a socket per hostile check shows here as a steady climb.

    python bench/soak.py [--minutes 5] [--workers 2] [--interval 1s] [--timeout 800ms]
                         [--healthy 4] [--orthanc]

Peers: ``--healthy`` correct Verification SCPs (the raw-PDU peer the hostile suite uses as its
control) and one of each hostile behaviour in ``tests/hostile_peers.py``, all in this process
on free loopback ports; with ``--orthanc``, a real Orthanc as well (Debian package).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import hostile_peers as hp
from tests.peers import ORTHANC, free_port, orthanc_args


def proc_figures(pid: int) -> tuple[int, int, float]:
    """(threads, open fds, RSS in MiB) of a running process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(fields["Threads"]), fds, int(fields["VmRSS"].split()[0]) / 1024


def echo_count(history: Path, prefix: str) -> int:
    try:
        with sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True) as db:
            query = "SELECT count(*) FROM samples WHERE target LIKE ? AND metric = 'echo_seconds'"
            return int(db.execute(query, (prefix + "%",)).fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--timeout", default="800ms")
    parser.add_argument("--healthy", type=int, default=4)
    parser.add_argument("--orthanc", action="store_true")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        nodes: list[tuple[str, str, int]] = []
        for i in range(args.healthy):
            peer = stack.enter_context(hp.running(hp.polite))
            nodes.append((f"good-{i}", "PEER", peer.port))
        for name, behaviour in hp.BEHAVIOURS.items():
            peer = stack.enter_context(hp.running(behaviour))
            nodes.append((f"bad-{name.replace('_', '-')}", "PEER", peer.port))
        if args.orthanc:
            port = free_port()
            orthanc = subprocess.Popen(
                orthanc_args(ORTHANC, tmp / "orthanc", "ORTHANC", port),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(orthanc.kill)
            nodes.append(("good-orthanc", "ORTHANC", port))

        history = tmp / "history.sqlite"
        config = tmp / "pacs-tui.toml"
        lines = [
            '[site]\nname = "Soak"\n',
            f'[history]\npath = "{history}"\n',
            f'[dicom]\ncalling_aet = "PACSTUI"\ninterval = "{args.interval}"\n'
            f'timeout = "{args.timeout}"\nwarn_latency = "500ms"\nmax_workers = {args.workers}\n',
        ]
        for node_id, aet, port in nodes:
            lines.append(
                f'[[dicom.node]]\nid = "{node_id}"\naet = "{aet}"\nhost = "127.0.0.1"\n'
                f"port = {port}\n"
            )
        config.write_text("\n".join(lines))
        env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state")}
        collect = subprocess.Popen(
            [sys.executable, "-m", "pacs_tui", "collect", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        print(
            f"collect pid {collect.pid}: {len(nodes)} nodes ({args.healthy} healthy raw SCPs"
            f"{' + Orthanc' if args.orthanc else ''}, {len(hp.BEHAVIOURS)} hostile), "
            f"{args.workers} workers, interval {args.interval}, timeout {args.timeout}, "
            f"{args.minutes:g} min"
        )
        print(f"{'minute':>7} {'threads':>8} {'fds':>5} {'RSS MiB':>8} {'good echoes':>12}")
        time.sleep(10)  # warm-up: imports, first round of every node
        started = time.monotonic()
        first = proc_figures(collect.pid)
        rows = [(0.0, *first, echo_count(history, "good"))]
        print(f"{0:>7.1f} {first[0]:>8} {first[1]:>5} {first[2]:>8.1f} {rows[0][4]:>12}")
        end = started + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(60.0, max(0.0, end - time.monotonic())))
            figures = proc_figures(collect.pid)
            minute = (time.monotonic() - started) / 60
            count = echo_count(history, "good")
            rows.append((minute, *figures, count))
            print(f"{minute:>7.1f} {figures[0]:>8} {figures[1]:>5} {figures[2]:>8.1f} {count:>12}")
        peak_threads = max(r[1] for r in rows)
        peak_fds = max(r[2] for r in rows)
        peak_rss = max(r[3] for r in rows)
        sent = time.monotonic()
        collect.send_signal(signal.SIGTERM)
        try:
            _, err = collect.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            collect.kill()
            _, err = collect.communicate()
            print("collect did not exit within 30 s of SIGTERM")
            return 1
        waited = time.monotonic() - sent
        print(
            f"peaks: threads {peak_threads}, fds {peak_fds}, RSS {peak_rss:.1f} MiB; "
            f"exit {waited:.2f}s after SIGTERM, code {collect.returncode}; "
            f"tracebacks in its log: {err.count('Traceback')}"
        )
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    raise SystemExit(main())
