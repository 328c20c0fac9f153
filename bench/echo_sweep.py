"""C-ECHO sweep of N loopback DICOM peers: pacs-tui's echo beside stock pynetdicom and DCMTK.

Starts N real peers (Orthanc, dcmqrscp and storescp in turn) on free loopback ports, then for
``--repeat`` rounds, interleaved so that drift hits every client alike:

    pacs-tui echo       sequential, and all nodes at once through the probe's thread pool
    stock pynetdicom    the same two ways, without the socket and release fixes
    DCMTK echoscu       one process per echo, one after another (/usr/bin/echoscu by full
                        path: pynetdicom's own echoscu shadows it in a venv); again with
                        TCP_NODELAY=1, DCMTK's run-time switch that turns Nagle off

and prints medians: wall time per sweep and per echo, CPU per echo (time.process_time and
getrusage over this process's threads; for echoscu, getrusage of the children), then one echo
per peer kind split into association / C-ECHO / release, and the CPU of one C-ECHO on an
association that is already open.

    python bench/echo_sweep.py [--nodes 6] [--repeat 20] [--workers 8] [--peer-nodelay]

``--peer-nodelay`` starts the peers with TCP_NODELAY=1 (Orthanc is built on DCMTK's network
layer too), which removes the stall on the peer's side for every client.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pynetdicom
from pynetdicom import AE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pacs_tui.probes.dicom import VERIFICATION_SOP_CLASS, EchoOutcome, echo, make_executor
from pacs_tui.probes.dicom_transport import Budget, ProbeAE
from tests.peers import (  # the same peer command lines as the interop tests
    DCMQRSCP,
    HOST,
    ORTHANC,
    STORESCP,
    dcmqrscp_args,
    free_port,
    orthanc_args,
    storescp_args,
)

CALLING = "BENCH"
ECHOSCU = "/usr/bin/echoscu"
KINDS = ("orthanc", "dcmqrscp", "storescp")


# ---------------------------------------------------------------------------- peers


@dataclass
class Node:
    kind: str
    aet: str
    port: int
    process: subprocess.Popen[bytes]


def peer_command(kind: str, aet: str, port: int, workdir: Path) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "orthanc":
        return orthanc_args(ORTHANC, workdir, aet, port)
    if kind == "dcmqrscp":
        return dcmqrscp_args(DCMQRSCP, workdir, aet, port, max_associations=64)
    return storescp_args(STORESCP, workdir, aet, port)


def start_node(kind: str, index: int, root: Path, nodelay: bool = False) -> Node:
    aet = f"{kind[:8].upper()}{index}"
    for _attempt in range(3):
        port = free_port()
        workdir = root / f"{kind}-{index}"
        log = (root / f"{kind}-{index}.log").open("wb")
        process = subprocess.Popen(
            peer_command(kind, aet, port, workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "TCP_NODELAY": "1"} if nodelay else None,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            if echo(HOST, port, aet, CALLING, timeout=1.0).ok:
                return Node(kind, aet, port, process)
            time.sleep(0.05)
        stop_node(Node(kind, aet, port, process))
    raise SystemExit(f"{kind} did not start; see {root}/{kind}-{index}.log")


def stop_node(node: Node) -> None:
    # Orthanc takes seconds on SIGTERM and its storage here is throwaway: SIGKILL.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(10)


@contextlib.contextmanager
def peers(count: int, nodelay: bool = False) -> Iterator[list[Node]]:
    with tempfile.TemporaryDirectory(prefix="echo-sweep-") as tmp:
        nodes: list[Node] = []
        try:
            for index in range(count):
                nodes.append(start_node(KINDS[index % len(KINDS)], index, Path(tmp), nodelay))
            yield nodes
        finally:
            for node in nodes:
                stop_node(node)


# ---------------------------------------------------------------------------- clients


@dataclass
class Timed:
    """One echo: total wall seconds and, when known, the phases."""

    kind: str
    ok: bool
    total: float
    phases: tuple[float, float, float] | None = None


def pacs_tui_echo(node: Node, timeout: float) -> Timed:
    o: EchoOutcome = echo(HOST, node.port, node.aet, CALLING, timeout=timeout)
    phases = None
    if o.associate_seconds and o.dimse_seconds and o.release_seconds:
        phases = (o.associate_seconds, o.dimse_seconds, o.release_seconds)
    return Timed(node.kind, o.ok, o.echo_seconds or o.elapsed_seconds, phases)


def stock_echo(node: Node, timeout: float) -> Timed:
    """Stock pynetdicom, as its documentation shows it, with explicit timeouts."""
    ae = AE(ae_title=CALLING)
    ae.add_requested_context(VERIFICATION_SOP_CLASS)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    t0 = time.perf_counter()
    assoc = ae.associate(HOST, node.port, ae_title=node.aet)
    t1 = time.perf_counter()
    if not assoc.is_established:
        return Timed(node.kind, False, t1 - t0)
    status = assoc.send_c_echo()
    t2 = time.perf_counter()
    assoc.release()
    t3 = time.perf_counter()
    ok = getattr(status, "Status", None) == 0
    return Timed(node.kind, ok, t3 - t0, (t1 - t0, t2 - t1, t3 - t2))


def echoscu(node: Node, timeout: float, env: dict[str, str] | None = None) -> Timed:
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            ECHOSCU,
            "-aet",
            CALLING,
            "-aec",
            node.aet,
            "-to",
            str(int(timeout)),
            HOST,
            str(node.port),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout * 3,
        check=False,
        env=env,
    )
    return Timed(node.kind, done.returncode == 0, time.perf_counter() - t0)


def echoscu_nodelay(node: Node, timeout: float) -> Timed:
    """echoscu with DCMTK's run-time switch for TCP_NODELAY (its default leaves Nagle on)."""
    return echoscu(node, timeout, {**os.environ, "TCP_NODELAY": "1"})


