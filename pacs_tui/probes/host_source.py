"""The hosts source: servers' CPU, memory, swap, load, disk and network I/O, and configured
processes (``[[host]]``) — the local server through psutil, a remote one by scraping its
Prometheus node_exporter's ``/metrics`` (parsed with prometheus-client's text parser).

Rates (CPU busy, bytes a second) are the difference of two readings, so a host's first check
says "measuring". Both readings run in the source's thread pool with the check's deadline; a
scrape is bounded in size (:data:`SCRAPE_LIMIT`) and in samples (:data:`SAMPLE_LIMIT`), and
what is not node_exporter's text is DOWN with the reason in words.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader
from pacs_tui.http_get import HttpError, get_bounded, hide_credentials, http_url
from pacs_tui.model import Result, Status, Target, TargetKind, TargetState
from pacs_tui.source import (
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
    threshold_labels,
)
from pacs_tui.units import format_value
from pacs_tui.visible import VALUE_LIMIT, visible

METRICS = (
    MetricSpec(
        "cpu_ratio", "ratio", "CPU", description="CPU busy (not idle, not waiting on I/O)",
        headline=True, scale=(0.0, 1.0), title="CPU busy",
    ),
    MetricSpec("memory_used_ratio", "ratio", "Memory", description="memory in use (not available)"),
    MetricSpec("memory_used_bytes", "B", "Memory used", description="total - available"),
    MetricSpec("memory_total_bytes", "B", "Memory total", description="physical memory"),
    MetricSpec("swap_used_ratio", "ratio", "Swap", description="swap in use"),
    MetricSpec("os_sessions", "", "OS sessions", description="users logged in to this server"),
    MetricSpec("load1", "", "Load", description="load average over a minute"),
    MetricSpec("disk_read_bytes_per_second", "B", "Disk read/s"),
    MetricSpec("disk_write_bytes_per_second", "B", "Disk write/s"),
    MetricSpec("network_receive_bytes_per_second", "B", "Net in/s", description="all but lo"),
    MetricSpec("network_transmit_bytes_per_second", "B", "Net out/s", description="all but lo"),
    MetricSpec("processes_down", "c", "Processes down", description="configured ones not running"),
)  # fmt: skip

THREADS = 8
#: A scrape reads at most this much (node_exporter's page is ~100 KiB).
SCRAPE_LIMIT = 8 * 2**20
#: …and parses at most this many samples.
SAMPLE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class HostConfig:
    id: str
    local: bool = False
    url: str = ""
    processes: tuple[str, ...] = ()
    cpu_warn: float = 0.90
    cpu_crit: float = 0.98
    memory_warn: float = 0.90
    memory_crit: float = 0.95
    interval: float = 30.0
    timeout: float = 5.0
    site: str = ""
    description: str = ""


# -- config -------------------------------------------------------------------------------------

_PERCENT_EXPECTED = 'a percentage from 1% to 100%, like "90%"'
_URL_EXPECTED = (
    "an http:// or https:// URL of a node_exporter, like http://db1:9100/metrics (a port from 1 "
    "to 65535; no user or password: basic authentication is not supported)"
)


def _percent(value: Any) -> float:
    if not isinstance(value, str) or not value.strip().endswith("%"):
        raise ValueError
    number = float(value.strip()[:-1])
    if not 1 <= number <= 100:
        raise ValueError
    return number / 100


def read(reader: Reader, raw: Any, site: str) -> tuple[HostConfig, ...]:
    """The ``[[host]]`` entries (absent: none)."""
    if raw is None:
        return ()
    return reader.entries(raw, "host", lambda t, path: _entry(reader, t, path, site))


def _entry(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> HostConfig | None:
    keys = {
        "id", "local", "url", "processes", "cpu_warn", "cpu_crit", "memory_warn", "memory_crit",
        "interval", "timeout", "site", "description",
    }  # fmt: skip
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    local = get(t, "local", path, cv.boolean, "true or false", False)
    url = get(t, "url", path, http_url, _URL_EXPECTED, "", shown=hide_credentials)
    processes = get(
        t, "processes", path, lambda v: cv.string_list(v, max_items=64, max_length=255),
        'a list of process names, like ["Orthanc", "postgres"]', (),
    )  # fmt: skip
    cpu_warn = get(t, "cpu_warn", path, _percent, _PERCENT_EXPECTED, 0.90)
    cpu_crit = get(t, "cpu_crit", path, _percent, _PERCENT_EXPECTED, 0.98)
    memory_warn = get(t, "memory_warn", path, _percent, _PERCENT_EXPECTED, 0.90)
    memory_crit = get(t, "memory_crit", path, _percent, _PERCENT_EXPECTED, 0.95)
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 30.0)
    default_timeout = min(5.0, interval / 2) if isinstance(interval, float) else 5.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    if local is True and url:
        reader.problem(f"{path}.url", url, "no url with local = true (one or the other)")
    elif local is not True and not url and "url" not in t:
        reader.problem(path, "(neither)", "local = true, or url = a node_exporter's /metrics")
    if processes and local is not True:
        reader.problem(
            f"{path}.processes",
            t.get("processes"),
            "processes only with local = true (node_exporter does not list processes)",
        )
    for low, high, name in ((cpu_warn, cpu_crit, "cpu"), (memory_warn, memory_crit, "memory")):
        if isinstance(low, float) and isinstance(high, float) and high < low:
            reader.problem(f"{path}.{name}_crit", t.get(f"{name}_crit"), f"at least {name}_warn")
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    if len(reader.problems) > before:
        return None
    return HostConfig(
        entry_id, local is True, url, tuple(processes), cpu_warn, cpu_crit, memory_warn,
        memory_crit, interval, timeout, entry_site, description,
    )  # fmt: skip


def host_target(entry: HostConfig) -> Target:
    where = "this server" if entry.local else _shown_url(entry.url)
    labels = {"where": where, "site": entry.site, "description": entry.description}
    labels.update(threshold_labels("cpu_ratio", entry.cpu_warn, entry.cpu_crit))
    labels.update(threshold_labels("memory_used_ratio", entry.memory_warn, entry.memory_crit))
    return Target(entry.id, TargetKind.HOST, labels)


def _shown_url(url: str) -> str:
    """The URL without a user or password it may carry (user:password@host)."""
    return str(hide_credentials(url))


def targets(entries: tuple[HostConfig, ...]) -> list[Target]:
    return [host_target(e) for e in entries]


# -- readings ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Reading:
    """One reading of a host: gauges as they are, counters as running totals (the rates come
    from two readings)."""

    memory_total: float
    memory_available: float
    swap_total: float = 0.0
    swap_free: float = 0.0
    load1: float | None = None
    cpu_busy: float | None = None  # seconds, summed over CPUs
    cpu_total: float | None = None
    disk_read: float | None = None
    disk_written: float | None = None
    net_rx: float | None = None
    net_tx: float | None = None
    #: Configured name → its processes' (pid, CPU seconds, RSS bytes); None: not asked.
    processes: dict[str, list[tuple[int, float, float]]] | None = None
    #: Who is logged in (local readings only): (user, terminal, from where, since).
    users: list[tuple[str, str, str, float]] | None = None
    at: float = field(default_factory=time.monotonic)


def read_local(names: Sequence[str]) -> Reading:
    """This server's figures (psutil; blocking: call it in a thread)."""
    import psutil

    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    cpu = psutil.cpu_times()
    idle = cpu.idle + getattr(cpu, "iowait", 0.0)
    total = sum(cpu)
    # guest time is already counted in user on Linux
    total -= getattr(cpu, "guest", 0.0) + getattr(cpu, "guest_nice", 0.0)
    disk = psutil.disk_io_counters()
    nics = psutil.net_io_counters(pernic=True)
    rx = sum(n.bytes_recv for name, n in nics.items() if name != "lo")
    tx = sum(n.bytes_sent for name, n in nics.items() if name != "lo")
    reading = Reading(
        float(memory.total),
        float(memory.available),
        float(swap.total),
        float(swap.free),
        os.getloadavg()[0],
        total - idle,
        total,
        float(disk.read_bytes) if disk else None,
        float(disk.write_bytes) if disk else None,
        float(rx),
        float(tx),
    )
    if names:
        reading.processes = find_processes(names)
    reading.users = logged_in()
    return reading


