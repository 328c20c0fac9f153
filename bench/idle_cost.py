"""What the pacs-tui UI costs left open on a wall, beside Glances measured in the same run.

For each ``--nodes`` count N it writes a config of N DICOM nodes split between two stock Orthanc
instances (Debian package, free loopback ports, throwaway storage; they accept any called and
calling AE title), interval 30 s, timeout 5 s, and measures, one after the other:

    besides, ``--volumes`` volumes (folders of the run's temporary folder, 1 min) and
    ``--hosts`` hosts (this server through psutil, the Orthanc peers its processes, 30 s) at
    their default intervals, so that a site of nodes, volumes and hosts is measured:

    pacs-tui collect     the headless engine alone: the floor under the UI's figure
    pacs-tui run         the UI in a tmux pane of 160x48, on each screen in turn: Overview
                         (key 1), Nodes (key 2), the first node's detail (Enter on Nodes),
                         Storage (key 5) and Hosts (key 6) when there are volumes and hosts;
                         the Checks screen (key 3) has nothing to show here and is left out.
                         Twice: with the engine inside the UI (no collector running), then
                         attached to a running ``collect`` (the UI process runs no engine; the
                         collector's CPU over the same window is shown beside it)
    Glances              from PyPI, in its own venv, default curses UI (2 s refresh), tmux 160x48

Each is measured over the same ``--window``: CPU as a percentage of one core, from utime+stime
in /proc/PID/stat (every thread of the process), and the largest RSS seen (/proc/PID/status,
sampled every second). The tmux column is the tmux server's CPU over the window: the cost of
taking in what the program writes to its terminal; "machine" is every process's CPU, to show how
busy the rest of the machine was. The in-process UI and ``collect`` run the same engine in their
process, so "UI-collect" is what the screens add on top of it; an attached UI runs no engine, so
its own CPU is what the screens cost, and "collector %" is the collector's CPU serving it over
the same window. "checks" is the number of C-ECHOs the history recorded in the window: the
default 60 s window is two intervals, so about 2N, but the rounds drift (±10 % jitter), and the
column shows what each figure actually carried.

The measurement starts once the first round of checks is over (every node has a status, seen on
screen for the UI, in the history for ``collect``) and, for the UI, once every screen has been
shown once (so a window holds no first-time mount). Then the figures are compared with the goals
of the issue: the UI on any screen at most Glances's CPU at 200 nodes and at most twice it at
1,000, and an RSS of at most 120 MiB.

    .venv/bin/python bench/idle_cost.py [--nodes 200,1000] [--volumes 20] [--hosts 5]
                                        [--window 60] [--size 160x48]

Needs tmux and the Debian ``orthanc`` package; the first run creates the Glances venv under
``~/.cache/pacs-tui-bench/glances-venv`` (``$XDG_CACHE_HOME`` if set) with pip, which needs PyPI.
Glances is started with ``--disable-check-update`` so that it makes no network call. A run with
the defaults takes about 13 minutes. Everything it starts (tmux server on its own socket, Orthanc,
the collector) and its temporary folder are removed at the end, on Ctrl-C and on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import (
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

from tests.peers import HOST, ORTHANC, free_port

#: How long the first round of checks may take before the run gives up on it.
FIRST_ROUND_LIMIT = 180.0
#: RSS goal of the issue, for any number of nodes.
RSS_GOAL_MIB = 120.0
#: CPU goal of the issue: (up to this many nodes, times Glances's CPU).
CPU_GOALS: tuple[tuple[int, float], ...] = ((200, 1.0), (1000, 2.0))
#: The counts on the Overview's tile: "▼ 1 DOWN  ▲ 1 WARN  ✔ 198 OK".
COUNT = re.compile(r"(\d+) (OK|WARN|CRIT|DOWN|UNKNOWN)\b")
SITE = "Idle bench"


@dataclass(frozen=True)
class Figures:
    cpu: float  # % of one core over the window
    rss: float  # largest RSS seen in the window, MiB
    tmux: float | None  # % of one core spent by the tmux server over the window
    machine: float  # % of one core spent by every process of the machine over the window
    seconds: float
    wall: tuple[float, float]  # the window in time.time(), to count the checks made in it
    also: float | None = None  # % of one core of a second process over the same window


def measure(
    pid: int, window: float, tmux_pid: int | None = None, also: int | None = None
) -> Figures:
    """CPU of ``pid`` (and of the tmux server, and of process ``also``) over ``window``
    seconds, and its largest RSS."""
    others = [p for p in (tmux_pid, also) if p is not None]
    used = measure_pids([pid, *others], window)
    tmux = used.cpu[tmux_pid] if tmux_pid is not None else None
    extra = used.cpu[also] if also is not None else None
    return Figures(used.cpu[pid], used.rss[pid], tmux, used.machine, used.seconds, used.wall, extra)


# -- peers and configs -----------------------------------------------------------------------


def orthanc_config(workdir: Path, port: int) -> Path:
    """A stock Orthanc that answers C-ECHO whatever the called AE title (every node has its
    own) and whoever calls (``DicomAlwaysAllowEcho``: no need to list PACSTUI)."""
    storage = workdir / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "idle-bench",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpServerEnabled": False,
        "DicomServerEnabled": True,
        "DicomPort": port,
        "DicomAet": "ORTHANC",
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomModalities": {},
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "SaveJobs": False,
        "Plugins": [],
    }
    path = workdir / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@dataclass(frozen=True)
class Mix:
    """What a site watches besides its DICOM nodes: volumes (folders of the run's temporary
    folder, each its own target on one filesystem) and hosts (this server, through psutil, with
    the Orthanc peers as its processes), at their default intervals (1 min, 30 s)."""

    volumes: int = 0
    hosts: int = 0


def write_config(folder: Path, nodes: int, ports: list[int], mix: Mix = Mix()) -> Path:
    """A pacs-tui config of ``nodes`` DICOM nodes spread over ``ports`` (and ``mix``), its
    history inside ``folder``."""
    folder.mkdir(parents=True)
    lines = [
        f'[site]\nname = "{SITE}"\n',
        f'[history]\npath = "{folder / "history.sqlite"}"\n',
        '[dicom]\ncalling_aet = "PACSTUI"\ninterval = "30s"\ntimeout = "5s"\n',
    ]
    for i in range(1, nodes + 1):
        lines.append(
            f'[[dicom.node]]\nid = "node-{i:04d}"\naet = "NODE{i:04d}"\nhost = "{HOST}"\n'
            f'port = {ports[i % len(ports)]}\nrole = "modality"\n'
        )
    for i in range(1, mix.volumes + 1):
        volume = folder / f"volume-{i:03d}"
        volume.mkdir()
        lines.append(f'[[storage.volume]]\nid = "volume-{i:03d}"\npath = "{volume}"\n')
    for i in range(1, mix.hosts + 1):
        lines.append(f'[[host]]\nid = "host-{i:02d}"\nlocal = true\nprocesses = ["Orthanc"]\n')
    path = folder / "pacs-tui.toml"
    path.write_text("\n".join(lines))
    return path


def checks_in(history: Path, wall: tuple[float, float]) -> int:
    """How many C-ECHOs the history recorded within ``wall`` (read once the writer is gone,
    so that every sample is flushed)."""
    with contextlib.closing(sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True)) as db:
        query = "SELECT count(*) FROM samples WHERE metric = 'echo_seconds' AND ts BETWEEN ? AND ?"
        return int(db.execute(query, wall).fetchone()[0])


def counts_on(screen: str) -> dict[str, int]:
    """The status counts on the Overview's DICOM tile (its first line)."""
    for line in screen.splitlines():
        found = COUNT.findall(line)
        if found:
            return {word: int(n) for n, word in found}
    return {}


