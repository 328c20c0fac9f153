"""The HL7 listener beside a bare MLLP server: throughput, the tap's added latency, and 50
senders at once, measured in the same run.

A copy feed must not slow its sender down, so the listener (which ACKs a message only once its
row is durable in the history's message journal) is measured against the least an MLLP peer
can do, with the same client, in rounds that alternate the peers (the machine is small and
noisy: medians).

throughput: python-hl7's ``mllp_send`` (one connection, each ACK awaited before the next
message) sends ``--messages`` ADT^A01 v2.5 (~230 bytes, a unique MSH-10 each, made-up patients)
to each peer, started fresh in its own process each round, in an order rotated every round:
``bare``, a minimal asyncio MLLP server (``hl7_listener.py bare``: readuntil, write a canned
ACK, nothing parsed); ``collector``, ``pacs-tui collect`` with one ``[[hl7.listener]]`` and its
history, the product path (every ACK must be AA, and the history hold every message once it
stopped); ``alone``, ``pacs_tui.hl7.listener.Listener`` with an emit that records nothing
(``hl7_listener.py alone``), the listener's own ceiling. msg/s is over mllp_send's wall time
less its start (``mllp_send --version``, timed each round); CPU is the peer's, every thread.
``--pin`` puts peer and client on one core (``same``) or two (``split``): on a VM a wake-up
across cores costs more than the work, and the kernel's choice changes from run to run.

tap: a ``mode = "tap"`` listener in ``pacs-tui collect``, the bare server its upstream. One
message's round trip from this process (blocking socket, TCP_NODELAY), straight to the upstream
and through the tap, in alternating blocks; the tap's cost is the difference of the medians.
The canned ACK leaves MSA-2 empty, so the tap matches it to the oldest message waiting.

senders: ``--senders`` asyncio connections at once, each sending ``--per-sender`` messages and
awaiting each ACK, ``--bursts`` times to a collector and to the listener alone in turn: every
ACK AA, every row in the history once the collector stopped, each one's VmHWM before and after.

pinned: the bare server, the listener alone and a collector, every thread of each on core 0,
this process on core 1, one message at a time as for the tap: the two-core case throughput
rounds mostly land in, without the kernel moving the processes between rounds.

    .venv/bin/python bench/hl7_listener.py [--messages 5000] [--rounds 5] [--pin none]
        [--tap-messages 2000] [--tap-block 250] [--senders 50] [--per-sender 200] [--bursts 2]
        [--pinned-messages 2000] [--pinned-blocks 6]
        [--skip-throughput] [--skip-tap] [--skip-senders] [--skip-pinned]

Needs the project's venv (``pacs-tui``, ``mllp_send``); under a minute with the defaults. All it
starts is stopped, and its temporary folder removed, at the end, on an error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import (
    PACS_TUI,
    cpu_seconds,
    machine,
    popen_logged,
    rss_mib,
    run_main,
    source_state,
    stop_process,
    wait_until,
)

from pacs_tui.cli_engine import run_collector

if TYPE_CHECKING:
    from pacs_tui.model import Event, LoggedMessage, Result

HOST = "127.0.0.1"
START, END = b"\x0b", b"\x1c\r"
MLLP_SEND = Path(sys.executable).with_name("mllp_send")
HERE = Path(__file__).resolve()
LINK = "bench-in"
THROUGHPUT_GOAL = 0.8  # collector / bare, at least
TAP_GOAL_MS = 1.0  # the tap's added median, at most
Cpus = set[int] | None
#: --pin: the cores of the peer and of mllp_send.
PINS: dict[str, tuple[Cpus, Cpus]] = {"none": (None, None), "same": ({0}, {0}), "split": ({0}, {1})}
CANNED_ACK = (
    START + b"MSH|^~\\&|BARE|BENCH|ADT1|GOOD HEALTH HOSPITAL|20261203101501||ACK^A01^ACK|"
    b"BARE0001|P|2.5\rMSA|AA|\r" + END
)


def messages(prefix: str, count: int) -> list[bytes]:
    """Framed ADT^A01 v2.5 (MSH, EVN, PID, PV1), MSH-10 ``prefix`` and a number, made-up
    patients."""
    return [
        START + "\r".join((
            "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|PACS|RADIOLOGY|20261203101500||ADT^A01^ADT_A01|"
            f"{prefix}{n:06d}|P|2.5",
            "EVN|A01|20261203101500",
            f"PID|1||{100000 + n}^^^GHH^MR||TESTPATIENT^ALEX^J||19700101|U",
            "PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A|||RAD\r",
        )).encode() + END
        for n in range(count)
    ]  # fmt: skip


def pinned(cpus: Cpus) -> Callable[[], None] | None:
    """A Popen ``preexec_fn`` that puts the child on ``cpus`` (None: where the kernel likes)."""
    return None if cpus is None else lambda: os.sched_setaffinity(0, cpus)


# -- what the run starts in its own processes -----------------------------------------------


def write_port(port_file: Path, port: int) -> None:
    part = port_file.with_suffix(".part")
    part.write_text(str(port))
    part.rename(port_file)  # whole or absent


async def bare(port_file: Path) -> int:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(END)
                writer.write(CANNED_ACK)
        writer.close()

    server = await asyncio.start_server(answer, HOST, 0)
    write_port(port_file, server.sockets[0].getsockname()[1])
    await server.serve_forever()
    return 0


class NullEmit:
    """An emit that keeps nothing: the listener without a history."""

    def result(self, target_id: str, result: Result) -> None: ...

    def event(self, event: Event) -> None: ...

    def messages(self, rows: Sequence[LoggedMessage]) -> None: ...


async def alone(port_file: Path) -> int:
    from pacs_tui.hl7.listener import Listener, ListenerConfig
    from pacs_tui.probes.hl7_source import listener_target

    entry = ListenerConfig(LINK, HOST, 0)
    listener = Listener(entry, listener_target(entry))
    serving = asyncio.create_task(listener.serve(NullEmit()))
    while listener.address.endswith(":0") and not serving.done():
        await asyncio.sleep(0.01)
    write_port(port_file, int(listener.address.rsplit(":", 1)[1]))
    await serving
    return 0


# -- the peers ------------------------------------------------------------------------------


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    port: int
    folder: Path


class Procs:
    """Starts the peers, each in its own session and folder; stops what is left at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, cpus: Cpus = None, config: str | None = None, loop: str = "uvloop"
    ) -> Peer:
        """In a new folder, its output in ``log`` there: ``pacs-tui collect`` with ``config``
        (``{port}`` and ``{folder}`` in it filled in), else ``hl7_listener.py name``, which
        writes the port it bound to into a file; returned once the port takes a connection."""
        folder = self.tmp / f"{len(self.running):03d}-{name}"
        folder.mkdir()
        port_file, log, bound = folder / "port", folder / "log", [0]
        command = [sys.executable, str(HERE), name, "--port-file", str(port_file)]
        if config is not None:
            with socket.socket() as free:  # a free port: the kernel's choice
                free.bind((HOST, 0))
                bound[0] = free.getsockname()[1]
            config = config.replace("{port}", str(bound[0])).replace("{folder}", str(folder))
            (folder / "config.toml").write_text(config)
            command = [str(PACS_TUI), "collect", "--config", str(folder / "config.toml")]
            command += ["--event-loop", loop]
        env = {**os.environ, "XDG_STATE_HOME": str(folder), "XDG_RUNTIME_DIR": str(folder)}
        proc = popen_logged(command, log, env, pinned(cpus))
        self.running.append(proc)

        def up() -> bool:
            if proc.poll() is not None:
                raise TimeoutError(f"{name} exited, code {proc.returncode}")
            if not bound[0] and port_file.exists():
                bound[0] = int(port_file.read_text())
            with contextlib.suppress(OSError):  # connected and closed, nothing sent (junk)
                socket.create_connection((HOST, bound[0]), timeout=1).close()
                return True
            return False

        try:
            wait_until(f"{name}: its port open", up, 60)
        except TimeoutError:
            print(f"--- {name}, end of its log ---\n{log.read_text(errors='replace')[-2000:]}")
            raise
        return Peer(proc, bound[0], folder)

    def collector(
        self, name: str, extra: str = "", cpus: Cpus = None, loop: str = "uvloop"
    ) -> Peer:
        """``pacs-tui collect --event-loop loop``: a history and one ``[[hl7.listener]]``
        (``extra``: more of its lines)."""
        config = (
            '[site]\nname = "HL7 bench"\n\n[history]\npath = "{folder}/history.sqlite"\n\n'
            f'[[hl7.listener]]\nid = "{LINK}"\nbind = "{HOST}:{{port}}"\n{extra}'
        )
        return self.start(name, cpus, config, loop)

    def stop_all(self) -> None:
        for proc in self.running:
            stop_process(proc)