#: OS sessions kept in a reading at most (a terminal server may have hundreds).
MAX_USERS = 200


def logged_in() -> list[tuple[str, str, str, float]]:
    """The OS sessions on this server (utmp, through psutil): user, terminal, the remote host
    ("" for a local console), since when."""
    import psutil

    try:
        users = psutil.users()
    except OSError:  # no readable utmp (a container): nobody to show, not an error
        return []
    return [(u.name, u.terminal or "", u.host or "", float(u.started)) for u in users][:MAX_USERS]


def find_processes(names: Sequence[str]) -> dict[str, list[tuple[int, float, float]]]:
    """The running processes of each name (its process name, or its program's file name)."""
    import psutil

    found: dict[str, list[tuple[int, float, float]]] = {name: [] for name in names}
    wanted = set(names)
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times", "memory_info"]):
        info = proc.info
        cmdline = info.get("cmdline") or []
        program = os.path.basename(cmdline[0]) if cmdline else ""
        for name in {info.get("name") or "", program} & wanted:
            times, memory = info.get("cpu_times"), info.get("memory_info")
            cpu = (times.user + times.system) if times is not None else 0.0
            found[name].append((proc.pid, cpu, float(memory.rss) if memory else 0.0))
    return found


class ScrapeError(Exception):
    """A scrape that gave nothing usable (said in words)."""