# -- the measurements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    what: str
    nodes: int | None
    figures: Figures
    checks: int | None = None  # C-ECHOs made in the window


def start_collect(
    pacs: Path, config: Path, nodes: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], float]:
    """``collect`` on ``config``, once it has checked every node; the seconds that took."""
    command = [str(pacs), "collect", "--config", str(config)]
    return start_collector(command, config, nodes, env, FIRST_ROUND_LIMIT)


def run_collect(
    pacs: Path, config: Path, nodes: int, window: float, env: dict[str, str], notes: list[str]
) -> Row:
    history = config.parent / "history.sqlite"
    proc, took = start_collect(pacs, config, nodes, env)
    try:
        print(f"  collect, {nodes} nodes: every node checked after {took:.1f}s; measuring")
        figures = measure(proc.pid, window)
    finally:
        stop_process(proc)
    text = (config.parent / "collector.log").read_text(errors="replace")
    notes.append(
        f"collect, {nodes} nodes: first round {took:.1f}s; exit code {proc.returncode} after "
        f"SIGTERM; tracebacks in its log: {text.count('Traceback')}"
    )
    return Row("pacs-tui collect", nodes, figures, checks_in(history, figures.wall))


@dataclass(frozen=True)
class Screen:
    name: str
    keys: tuple[str, ...]
    ready: Callable[[str], bool]