Client = Callable[[Node, float], Timed]


@dataclass
class Series:
    """Every sweep of one client in one mode."""

    name: str
    mode: str
    sweep_wall: list[float] = field(default_factory=list)
    cpu_per_echo: list[float] = field(default_factory=list)
    rusage_per_echo: list[float] = field(default_factory=list)
    echoes: list[Timed] = field(default_factory=list)
    failures: int = 0


def _rusage(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def sweep(
    series: Series,
    client: Client,
    nodes: Sequence[Node],
    timeout: float,
    executor: ThreadPoolExecutor | None,
    children: bool = False,
) -> None:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    cpu0, ru0, t0 = time.process_time(), _rusage(who), time.perf_counter()
    if executor is None:
        results = [client(node, timeout) for node in nodes]
    else:
        futures = [executor.submit(client, node, timeout) for node in nodes]
        results = [future.result() for future in futures]
    wall = time.perf_counter() - t0
    cpu, ru = time.process_time() - cpu0, _rusage(who) - ru0
    series.sweep_wall.append(wall)
    series.cpu_per_echo.append((ru if children else cpu) / len(nodes))
    series.rusage_per_echo.append(ru / len(nodes))
    series.echoes.extend(results)
    series.failures += sum(not r.ok for r in results)


def open_association_cpu(node: Node, count: int, timeout: float) -> tuple[float, float, int]:
    """CPU and wall per C-ECHO on one association that stays open (pacs-tui's socket), and how
    many C-ECHOs got no response.

    The C-ECHOs are 2 ms apart: back to back, pynetdicom 3.0's association reactor thread can
    take the C-ECHO response off the queue before ``send_c_echo`` reads it ("Received
    unexpected C-ECHO service message", then a DIMSE timeout and an abort). pacs-tui's check
    sends one C-ECHO per association and is not exposed to that.
    """
    # One association for the whole run: its hard deadline is an hour away.
    ae = ProbeAE(
        CALLING,
        Budget.for_timeout(time.perf_counter(), 3600),
        pdata_limit=64 << 20,
        expecting="a run of C-ECHO responses",
    )
    ae.add_requested_context(VERIFICATION_SOP_CLASS)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(HOST, node.port, ae_title=node.aet)
    cpu = wall = 0.0
    lost = done = 0
    try:
        for _ in range(count):
            if not assoc.is_established:
                break
            time.sleep(0.002)
            cpu0, t0 = time.process_time(), time.perf_counter()
            status = assoc.send_c_echo()
            wall += time.perf_counter() - t0
            cpu += time.process_time() - cpu0
            done += 1
            lost += "Status" not in status
    finally:
        if assoc.is_established:
            assoc.release()
    return cpu / max(done, 1), wall / max(done, 1), lost + (count - done)


# ---------------------------------------------------------------------------- report


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = "unknown"
    if shutil.which("dpkg-query"):
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version}; ", "orthanc", "dcmtk"],
            capture_output=True,
            text=True,
            check=False,
        )
        versions = done.stdout.strip().rstrip(";")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "pynetdicom": pynetdicom.__version__,
        "packages": versions,
        "kernel": platform.release(),
    }


