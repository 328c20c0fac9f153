"""How long opening a history written by pacs-tui 0.3 (schema 1) takes, migration included.

python bench/history_migrate.py [--targets 1000] [--hours 6] [--version 46f3f82]

The 0.3 code (checked out in a temporary git worktree) writes ``--hours`` of samples of
``--targets`` targets x 4 metrics every 30 s with its own Store (raw rows and their per-minute
and per-hour rollups); then this checkout's Store opens the file and migrates it to schema 2.
Prints the file's size and the rows of each v1 table, the time of the open, and the file after.
A full-size 0.3 history (48 h raw, 30 days of minutes, 1,000 targets) holds ~46x the raw rows
and ~120x the per-minute rows of the default run: scale the times by the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pacs_tui.store import Store  # noqa: E402

WRITER = """
import asyncio, os, sys
import pacs_tui
assert pacs_tui.__file__.startswith(os.environ["PYTHONPATH"]), pacs_tui.__file__
from pacs_tui.model import Sample
from pacs_tui.store import Store

async def main(path, targets, hours):
    store = await Store.open(path, retention_interval=None, flush_interval=3600)
    start = 1_767_225_600
    for t0 in range(start, start + hours * 3600, 60):
        store.add_samples(
            Sample(float(t), f"node-{i:04d}", metric, 0.01)
            for t in range(t0, t0 + 60)
            for i in range(t % 30, targets, 30)
            for metric in ("echo_seconds", "associate_seconds", "release_seconds", "msgs_total")
        )
        await store.flush()
    await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def counts(path: Path) -> str:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return ", ".join(
            f"{n} {db.execute(f'SELECT count(*) FROM {n}').fetchone()[0]:,}"
            for n in sorted(names)
            if n in {"samples", "samples_1m", "samples_1h", "raw", "rollup_5m", "rollup_1h"}
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--version", default="46f3f82", help="the git revision that writes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree, path = Path(tmp) / "tree", Path(tmp) / "history.sqlite"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), args.version],
            check=True,
        )
        try:
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", WRITER, str(path), str(args.targets), str(args.hours)],
                check=True,
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
            )
            written = time.perf_counter() - began
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True
            )
        size = path.stat().st_size
        print(
            f"written by {args.version} in {written:.0f} s: {size / 2**20:,.0f} MiB; {counts(path)}"
        )
        began = time.perf_counter()
        store = await Store.open(path, retention_interval=None)
        opened = time.perf_counter() - began
        await store.close()
        print(f"opened and migrated to schema 2 in {opened:.1f} s; {counts(path)}")
        print(
            f"file after: {path.stat().st_size / 2**20:,.0f} MiB (freed pages are kept for reuse)"
        )


if __name__ == "__main__":
    asyncio.run(main())