def ui_screens(nodes: int, mix: Mix = Mix()) -> list[Screen]:
    """The screens in the order they are measured; each key is pressed from the one before."""
    screens = [
        Screen("Overview", ("1",), lambda s: "Recent status changes" in s),
        Screen("Nodes", ("2",), lambda s: f"{nodes} DICOM nodes" in s),
        # Enter on the Nodes table (focused, first row selected) opens that node's detail.
        Screen("Node detail", ("Enter",), lambda s: "Recent events" in s),
    ]
    if mix.volumes:
        plural = "s" if mix.volumes != 1 else ""
        screens.append(Screen("Storage", ("5",), lambda s: f"{mix.volumes} volume{plural}" in s))
    if mix.hosts:
        plural = "s" if mix.hosts != 1 else ""
        screens.append(Screen("Hosts", ("6",), lambda s: f"{mix.hosts} host{plural}" in s))
    return screens


def run_ui(
    pacs: Path,
    config: Path,
    nodes: int,
    window: float,
    size: str,
    tmux: Tmux,
    state: Path,
    notes: list[str],
    collector: subprocess.Popen[bytes] | None = None,
    mix: Mix = Mix(),
) -> list[Row]:
    """The UI on each screen; with ``collector`` (running on ``config``) the UI attaches to it
    and the collector's CPU is measured over the same windows."""
    mode = "attached" if collector is not None else "in-process"
    session = f"ui{nodes}{mode}"
    command = (
        f"exec env XDG_STATE_HOME={shlex.quote(str(state))} "
        f"{shlex.quote(str(pacs))} run --config {shlex.quote(str(config))}"
    )
    start = time.monotonic()
    pid = tmux.start(session, command, size)
    server = tmux.server_pid()
    rows: list[Row] = []
    try:
        wait_screen(tmux, session, "the UI's first frame", lambda s: SITE in s or "pacs-tui" in s)
        first_frame = time.monotonic() - start
        if collector is not None:
            wait_screen(tmux, session, "attached", lambda s: "attached to collector on" in s)

        def checked(screen: str) -> bool:
            counts = counts_on(screen)
            return not counts.get("UNKNOWN") and sum(counts.values()) == nodes

        seen: list[str] = [""]

        def round_done() -> bool:
            seen[0] = tmux.screen(session)
            return alive(pid) and checked(seen[0])

        try:
            wait_until(f"UI: first round of {nodes} nodes", round_done, FIRST_ROUND_LIMIT, 0.25)
        except TimeoutError:
            print(f"--- UI screen (running: {alive(pid)}) ---\n{seen[0]}")
            raise
        first_round = time.monotonic() - start
        counts = ", ".join(f"{n} {w}" for w, n in counts_on(seen[0]).items())
        print(f"  UI, {nodes} nodes: every node checked after {first_round:.1f}s ({counts})")
        screens = ui_screens(nodes, mix)
        # Show every screen once before measuring, so that no window holds a first mount:
        # Overview, Nodes, detail, back to the Nodes list (2 again pops the detail), the
        # others, Overview.
        overview, nodes_list, _detail, *others = screens
        for screen in [*screens[:3], nodes_list, *others, overview]:
            tmux.keys(session, *screen.keys)
            wait_screen(tmux, session, screen.name, screen.ready)
        for screen in screens:
            if screen.name != "Overview":
                if screen.name == "Storage":  # from the node's detail: back to a table first
                    tmux.keys(session, "2")
                    wait_screen(tmux, session, "Nodes", nodes_list.ready)
                tmux.keys(session, *screen.keys)
                wait_screen(tmux, session, screen.name, screen.ready)
            print(f"  UI ({mode}), {nodes} nodes, {screen.name}: measuring {window:g}s")
            also = collector.pid if collector is not None else None
            figures = measure(pid, window, server, also)
            what = "pacs-tui UI" + (" attached" if collector is not None else "")
            rows.append(Row(f"{what}: {screen.name}", nodes, figures))
        tmux.keys(session, "q")
        quit_took = wait_until("UI: exit after q", lambda: not alive(pid), 30.0)
    finally:
        tmux.kill_session(session)
        if alive(pid):  # kill-session sends SIGHUP: the UI flushes and leaves
            with contextlib.suppress(TimeoutError):
                wait_until("UI: exit after SIGHUP", lambda: not alive(pid), 15.0)
    log = state / "pacs-tui" / "pacs-tui.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    notes.append(
        f"UI ({mode}), {nodes} nodes: first frame {first_frame:.1f}s, first round "
        f"{first_round:.1f}s "
        f"({counts}); exit {quit_took:.1f}s after q; tracebacks in its log: "
        f"{text.count('Traceback')}"
    )
    if collector is not None:
        stop_process(collector)  # the checks are counted once the history is flushed
    history = config.parent / "history.sqlite"
    return [Row(r.what, nodes, r.figures, checks_in(history, r.figures.wall)) for r in rows]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pacs-tui-bench"