def print_report(
    info: dict[str, str],
    nodes: Sequence[Node],
    all_series: Sequence[Series],
    args: argparse.Namespace,
) -> None:
    kinds = [node.kind for node in nodes]
    mix = ", ".join(f"{kinds.count(k)} {k}" for k in KINDS if k in kinds)
    print()
    for key, value in info.items():
        print(f"{key:>10}: {value}")
    print(f"{'nodes':>10}: {len(nodes)} ({mix}), {args.repeat} sweeps each, {args.workers} workers")
    nodelay = "TCP_NODELAY=1 (Nagle off)" if args.peer_nodelay else "DCMTK default (Nagle on)"
    print(f"{'peers':>10}: {nodelay}")
    print()
    header = (
        f"{'client':<22} {'mode':<14} {'sweep ms':>9} {'echo ms':>9} {'CPU/echo ms':>12} "
        f"{'rusage ms':>10} {'fail':>5}"
    )
    print(header)
    print("-" * len(header))
    for s in all_series:
        per_echo = median([e.total for e in s.echoes])
        print(
            f"{s.name:<22} {s.mode:<14} {ms(median(s.sweep_wall)):>9} {ms(per_echo):>9} "
            f"{ms(median(s.cpu_per_echo)):>12} {ms(median(s.rusage_per_echo)):>10} {s.failures:>5}"
        )
    print()
    print(
        "one echo by peer kind, sequential sweeps, median ms: associate / C-ECHO / release = total"
    )
    present = [k for k in KINDS if k in kinds]
    print(f"{'client':<22} " + " ".join(f"{k:>32}" for k in present))
    for s in all_series:
        if s.mode != "sequential":
            continue
        cells = []
        for kind in present:
            mine = [e for e in s.echoes if e.kind == kind and e.ok]
            phased = [e.phases for e in mine if e.phases]
            total = median([e.total for e in mine])
            if phased:
                a, d, r = (median([p[i] for p in phased]) for i in range(3))
                cells.append(
                    f"{a * 1000:5.1f} / {d * 1000:5.1f} / {r * 1000:5.1f} = {total * 1000:6.1f}"
                )
            else:
                cells.append(f"{'':>23}{total * 1000:6.1f}")
        print(f"{s.name:<22} " + " ".join(f"{c:>32}" for c in cells))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=6, help="peers to start (default 6)")
    parser.add_argument("--repeat", type=int, default=20, help="sweeps per client (default 20)")
    parser.add_argument("--workers", type=int, default=8, help="thread pool size (default 8)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-echo timeout, s")
    parser.add_argument(
        "--open-echoes", type=int, default=200, help="C-ECHOs on one open association"
    )
    parser.add_argument("--no-echoscu", action="store_true", help="skip DCMTK echoscu")
    parser.add_argument(
        "--peer-nodelay",
        action="store_true",
        help="start the peers with TCP_NODELAY=1 (DCMTK's run-time switch; Orthanc uses DCMTK)",
    )
    args = parser.parse_args(argv)

    needed = [ORTHANC, DCMQRSCP, STORESCP] + ([] if args.no_echoscu else [ECHOSCU])
    missing = [p for p in needed if not os.access(p, os.X_OK)]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install orthanc dcmtk)", file=sys.stderr)
        return 2

    info = machine()
    executor = make_executor(args.workers)
    with peers(args.nodes, args.peer_nodelay) as nodes:
        mine_seq = Series("pacs-tui echo", "sequential")
        mine_par = Series("pacs-tui echo", f"concurrent/{args.workers}")
        stock_seq = Series("stock pynetdicom", "sequential")
        stock_par = Series("stock pynetdicom", f"concurrent/{args.workers}")
        dcmtk_seq = Series("DCMTK echoscu", "sequential")
        dcmtk_nodelay = Series("echoscu TCP_NODELAY=1", "sequential")
        plan: list[tuple[Series, Client, ThreadPoolExecutor | None, bool]] = [
            (mine_seq, pacs_tui_echo, None, False),
            (stock_seq, stock_echo, None, False),
            (mine_par, pacs_tui_echo, executor, False),
            (stock_par, stock_echo, executor, False),
        ]
        if not args.no_echoscu:
            plan.append((dcmtk_seq, echoscu, None, True))
            plan.append((dcmtk_nodelay, echoscu_nodelay, None, True))
        for _series, client, pool, _children in plan:  # warm-up: imports, thread pool, caches
            warm = Series("warm-up", "")
            sweep(warm, client, nodes, args.timeout, pool)
        for round_no in range(args.repeat):
            for series, client, pool, children in plan:
                sweep(series, client, nodes, args.timeout, pool, children)
            print(f"\rsweep {round_no + 1}/{args.repeat}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        open_cpu = {
            kind: open_association_cpu(
                next(n for n in nodes if n.kind == kind), args.open_echoes, args.timeout
            )
            for kind in KINDS
            if any(n.kind == kind for n in nodes)
        }
    executor.shutdown()

    print_report(info, nodes, [s for s, _c, _p, _ch in plan], args)
    print()
    print(f"C-ECHO on one open association ({args.open_echoes}, 2 ms apart), pacs-tui socket:")
    for kind, (cpu, wall, lost) in open_cpu.items():
        print(
            f"  {kind:<10} CPU {cpu * 1000:5.2f} ms, wall {wall * 1000:5.2f} ms per C-ECHO"
            + (f" ({lost} without a response)" if lost else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
