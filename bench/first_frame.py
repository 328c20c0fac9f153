"""Time from launch to first frame of ``pacs-tui demo``, beside a bare Textual app, both in tmux.

The screen is read the way a person sees it: tmux runs the program in an 80x24 (or --size)
pane and ``capture-pane`` is polled until the expected text shows. Needs tmux.

    python bench/first_frame.py [--repeat 5] [--size 160x48]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

Ready = Callable[[str], bool]

BARE_APP = """
from textual.app import App
from textual.widgets import DataTable, Footer, Header

class Bare(App[None]):
    def compose(self):
        yield Header()
        table = DataTable()
        table.add_columns("a", "b")
        table.add_rows([(str(i), "x") for i in range(7)])
        yield table
        yield Footer()

    def on_mount(self):
        self.title = "BARE READY"

Bare().run()
"""


def first_frame(command: str, ready: Ready, size: str, timeout: float = 20.0) -> float:
    """Seconds from starting ``command`` in tmux until ``ready(screen)`` holds."""
    session = f"bench{int(time.time() * 1000) % 10**8}"
    width, height = size.split("x")
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", width, "-y", height, command],
        check=True,
    )
    try:
        while time.perf_counter() - start < timeout:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if ready(screen):
                return time.perf_counter() - start
            time.sleep(0.01)
        raise TimeoutError(f"{command!r} not ready after {timeout}s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        time.sleep(0.3)


def all_checked(screen: str) -> bool:
    return "slow-viewer" in screen and "UNKNOWN" not in screen.split("Recent")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", default="80x24")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("needs tmux (apt-get install tmux)", file=sys.stderr)
        return 1
    pacs = Path(sys.executable).with_name("pacs-tui")
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        runs = {
            "bare Textual app (Header + 7-row DataTable)": (
                f"{sys.executable} {bare}",
                lambda screen: "BARE READY" in screen,
            ),
            "pacs-tui demo (first frame)": (f"{pacs} demo", lambda screen: "DEMO" in screen),
            # Every node checked once: the Overview lists no UNKNOWN and shows the slow viewer.
            "pacs-tui demo (all 7 nodes checked)": (f"{pacs} demo", all_checked),
        }
        print(f"first frame in tmux {args.size}, median of {args.repeat}")
        for name, (command, ready) in runs.items():
            times = [first_frame(command, ready, args.size) for _ in range(args.repeat)]
            median_ms = statistics.median(times) * 1000
            print(f"  {name:48s} {median_ms:7.0f} ms  (min {min(times) * 1000:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