def glances_venv() -> Path:
    """Glances from PyPI in its own venv (created on the first run); its ``glances``."""
    venv = cache_dir() / "glances-venv"
    glances = venv / "bin" / "glances"
    if not glances.exists():
        print(f"installing Glances from PyPI into {venv} …")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "glances"], check=True)
    return glances


def glances_version(glances: Path) -> str:
    python = glances.with_name("python")
    code = "import importlib.metadata as m; print(m.version('glances'), m.version('psutil'))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    glances_v, psutil_v = out.stdout.split()
    return f"Glances {glances_v} (psutil {psutil_v})"


def run_glances(
    glances: Path, window: float, size: str, tmux: Tmux, home: Path, notes: list[str]
) -> Row:
    session = "glances"
    # Its own empty config folder: the stock defaults whatever ~/.config/glances holds.
    command = (
        f"exec env XDG_CONFIG_HOME={shlex.quote(str(home))} "
        f"{shlex.quote(str(glances))} --disable-check-update"
    )
    pid = tmux.start(session, command, size)
    server = tmux.server_pid()
    try:
        # The curses UI is up when its header, CPU and process list are drawn.
        wait_screen(
            tmux,
            session,
            "Glances's first frame",
            lambda s: "CPU" in s and "MEM" in s and ("TASKS" in s or "PID" in s),
        )
        print(f"  Glances: measuring {window:g}s")
        figures = measure(pid, window, server)
        tmux.keys(session, "q")
        with contextlib.suppress(TimeoutError):
            wait_until("Glances: exit after q", lambda: not alive(pid), 15.0)
    finally:
        tmux.kill_session(session)
    processes = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    notes.append(f"Glances: {processes} processes on the machine (its process list)")
    return Row("Glances (curses, 2 s)", None, figures)


# -- report ----------------------------------------------------------------------------------


