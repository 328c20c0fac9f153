"""Many viewers on one collector: what they cost and how soon a change reaches their screens,
beside the UI that runs its engine in its own process, measured in the same run.

The collector is the real one (``pacs_tui.cli_engine.serve_collector``: the engine, its history,
the viewers' socket) with ``--nodes`` simulated DICOM nodes instead of C-ECHOs: a pynetdicom echo
costs ~3 ms of CPU, so 1,000 real nodes every 5 s would measure pynetdicom, not the attach. A
simulated node sleeps 4 to 12 ms and answers the result a real echo of a stock peer gives (the same
targets, labels, metrics and details, built by ``DicomEchoCheck.result``); every node is checked
every ``--interval``, so each of the 1,000 states changes (latency, last check) every few seconds,
and ``--blips`` times a second on average some node answers DOWN once ("connection refused")
and is OK again at its next check. One node, the marker (``node-0001``, first in the Nodes list),
flips between OK and DOWN at every check, every ``--flip`` seconds (±10 % jitter): its changes
are the ones timed on screen.

    serve        the collector alone, then with ``--viewers`` attached UIs (``pacs-tui run
                 --attach``) in tmux panes of 160x48, half on the Overview, half on the Nodes
                 list: the collector's CPU with 0 and with N viewers, and each viewer's
    delay        from a status change of the marker in the engine (the ``ts`` of its
                 status-change event in the history: when the result was made) to the moment the
                 viewer's tmux pane shows it: on Nodes, the marker row's status word; on the
                 Overview, the marker's newest line under "Recent status changes". A tmux
                 control-mode client per pane asks for the pane's text each time the program
                 writes to it, so a change is seen at the first screen update that draws it
                 (the time taken is when the text came back: an upper bound)
    in-process   the same simulated site in one UI that runs its engine itself (``python
                 bench/attach.py ui``, which is ``pacs-tui run`` with the simulated checks): its
                 CPU and the same delay, on the Overview and on Nodes

The control clients run only during the delay windows, so they are not in the CPU figures.

    .venv/bin/python bench/attach.py [--nodes 1000] [--viewers 10] [--interval 5] [--flip 2]
                                     [--blips 0.2] [--window 60] [--delay-window 60]

Needs tmux and the project's venv. A run with the defaults takes about 11 minutes. Everything it
starts (its tmux server, the collector) and its temporary folder are removed at the end, on
Ctrl-C and on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import math
import os
import random
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import (
    PACS_TUI,
    SCREEN_LIMIT,
    Tmux,
    alive,
    machine,
    measure_pids,
    pacs_tui_beside_tmux,
    run_main,
    source_state,
    start_collector,
    stop_process,
    wait_screen,
    wait_until,
)

from pacs_tui.config import Config, load_config
from pacs_tui.engine import Engine, engine_with_history
from pacs_tui.model import Result
from pacs_tui.probes import dicom_source
from pacs_tui.probes.dicom import DicomEchoCheck, EchoOutcome
from pacs_tui.source import BuildContext, Runnable

SITE = "Attach bench"
MARKER = "node-0001"
#: How long the first round of checks may take before the run gives up on it.
FIRST_ROUND_LIMIT = 120.0
#: The delay goal of the issue, p95, milliseconds.
DELAY_GOAL_MS = 100.0
STATUS_WORD = re.compile(r"\b(OK|WARN|CRIT|DOWN|UNKNOWN)\b")
#: A line under "Recent status changes": "18:05:03  node-0001  ✔ OK → ▼ DOWN  connection …".
RECENT_LINE = re.compile(r"(\d\d:\d\d:\d\d).*?→\s*\S*\s*(OK|WARN|CRIT|DOWN|UNKNOWN)\b")


# -- the simulated site (runs in the collector and in the in-process UI) ---------------------


class SimulatedEcho:
    """A DICOM node that answers without a network: the check the DICOM source built for it
    (``real``) is never run; ``check`` sleeps like an echo and returns what the real check's
    :meth:`~DicomEchoCheck.result` makes of a stock peer's answer, or of a refused connection
    (a blip, or every other check for the marker)."""

    def __init__(self, real: DicomEchoCheck, *, blip: float, flips: bool, seed: int) -> None:
        self.real = real
        self.target = real.target
        self.interval = real.interval
        self.timeout = real.timeout
        self.blip = blip
        self.flips = flips
        self._down = False
        self._random = random.Random(seed)

    async def check(self) -> Result:
        real = self.real
        latency = self._random.uniform(0.004, 0.012)
        await asyncio.sleep(latency)
        if self.flips:
            self._down = not self._down
        else:
            self._down = self._random.random() < self.blip
        peer = (real.host, real.port, real.called_aet, real.calling_aet)
        if self._down:
            reason = f"connection refused by {real.host}:{real.port} (simulated)"
            return real.result(EchoOutcome(False, reason, *peer, elapsed_seconds=0.001))
        third = latency / 3
        return real.result(
            EchoOutcome(
                True,
                "",
                *peer,
                elapsed_seconds=latency,
                associate_seconds=third,
                dimse_seconds=third,
                release_seconds=third,
                echo_seconds=latency,
                accepted=True,
                released=True,
                status=0,
                peer_implementation_class_uid="1.2.276.0.7230010.3.0.3.6.7",
                peer_implementation_version_name="OFFIS_DCMTK_367",
                peer_max_pdu=16384,
                address=real.host,
            )
        )

    async def close(self) -> None:
        return None


def simulated_checks(config: Config, blips: float) -> list[Runnable]:
    """What the DICOM source builds for ``config``, each node simulated; ``blips`` DOWN answers
    a second on average over all of them (the marker aside)."""
    section = config.section("dicom")
    assert section is not None, "the bench's config has a [dicom] section"
    unused = ThreadPoolExecutor(1)  # the source asks for one; a simulated node never uses it
    built = [c for c in dicom_source.build(section, BuildContext(config.site.name, unused))]
    checks: list[Runnable] = []
    for index, real in enumerate(built):
        assert isinstance(real, DicomEchoCheck)
        checks_per_second = len(built) / real.interval
        flips = real.target.id == MARKER
        blip = blips / checks_per_second
        checks.append(SimulatedEcho(real, blip=blip, flips=flips, seed=index))
    return checks


def simulated_engine(config: Config, blips: float) -> Engine:
    """The engine of ``config`` with its history, its nodes simulated."""
    return engine_with_history(config, simulated_checks(config, blips))


def serve(config_path: Path, blips: float, log_level: str) -> int:
    """The collector of the run (``pacs-tui collect`` with the simulated nodes)."""
    from pacs_tui.cli_engine import run_collector, serve_collector
    from pacs_tui.logs import setup_logging

    setup_logging(log_level)
    config = load_config(config_path)
    engine = functools.partial(simulated_engine, blips=blips)
    return run_collector(serve_collector(config, engine))


def ui(config_path: Path, blips: float) -> int:
    """The UI with its own engine on the simulated site (``pacs-tui run`` without a
    collector)."""
    from pacs_tui.app import PacsApp
    from pacs_tui.logs import setup_logging

    state = Path(os.environ.get("XDG_STATE_HOME", tempfile.gettempdir()))
    setup_logging("info", file=state / "pacs-tui.log")
    config = load_config(config_path)

    async def build() -> Engine:
        return simulated_engine(config, blips)

    app = PacsApp(build, demo=False, ansi=False)
    app.run()
    return app.return_code or 0


def write_config(folder: Path, nodes: int, interval: float, flip: float) -> Path:
    """``nodes`` DICOM nodes (never contacted: simulated), the marker first; the history and
    the collector's socket inside ``folder``."""
    folder.mkdir(parents=True)
    lines = [
        f'[site]\nname = "{SITE}"\n',
        f'[history]\npath = "{folder / "history.sqlite"}"\n',
        f'[collector]\nsocket = "{folder / "run" / "collector.sock"}"\n',
        f'[dicom]\ncalling_aet = "PACSTUI"\ninterval = "{interval:g}s"\ntimeout = "1s"\n',
    ]
    for i in range(1, nodes + 1):
        node_id = f"node-{i:04d}"
        extra = f'interval = "{flip:g}s"\n' if node_id == MARKER else ""
        lines.append(
            f'[[dicom.node]]\nid = "{node_id}"\naet = "NODE{i:04d}"\nhost = "127.0.0.1"\n'
            f'port = {10000 + i}\nrole = "modality"\n{extra}'
        )
    path = folder / "pacs-tui.toml"
    path.write_text("\n".join(lines))
    return path


