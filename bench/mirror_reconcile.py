"""Mirror reconciliation of two real archives (issue 12): wall time, associations and the load it
puts on them, beside a naive single C-FIND of the whole window, measured in the same run.

Starts two stock Orthanc archives (Debian's ``/usr/sbin/Orthanc``, the command line of
``tests/peers.py``) on free loopback ports and loads them over C-STORE with synthetic, PHI-free
studies (``tests/synthetic_studies.py``: 4x4-pixel Secondary Captures, made-up UIDs): the
primary gets ``--studies`` studies spread over the ``--days`` days ending today, the mirror all
but ``--missing`` of them (a seeded draw, spread over the days) and ``--different`` of them one
instance short (two instances on the primary, one on the mirror). The load is timed apart; it is
not part of the figures.

Then ``--rounds`` rounds, in an order rotated every round so that drift hits each alike, of:

    reconcile, gap 0.5 s     ``pacs_tui.mirror.reconcile.Round``, as the product runs it every
                             hour: one C-FIND per day on each archive, one association per
                             archive, ``--query-gap`` (0.5 s) between days, ``--max-answers``
                             (5000) before a day is halved by StudyTime
    reconcile, gap 0         the same without the pause: the burst the gap spreads out
    naive window C-FIND      one study-level C-FIND of the whole window (StudyDate
                             ``YYYYMMDD-YYYYMMDD``, asking StudyInstanceUID, StudyDate,
                             StudyTime and NumberOfStudyRelatedInstances, no limit) on each
                             archive in turn, through the same ``NodeSession`` (same socket, same
                             parsing): what a simple script would do

and prints medians: wall time, queries, associations, answers (C-FIND pending responses),
splits, this process's CPU (every thread: pynetdicom's included) and whether the counts found
are right; then, for each archive, the time it spent
answering (the sum of its C-FIND requests, from the request to the final response), its
C-FIND responses/s while answering and averaged over the whole round, the longest single request
and the Orthanc process's CPU seconds (utime + stime of every thread, from /proc) over the
measurement.

    python bench/mirror_reconcile.py [--studies 10000] [--days 30] [--rounds 3]
                                     [--missing 25] [--different 10] [--load-workers 12]

Orthanc's own cap on C-FIND answers (``LimitFindResults``) is printed: 0, no cap, in Orthanc
1.10's defaults and in the config ``tests/peers.py`` writes; a naive query that comes back with
fewer studies than were loaded is flagged CAPPED.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import cpu_seconds, machine, run_main, source_state

from pacs_tui.mirror.association import Node, NodeSession
from pacs_tui.mirror.reconcile import ANSWER_BYTES, Report, Round
from pacs_tui.probes.dicom import echo
from pacs_tui.probes.dicom_transport import Budget
from tests.peers import HOST, ORTHANC, free_port, orthanc_args
from tests.synthetic_studies import SyntheticStudy, instances, store, studies

CALLING = "BENCHMIRROR"
KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "NumberOfStudyRelatedInstances")
ROLES = ("primary", "mirror")
#: Studies stored over one association while loading.
PART = 200
#: The product's defaults (``pacs_tui/probes/mirror_source.py``: MirrorConfig).
TIMEOUT, QUERY_TIMEOUT, MAX_ANSWERS, QUERY_GAP = 600.0, 30.0, 5000, 0.5


# -- the archives ----------------------------------------------------------------------------


@dataclass
class Archive:
    role: str
    aet: str
    port: int
    process: subprocess.Popen[bytes]
    config: dict[str, Any]

    @property
    def node(self) -> Node:
        return Node(self.role, HOST, self.port, self.aet, CALLING)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


def start_archive(role: str, root: Path) -> Archive:
    """A stock Orthanc on a free loopback port, once it answers a C-ECHO."""
    aet = role.upper()
    workdir = root / role
    for _attempt in range(3):
        port = free_port()
        command = orthanc_args(ORTHANC, workdir, aet, port)
        with (root / f"{role}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        archive = Archive(role, aet, port, process, json.loads(Path(command[1]).read_text()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            if echo(HOST, port, aet, CALLING, timeout=1.0).ok:
                return archive
            time.sleep(0.1)
        stop_archive(archive)
    raise SystemExit(f"Orthanc did not start; see {root}/{role}.log")


def stop_archive(archive: Archive) -> None:
    # Orthanc takes seconds on SIGTERM and its storage here is thrown away: SIGKILL its group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(archive.process.pid, signal.SIGKILL)
    archive.process.wait(10)


@contextlib.contextmanager
def archives() -> Iterator[dict[str, Archive]]:
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        started: dict[str, Archive] = {}
        try:
            for role in ROLES:
                started[role] = start_archive(role, Path(tmp))
            yield started
        finally:
            for archive in started.values():
                stop_archive(archive)  # before the folder goes


def orthanc_version() -> str:
    out = subprocess.run([ORTHANC, "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "Orthanc"
    package = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "orthanc"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return first.replace("/usr/sbin/", "") + (f" (Debian {package})" if package else "")


def find_settings(config: dict[str, Any]) -> str:
    """The archives' cap on C-FIND answers and how they read them: from the config the bench
    wrote, else Orthanc's own default (``Orthanc --config=FILE`` writes its defaults)."""
    with tempfile.TemporaryDirectory(prefix="orthanc-defaults-") as tmp:
        path = Path(tmp) / "defaults.json"
        subprocess.run([ORTHANC, f"--config={path}"], capture_output=True, check=False)
        text = path.read_text() if path.exists() else ""
    found = []
    for key in ("LimitFindResults", "StorageAccessOnFind"):
        if key in config:
            found.append(f"{key} {config[key]} (set)")
            continue
        match = re.search(rf'"{key}"\s*:\s*"?(\w+)', text)
        found.append(f"{key} {match.group(1) if match else '?'} (Orthanc's default)")
    return "; ".join(found) + " (LimitFindResults 0: no cap)"