def stopped_rows(peer: Peer) -> int:
    """Stop the collector (SIGTERM: its history flushed); the rows its listener logged."""
    stop_process(peer.proc)
    uri = f"{(peer.folder / 'history.sqlite').as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        query = "SELECT count(*) FROM messages WHERE link = ?"
        return int(db.execute(query, (LINK,)).fetchone()[0])


def vm_hwm(pid: int) -> float:
    """The process's peak RSS so far, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


# -- throughput -----------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # the peer's CPU a message
    aa: int = 0
    rows: int | None = None


def timed_run(command: list[str], cpus: Cpus = None) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, timeout=600, preexec_fn=pinned(cpus))
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]}: exit {done.returncode}: {done.stderr[-1000:]!r}")
    return took, bytes(done.stdout)


def throughput(procs: Procs, args: argparse.Namespace) -> None:
    series = {
        "bare": Series("bare MLLP server (reference)"),
        "collector": Series("pacs-tui collect (listener + history)"),
        "alone": Series("Listener alone (no history)"),
        "bare-uvloop": Series("bare MLLP server on uvloop"),
        "collector-asyncio": Series("pacs-tui collect --event-loop asyncio"),
    }
    server_cpus, client_cpus = PINS[args.pin]
    order, starts = list(series), []
    for r in range(args.rounds):
        # mllp_send's own start (interpreter, imports), taken off its runs: median of 3
        starts.append(statistics.median(timed_run([str(MLLP_SEND), "--version"])[0] for _ in "abc"))
        for name in order[r % len(order) :] + order[: r % len(order)]:
            s = series[name]
            if name.startswith("collector"):
                loop = "asyncio" if name == "collector-asyncio" else "uvloop"
                peer = procs.collector(name, cpus=server_cpus, loop=loop)
            else:
                peer = procs.start(name, server_cpus)
            feed = peer.folder / "messages.hl7"
            feed.write_bytes(b"".join(messages(f"R{r}{name[0].upper()}", args.messages)))
            cpu0 = cpu_seconds(peer.proc.pid)
            send = [str(MLLP_SEND), "-p", str(peer.port), "-f", str(feed), HOST]
            took, out = timed_run(send, client_cpus)
            s.cpu_us.append(1e6 * (cpu_seconds(peer.proc.pid) - cpu0) / args.messages)
            s.rates.append(args.messages / max(took - starts[-1], 1e-9))
            s.aa += out.count(b"MSA|AA")
            if name.startswith("collector"):
                s.rows = (s.rows or 0) + stopped_rows(peer)
            stop_process(peer.proc)
            print(f"round {r + 1}/{args.rounds} {name}: {s.rates[-1]:,.0f} msg/s", file=sys.stderr)

    sent, title = args.messages * args.rounds, f"mllp_send, one connection, --pin {args.pin}"
    print(
        f"\n{title:40} {'msg/s':>7} {'min':>7} {'max':>7} {'x bare':>7} {'CPU us/msg':>10}"
        f" {'AA':>13} {'rows':>13}\n" + "-" * 110
    )
    bare_rate = statistics.median(series["bare"].rates)
    for s in series.values():
        rate, rows = statistics.median(s.rates), "" if s.rows is None else f"{s.rows}/{sent}"
        print(
            f"{s.label:40} {rate:7,.0f} {min(s.rates):7,.0f} {max(s.rates):7,.0f}"
            f" {rate / bare_rate:6.2f}x {statistics.median(s.cpu_us):10.0f}"
            f" {f'{s.aa}/{sent}':>13} {rows:>13}".rstrip()
        )
    ratio = statistics.median(series["collector"].rates) / bare_rate
    alone = statistics.median(series["alone"].rates) / bare_rate
    met = "met" if ratio >= THROUGHPUT_GOAL else "NOT met"
    same_loop = statistics.median(series["collector"].rates) / statistics.median(
        series["bare-uvloop"].rates
    )
    print(
        # Three decimals: 0.796x printed as "0.80x" beside "NOT met" read as a contradiction.
        f"collector / bare {ratio:.3f}x (goal >= {THROUGHPUT_GOAL}x: {met});"
        f" Listener alone / bare {alone:.2f}x; collector / bare on uvloop {same_loop:.2f}x"
    )
    for name, s in series.items():
        print(f"  {name:9} each round, msg/s: " + " ".join(f"{x:7,.0f}" for x in s.rates))
    print(f"  (mllp_send's start, median {1000 * statistics.median(starts):.0f} ms, taken off)")


# -- the tap --------------------------------------------------------------------------------


def round_trips(sock: socket.socket, batch: Sequence[bytes]) -> tuple[list[float], int]:
    """Each message's send-to-ACK time, and how many ACKs were AA."""
    times, aa = [], 0
    for message in batch:
        t0 = time.perf_counter()
        sock.sendall(message)
        ack = sock.recv(4096)
        while not ack.endswith(END):
            more = sock.recv(4096)
            if not more:
                raise ConnectionError("closed before the ACK's end")
            ack += more
        times.append(time.perf_counter() - t0)
        aa += b"MSA|AA" in ack
    return times, aa