# -- reading the marker off a screen ----------------------------------------------------------


def marker_on_nodes(screen: str) -> str | None:
    """The marker row's status word on the Nodes list ("▼ DOWN     node-0001  NODE0001 …")."""
    for line in screen.splitlines():
        if MARKER in line:
            found = STATUS_WORD.search(line)
            return found.group(1) if found else None
    return None


def marker_on_overview(screen: str) -> str | None:
    """The marker's newest line under "Recent status changes" (newest first): its time and
    the status it changed to, e.g. "18:05:03 DOWN"."""
    lines = screen.splitlines()
    start = next((i for i, line in enumerate(lines) if "Recent status changes" in line), None)
    if start is None:
        return None
    for line in lines[start + 1 :]:
        if MARKER in line:
            found = RECENT_LINE.search(line)
            return f"{found.group(1)} {found.group(2)}" if found else None
    return None


@dataclass(frozen=True)
class Screen:
    name: str
    keys: tuple[str, ...]
    ready: Callable[[str], bool]
    marker: Callable[[str], str | None]


def screens(nodes: int) -> dict[str, Screen]:
    return {
        "Overview": Screen(
            "Overview", ("1",), lambda s: "Recent status changes" in s, marker_on_overview
        ),
        "Nodes": Screen("Nodes", ("2",), lambda s: f"{nodes} DICOM nodes" in s, marker_on_nodes),
    }