# -- the load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What each archive holds, and so what a right reconciliation finds."""

    primary: list[SyntheticStudy]
    missing: frozenset[str]  # UIDs the mirror lacks
    short: frozenset[str]  # UIDs the mirror holds one instance short

    @property
    def oldest_missing(self) -> SyntheticStudy | None:
        gone = [s for s in self.primary if s.uid in self.missing]
        return min(gone, key=lambda s: (s.date, s.time), default=None)

    def mirror(self) -> list[SyntheticStudy]:
        return [
            replace(s, instances=s.instances - 1) if s.uid in self.short else s
            for s in self.primary
            if s.uid not in self.missing
        ]


def plan(count: int, days: int, today: dt.date, missing: int, different: int) -> Plan:
    found = studies(count, days, today, seed="bench-mirror-reconcile")
    draw = random.Random(12).sample(range(count), min(count, missing + different))
    gone, short = draw[:missing], draw[missing:]
    for index in short:
        found[index] = replace(found[index], instances=2)
    return Plan(
        found,
        frozenset(found[i].uid for i in gone),
        frozenset(found[i].uid for i in short),
    )


def load(archive: Archive, chosen: Sequence[SyntheticStudy], workers: int) -> tuple[int, int]:
    """C-STORE every instance of ``chosen`` over ``workers`` associations at once (parts of at
    most :data:`PART` studies, an association each, tried again on a failure: Orthanc takes
    the same instance twice); how many were sent and how many the archive accepted."""
    size = max(1, min(PART, -(-len(chosen) // workers)))
    parts = [chosen[i : i + size] for i in range(0, len(chosen), size)]

    def one(part: Sequence[SyntheticStudy]) -> int:
        for attempt in range(3):
            try:
                return store(
                    HOST, archive.port, archive.aet, (d for s in part for d in instances(s))
                )
            except RuntimeError as exc:  # pynetdicom's, when the association failed
                print(f"{archive.role}: {exc}; again ({attempt + 1})", file=sys.stderr)
        return 0

    with ThreadPoolExecutor(workers) as pool:
        accepted = sum(pool.map(one, parts))
    return sum(s.instances for s in chosen), accepted


# -- the measurements ------------------------------------------------------------------------


class TimedSession(NodeSession):
    """A NodeSession that adds up the time its C-FIND requests take (request to final
    response, or to the abort of a day that answered too much)."""

    spent = 0.0
    longest = 0.0

    def find(
        self, query: Dataset, keys: tuple[str, ...], limit: int
    ) -> list[dict[str, Any]] | None:
        start = time.perf_counter()
        try:
            return super().find(query, keys, limit)
        finally:
            took = time.perf_counter() - start
            self.spent += took
            self.longest = max(self.longest, took)


@dataclass
class Load:
    """What one measurement asked of one archive."""

    answers: int
    queries: int
    spent: float  # seconds its C-FIND requests took
    longest: float  # the longest single request, seconds
    cpu: float  # Orthanc's CPU seconds over the measurement
    wall: float  # the measurement's wall time


@dataclass
class Outcome:
    """One measurement: its wall time and counts, the load on each archive, and whether the
    counts found are right."""

    wall: float
    queries: int
    associations: int
    answers: int
    splits: int | None
    loads: dict[str, Load]
    right: str
    client_cpu: float  # this process's CPU seconds (every thread) over the measurement


@dataclass
class Series:
    label: str
    outcomes: list[Outcome] = field(default_factory=list)


def check(report: Report, expected: Plan) -> str:
    """ "right" or what differs from the load."""
    wrong = []
    pairs = (
        ("primary studies", report.primary_studies, len(expected.primary)),
        ("mirror studies", report.mirror_studies, len(expected.primary) - len(expected.missing)),
        ("missing", report.missing_count, len(expected.missing)),
        ("different", report.different_count, len(expected.short)),
        ("extra", report.extra_count, 0),
        ("unusable", report.unusable, 0),
    )
    for name, got, want in pairs:
        if got != want:
            wrong.append(f"{name} {got:,} != {want:,}")
    oldest = expected.oldest_missing
    if (report.oldest_missing and report.oldest_missing.uid) != (oldest and oldest.uid):
        wrong.append("wrong oldest missing study")
    return "; ".join(wrong) or "right"


def reconcile_round(
    found: dict[str, Archive], args: argparse.Namespace, gap: float, expected: Plan
) -> Outcome:
    """One round of the product's Round (what ``reconcile()`` runs), its sessions timed."""
    primary, mirror = found["primary"].node, found["mirror"].node
    round_ = Round(
        primary,
        mirror,
        days=args.days,
        today=args.today,
        timeout=TIMEOUT,
        request_timeout=QUERY_TIMEOUT,
        max_answers=args.max_answers,
        query_gap=gap,
    )
    sessions: dict[str, TimedSession] = {}
    for role, plain in round_.sessions.items():
        sessions[role] = round_.sessions[role] = TimedSession(
            plain.node,
            plain.budget,
            request_timeout=plain.request_timeout,
            pdata_limit=plain.pdata_limit,
            expecting=plain.expecting,
        )
    cpu0 = {role: archive.cpu() for role, archive in found.items()}
    client0 = time.process_time()
    report = round_.run()
    client = time.process_time() - client0
    loads = {
        role: Load(
            s.answers,
            s.requests,
            s.spent,
            s.longest,
            found[role].cpu() - cpu0[role],
            report.seconds,
        )
        for role, s in sessions.items()
    }
    return Outcome(
        report.seconds,
        report.queries,
        report.associations,
        report.answers,
        report.splits,
        loads,
        check(report, expected),
        client,
    )


def window_query(days: int, today: dt.date) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    first = today - dt.timedelta(days=days - 1)
    query.StudyDate = f"{first:%Y%m%d}-{today:%Y%m%d}"
    query.StudyTime = ""
    query.StudyInstanceUID = ""
    query.NumberOfStudyRelatedInstances = ""
    return query


def naive(found: dict[str, Archive], args: argparse.Namespace, expected: Plan) -> Outcome:
    """One C-FIND of the whole window on each archive in turn, each on its own association."""
    loads: dict[str, Load] = {}
    wanted = {"primary": len(expected.primary), "mirror": len(expected.mirror())}
    capped = []
    start, client0 = time.perf_counter(), time.process_time()
    for role, archive in found.items():
        limit = 10 * wanted[role] + 1000
        session = TimedSession(
            archive.node,
            Budget.for_timeout(time.perf_counter(), TIMEOUT),
            request_timeout=TIMEOUT,
            pdata_limit=256 * 1024 + limit * ANSWER_BYTES,
            expecting="study-level C-FIND answers",
        )
        cpu0, began = archive.cpu(), time.perf_counter()
        try:
            rows = session.find(window_query(args.days, args.today), KEYS, limit)
        finally:
            session.close()
        wall = time.perf_counter() - began
        got = -1 if rows is None else len({r["StudyInstanceUID"] for r in rows})
        if got != wanted[role]:
            capped.append(f"{role} {got:,} of {wanted[role]:,} studies: CAPPED")
        loads[role] = Load(
            session.answers, session.requests, session.spent, session.longest,
            archive.cpu() - cpu0, wall,
        )  # fmt: skip
    wall, client = time.perf_counter() - start, time.process_time() - client0
    return Outcome(
        wall,
        sum(x.queries for x in loads.values()),
        len(loads),
        sum(x.answers for x in loads.values()),
        None,
        loads,
        "; ".join(capped) or "every study",
        client,
    )


# -- the report ------------------------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(series: Sequence[Series], expected: Plan) -> None:
    print(
        f"\n{'what (median of rounds)':32} {'wall s':>7} {'queries':>7} {'assoc':>5}"
        f" {'answers':>8} {'splits':>6} {'client CPU s':>12}  counts found\n" + "-" * 110
    )
    for s in series:
        out = s.outcomes
        splits = [o.splits for o in out if o.splits is not None]
        rights = sorted({o.right for o in out})
        print(
            f"{s.label:32} {med([o.wall for o in out]):7.2f}"
            f" {med([o.queries for o in out]):7.0f} {med([o.associations for o in out]):5.0f}"
            f" {med([o.answers for o in out]):8,.0f}"
            f" {med(splits) if splits else '-':>6} {med([o.client_cpu for o in out]):12.2f}"
            f"  {' | '.join(rights)}"
        )
    print(
        f"  (loaded: primary {len(expected.primary):,} studies, mirror"
        f" {len(expected.primary) - len(expected.missing):,}: {len(expected.missing)} missing,"
        f" {len(expected.short)} one instance short, 0 extra)"
    )
    print(
        f"\n{'load on each archive':32} {'archive':>7} {'answers':>8} {'busy s':>7}"
        f" {'busy %':>6} {'resp/s busy':>11} {'resp/s wall':>11} {'longest ms':>10}"
        f" {'CPU s':>6} {'CPU %':>6}\n" + "-" * 110
    )
    for s in series:
        for n, role in enumerate(ROLES):
            loads = [o.loads[role] for o in s.outcomes]
            busy = med([x.spent for x in loads])
            wall = med([x.wall for x in loads])
            answers = med([x.answers for x in loads])
            cpu = med([x.cpu for x in loads])
            print(
                f"{s.label if n == 0 else '':32} {role:>7} {answers:8,.0f} {busy:7.2f}"
                f" {100 * busy / wall:6.1f} {med([x.answers / x.spent for x in loads]):11,.0f}"
                f" {med([x.answers / x.wall for x in loads]):11,.0f}"
                f" {1000 * med([x.longest for x in loads]):10.0f} {cpu:6.2f}"
                f" {100 * cpu / wall:6.1f}"
            )
    print(
        "  busy: the archive's C-FIND requests added up (request to final response); resp/s"
        " wall: its answers over the\n  whole measurement (for the naive query, its own"
        " request); CPU: the Orthanc process's, every thread"
    )
    for s in series:
        walls = " ".join(f"{o.wall:7.2f}" for o in s.outcomes)
        print(f"  {s.label:30} wall s each round: {walls}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000, help="on the primary (10000)")
    parser.add_argument("--days", type=int, default=30, help="the window, in days (30)")
    parser.add_argument("--rounds", type=int, default=3, help="of each measurement (3)")
    parser.add_argument("--missing", type=int, default=25, help="studies the mirror lacks (25)")
    parser.add_argument(
        "--different", type=int, default=10, help="studies one instance short on the mirror (10)"
    )
    parser.add_argument(
        "--load-workers", type=int, default=12, help="C-STORE associations per archive (12)"
    )
    parser.add_argument(
        "--max-answers", type=int, default=MAX_ANSWERS, help="the product's max_answers (5000)"
    )
    parser.add_argument(
        "--query-gap", type=float, default=QUERY_GAP, help="the product's query_gap, s (0.5)"
    )
    args = parser.parse_args()
    if not Path(ORTHANC).exists():
        print(f"needs Orthanc at {ORTHANC} (apt-get install orthanc)", file=sys.stderr)
        return 1
    if not 0 <= args.missing + args.different <= args.studies or args.days < 1:
        parser.error("--missing + --different must not exceed --studies; --days >= 1")
    args.today = dt.date.today()
    expected = plan(args.studies, args.days, args.today, args.missing, args.different)
    missing_days = len({s.date for s in expected.primary if s.uid in expected.missing})
    print(
        f"mirror_reconcile bench, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}:"
        f" {args.studies:,} studies over {args.days} days, mirror missing {args.missing}"
        f" (on {missing_days} days) and {args.different} one instance short;"
        f" {args.rounds} rounds; max_answers {args.max_answers}"
        f"\nmachine: {machine()}"
        f"\npeers: {orthanc_version()}\npacs-tui {source_state()}",
        flush=True,
    )
    with archives() as found:
        config = found["primary"].config
        print(f"Orthanc C-FIND settings: {find_settings(config)}")
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            jobs = {
                role: pool.submit(load, found[role], chosen, args.load_workers)
                for role, chosen in (("primary", expected.primary), ("mirror", expected.mirror()))
            }
            loaded = {role: job.result() for role, job in jobs.items()}
        took = time.perf_counter() - start
        for role, (sent, accepted) in loaded.items():
            if sent != accepted:
                print(f"{role}: only {accepted:,} of {sent:,} instances accepted", file=sys.stderr)
                return 1
        print(
            f"loaded (not part of the figures): {loaded['primary'][0]:,} + {loaded['mirror'][0]:,}"
            f" instances in {took:.1f}s, {args.load_workers} C-STORE associations per archive"
            f" ({sum(x[0] for x in loaded.values()) / took:,.0f} instances/s)",
            flush=True,
        )
        gap = f"query_gap {args.query_gap:g} s"
        runs: list[tuple[Series, Callable[[], Outcome]]] = [
            (
                Series(f"reconcile, {gap}"),
                lambda: reconcile_round(found, args, args.query_gap, expected),
            ),
            (
                Series("reconcile, query_gap 0 (burst)"),
                lambda: reconcile_round(found, args, 0.0, expected),
            ),
            (Series("naive C-FIND of the window"), lambda: naive(found, args, expected)),
        ]
        for r in range(args.rounds):
            for series, run in runs[r % len(runs) :] + runs[: r % len(runs)]:
                series.outcomes.append(run())
                print(
                    f"round {r + 1}/{args.rounds} {series.label}: {series.outcomes[-1].wall:.2f}s",
                    file=sys.stderr,
                    flush=True,
                )
        report([series for series, _ in runs], expected)
    return 0


if __name__ == "__main__":
    run_main(main, "the archives and their folder")