def tap_latency(procs: Procs, args: argparse.Namespace) -> None:
    upstream = procs.start("bare")
    tap = procs.collector("tap", f'mode = "tap"\nupstream = "{HOST}:{upstream.port}"\n')
    ports = {"direct to the upstream": upstream.port, "through the tap": tap.port}
    found: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in ports}
    with contextlib.ExitStack() as stack:
        socks = {}
        for name, port in ports.items():
            sock = stack.enter_context(socket.create_connection((HOST, port), timeout=10))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            round_trips(sock, messages(f"W{name[0]}", 50))  # warm-up, not counted
            socks[name] = sock
        for b in range(max(1, args.tap_messages // args.tap_block)):
            for name in list(ports)[b % 2 :] + list(ports)[: b % 2]:
                took, aa = round_trips(socks[name], messages(f"T{b}{name[0]}", args.tap_block))
                found[name] = (found[name][0] + took, found[name][1] + aa)
    stop_process(tap.proc)
    stop_process(upstream.proc)

    print(
        f"\n{'one message to its ACK, ms':40} {'n':>6} {'p50':>7} {'p95':>7} {'max':>7}"
        f" {'AA':>6}\n" + "-" * 80
    )
    for name, (times, aa) in found.items():
        ms = [1000 * t for t in times]
        median, p95 = statistics.median(ms), statistics.quantiles(ms, n=20)[-1]
        print(f"{name:40} {len(ms):6d} {median:7.3f} {p95:7.3f} {max(ms):7.3f} {aa:6d}")
    direct, tapped = (1000 * statistics.median(times) for times, _ in found.values())
    met = "met" if tapped - direct <= TAP_GOAL_MS else "NOT met"
    print(
        f"added by the tap, median: {tapped - direct:.3f} ms (goal <= {TAP_GOAL_MS:g} ms:"
        f" {met}); blocks of {args.tap_block}, alternating"
    )


def pinned_round_trips(procs: Procs, args: argparse.Namespace) -> None:
    """Each peer's round trip with the peer (every thread) on core 0 and this process on core
    1: always the two-core case, the one where most throughput rounds land, without the
    kernel's choice that makes those rounds jump."""
    if len(os.sched_getaffinity(0)) < 2 or not {0, 1} <= os.sched_getaffinity(0):
        print("\npinned round trips: needs cores 0 and 1, skipped")
        return
    peers = {
        "bare MLLP server (reference)": procs.start("bare", {0}),
        "Listener alone (no history)": procs.start("alone", {0}),
        "pacs-tui collect (listener + history)": procs.collector("pinned", cpus={0}),
    }
    found: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in peers}
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    try:
        with contextlib.ExitStack() as stack:
            socks = {}
            for name, peer in peers.items():
                sock = stack.enter_context(socket.create_connection((HOST, peer.port), timeout=10))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                round_trips(sock, messages(f"W{name[0]}", 500))  # warm-up, not counted
                socks[name] = sock
            names = list(peers)
            for b in range(args.pinned_blocks):
                for name in names[b % 3 :] + names[: b % 3]:
                    batch = messages(f"P{b}{name[0]}", args.pinned_messages)
                    took, aa = round_trips(socks[name], batch)
                    found[name] = (found[name][0] + took, found[name][1] + aa)
    finally:
        os.sched_setaffinity(0, own)
    rows = stopped_rows(peers["pacs-tui collect (listener + history)"])
    sent = 500 + args.pinned_blocks * args.pinned_messages

    title = "one message to its ACK, pinned, us"
    print(
        f"\n{title:40} {'n':>6} {'p50':>7} {'p90':>7} {'mean':>7} {'x bare':>7} {'AA':>6}\n"
        + "-" * 88
    )
    bare_mean = statistics.mean(found[names[0]][0])
    for name, (times, aa) in found.items():
        us = sorted(1e6 * t for t in times)
        mean = statistics.mean(us)
        print(
            f"{name:40} {len(us):6d} {us[len(us) // 2]:7.1f} {us[len(us) * 9 // 10]:7.1f}"
            f" {mean:7.1f} {1e6 * bare_mean / mean:6.2f}x {aa:6d}"
        )
    print(
        f"peer on core 0, this client on core 1; blocks of {args.pinned_messages}, rotated;"
        " x bare = the bare server's mean over the peer's"
        f"\nthe collector's history after SIGTERM: {rows}/{sent} rows"
    )


# -- many senders ---------------------------------------------------------------------------


async def one_sender(port: int, batch: Sequence[bytes]) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    aa = 0
    try:
        for message in batch:
            writer.write(message)
            aa += b"MSA|AA" in await reader.readuntil(END)
    finally:
        writer.close()
    return aa


async def burst(port: int, senders: int, per_sender: int, tag: str) -> tuple[float, int]:
    batches = [messages(f"{tag}S{s:02d}-", per_sender) for s in range(senders)]
    t0 = time.perf_counter()
    async with asyncio.timeout(600):
        counts = await asyncio.gather(*(one_sender(port, b) for b in batches))
    return time.perf_counter() - t0, sum(counts)


def many_senders(procs: Procs, args: argparse.Namespace) -> None:
    """Bursts at a collector and at the listener alone, in turn."""
    peers = {"pacs-tui collect": procs.collector("senders"), "Listener alone": procs.start("alone")}
    each, lines = args.senders * args.per_sender, {name: list[str]() for name in peers}
    for b in range(args.bursts):
        for name in list(peers)[b % 2 :] + list(peers)[: b % 2]:
            port, pid = peers[name].port, peers[name].proc.pid
            before = vm_hwm(pid)
            took, aa = asyncio.run(burst(port, args.senders, args.per_sender, f"B{b}"))
            print(f"burst {b + 1}/{args.bursts}, {name}: {took:.1f}s", file=sys.stderr)
            hwm = f"{before:.1f} -> {vm_hwm(pid):.1f}"
            lines[name].append(
                f"{f'{name}, burst {b + 1}':40} {took:7.2f} {each / took:7,.0f}"
                f" {f'{aa}/{each}':>13} {hwm:>16} {rss_mib(pid):8.1f}"
            )
    rows, total = stopped_rows(peers["pacs-tui collect"]), each * args.bursts

    title = f"{args.senders} senders x {args.per_sender} messages at once"
    print(f"\n{title:40} {'wall s':>7} {'msg/s':>7} {'AA':>13} {'VmHWM MiB':>16} {'RSS MiB':>8}")
    print("-" * 96 + "".join(f"\n{line}" for name in peers for line in lines[name]))
    lost = "no message lost" if rows == total else f"{total - rows} LOST"
    print(f"the collector's history after SIGTERM: {rows}/{total} rows: {lost}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    for mode in ("bare", "bare-uvloop", "alone"):  # what the run starts in its own processes
        sub.add_parser(mode).add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--messages", type=int, default=5000, help="per peer and round (5000)")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (5)")
    parser.add_argument("--pin", choices=list(PINS), default="none", help="cores (none)")
    parser.add_argument("--tap-messages", type=int, default=2000, help="each way (2000)")
    parser.add_argument("--tap-block", type=int, default=250, help="messages a block (250)")
    parser.add_argument("--senders", type=int, default=50, help="connections at once (50)")
    parser.add_argument("--per-sender", type=int, default=200, help="messages each (200)")
    parser.add_argument("--bursts", type=int, default=2, help="bursts at each peer (2)")
    parser.add_argument("--pinned-messages", type=int, default=2000, help="a block (2000)")
    parser.add_argument("--pinned-blocks", type=int, default=6, help="blocks each (6)")
    for part in ("throughput", "tap", "senders", "pinned"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    args = parser.parse_args()
    if args.mode is not None:  # the product's loop, except for the bare reference
        peer = alone(args.port_file) if args.mode == "alone" else bare(args.port_file)
        return run_collector(peer, "asyncio" if args.mode == "bare" else "uvloop")
    for needed in (PACS_TUI, MLLP_SEND):
        if not needed.exists():
            print(f"no {needed}: run with the project's venv (.venv/bin/python)", file=sys.stderr)
            return 1
    print(
        f"hl7_listener bench, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}:"
        f" {args.messages} messages x {args.rounds} rounds, tap {args.tap_messages} each way,"
        f" {args.senders} senders x {args.per_sender} x {args.bursts} bursts"
        f"\nmachine: {machine()}\npacs-tui {source_state()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="hl7-bench-") as tmp:
        procs = Procs(Path(tmp))
        try:
            for part, run in (
                ("throughput", throughput),
                ("tap", tap_latency),
                ("senders", many_senders),
                ("pinned", pinned_round_trips),
            ):
                if not getattr(args, f"skip_{part}"):
                    run(procs, args)
                    sys.stdout.flush()
        finally:
            procs.stop_all()  # before the folder goes
    return 0


if __name__ == "__main__":
    run_main(main, "the peers, the collectors and the folder")