@dataclass
class ScreenWatch:
    """A tmux control-mode client on one pane: each time the program writes to the pane it
    asks for the pane's text, and notes when what ``read`` finds there changes (the time is
    when the text came back).

    tmux may take in a frame in several reads, and a capture between two shows a frame half
    drawn (a list half moved down shows an older line on top): a new value counts only if a
    capture :data:`CONFIRM` seconds later still shows it, and then from its first capture.

    Each value is kept with two times (``seen`` and ``drawn``): when the capture that first
    showed it came back, and when the last ``%output`` before that capture's reply arrived.
    tmux puts a pane's bytes on its screen as it reads them and sends ``%output`` then, and a
    control client's stream keeps the server's order, so the capture can show nothing newer
    than that output: its arrival is also an upper bound, without the capture's round trip
    through a busy tmux server (what a terminal attached to the pane would have had by then).
    """

    tmux: Tmux
    session: str
    read: Callable[[str], str | None]
    seen: list[tuple[float, str]] = field(default_factory=list)
    drawn: list[tuple[float, str]] = field(default_factory=list)
    captures: int = 0
    torn: int = 0  # new values gone again at the next capture: frames caught half drawn

    CONFIRM = 0.01

    def __post_init__(self) -> None:
        self._proc = subprocess.Popen(
            [*self.tmux.base, "-C", "attach-session", "-t", self.session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        with self._lock, contextlib.suppress(OSError, ValueError):  # the client was stopped
            stdin.write(f"capture-pane -p -t {self.session}\n".encode())
            stdin.flush()

    def _follow(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        block: list[str] | None = None
        ours = False  # the block answers one of our commands (flags 1), not the attach
        pending = dirty = False
        last: str | None = None
        candidate: tuple[float, float, str] | None = None
        output = answered = 0.0  # the last %output's arrival; the last as of our reply's %begin
        first = True
        self._capture()
        pending = True
        for raw in stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if block is not None:
                if not line.startswith(("%end ", "%error ")):
                    block.append(line)
                    continue
                took = time.time()
                text, block = "\n".join(block), None
                if not ours:
                    continue
                self.captures += 1
                value = self.read(text)
                if first:
                    last, first = value, False
                elif candidate is not None and value == candidate[2]:
                    self.seen.append((candidate[0], value))
                    self.drawn.append((candidate[1], value))
                    last, candidate = value, None
                else:
                    if candidate is not None:
                        self.torn += 1
                        candidate = None
                    if value is not None and value != last:
                        candidate = (took, answered or took, value)
                        threading.Timer(self.CONFIRM, self._capture).start()
                pending = False
                if dirty:
                    dirty = False
                    self._capture()
                    pending = True
            elif line.startswith("%begin "):
                block, ours = [], line.split()[-1] == "1"
                answered = output
            elif line.startswith("%output "):
                output = time.time()
                if pending:
                    dirty = True
                else:
                    self._capture()
                    pending = True
            elif line.startswith("%exit"):
                return

    def stop(self) -> None:
        self._proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._thread.join(timeout=5)


def marker_changes(history: Path) -> list[tuple[float, str]]:
    """The marker's status changes in the history: (ts, status it changed to)."""
    with contextlib.closing(sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True)) as db:
        query = (
            "SELECT ts, status FROM events WHERE kind = 'status-change' AND target = ? ORDER BY ts"
        )
        return [(float(ts), str(status)) for ts, status in db.execute(query, (MARKER,))]


@dataclass(frozen=True)
class Delays:
    ms: list[float]
    late: int  # seen after the marker had changed again (a change drawn more than a flip late)
    unmatched: int  # seen with no change of the history to match


def delays(seen: Sequence[tuple[float, str]], changes: Sequence[tuple[float, str]]) -> Delays:
    """Each change seen on screen against the history's: the latest change to the status shown
    (at the time of day shown, for the Overview's lines) made before it was seen."""
    ms: list[float] = []
    late = unmatched = 0
    for took, shown in seen:
        *clock, status = shown.split()  # the Overview's "18:05:03 DOWN", the Nodes' "DOWN"
        before = [c for c in changes if c[0] <= took]
        matching = [
            c
            for c in before
            if c[1] == status
            and (not clock or time.strftime("%H:%M:%S", time.localtime(c[0])) == clock[0])
        ]
        if not matching:
            unmatched += 1
            continue
        if matching[-1] is not before[-1]:
            late += 1  # the marker had changed again before this change was drawn
        ms.append(1000 * (took - matching[-1][0]))
    return Delays(ms, late, unmatched)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with ``p`` % of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuRow:
    what: str
    cpu: float
    rss: float | None = None
    note: str = ""


@dataclass(frozen=True)
class DelayRow:
    what: str
    delays: Delays  # to the capture that showed the change
    drawn: Delays  # to the pane's last output before that capture
    watches: list[ScreenWatch]

    @property
    def captures(self) -> str:
        captures = sum(w.captures for w in self.watches)
        torn = sum(w.torn for w in self.watches)
        return f"{captures} captures, {torn} half-drawn"


@dataclass
class Run:
    args: argparse.Namespace
    tmux: Tmux
    tmp: Path
    cpu: list[CpuRow] = field(default_factory=list)
    delay: list[DelayRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def bench_command(self, mode: str, config: Path) -> list[str]:
        return [
            sys.executable,
            str(Path(__file__).resolve()),
            mode,
            "--config",
            str(config),
            "--blips",
            f"{self.args.blips:g}",
        ]

    def start_collector(self, config: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "XDG_STATE_HOME": str(config.parent / "state")}
        nodes = self.args.nodes
        command = self.bench_command("serve", config)
        proc, took = start_collector(command, config, nodes, env, FIRST_ROUND_LIMIT)
        print(f"collector: {nodes} simulated nodes checked after {took:.1f}s")
        return proc

    def start_viewer(self, name: str, command: list[str], state: Path, screen: Screen) -> int:
        """A UI in its own tmux session, shown ``screen`` once every node is checked."""
        pid = self.tmux.start(
            name,
            f"exec env XDG_STATE_HOME={shlex.quote(str(state))} {shlex.join(command)}",
            self.args.size,
        )
        nodes = self.args.nodes
        wait_screen(self.tmux, name, f"{name}: Nodes", lambda s: "DICOM" in s)
        self.tmux.keys(name, "2")
        wait_screen(self.tmux, name, f"{name}: {nodes} nodes", lambda s: f"{nodes} DICOM" in s)
        self.select_marker(name)
        if screen.name != "Nodes":
            self.tmux.keys(name, *screen.keys)
            wait_screen(self.tmux, name, f"{name}: {screen.name}", screen.ready)
        return pid

    def select_marker(self, name: str) -> None:
        """Put the Nodes list's cursor on the marker (its row is the first while it is DOWN).
        The cursor stays on its node as rows move: left on a node that blipped, it follows that
        node down the list and the marker goes off the screen, so the cursor is sent back to the
        top (C-Home) until the marker shows first, and once more then."""
        first_row = 3  # under the header, the summary and the column titles

        def marker_first() -> bool:
            self.tmux.keys(name, "C-Home")
            lines = self.tmux.screen(name).splitlines()
            return len(lines) > first_row and MARKER in lines[first_row]

        wait_until(f"{name}: {MARKER} first", marker_first, SCREEN_LIMIT, poll=0.5)
        self.tmux.keys(name, "C-Home")

    def watch(self, sessions: dict[str, Screen]) -> dict[str, ScreenWatch]:
        return {
            name: ScreenWatch(self.tmux, name, screen.marker) for name, screen in sessions.items()
        }

    def attached(self) -> None:
        args = self.args
        config = write_config(self.tmp / "attached", args.nodes, args.interval, args.flip)
        collector = self.start_collector(config)
        try:
            used = measure_pids([collector.pid], args.window)
            self.cpu.append(
                CpuRow("collector, 0 viewers", used.cpu[collector.pid], used.rss[collector.pid])
            )
            print(f"collector, 0 viewers: {used.cpu[collector.pid]:.1f} % over {args.window:g}s")
            pacs = PACS_TUI
            socket = config.parent / "run" / "collector.sock"
            on = screens(args.nodes)
            sessions: dict[str, Screen] = {}
            pids: dict[str, int] = {}
            for i in range(1, args.viewers + 1):
                name = f"viewer{i:02d}"
                screen = on["Overview"] if i % 2 else on["Nodes"]
                command = [str(pacs), "run", "--attach", str(socket)]
                pids[name] = self.start_viewer(name, command, self.tmp / name, screen)
                sessions[name] = screen
            print(f"{args.viewers} viewers attached; measuring {args.window:g}s")
            server = self.tmux.server_pid()
            used = measure_pids([collector.pid, server, *pids.values()], args.window)
            self.cpu.append(
                CpuRow(
                    f"collector, {args.viewers} viewers",
                    used.cpu[collector.pid],
                    used.rss[collector.pid],
                )
            )
            for screen in on.values():
                mine = [pids[n] for n, s in sessions.items() if s is screen]
                if not mine:
                    continue
                cpus = [used.cpu[p] for p in mine]
                self.cpu.append(
                    CpuRow(
                        f"a viewer on {screen.name} (x{len(mine)})",
                        statistics.mean(cpus),
                        max(used.rss[p] for p in mine),
                        f"min {min(cpus):.1f}, max {max(cpus):.1f}",
                    )
                )
            self.cpu.append(CpuRow("tmux server (all the viewers' panes)", used.cpu[server]))
            self.notes.append(
                f"machine during the {args.viewers}-viewer window: {used.machine:.0f} % of one core"
            )
            print(f"delay: watching every viewer for {args.delay_window:g}s")
            watches = self.watch(sessions)
            # What watching costs (the watchers' threads in this process, the tmux server that
            # answers their captures) competes with the viewers for the same cores: said.
            watching = measure_pids([os.getpid(), server], args.delay_window)
            for w in watches.values():
                w.stop()
            self.notes.append(
                f"while watching: the machine {watching.machine:.0f} % of one core, of which"
                f" the watchers {watching.cpu[os.getpid()]:.0f} % and the tmux server"
                f" {watching.cpu[server]:.0f} %"
            )
            for name in pids:
                self.tmux.keys(name, "q")
            wait_until("viewers: exit after q", lambda: not any(map(alive, pids.values())), 30.0)
        finally:
            stop_process(collector)  # flushes the history: the marker's changes are read next
        changes = marker_changes(config.parent / "history.sqlite")
        for screen in on.values():
            names = [n for n, s in sessions.items() if s is screen]
            seen = [x for n in names for x in watches[n].seen]
            drawn = [x for n in names for x in watches[n].drawn]
            self.delay.append(
                DelayRow(
                    f"attached, {screen.name} (x{len(names)})",
                    delays(seen, changes),
                    delays(drawn, changes),
                    [watches[n] for n in names],
                )
            )
        self.notes.append(self.log_note("collector", config.parent / "collector.log"))
        for name in pids:
            self.notes.append(self.log_note(name, self.tmp / name / "pacs-tui" / "pacs-tui.log"))

    def in_process(self) -> None:
        args = self.args
        config = write_config(self.tmp / "in-process", args.nodes, args.interval, args.flip)
        on = screens(args.nodes)
        name = "inprocess"
        state = self.tmp / name
        pid = self.start_viewer(name, self.bench_command("ui", config), state, on["Overview"])
        rows: list[tuple[Screen, ScreenWatch]] = []
        try:
            for screen in on.values():
                self.tmux.keys(name, *screen.keys)
                wait_screen(self.tmux, name, screen.name, screen.ready)
                if screen.name == "Nodes":
                    self.select_marker(name)
                print(f"in-process UI, {screen.name}: measuring {args.window:g}s")
                used = measure_pids([pid], args.window)
                self.cpu.append(
                    CpuRow(
                        f"in-process UI on {screen.name}",
                        used.cpu[pid],
                        used.rss[pid],
                        "its engine inside",
                    )
                )
                print(f"in-process UI, {screen.name}: delay for {args.delay_window:g}s")
                watch = ScreenWatch(self.tmux, name, screen.marker)
                time.sleep(args.delay_window)
                watch.stop()
                rows.append((screen, watch))
            self.tmux.keys(name, "q")
            wait_until("in-process UI: exit after q", lambda: not alive(pid), 30.0)
        finally:
            self.tmux.kill_session(name)
        changes = marker_changes(config.parent / "history.sqlite")
        for screen, watch in rows:
            self.delay.append(
                DelayRow(
                    f"in-process, {screen.name}",
                    delays(watch.seen, changes),
                    delays(watch.drawn, changes),
                    [watch],
                )
            )
        self.notes.append(self.log_note("in-process UI", state / "pacs-tui.log"))

    @staticmethod
    def log_note(what: str, log: Path) -> str:
        text = log.read_text(errors="replace") if log.exists() else ""
        return f"{what}: {text.count('Traceback')} tracebacks in its log"


def report(run: Run, started: dt.datetime, source: str) -> None:
    args = run.args
    print()
    print(
        f"attach bench, {started:%Y-%m-%d %H:%M %Z}: {args.nodes} simulated nodes every "
        f"{args.interval:g}s, {args.blips:g} blip(s)/s, {MARKER} flips every {args.flip:g}s; "
        f"{args.viewers} viewers in tmux {args.size}; CPU over {args.window:g}s, delay over "
        f"{args.delay_window:g}s"
    )
    print(f"machine: {machine()}")
    print(f"pacs-tui {source}; CPU % is of one core (utime+stime of every thread)")
    print()
    print(f"{'what':40} {'CPU %':>6} {'RSS MiB':>8}  note")
    print("-" * 80)
    for cpu in run.cpu:
        rss = f"{cpu.rss:8.1f}" if cpu.rss is not None else " " * 8
        print(f"{cpu.what:40} {cpu.cpu:6.1f} {rss}  {cpu.note}")
    print()
    print(f"{'delay, change → screen (ms)':40} {'n':>4} {'p50':>6} {'p95':>6} {'max':>6}  goal")
    print("-" * 80)
    for row in run.delay:
        for upto, d in (("output", row.drawn), ("capture", row.delays)):
            what = f"{row.what}, to its {upto}"
            if not d.ms:
                print(f"{what:40} {0:4d}  nothing seen")
                continue
            p95 = percentile(d.ms, 95)
            met = "met" if p95 <= DELAY_GOAL_MS else "not met"
            extra = f"; {d.late} late, {d.unmatched} unmatched" if d.late or d.unmatched else ""
            print(
                f"{what:40} {len(d.ms):4d} {percentile(d.ms, 50):6.0f} {p95:6.0f} "
                f"{max(d.ms):6.0f}  p95 ≤ {DELAY_GOAL_MS:g}: {met}{extra} ({row.captures})"
            )
    print(
        "  (to its output: the pane's last bytes before the capture that first showed the change"
        " reached tmux's control client; to its capture: that capture came back)"
    )
    print()
    for note in run.notes:
        print(f"  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    for mode in ("serve", "ui"):  # what the run starts: the collector, the in-process UI
        inner = sub.add_parser(mode)
        inner.add_argument("--config", type=Path, required=True)
        inner.add_argument("--blips", type=float, default=0.2)
    parser.add_argument("--nodes", type=int, default=1000, help="simulated nodes (1000)")
    parser.add_argument("--viewers", type=int, default=10, help="attached UIs (10)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between checks (5)")
    parser.add_argument("--flip", type=float, default=2.0, help="the marker's interval (2)")
    parser.add_argument("--blips", type=float, default=0.2, help="DOWN blips per second (0.2)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per CPU figure (60)")
    parser.add_argument("--delay-window", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--size", default="160x48", help="tmux pane size (160x48)")
    parser.add_argument(
        "--keep", type=Path, help="work in this new folder and keep it (logs, histories)"
    )
    args = parser.parse_args()
    if args.mode == "serve":
        return serve(args.config, args.blips, "info")
    if args.mode == "ui":
        return ui(args.config, args.blips)
    if pacs_tui_beside_tmux() is None:
        return 1
    started = dt.datetime.now().astimezone()
    source = source_state()
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True)
            tmp = args.keep
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="attach-bench-")))
        tmux = Tmux(f"pacs-attach-{os.getpid()}")
        stack.callback(tmux.kill_server)
        run = Run(args, tmux, tmp)
        run.attached()
        run.in_process()
    report(run, started, source)
    return 0


if __name__ == "__main__":
    run_main(main, "collector, viewers, tmux server and folder")