def scrape(url: str, timeout: float) -> Reading:
    """A node_exporter's figures from its ``/metrics`` (blocking: call it in a thread)."""
    try:
        body = get_bounded(
            url, timeout=timeout, limit=SCRAPE_LIMIT, headers={"Accept": "text/plain"}
        )
    except HttpError as exc:
        raise ScrapeError(str(exc)) from None
    return parse_node_exporter(body.decode("utf-8", errors="replace"))


def parse_node_exporter(text: str) -> Reading:
    """The figures pacs-tui reads from node_exporter's text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    cpu_busy = cpu_total = 0.0
    disk_read = disk_written = rx = tx = 0.0
    seen = 0
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                seen += 1
                if seen > SAMPLE_LIMIT:
                    raise ScrapeError(f"over {SAMPLE_LIMIT:,} samples: not read")
                name, labels, value = sample.name, sample.labels, float(sample.value)
                if name == "node_cpu_seconds_total":
                    cpu_total += value
                    if labels.get("mode") not in ("idle", "iowait"):
                        cpu_busy += value
                elif name == "node_disk_read_bytes_total":
                    disk_read += value
                elif name == "node_disk_written_bytes_total":
                    disk_written += value
                elif name == "node_network_receive_bytes_total" and labels.get("device") != "lo":
                    rx += value
                elif name == "node_network_transmit_bytes_total" and labels.get("device") != "lo":
                    tx += value
                elif name in _GAUGES:
                    values[name] = value
    except (ValueError, TypeError, IndexError) as exc:
        raise ScrapeError(f"not a Prometheus text page: {visible(str(exc), 120)}") from None
    if "node_memory_MemTotal_bytes" not in values:
        raise ScrapeError("no node_memory_MemTotal_bytes: not a node_exporter's page")
    return Reading(
        values["node_memory_MemTotal_bytes"],
        values.get("node_memory_MemAvailable_bytes", 0.0),
        values.get("node_memory_SwapTotal_bytes", 0.0),
        values.get("node_memory_SwapFree_bytes", 0.0),
        values.get("node_load1"),
        cpu_busy if cpu_total else None,
        cpu_total or None,
        disk_read,
        disk_written,
        rx,
        tx,
    )


_GAUGES = frozenset({
    "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_memory_SwapTotal_bytes", "node_memory_SwapFree_bytes", "node_load1",
})  # fmt: skip


# -- the check -----------------------------------------------------------------------------------


class HostCheck:
    """One host every ``interval``: a reading, the rates since the last one, the status."""

    pool = "host"

    def __init__(self, entry: HostConfig, executor: ThreadPoolExecutor | None = None) -> None:
        self.entry = entry
        self.target = host_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._executor = executor
        self._last: Reading | None = None

    def __repr__(self) -> str:
        return f"HostCheck({self.target.id!r})"

    @property
    def settings(self) -> HostConfig:
        return self.entry

    def _read(self) -> Reading:
        if self.entry.local:
            return read_local(self.entry.processes)
        return scrape(self.entry.url, self.timeout)

    async def check(self) -> Result:
        loop = asyncio.get_running_loop()
        try:
            reading = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._read), self.timeout + 0.5
            )
        except TimeoutError:
            return Result(Status.DOWN, f"no answer within {self.timeout:g} s")
        except ScrapeError as exc:
            return Result(Status.DOWN, str(exc), details={"where": self.target.label("where")})
        last, self._last = self._last, reading
        return self.judge(reading, last)

    def judge(self, now: Reading, last: Reading | None) -> Result:
        """The metrics, status and reason of a reading (rates against the one before)."""
        entry = self.entry
        metrics: dict[str, float] = {"memory_total_bytes": now.memory_total}
        used = max(0.0, now.memory_total - now.memory_available)
        metrics["memory_used_bytes"] = used
        if now.memory_total > 0:
            metrics["memory_used_ratio"] = used / now.memory_total
        if now.swap_total > 0:
            metrics["swap_used_ratio"] = 1 - now.swap_free / now.swap_total
        if now.load1 is not None:
            metrics["load1"] = round(now.load1, 2)
        metrics.update(_rates(now, last))
        problems: list[tuple[Status, str]] = []
        cpu = metrics.get("cpu_ratio")
        if cpu is not None:
            for status, limit in ((Status.CRIT, entry.cpu_crit), (Status.WARN, entry.cpu_warn)):
                if cpu >= limit:
                    problems.append((status, f"CPU {_ratio(cpu)} busy ≥ {_ratio(limit)}"))
                    break
        memory = metrics.get("memory_used_ratio")
        if memory is not None:
            for status, limit in (
                (Status.CRIT, entry.memory_crit),
                (Status.WARN, entry.memory_warn),
            ):
                if memory >= limit:
                    words = f"memory {_ratio(memory)} used ≥ {_ratio(limit)}"
                    problems.append((status, words))
                    break
        details: dict[str, Any] = {"where": self.target.label("where")}
        if now.users is not None:
            metrics["os_sessions"] = float(len(now.users))
            details["os_sessions"] = [
                {"user": name, "terminal": tty, "host": host, "since": started}
                for name, tty, host, started in now.users
            ]
        if now.processes is not None:
            lines, down = _process_lines(now, last)
            metrics["processes_down"] = float(len(down))
            details["processes"] = lines
            if down:
                names = ", ".join(visible(n, VALUE_LIMIT) for n in down)
                problems.append((Status.CRIT, f"not running: {names}"))
        if problems:
            worst = max((s for s, _ in problems), key=lambda s: s.rank)
            return Result(worst, "; ".join(w for _, w in problems), metrics, details)
        return Result(Status.OK, _summary(metrics, now), metrics, details)

    async def close(self) -> None:
        """Nothing held open."""


def _rates(now: Reading, last: Reading | None) -> dict[str, float]:
    if last is None or now.at <= last.at:
        return {}
    took = now.at - last.at
    out: dict[str, float] = {}
    if None not in (now.cpu_busy, now.cpu_total, last.cpu_busy, last.cpu_total):
        spent = now.cpu_total - last.cpu_total  # type: ignore[operator]
        if spent > 0:
            busy = (now.cpu_busy - last.cpu_busy) / spent  # type: ignore[operator]
            out["cpu_ratio"] = min(1.0, max(0.0, busy))
    pairs = (
        ("disk_read_bytes_per_second", now.disk_read, last.disk_read),
        ("disk_write_bytes_per_second", now.disk_written, last.disk_written),
        ("network_receive_bytes_per_second", now.net_rx, last.net_rx),
        ("network_transmit_bytes_per_second", now.net_tx, last.net_tx),
    )
    for name, new, old in pairs:
        if new is not None and old is not None and new >= old:  # a reset: no rate this time
            out[name] = (new - old) / took
    return out


def _process_lines(now: Reading, last: Reading | None) -> tuple[list[str], list[str]]:
    """ "Orthanc: 1 running, CPU 3 %, RSS 210 MiB" per configured name, and those not running."""
    assert now.processes is not None
    before = {
        pid: cpu for runs in (last.processes or {}).values() for pid, cpu, _ in runs
    } if last is not None else {}  # fmt: skip
    took = now.at - last.at if last is not None else 0.0
    lines, down = [], []
    for name, runs in now.processes.items():
        shown = visible(name, VALUE_LIMIT)
        if not runs:
            down.append(name)
            lines.append(f"{shown}: not running")
            continue
        rss = sum(r for _, _, r in runs)
        line = f"{shown}: {len(runs)} running, RSS {format_value('B', rss)}"
        if took > 0:
            cpu = sum(c - before[p] for p, c, _ in runs if p in before and c >= before[p])
            line += f", CPU {format_value('ratio', cpu / took)} of a core"
        lines.append(line)
    return lines, down


def _summary(metrics: Mapping[str, float], now: Reading) -> str:
    parts = []
    cpu = metrics.get("cpu_ratio")
    parts.append("CPU measuring" if cpu is None else f"CPU {format_value('ratio', cpu)}")
    if "memory_used_ratio" in metrics:
        memory = format_value("ratio", metrics["memory_used_ratio"])
        parts.append(f"memory {memory} of {format_value('B', now.memory_total)}")
    if now.load1 is not None:
        parts.append(f"load {now.load1:.2f}")
    if now.processes:
        parts.append(f"{', '.join(visible(n, VALUE_LIMIT) for n in now.processes)} running")
    return ", ".join(parts)


# -- the declaration ----------------------------------------------------------------------------


def build(entries: tuple[HostConfig, ...], ctx: BuildContext) -> list[Runnable]:
    return [HostCheck(e, ctx.executor) for e in entries]


def workers(entries: tuple[HostConfig, ...]) -> WorkerLimit:
    return WorkerLimit(max(1, min(len(entries), THREADS)), threads=True)


def example() -> list[tuple[str, Any]]:
    local = tomlkit.table()
    local.add(tomlkit.comment("This server: CPU, memory, load, I/O, and processes by name."))
    local.add("id", "pacs-server")
    local.add("local", True)
    local.add("processes", ["Orthanc", "postgres"])
    remote = tomlkit.table()
    remote.add(tomlkit.comment("Another server, through its Prometheus node_exporter."))
    remote.add("id", "db-server")
    remote.add("url", "http://127.0.0.1:9100/metrics")
    remote.add(tomlkit.comment("Optional (defaults):"))
    for line in ('cpu_warn = "90%"', 'cpu_crit = "98%"', 'memory_warn = "90%"'):
        remote.add(tomlkit.comment(line))
    remote.add(tomlkit.comment('memory_crit = "95%"'))
    remote.add(tomlkit.comment('interval = "30s"'))
    return [("host", AoT([local, remote]))]


def tile_summary(states: Iterable[TargetState]) -> str:
    """The busiest host: "busiest pacs-server CPU 72 %"."""
    busiest = max(
        (s for s in states if "cpu_ratio" in s.metrics),
        key=lambda s: s.metrics["cpu_ratio"],
        default=None,
    )
    if busiest is None:
        return ""
    cpu = format_value("ratio", busiest.metrics["cpu_ratio"])
    return f"busiest {visible(busiest.id, 24)} CPU {cpu}"


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Host", "id", None, True),
    Column("where", "Where", "label", None, False, "where"),
    Column("cpu", "CPU", "value", 13, True, "cpu_ratio", "busiest first", "", True, gauge=6),
    Column(
        "memory",
        "Memory",
        "value",
        13,
        True,
        "memory_used_ratio",
        "fullest first",
        "",
        True,
        gauge=6,
    ),
    Column("load", "Load", "value", 6, False, "load1", "highest first", "lowest first", True),
    Column("trend", "Last hour", "trend", 14, False),
    Column("since", "Since", "since", 10, False, "", "latest change first", "oldest first", True),
    Column("reason", "Reason", "reason", None, True),
)


def detail_text(key: str, value: Any) -> str | None:
    """The OS sessions in words: "alice on pts/0 from 10.1.1.2 since 10:02"."""
    if key != "os_sessions" or not isinstance(value, list):
        return None
    if not value:
        return "nobody"
    parts = []
    for row in value[:20]:
        if not isinstance(row, dict):
            continue
        where = f" from {row['host']}" if row.get("host") else " (local)"
        since = row.get("since")
        at = (
            time.strftime(" since %H:%M", time.localtime(since)) if isinstance(since, float) else ""
        )
        parts.append(f"{row.get('user', '?')} on {row.get('terminal') or '?'}{where}{at}")
    more = f"; and {len(value) - 20} more" if len(value) > 20 else ""
    return "; ".join(parts) + more


SOURCE = Source(
    name="host",
    title="Hosts",
    kinds=(TargetKind.HOST,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="host",
    entry="[[host]]",
    screen="hosts",
    screen_title="Hosts",
    detail_labels={"where": "Where", "processes": "Processes", "os_sessions": "Logged in"},
    detail_text=detail_text,
    tile_summary=tile_summary,
)


def _ratio(value: float) -> str:
    return format_value("ratio", value)