def orthanc_version() -> str:
    out = subprocess.run([ORTHANC, "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "Orthanc"
    return first.replace("/usr/sbin/", "")


def cpu_goal(nodes: int) -> float | None:
    for limit, factor in CPU_GOALS:
        if nodes <= limit:
            return factor
    return None


def verdict(row: Row, glances_cpu: float) -> str:
    """The goals of the issue for a UI row, each said met or not met."""
    if row.nodes is None or not row.what.startswith("pacs-tui UI"):
        return ""
    parts = []
    factor = cpu_goal(row.nodes)
    if factor is None:
        parts.append("CPU: no goal above 1,000 nodes")
    else:
        limit = factor * glances_cpu
        met = "met" if row.figures.cpu <= limit else "not met"
        parts.append(f"CPU ≤ {limit:.1f} ({factor:g} x Glances): {met}")
    met = "met" if row.figures.rss <= RSS_GOAL_MIB else "not met"
    parts.append(f"RSS ≤ {RSS_GOAL_MIB:g} MiB: {met}")
    return "; ".join(parts)


def print_table(rows: list[Row], glances_cpu: float) -> None:
    collect = {r.nodes: r.figures.cpu for r in rows if r.what == "pacs-tui collect"}
    head = (
        f"{'what':36} {'N':>5} {'checks':>6} {'CPU %':>6} {'UI-collect':>10} "
        f"{'collector %':>11} {'RSS MiB':>8} {'tmux %':>7} {'machine %':>9}  goal"
    )
    print(head)
    print("-" * (len(head) + 50))
    for row in rows:
        f = row.figures
        extra = ""
        attached = f.also is not None
        if row.what.startswith("pacs-tui UI") and row.nodes in collect and not attached:
            extra = f"{f.cpu - collect[row.nodes]:+.1f}"
        also = f"{f.also:.1f}" if f.also is not None else ""
        tmux = f"{f.tmux:.1f}" if f.tmux is not None else ""
        nodes = str(row.nodes) if row.nodes is not None else "-"
        checks = str(row.checks) if row.checks is not None else ""
        print(
            f"{row.what:36} {nodes:>5} {checks:>6} {f.cpu:6.1f} {extra:>10} {also:>11} "
            f"{f.rss:8.1f} {tmux:>7} {f.machine:9.1f}  {verdict(row, glances_cpu)}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nodes", default="200", help="comma-separated node counts, each run in turn (200)"
    )
    parser.add_argument(
        "--volumes", type=int, default=20, help="volumes besides the nodes, Storage screen (20)"
    )
    parser.add_argument("--hosts", type=int, default=5, help="hosts, Hosts screen (5)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per figure (60)")
    parser.add_argument("--size", default="160x48", help="tmux pane size (160x48)")
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    mix = Mix(args.volumes, args.hosts)
    if not Path(ORTHANC).exists():
        print(f"needs Orthanc at {ORTHANC} (apt-get install orthanc)", file=sys.stderr)
        return 1
    pacs = pacs_tui_beside_tmux()
    if pacs is None:
        return 1

    started = dt.datetime.now().astimezone()
    source_at_start = source_state()
    glances = glances_venv()
    rows: list[Row] = []
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idle-cost-")))
        tmux = Tmux(f"pacs-idle-{os.getpid()}")
        stack.callback(tmux.kill_server)
        ports: list[int] = []
        for index in range(2):
            port = free_port()
            workdir = tmp / f"orthanc-{index}"
            workdir.mkdir()
            log = stack.enter_context((workdir / "orthanc.log").open("wb"))
            orthanc = subprocess.Popen(
                [ORTHANC, str(orthanc_config(workdir, port))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            stack.callback(stop_process, orthanc, signal.SIGKILL)  # its storage is thrown away
            ports.append(port)
            wait_until(f"Orthanc on port {port}", functools.partial(listening, port), 30.0)
        print(f"2 Orthanc peers on {HOST} ports {ports[0]} and {ports[1]}")

        glances_row = run_glances(
            glances, args.window, args.size, tmux, tmp / "glances-config", notes
        )
        rows.append(glances_row)
        for nodes in counts:
            folder = tmp / f"n{nodes}"
            env = {**os.environ, "XDG_STATE_HOME": str(folder / "collect-state")}
            collect_config = write_config(folder / "collect", nodes, ports, mix)
            rows.append(run_collect(pacs, collect_config, nodes, args.window, env, notes))
            ui_config = write_config(folder / "ui", nodes, ports, mix)
            ui_state = folder / "ui-state"
            rows.extend(
                run_ui(
                    pacs,
                    ui_config,
                    nodes,
                    args.window,
                    args.size,
                    tmux,
                    ui_state,
                    notes,
                    None,
                    mix,
                )
            )
            attach_config = write_config(folder / "attached", nodes, ports, mix)
            collector, took = start_collect(pacs, attach_config, nodes, env)
            stack.callback(stop_process, collector)
            print(f"  collect for the attached UI: every node checked after {took:.1f}s")
            rows.extend(
                run_ui(
                    pacs,
                    attach_config,
                    nodes,
                    args.window,
                    args.size,
                    tmux,
                    folder / "attached-state",
                    notes,
                    collector,
                    mix,
                )
            )

    print()
    print(
        f"UI idle cost, {started:%Y-%m-%d %H:%M %Z}: {args.window:g} s windows, tmux "
        f"{args.size}, nodes interval 30 s, timeout 5 s, split over 2 Orthanc; with "
        f"{mix.volumes} volumes (1 min) and {mix.hosts} hosts (30 s, this server)"
    )
    print(f"machine: {machine()}")
    source = source_state()
    if source != source_at_start:  # the working tree moved under the run
        source = f"{source_at_start} at the start, {source} at the end"
    print(f"peers: {glances_version(glances)}, {orthanc_version()}; pacs-tui {source}")
    print(
        "CPU % is of one core (utime+stime of every thread); RSS is the largest seen; tmux % "
        "is the tmux server's CPU; machine % is every process's (of one core: 100 = a core); "
        "checks: C-ECHOs recorded in the window"
    )
    print()
    print_table(rows, glances_row.figures.cpu)
    print()
    for note in notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    run_main(main, "peers, UI, tmux server and temporary folder")
