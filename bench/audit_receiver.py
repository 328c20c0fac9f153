"""The audit receiver beside a bare syslog server: TCP throughput, where a message's time goes,
and UDP at a steady rate with no loss, measured in the same run.

The receiver parses every message's audit XML (defusedxml), keeps a row of it in the history's
message log and folds it into the session book; a syslog server could do no less than frame the
bytes. So it is measured against that least, with the same sender, in rounds that alternate the
peers (the machine is small and noisy: medians).

The messages: a realistic trail of ``--messages`` audit records (DICOM PS3.15 A.5 XML from
``pacs_tui.demo.audit_feed.audit_xml``, ~1 KB framed) by 351 users on their own hosts: logins,
110103 instances accessed with a study and a patient, queries, exports, logouts, and failed
logins (a few guessing hosts, some users' typos). Every other one is framed as the demo PACS
does (``syslog_frame``: RFC 5424, MSGID IHE+RFC-3881, a BOM), the others as ``logger
--rfc5424 --octet-count`` does (``[timeQuality ...]`` structured data); all octet-counted.

throughput: one TCP connection from this process, a blocking socket writing the pre-built frames
in 64 KiB ``sendall`` calls as fast as the peer takes them, to each peer, started fresh in its
own process each round, in an order rotated every round: ``bare``, a minimal asyncio server
(``audit_receiver.py bare``: ``readuntil(b" ")`` for the octet count, ``readexactly(n)``,
discarded) on asyncio's own loop, the reference; ``bare-uvloop``, the same on uvloop;
``bare-xml``, the same that also parses each message's XML with defusedxml as the receiver does
(the least any receiver that reads the records must do); ``alone``,
``pacs_tui.audit.receiver.AuditReceiver`` with an emit that records nothing (on uvloop, as
``collect`` runs it), the receiver's own ceiling; ``collector``, ``pacs-tui collect`` with a
``[history]`` and one ``[[audit.syslog]]`` (tcp, octet counting), the product path. Syslog has
no ACK, so the end is the peer's: msg/s is the messages over the peer's own span from the first
message to the last, on its clock (``time.time()``): the bare server's from reading the first
octet count to reading the last frame, written to a file once it has them all; the receiver's
from the ``ts`` of the first row to that of the last (``take``'s time, when the message was
framed whole: the row is durable in the history's journal before ``take`` returns), which the
alone peer's emit writes to a file and which the collector's history holds (its ``messages``
table, read-only, polled until every row is flushed there: the flush runs every second, so the
table's own time is only printed per round). CPU is the peer's (every thread, from /proc) from
the connect to the end (the collector's: until every row is in the table), per message. Once
stopped (SIGTERM: its history flushed), the collector's history must hold every message.

where the time goes: in this process, each step of the receiver's path timed with
``perf_counter_ns`` over ``--timing-messages`` of the same messages, ``--timing-repeats`` times
(median of the per-message means, the steps interleaved): the framing, ``parse_syslog``,
``extract_xml``, ``parse_audit`` (and inside it defusedxml's ``fromstring``, beside the
stdlib's), the session book's ``take``, the ``row``, and ``AuditReceiver.take`` whole (no emit:
nothing recorded) against the same steps called in turn by hand: the rest is ``take``'s own.

udp: ``pacs-tui collect`` with a udp receiver, and beside it a bare asyncio UDP server that only
counts datagrams (``audit_receiver.py bare-udp``); this process sends ``--udp-rate`` datagrams a
second (one message each, no octet count) for ``--udp-seconds`` to both (the same datagram to
each in the same slot, each first in turn), paced (it sleeps to each message's slot, and sends at
once when late), then waits for the rows, reads the receiver's last counts from the history's
``samples`` and the kernel's drops on each socket from /proc/net/udp, stops the collector and
counts the rows: every datagram must be one. CPU of each over the sending, % of one core, and the
collector's idle for a few seconds before it.

    .venv/bin/python bench/audit_receiver.py [--messages 20000] [--rounds 5]
        [--timing-messages 5000] [--timing-repeats 5] [--udp-seconds 60] [--udp-rate 1000]
        [--skip-throughput] [--skip-timing] [--skip-udp]

Needs the project's venv (``pacs-tui``); about 3 minutes with the defaults (the UDP minute
included). All it starts is stopped, and its temporary folder removed, at the end, on an error
and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

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
from defusedxml import ElementTree as safe_etree

from pacs_tui.audit.atna import AuditEvent, extract_xml, parse_audit
from pacs_tui.audit.receiver import COUNTS, REPORT_SECONDS, AuditReceiver, SyslogConfig
from pacs_tui.audit.sessions import Policy, RoleMap, SessionBook
from pacs_tui.audit.syslog import SyslogFramer, parse_syslog
from pacs_tui.cli_engine import run_collector
from pacs_tui.demo.audit_feed import ROLES, audit_xml, syslog_frame
from pacs_tui.patient_key import PatientKey
from pacs_tui.probes.audit_source import receiver_target

if TYPE_CHECKING:
    from pacs_tui.model import Event, LoggedMessage, Result

HOST = "127.0.0.1"
HERE = Path(__file__).resolve()
LINK = "bench-audit"
THROUGHPUT_GOAL = 0.5  # collector / bare, at least
IDLE_SECONDS = 3.0  # the UDP collector's idle CPU, before the sending
CHUNK = 64 * 1024  # bytes a sendall (and a read of the in-process framing)
POLICY = Policy()  # the defaults: burst of 5 failed logins in 5 min

# -- the audit trail ------------------------------------------------------------------------

#: The users: 80 radiologists, 120 technologists, 150 referring physicians, an admin; a host each.
USERS = [
    *(f"rad-{n:03d}" for n in range(80)),
    *(f"tech-{n:03d}" for n in range(120)),
    *(f"gp-{n:03d}" for n in range(150)),
    "pacsadmin",
]
GUESSED = ("admin", "root", "pacs", "test", "radiology")


def audit_trail(count: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """``count`` audit records (what, XML) as a busy PACS sends them: a user logs in before
    anything else, then opens studies, queries, exports now and then, logs out; 4 % are failed
    logins, half of them guesses from one of 8 hosts."""
    rand = random.Random(seed)
    hosts = [f"10.1.{i // 200}.{i % 200 + 1}" for i in range(len(USERS))]
    logged_in: set[int] = set()
    trail: list[tuple[str, bytes]] = []
    while len(trail) < count:
        index = rand.randrange(len(USERS))
        user, host = USERS[index], hosts[index]
        if rand.random() < 0.04:
            if rand.random() < 0.5:
                user, host = rand.choice(GUESSED), f"10.9.0.{rand.randint(1, 8)}"
            xml = audit_xml("110114", user, host, type_code="110122", outcome=4)
            trail.append(("failed login", xml))
            continue
        if index not in logged_in:
            logged_in.add(index)
            trail.append(("login", audit_xml("110114", user, host, type_code="110122")))
            continue
        roll = rand.random()
        study = f"1.2.826.0.1.3680043.8.498.{rand.randint(10**9, 10**10)}"
        patient = f"PAT{rand.randint(1, 20_000):06d}"
        if roll < 0.58:
            xml = audit_xml("110103", user, host, action="R", study=study, patient=patient)
            trail.append(("instances accessed", xml))
        elif roll < 0.85:
            trail.append(("query", audit_xml("110112", user, host)))
        elif roll < 0.92:
            xml = audit_xml("110106", user, host, action="R", study=study, patient=patient)
            trail.append(("export", xml))
        else:
            logged_in.discard(index)
            trail.append(("logout", audit_xml("110114", user, host, type_code="110123")))
    return trail


def logger_frame(xml: bytes) -> bytes:
    """``xml`` as ``logger --rfc5424 --octet-count -p authpriv.notice -t PACS --msgid
    IHE+RFC-3881`` sends it (its ``timeQuality`` structured data, no BOM)."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    header = f"<85>1 {stamp} pacs-archive PACS - IHE+RFC-3881 "
    sd = '[timeQuality tzKnown="1" isSynced="1" syncAccuracy="125000"] '
    message = (header + sd).encode() + xml
    return str(len(message)).encode() + b" " + message


