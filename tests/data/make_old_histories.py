"""Make the history files that tests/unit/test_store_migration.py opens: one written by
pacs-tui 0.1 and one by 0.3 (the platform issue's version), each by that version's own Store.

Run from the repository (needs git and the project's venv):
    python tests/data/make_old_histories.py
It checks each version out in a temporary worktree and runs WRITER there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = {"0.1": "699c79f", "0.3": "46f3f82"}

# Runs inside the old version: the same content for both. 3 targets, 2 metrics, a sample
# every 10 minutes for two days (2026-11-20 00:00 UTC on), two status changes, an operator note.
WRITER = """
import asyncio, os, sys
import pacs_tui
assert pacs_tui.__file__.startswith(os.environ["PYTHONPATH"]), pacs_tui.__file__
from pacs_tui.model import Event, Sample, Status, Target
from pacs_tui.store import Store

T0 = 1_763_596_800.0

async def main(path):
    store = await Store.open(path, retention_interval=None)
    store.upsert_targets([Target("archive", "dicom-node", {"ae": "ARCHIVE"}),
                          Target("ct-1", "dicom-node", {"ae": "CT1"}),
                          Target("nightly", "command", {})])
    samples = []
    for n in range(288):
        ts = T0 + n * 600
        for i, target in enumerate(("archive", "ct-1", "nightly")):
            samples.append(Sample(ts + i, target, "echo_seconds", 0.01 * (i + 1) + n / 1e4))
            samples.append(Sample(ts + i, target, "queue_depth", float(n % 7 + i)))
    store.add_samples(samples)
    store.add_event(Event(T0 + 3600, "ct-1", "status-change", Status.DOWN,
                          "OK → DOWN: refused", {"from": "OK", "to": "DOWN"}))
    store.add_event(Event(T0 + 3900, "ct-1", "status-change", Status.OK,
                          "DOWN → OK: echo ok", {"from": "DOWN", "to": "OK"}))
    store.add_event(Event(T0 + 4000, "archive", "operator", None, "probe now requested by root"))
    await store.close()

asyncio.run(main(sys.argv[1]))
"""


def main() -> None:
    for version, rev in VERSIONS.items():
        out = HERE / f"history-{version}.sqlite"
        out.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], check=True)
            try:
                env = {**os.environ, "PYTHONPATH": str(tree)}
                # From the worktree: `python -c` imports from its working folder first.
                subprocess.run(
                    [sys.executable, "-c", WRITER, str(out)], check=True, env=env, cwd=tree
                )
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True)
        print(f"{out.name}: {out.stat().st_size} bytes, written by {version} ({rev})")


if __name__ == "__main__":
    main()
