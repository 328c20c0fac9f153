"""What the benchmarks share: a process's CPU and memory from /proc, waiting for a condition,
a private tmux server to run terminal programs in, and the machine and commit measured."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parent.parent
#: The project's command, in the venv whose Python runs the bench.
PACS_TUI = Path(sys.executable).with_name("pacs-tui")

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: How long a screen may take to show after its key.
SCREEN_LIMIT = 60.0


def pacs_tui_beside_tmux() -> Path | None:
    """The project's ``pacs-tui`` when tmux is there too; else None, after saying what is
    missing."""
    if shutil.which("tmux") is None:
        print("needs tmux (apt-get install tmux)", file=sys.stderr)
        return None
    if not PACS_TUI.exists():
        print(f"no {PACS_TUI}: run with the project's venv (.venv/bin/python)", file=sys.stderr)
        return None
    return PACS_TUI


# -- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


def machine_busy_seconds() -> float:
    """CPU seconds spent by every core on anything but idle and iowait, since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@dataclass(frozen=True)
class Usage:
    """What some processes used over one window."""

    cpu: dict[int, float]  # by pid: % of one core over the window (utime+stime, every thread)
    rss: dict[int, float]  # by pid: the largest RSS seen in the window, MiB
    machine: float  # % of one core spent by every process of the machine over the window
    seconds: float
    wall: tuple[float, float]  # the window in time.time()


def measure_pids(pids: Sequence[int], window: float) -> Usage:
    """CPU and largest RSS of each of ``pids`` over ``window`` seconds (RSS sampled every
    second); raises ProcessLookupError if one of them dies meanwhile."""
    wall_start = time.time()
    start = time.monotonic()
    busy0 = machine_busy_seconds()
    cpu0 = {pid: cpu_seconds(pid) for pid in pids}
    peak = {pid: rss_mib(pid) for pid in pids}
    end = start + window
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        for pid in pids:
            peak[pid] = max(peak[pid], rss_mib(pid))
    cpu1 = {pid: cpu_seconds(pid) for pid in pids}
    busy1 = machine_busy_seconds()
    seconds = time.monotonic() - start
    cpu = {pid: 100 * (cpu1[pid] - cpu0[pid]) / seconds for pid in pids}
    machine = 100 * (busy1 - busy0) / seconds
    return Usage(cpu, peak, machine, seconds, (wall_start, time.time()))


def wait_until(what: str, ready: Callable[[], bool], limit: float, poll: float = 0.1) -> float:
    """Poll ``ready`` until it holds; the seconds it took. TimeoutError after ``limit``."""
    start = time.monotonic()
    while not ready():
        if time.monotonic() - start > limit:
            raise TimeoutError(f"{what}: not after {limit:g}s")
        time.sleep(poll)
    return time.monotonic() - start


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal ``proc`` and wait for it; SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def checked_in_history(history: Path) -> int:
    """How many nodes have a status change in the history (each gets one, ? → OK, once
    checked)."""
    if not history.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True)) as db:
            query = "SELECT count(DISTINCT target) FROM events WHERE kind = 'status-change'"
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def popen_logged(
    command: list[str],
    log: Path,
    env: dict[str, str],
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` in its own session (Ctrl-C reaches the bench only, which stops it), its
    output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )


def start_collector(
    command: list[str], config: Path, nodes: int, env: dict[str, str], limit: float
) -> tuple[subprocess.Popen[bytes], float]:
    """Run ``command`` (a collector of ``config``, its output in ``collector.log`` beside it)
    until its history has a status for ``nodes`` targets; the process and the seconds that
    took. TimeoutError after ``limit``, with the end of its log printed and the process
    stopped."""
    log = config.parent / "collector.log"
    proc = popen_logged(command, log, env)
    history = config.parent / "history.sqlite"
    try:
        took = wait_until(
            f"collector: first round of {nodes} nodes",
            lambda: proc.poll() is None and checked_in_history(history) >= nodes,
            limit,
            poll=0.5,
        )
    except TimeoutError:
        tail = log.read_text(errors="replace")[-2000:]
        print(f"--- collector (exit code {proc.poll()}), end of its log ---\n{tail}")
        stop_process(proc)
        raise
    return proc, took


# -- tmux ------------------------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket, no user config): killing it kills only ours."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]
        self.started = False
        self.pids: list[int] = []

    def cmd(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout

    def start(self, session: str, command: str, size: str) -> int:
        """Run ``command`` (which must ``exec`` the program) in a new session; the program's
        pid (the pane's: ``exec`` keeps it)."""
        width, height = size.split("x")
        self.started = True
        self.cmd("new-session", "-d", "-s", session, "-x", width, "-y", height, command)
        self.cmd("set-option", "-t", session, "remain-on-exit", "off")
        pid = int(self.cmd("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        self.pids.append(pid)
        return pid

    def server_pid(self) -> int:
        return int(self.cmd("display-message", "-p", "#{pid}").strip())

    def screen(self, session: str) -> str:
        try:
            return self.cmd("capture-pane", "-p", "-t", session)
        except subprocess.CalledProcessError:
            return ""  # the session is gone (the program exited)

    def kill_session(self, session: str) -> None:
        """End ``session`` (its program gets SIGHUP); nothing if it is gone already."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.cmd("kill-session", "-t", session)

    def keys(self, session: str, *keys: str) -> None:
        self.cmd("send-keys", "-t", session, *keys)

    def kill_server(self) -> None:
        """Kill the server (its panes get SIGHUP) and wait for the programs to be gone, so that
        none still writes into the temporary folder when it is removed; SIGKILL after 15 s."""
        if not self.started:
            return
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)
        self.started = False
        with contextlib.suppress(TimeoutError):
            wait_until("tmux programs to exit", lambda: not any(map(alive, self.pids)), 15.0)
        for pid in filter(alive, self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_screen(tmux: Tmux, session: str, what: str, ready: Callable[[str], bool]) -> str:
    """Wait until the pane's text satisfies ``ready``; that text."""
    seen: list[str] = []

    def check() -> bool:
        seen[:] = [tmux.screen(session)]
        return ready(seen[0])

    try:
        wait_until(what, check, SCREEN_LIMIT)
    except TimeoutError:
        print(f"--- screen while waiting for {what} ---\n{seen[0] if seen else ''}")
        raise
    return seen[0]


# -- report ----------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{model}, {os.cpu_count()} cores, kernel {platform.release()}, "
        f"Python {platform.python_version()}, textual {importlib.metadata.version('textual')}"
    )


def source_state() -> str:
    """The commit measured, and whether pacs_tui/ had uncommitted changes (the venv's install
    is editable: the working tree is what runs)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "pacs_tui"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (f", {len(dirty)} changed file(s) in pacs_tui/" if dirty else "")


def run_main(main: Callable[[], int], cleaned: str) -> NoReturn:
    """Exit with ``main()``'s code; Ctrl-C, SIGTERM and SIGHUP stop it the same way (everything
    it started is stopped on the way out), saying ``cleaned`` and exiting 130."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print(f"interrupted: {cleaned} cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