def frames(trail: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """Octet-counted frames: the demo PACS's every other one, logger's the others."""
    return [logger_frame(xml) if n % 2 else syslog_frame(xml) for n, (_, xml) in enumerate(trail)]


def unframed(frame: bytes) -> bytes:
    """The syslog message of an octet-counted frame."""
    return frame.split(b" ", 1)[1]


def roles_toml() -> str:
    return "".join(f"{role} = {json.dumps(list(patterns))}\n" for role, patterns in ROLES.items())


def entry() -> SyslogConfig:
    """The TCP ``[[audit.syslog]]`` the collector is given, for a receiver in this process (on
    a port of the kernel's choice)."""
    roles = RoleMap(dict(ROLES))
    return SyslogConfig(LINK, HOST, 0, "tcp", "octet-counting", policy=POLICY, roles=roles)


# -- what the run starts in its own processes -----------------------------------------------


def write_file(path: Path, text: str) -> None:
    part = path.with_suffix(".part")
    part.write_text(text)
    part.rename(path)  # whole or absent


async def bare(port_file: Path, expect: int, parse: bool = False) -> int:
    """Frames and discards: read the octet count up to its space, then as many bytes; with
    ``parse``, the audit XML in them parsed first, as safely as the receiver does."""
    done = port_file.with_name("done")

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count, first = 0, 0.0
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                size = await reader.readuntil(b" ")
                if not count:
                    first = time.time()
                message = await reader.readexactly(int(size[:-1]))
                if parse:
                    safe_fromstring(message[message.find(b"<?xml") :])
                count += 1
                if count == expect:
                    found = {"count": count, "first": first, "last": time.time()}
                    write_file(done, json.dumps(found))
        writer.close()

    server = await asyncio.start_server(take, HOST, 0)
    write_file(port_file, str(server.sockets[0].getsockname()[1]))
    await server.serve_forever()
    return 0


def safe_fromstring(xml: bytes) -> object:
    """The XML parsed as ``parse_audit`` parses it: defusedxml, no DTD, no entity."""
    return safe_etree.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class CountingEmit:
    """An emit that records nothing: it counts the rows and keeps the first's and the last's
    time, written to ``done`` once there are ``expect``."""

    def __init__(self, done: Path, expect: int) -> None:
        self.done, self.expect = done, expect
        self.count = self.unparsed = 0
        self.first = self.last = 0.0

    def result(self, target_id: str, result: Result) -> None: ...

    def event(self, event: Event) -> None: ...

    def messages(self, rows: Sequence[LoggedMessage]) -> None:
        if not self.count:
            self.first = rows[0].ts
        self.count += len(rows)
        self.last = rows[-1].ts
        self.unparsed += sum(row.type == "unparsed" for row in rows)
        if self.count == self.expect:
            found = {"count": self.count, "first": self.first, "last": self.last}
            write_file(self.done, json.dumps(found | {"unparsed": self.unparsed}))


async def alone(port_file: Path, expect: int) -> int:
    receiver_entry = entry()
    receiver = AuditReceiver(receiver_entry, receiver_target(receiver_entry))
    serving = asyncio.create_task(receiver.serve(CountingEmit(port_file.with_name("done"), expect)))
    while receiver.address.endswith(":0") and not serving.done():
        await asyncio.sleep(0.01)
    write_file(port_file, receiver.address.rsplit(":", 1)[1])
    await serving
    return 0


# -- the peers ------------------------------------------------------------------------------


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def history(self) -> Path:
        return self.folder / "history.sqlite"

    def log_tail(self) -> str:
        return (self.folder / "log").read_text(errors="replace")[-2000:]


def free_port(kind: socket.SocketKind) -> int:
    """A free loopback port of ``kind`` (stream or datagram): the kernel's choice."""
    with socket.socket(socket.AF_INET, kind) as free:
        free.bind((HOST, 0))
        return int(free.getsockname()[1])


class Procs:
    """Starts the peers, each in its own session and folder; stops what is left at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[subprocess.Popen[bytes]] = []

    def _launch(self, command: list[str], folder: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "XDG_STATE_HOME": str(folder), "XDG_RUNTIME_DIR": str(folder)}
        proc = popen_logged(command, folder / "log", env)
        self.running.append(proc)
        return proc

    def _folder(self, name: str) -> Path:
        folder = self.tmp / f"{len(self.running):03d}-{name}"
        folder.mkdir()
        return folder

    def _wait(self, peer: Peer, name: str, ready: Callable[[], bool]) -> Peer:
        def up() -> bool:
            if peer.proc.poll() is not None:
                raise TimeoutError(f"{name} exited, code {peer.proc.returncode}")
            return ready()

        try:
            wait_until(f"{name}: listening", up, 60, poll=0.05)
        except TimeoutError:
            print(f"--- {name}, end of its log ---\n{peer.log_tail()}")
            raise
        return peer

    def start(self, name: str, expect: int) -> Peer:
        """``audit_receiver.py name``, which writes the port it bound to into a file and its
        span into ``done`` once it has ``expect`` messages."""
        folder = self._folder(name)
        port_file = folder / "port"
        command = [sys.executable, str(HERE), name, "--port-file", str(port_file)]
        proc = self._launch([*command, "--expect", str(expect)], folder)
        peer = Peer(proc, 0, folder)

        def ready() -> bool:
            if port_file.exists():
                peer.port = int(port_file.read_text())
            return bool(peer.port)

        return self._wait(peer, name, ready)

    def collector(self, name: str, protocol: str = "tcp") -> Peer:
        """``pacs-tui collect`` (uvloop, its default): a history, the ``[audit]`` policy and
        roles, one ``[[audit.syslog]]`` on a free port; returned once its log says it
        listens."""
        folder = self._folder(name)
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        port = free_port(kind)
        framing = 'framing = "octet-counting"\n' if protocol == "tcp" else ""
        config = (
            f'[site]\nname = "Audit bench"\n\n[history]\npath = "{folder}/history.sqlite"\n\n'
            f"[audit]\nfailed_login_burst = {POLICY.burst}\n\n[audit.roles]\n{roles_toml()}\n"
            f'[[audit.syslog]]\nid = "{LINK}"\nbind = "{HOST}:{port}"\nprotocol = "{protocol}"\n'
            f"{framing}"
        )
        (folder / "config.toml").write_text(config)
        command = [str(PACS_TUI), "collect", "--config", str(folder / "config.toml")]
        peer = Peer(self._launch(command, folder), port, folder)
        listening = f"audit receiver {LINK} on {protocol} {HOST}:{port}"
        log = folder / "log"
        return self._wait(peer, name, lambda: listening in log.read_text(errors="replace"))

    def stop_all(self) -> None:
        for proc in self.running:
            stop_process(proc)


# -- the history, read-only ------------------------------------------------------------------


def read_history(history: Path, query: str, *params: Any) -> tuple[Any, ...]:
    """The first row of ``query`` on the history, opened read-only (beside a running
    collector too); () when there is no history yet."""
    if not history.exists():
        return ()
    uri = f"{history.as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        row = db.execute(query, params).fetchone()
    return tuple(row) if row is not None else ()


def message_rows(history: Path) -> tuple[int, int, float, float]:
    """The receiver's rows: how many, how many unparsed, the first's and the last's ``ts``."""
    found = read_history(
        history,
        "SELECT count(*), count(*) FILTER (WHERE type = 'unparsed'), min(ts), max(ts)"
        " FROM messages WHERE link = ?",
        LINK,
    )
    if not found or not found[0]:
        return 0, 0, 0.0, 0.0
    return int(found[0]), int(found[1]), found[2] / 1000, found[3] / 1000


def stopped_rows(peer: Peer) -> tuple[int, int]:
    """Stop the collector (SIGTERM: its history flushed); its receiver's rows, and how many of
    them are unparsed."""
    stop_process(peer.proc)
    rows, unparsed, _, _ = message_rows(peer.history)
    return rows, unparsed


def last_counts(history: Path) -> tuple[float, dict[str, float]]:
    """The receiver's counts in its newest report in the history (``samples``): when, and
    ``audit_<count>_total`` by count."""
    when = read_history(
        history,
        "SELECT max(ts) FROM samples WHERE target = ? AND metric = 'audit_received_total'",
        LINK,
    )
    if not when or when[0] is None:
        return 0.0, {}
    counts = {}
    for name in COUNTS:
        value = read_history(
            history,
            "SELECT value FROM samples WHERE target = ? AND metric = ? AND ts = ?",
            LINK,
            f"audit_{name}_total",
            when[0],
        )
        counts[name] = float(value[0]) if value else float("nan")
    return float(when[0]), counts


def udp_socket_drops(port: int) -> int | None:
    """The kernel's drops on the UDP socket bound to 127.0.0.1:``port`` (/proc/net/udp's last
    column: datagrams that found its buffer full); None if there is no such socket."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:
            return int(fields[-1])
    return None


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
    in_table: list[float] = field(default_factory=list)  # collector: connect to every row there
    unparsed: int | None = None
    rows: int | None = None


def running(peer: Peer) -> None:
    """TimeoutError at once if ``peer`` exited: nothing more will come."""
    if peer.proc.poll() is not None:
        raise TimeoutError(f"the peer exited, code {peer.proc.returncode}")


def done_span(peer: Peer, expect: int, limit: float) -> dict[str, float]:
    """What the bare or alone peer wrote once it had ``expect`` messages."""
    done = peer.folder / "done"

    def there() -> bool:
        running(peer)
        return done.exists()

    try:
        wait_until(f"{expect} messages taken", there, limit, poll=0.02)
    except TimeoutError:
        print(f"--- end of its log ---\n{peer.log_tail()}")
        raise
    found: dict[str, float] = json.loads(done.read_text())
    return found


def collector_span(peer: Peer, expect: int, limit: float) -> dict[str, float]:
    """Wait until the collector's history holds ``expect`` rows; their count and span."""
    seen: list[tuple[int, int, float, float]] = [(0, 0, 0.0, 0.0)]

    def all_there() -> bool:
        running(peer)
        with contextlib.suppress(sqlite3.Error):
            seen[0] = message_rows(peer.history)
        return seen[0][0] >= expect

    try:
        wait_until(f"{expect} rows in the history", all_there, limit, poll=0.05)
    except TimeoutError:
        print(f"--- {seen[0][0]} rows; end of the collector's log ---\n{peer.log_tail()}")
        raise
    count, unparsed, first, last = seen[0]
    return {"count": count, "unparsed": unparsed, "first": first, "last": last}


def throughput(procs: Procs, args: argparse.Namespace, stream: bytes) -> None:
    series = {
        "bare": Series("bare octet-counting server (asyncio)"),
        "bare-uvloop": Series("bare server on uvloop"),
        "bare-xml": Series("bare server + defusedxml parse (asyncio)"),
        "alone": Series("AuditReceiver alone (no history)"),
        "collector": Series("pacs-tui collect (receiver + history)"),
    }
    n, order = args.messages, list(series)
    limit = 60 + n / 200  # at 200 msg/s something is wrong
    for r in range(args.rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            s = series[name]
            peer = procs.collector(name) if name == "collector" else procs.start(name, n)
            cpu0 = cpu_seconds(peer.proc.pid)
            with socket.create_connection((HOST, peer.port), timeout=limit) as sock:
                t0 = time.monotonic()
                view = memoryview(stream)
                for at in range(0, len(stream), CHUNK):
                    sock.sendall(view[at : at + CHUNK])
                if name == "collector":
                    span = collector_span(peer, n, limit)
                    s.in_table.append(time.monotonic() - t0)
                else:
                    span = done_span(peer, n, limit)
                cpu1 = cpu_seconds(peer.proc.pid)
            s.rates.append(n / max(span["last"] - span["first"], 1e-6))
            s.cpu_us.append(1e6 * (cpu1 - cpu0) / n)
            if "unparsed" in span:
                s.unparsed = (s.unparsed or 0) + int(span["unparsed"])
            if name == "collector":
                rows, unparsed = stopped_rows(peer)
                s.rows = (s.rows or 0) + rows
                if rows != n or unparsed:
                    print(f"round {r + 1}: {rows}/{n} rows, {unparsed} unparsed", file=sys.stderr)
            stop_process(peer.proc)
            print(f"round {r + 1}/{args.rounds} {name}: {s.rates[-1]:,.0f} msg/s", file=sys.stderr)

    sent = n * args.rounds
    title = f"one TCP connection, {n:,} frames"
    print(
        f"\n{title:40} {'msg/s':>7} {'min':>7} {'max':>7} {'x bare':>7} {'CPU us/msg':>10}"
        f" {'unparsed':>9} {'rows':>15}\n" + "-" * 108
    )
    bare_rate = statistics.median(series["bare"].rates)
    for s in series.values():
        rate = statistics.median(s.rates)
        unparsed_cell = "" if s.unparsed is None else str(s.unparsed)
        rows_cell = "" if s.rows is None else f"{s.rows}/{sent}"
        print(
            f"{s.label:40} {rate:7,.0f} {min(s.rates):7,.0f} {max(s.rates):7,.0f}"
            f" {rate / bare_rate:6.2f}x {statistics.median(s.cpu_us):10.0f}"
            f" {unparsed_cell:>9} {rows_cell:>15}".rstrip()
        )
    ratio = statistics.median(series["collector"].rates) / bare_rate
    alone_ratio = statistics.median(series["alone"].rates) / bare_rate
    collector = statistics.median(series["collector"].rates)
    same_loop = collector / statistics.median(series["bare-uvloop"].rates)
    parsing = collector / statistics.median(series["bare-xml"].rates)
    met = "met" if ratio >= THROUGHPUT_GOAL else "NOT met"
    print(
        f"collector / bare {ratio:.3f}x (goal >= {THROUGHPUT_GOAL}x: {met});"
        f" alone / bare {alone_ratio:.3f}x; collector / bare on uvloop {same_loop:.3f}x;"
        f" collector / bare + defusedxml parse {parsing:.2f}x"
    )
    for name, s in series.items():
        print(f"  {name:11} each round, msg/s: " + " ".join(f"{x:7,.0f}" for x in s.rates))
    table = " ".join(f"{x:.1f}" for x in series["collector"].in_table)
    print(
        f"  collector: from the connect to every row in the table (flushed each second), s: {table}"
    )


# -- where the time goes --------------------------------------------------------------------


def each(step: Callable[[Any], object], items: Sequence[Any]) -> Callable[[], int]:
    """A batch: ``step`` on every one of ``items``; how many."""

    def batch() -> int:
        for item in items:
            step(item)
        return len(items)

    return batch


def timing(args: argparse.Namespace, all_frames: Sequence[bytes]) -> None:
    chosen = list(all_frames[: args.timing_messages])
    datas = [unframed(frame) for frame in chosen]
    stream = b"".join(chosen)
    chunks = [stream[at : at + CHUNK] for at in range(0, len(stream), CHUNK)]
    key = PatientKey()
    bodies = [parse_syslog(data).body for data in datas]
    xmls = [extract_xml(body) for body in bodies]
    events: list[AuditEvent] = [parse_audit(xml, key.reference) for xml in xmls]
    sizes = [len(data) for data in datas]
    receiver_entry = entry()
    target = receiver_target(receiver_entry)
    # A burst's alert is logged as a warning: its cost counted, its line not printed here.
    logging.getLogger("pacs_tui").addHandler(logging.NullHandler())
    logging.getLogger("pacs_tui").propagate = False

    def framing() -> int:
        framer = SyslogFramer(max_size=64 * 1024, framing="octet-counting")
        return sum(len(framer.feed(chunk)) for chunk in chunks)

    def book_take() -> int:
        book, now = SessionBook(POLICY, RoleMap(dict(ROLES))), time.time()
        for event in events:
            book.take(event, now)
        return len(events)

    def rows() -> int:
        receiver, now = AuditReceiver(receiver_entry, target), time.time()
        for event, size in zip(events, sizes, strict=True):
            receiver.row(event, now, size, HOST)
        return len(events)

    def composed() -> int:
        """``take``'s steps called by hand, without its counts, clock and record."""
        receiver, now = AuditReceiver(receiver_entry, target), time.time()
        for data in datas:
            event = parse_audit(extract_xml(parse_syslog(data).body), key.reference)
            receiver.book.take(event, now)
            receiver.row(event, now, len(data), HOST)
        return len(datas)

    def take() -> int:
        receiver = AuditReceiver(receiver_entry, target)  # no emit: nothing recorded
        for data in datas:
            receiver.take(data, HOST)
        return len(datas)

    steps: dict[str, Callable[[], int]] = {
        "framing": framing,
        "parse_syslog": each(parse_syslog, datas),
        "parse_syslog, demo PACS": each(parse_syslog, datas[0::2]),
        "parse_syslog, logger": each(parse_syslog, datas[1::2]),
        "extract_xml": each(extract_xml, bodies),
        "parse_audit": each(lambda xml: parse_audit(xml, key.reference), xmls),
        "defusedxml": each(safe_fromstring, xmls),
        "stdlib": each(ElementTree.fromstring, xmls),
        "book": book_take,
        "row": rows,
        "composed": composed,
        "take": take,
    }
    # Interleaved, so that the machine's drift hits every step alike; median of each.
    means: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.timing_repeats):
        for name, batch in steps.items():
            t0 = time.perf_counter_ns()
            count = batch()
            means[name].append((time.perf_counter_ns() - t0) / 1000 / count)
    us = {name: statistics.median(found) for name, found in means.items()}
    table = [
        ("parse_syslog (RFC 5424 header)", us["parse_syslog"]),
        ("extract_xml", us["extract_xml"]),
        ("parse_audit (defusedxml, then the walk)", us["parse_audit"]),
        ("  of which defusedxml's fromstring", us["defusedxml"]),
        ("  of which the walk to an AuditEvent", us["parse_audit"] - us["defusedxml"]),
        ("SessionBook.take", us["book"]),
        ("AuditReceiver.row", us["row"]),
        ("the rest: counts, clock, record", us["take"] - us["composed"]),
    ]
    title = f"in-process, one message of {len(datas):,} (median of {args.timing_repeats})"
    print(f"\n{title:48} {'us':>7} {'of take':>8}\n" + "-" * 65)
    for label, value in table:
        print(f"{label:48} {value:7.2f} {100 * value / us['take']:7.0f}%")
    print(f"{'AuditReceiver.take, whole (no emit)':48} {us['take']:7.2f} {'100%':>8}")
    print(f"{'SyslogFramer.feed (64 KiB reads), before it':48} {us['framing']:7.2f}")
    separately = sum(us[k] for k in ("parse_syslog", "extract_xml", "parse_audit", "book", "row"))
    print(
        f"  for comparison: the stdlib's ElementTree.fromstring {us['stdlib']:.2f} us;"
        f" parse_syslog of the demo PACS's frames {us['parse_syslog, demo PACS']:.2f},"
        f" of logger's (structured data) {us['parse_syslog, logger']:.2f};"
        f" mean message {sum(sizes) / len(sizes):,.0f} bytes"
    )
    print(
        f"  the steps timed one by one add up to {separately:.2f} us, called in turn by hand"
        f" {us['composed']:.2f}: chained, they cost more than one by one"
    )


# -- UDP at a steady rate -------------------------------------------------------------------


def udp_steady(procs: Procs, args: argparse.Namespace, datagrams: Sequence[bytes]) -> None:
    collector, bare_udp = procs.collector("udp", protocol="udp"), procs.start("bare-udp", 0)
    peers = {"collector": collector, "bare": bare_udp}
    total, rate = args.udp_seconds * args.udp_rate, args.udp_rate
    idle0, idle_t0 = cpu_seconds(collector.proc.pid), time.monotonic()
    time.sleep(IDLE_SECONDS)  # the collector's own upkeep, nothing received
    idle = 100 * (cpu_seconds(collector.proc.pid) - idle0) / (time.monotonic() - idle_t0)
    drops0 = {name: udp_socket_drops(peer.port) or 0 for name, peer in peers.items()}
    cpu0 = {name: cpu_seconds(peer.proc.pid) for name, peer in peers.items()}
    late, slots_late = 0.0, 0
    with contextlib.ExitStack() as stack:
        socks = []
        for peer in peers.values():
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.connect((HOST, peer.port))
            socks.append(sock)
        start = time.monotonic()
        for i in range(total):
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                late, slots_late = max(late, -wait), slots_late + (wait < -1 / rate)
            datagram = datagrams[i % len(datagrams)]
            for sock in socks[i % 2 :] + socks[: i % 2]:  # each first in turn
                sock.send(datagram)
            if i and i % (10 * rate) == 0:
                print(f"udp: {i:,} sent", file=sys.stderr)
        took = time.monotonic() - start
        ended = time.time()
    cpu = {name: 100 * (cpu_seconds(p.proc.pid) - cpu0[name]) / took for name, p in peers.items()}
    hwm, rss = vm_hwm(collector.proc.pid), rss_mib(collector.proc.pid)
    history = collector.history
    try:  # every row in the table; then a report of the counts made after the last datagram
        wait_until("rows", lambda: message_rows(history)[0] >= total, 30, poll=0.2)
        wait_until("counts", lambda: last_counts(history)[0] >= ended, 3 * REPORT_SECONDS)
    except TimeoutError as exc:
        print(f"udp: {exc}", file=sys.stderr)
    time.sleep(1.0)  # the bare peer writes its count every half second
    when, counts = last_counts(history)
    drops = {name: udp_socket_drops(peer.port) for name, peer in peers.items()}
    bare_count = int(json.loads((bare_udp.folder / "done").read_text())["count"])
    stop_process(bare_udp.proc)
    rows, unparsed = stopped_rows(collector)

    def kernel(name: str) -> str:
        found = drops[name]
        return "no socket" if found is None else f"{found - drops0[name]:,}"

    title = f"UDP, {rate:,}/s for {args.udp_seconds} s, each to both"
    print(
        f"\n{title:44} {'pacs-tui collect':>16} {'bare UDP (asyncio)':>19}\n" + "-" * 81
        + f"\n{'sent':44} {total:16,} {total:19,}"
        f"\n{'recorded (rows after SIGTERM) / counted':44} {rows:16,} {bare_count:19,}"
        f"\n{'lost':44} {total - rows:16,} {total - bare_count:19,}"
        f"\n{'dropped by the kernel (/proc/net/udp)':44} {kernel('collector'):>16}"
        f" {kernel('bare'):>19}"
        f"\n{'CPU while sending, % of one core':44} {cpu['collector']:16.1f} {cpu['bare']:19.1f}"
        f"\n{'CPU a datagram, us':44} {10_000 * cpu['collector'] / rate:16.0f}"
        f" {10_000 * cpu['bare'] / rate:19.0f}"
        f"\n{f'CPU idle, % of one core ({IDLE_SECONDS:g} s before)':44} {idle:16.1f}"
    )  # fmt: skip
    loss = "no loss" if rows == total and not unparsed else "LOST or UNPARSED"
    print(
        f"collector: {loss}; {unparsed} unparsed; VmHWM {hwm:.1f} MiB, RSS {rss:.1f} MiB; sent in"
        f" {took:.2f} s, this sender at most {1000 * late:.1f} ms late, {slots_late} slots missed"
    )
    if counts:
        said = ", ".join(f"{k} {v:,.0f}" for k, v in counts.items())
        print(f"the receiver's counts (its report {when - ended:+.1f} s after the end): {said}")


async def bare_udp(port_file: Path) -> int:
    """Counts datagrams; the count written to ``done`` every half second."""
    done = port_file.with_name("done")

    class Count(asyncio.DatagramProtocol):
        count = 0

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.count += 1

    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Count, local_addr=(HOST, 0))
    write_file(port_file, str(transport.get_extra_info("sockname")[1]))
    while True:
        await asyncio.sleep(0.5)
        write_file(done, json.dumps({"count": protocol.count}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    modes = ("bare", "bare-uvloop", "bare-xml", "alone", "bare-udp")
    for mode in modes:  # what the run starts in its own processes
        peer_args = sub.add_parser(mode)
        peer_args.add_argument("--port-file", type=Path, required=True)
        peer_args.add_argument("--expect", type=int, required=True)
    parser.add_argument("--messages", type=int, default=20_000, help="a round (20000)")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (5)")
    parser.add_argument("--timing-messages", type=int, default=5000, help="in-process (5000)")
    parser.add_argument("--timing-repeats", type=int, default=5, help="in-process (5)")
    parser.add_argument("--udp-seconds", type=int, default=60, help="UDP run (60)")
    parser.add_argument("--udp-rate", type=int, default=1000, help="datagrams a second (1000)")
    for part in ("throughput", "timing", "udp"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    args = parser.parse_args()
    if args.mode is not None:  # the product's loop, except for the bare reference
        if args.mode == "alone":
            return run_collector(alone(args.port_file, args.expect), "uvloop")
        if args.mode == "bare-udp":
            return run_collector(bare_udp(args.port_file), "asyncio")
        loop = "uvloop" if args.mode == "bare-uvloop" else "asyncio"
        parse = args.mode == "bare-xml"
        return run_collector(bare(args.port_file, args.expect, parse), loop)
    if not PACS_TUI.exists():
        print(f"no {PACS_TUI}: run with the project's venv (.venv/bin/python)", file=sys.stderr)
        return 1
    trail = audit_trail(args.messages)
    all_frames = frames(trail)
    mix = Counter(kind for kind, _ in trail)
    size = sum(map(len, all_frames)) / len(all_frames)
    print(
        f"audit_receiver bench, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}:"
        f" {args.messages:,} messages x {args.rounds} rounds, UDP {args.udp_rate:,}/s for"
        f" {args.udp_seconds} s\nmessages: {size:,.0f} bytes framed on average, "
        + ", ".join(f"{kind} {100 * count / len(trail):.0f}%" for kind, count in mix.most_common())
        + f"\nmachine: {machine()}\npacs-tui {source_state()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        procs = Procs(Path(tmp))
        try:
            if not args.skip_throughput:
                throughput(procs, args, b"".join(all_frames))
                sys.stdout.flush()
            if not args.skip_timing:
                timing(args, all_frames)
                sys.stdout.flush()
            if not args.skip_udp:
                udp_steady(procs, args, [unframed(frame) for frame in all_frames])
        finally:
            procs.stop_all()  # before the folder goes
    return 0


if __name__ == "__main__":
    run_main(main, "the peers, the collectors and the folder")
