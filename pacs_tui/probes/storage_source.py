"""The storage source: volumes (``[[storage.volume]]``) — used and free space, inodes, read and
write rates, and when the volume is full at its recent rate of growth.

An archive that fills stops accepting images from every modality at once, so a volume is WARN
or CRIT on its percentage used *and* on its days to full (:mod:`pacs_tui.forecast`: least
squares over ``window``, seeded from the history at the first check, then kept up from each
check's own figure). ``statvfs`` runs in the source's thread pool with the check's deadline: a
hung network mount makes the volume DOWN with the reason, and its next checks wait for that
one call instead of stacking up threads behind it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui import secret_store
from pacs_tui.config_reader import HIDDEN, NO_VALUE, Reader
from pacs_tui.forecast import DAY, Forecast, days_words, forecast
from pacs_tui.http_get import hide_credentials, http_url
from pacs_tui.model import Result, Status, Target, TargetKind, TargetState
from pacs_tui.source import (
    BuildContext,
    Column,
    HistoryReader,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
    threshold_labels,
)
from pacs_tui.store.schema import RAW_RECENT
from pacs_tui.units import format_value
from pacs_tui.visible import VALUE_LIMIT, visible

if TYPE_CHECKING:
    from pacs_tui.store.schema import SeriesPoint

USED_RATIO = MetricSpec(
    "used_ratio", "ratio", "Used", description="space used (as df counts it)", headline=True,
    scale=(0.0, 1.0), title="Space used",
)  # fmt: skip
METRICS = (
    USED_RATIO,
    MetricSpec("used_bytes", "B", "Used space", description="bytes used"),
    MetricSpec("free_bytes", "B", "Free", description="bytes available to users"),
    MetricSpec("size_bytes", "B", "Size", description="used + available"),
    MetricSpec("inodes_used_ratio", "ratio", "Inodes", description="inodes used"),
    MetricSpec("days_to_full", "days", "Full in", description="days until full at the recent rate"),
    MetricSpec("growth_bytes_per_second", "B", "Growth/s", description="bytes a second, fitted"),
    MetricSpec("read_bytes_per_second", "B", "Read/s", description="the device's reads a second"),
    MetricSpec(
        "write_bytes_per_second", "B", "Write/s", description="the device's writes a second"
    ),
    # An archive's counts (Orthanc's /statistics); instances are its headline.
    MetricSpec("archive_instances", "", "Instances", description="instances the archive holds"),
    MetricSpec("archive_studies", "", "Studies", description="studies the archive holds"),
    MetricSpec("archive_series", "", "Series", description="series the archive holds"),
    MetricSpec("archive_patients", "", "Patients", description="patients the archive holds"),
    MetricSpec("archive_disk_bytes", "B", "Archive size", description="its storage, as it counts"),
)

#: Volumes checked at once (threads: ``statvfs`` blocks).
THREADS = 8
#: Points of a volume's usage kept for the forecast (a week at 30 s is 20,160).
MAX_POINTS = 25_000


@dataclass(frozen=True, slots=True)
class VolumeConfig:
    id: str
    path: str
    warn: float = 0.85
    crit: float = 0.95
    warn_days: float | None = 14.0
    crit_days: float | None = 3.0
    window: float = 7 * DAY
    interval: float = 60.0
    timeout: float = 10.0
    site: str = ""
    description: str = ""
    #: A folder given a budget (bytes): its files count against it, not the filesystem's.
    budget: float | None = None


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    """An archive's own counts from its REST API (Orthanc's ``/statistics``)."""

    id: str
    url: str
    username: str = ""
    password_env: str = ""  # the environment variable holding the password
    interval: float = 300.0
    timeout: float = 10.0
    site: str = ""
    description: str = ""
    #: The secret's NAME from ``password = "secret:NAME"``, resolved at each check.
    password_secret: str = ""


@dataclass(frozen=True, slots=True)
class StorageConfig:
    volumes: tuple[VolumeConfig, ...] = ()
    archives: tuple[ArchiveConfig, ...] = ()


# -- config -------------------------------------------------------------------------------------

_PERCENT_EXPECTED = 'a percentage from 1% to 100%, like "85%"'
_DAYS_EXPECTED = "a number of days from 0.1 to 3650 (0 for no forecast threshold)"


def _percent(value: Any) -> float:
    """ "85%" (or 85) → 0.85."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError
        value = float(text[:-1])
    if not isinstance(value, int | float) or not 1 <= value <= 100:
        raise ValueError
    return float(value) / 100


def _days(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError
    if value == 0:
        return None
    if not 0.1 <= value <= 3650:
        raise ValueError
    return float(value)


_UNITS = {
    "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50,
}  # fmt: skip
_SIZE_EXPECTED = (
    'a size of at least 1 MiB, like "500 GiB" or "2TB" (B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB)'
)


def _size(value: Any) -> float:
    """ "500 GiB" → bytes; at least a mebibyte."""
    if not isinstance(value, str):
        raise ValueError
    text = value.strip().replace(" ", "")
    number = text.rstrip("BKMGTPIbkmgtpi")
    unit = text[len(number) :].upper()
    if unit not in _UNITS or not number:
        raise ValueError
    size = float(number) * _UNITS[unit]
    if not 2**20 <= size <= 2**60:
        raise ValueError
    return size


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise ValueError
    if len(value) > 4096:
        raise ValueError
    return os.path.normpath(value)


def read(reader: Reader, raw: Any, site: str) -> StorageConfig:
    """The ``[storage]`` table (absent: nothing)."""
    if raw is None:
        return StorageConfig()
    if not isinstance(raw, dict):
        reader.problem("storage", raw, "a table with [[storage.volume]] entries")
        return StorageConfig()
    reader.check_keys(raw, "storage", {"volume", "mounts", "archive"})
    volumes: tuple[VolumeConfig, ...] = (
        reader.entries(
            raw["volume"], "storage.volume", lambda t, path: _volume(reader, t, path, site)
        )
        if "volume" in raw
        else ()
    )
    if reader.get(raw, "mounts", "storage", cv.boolean, "true or false", False) is True:
        volumes += local_mounts(volumes, site)
    archives: tuple[ArchiveConfig, ...] = (
        reader.entries(
            raw["archive"], "storage.archive", lambda t, path: _archive(reader, t, path, site)
        )
        if "archive" in raw
        else ()
    )
    return StorageConfig(volumes, archives)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _archive(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> ArchiveConfig | None:
    keys = {
        "id", "url", "username", "password", "password_env", "interval", "timeout", "site",
        "description",
    }  # fmt: skip
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    url = get(
        t, "url", path, http_url,
        "the archive's REST address, like http://orthanc:8042 (a port from 1 to 65535; no user "
        "or password in it: username and password give them)",
        shown=hide_credentials,
    )  # fmt: skip
    username = get(t, "username", path, cv.string, "a string", "")
    password_env = get(
        t, "password_env", path, _env_name,
        "the name of an environment variable that holds the password (never the password)", "",
    )  # fmt: skip
    secret = get(
        t, "password", path, _secret_reference, _SECRET_EXPECTED, "", shown=lambda _: HIDDEN
    )
    if "password" in t and "password_env" in t:
        reader.problem(
            f"{path}.password_env", NO_VALUE, "either password or password_env, not both"
        )
    if "password" in t and "username" not in t:
        reader.problem(f"{path}.username", cv.MISSING, "a user name beside password")
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 300.0)
    default_timeout = min(10.0, interval / 2) if isinstance(interval, float) else 10.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    if len(reader.problems) > before:
        return None
    return ArchiveConfig(
        entry_id, url.rstrip("/"), username, password_env, interval, timeout, entry_site,
        description, password_secret=secret,
    )  # fmt: skip


_SECRET_EXPECTED = (
    'a reference "secret:NAME" to a secret stored with `pacs-tui secrets set NAME` (NAME: '
    f"{secret_store.NAME_RULE}); never the password itself"
)


def _secret_reference(value: Any) -> str:
    """``"secret:NAME"`` → NAME; anything else (a password typed in the TOML) is refused."""
    if not isinstance(value, str):
        raise ValueError
    try:
        name = secret_store.reference_name(value)
    except secret_store.SecretError:
        raise ValueError from None
    if name is None:
        raise ValueError
    return name


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError
    return value


def local_mounts(configured: Sequence[VolumeConfig], site: str) -> tuple[VolumeConfig, ...]:
    """A volume for each local filesystem on a block device (psutil's physical partitions:
    no tmpfs, proc, overlay or network mount) that no ``[[storage.volume]]`` watches by path,
    named ``mount-`` and its mount point (``mount-root``, ``mount-var-lib-orthanc``)."""
    import psutil

    taken = {v.path for v in configured}
    ids = {v.id for v in configured}
    found: list[VolumeConfig] = []
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        return ()
    for part in sorted(partitions, key=lambda p: p.mountpoint):
        mount = os.path.normpath(part.mountpoint)
        if mount in taken:
            continue
        name = "root" if mount == "/" else re.sub(r"[^A-Za-z0-9_.-]+", "-", mount.strip("/"))
        # The end of a long mount point says most: kept, the start dropped.
        volume_id = f"mount-{name[-57:].lstrip('-.')}"
        for n in range(2, 100):
            if volume_id not in ids:
                break
            volume_id = f"mount-{name[-54:].lstrip('-.')}-{n}"
        taken.add(mount)
        ids.add(volume_id)
        description = f"{part.device} ({part.fstype})"
        found.append(VolumeConfig(volume_id, mount, site=site, description=description))
    return tuple(found)


def _volume(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> VolumeConfig | None:
    keys = {
        "id", "path", "warn", "crit", "warn_days", "crit_days", "window", "interval", "timeout",
        "site", "description", "budget",
    }  # fmt: skip
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    where = get(t, "path", path, _path, "an absolute path (like /var/lib/orthanc/db)")
    warn = get(t, "warn", path, _percent, _PERCENT_EXPECTED, 0.85)
    crit = get(t, "crit", path, _percent, _PERCENT_EXPECTED, 0.95)
    warn_days = get(t, "warn_days", path, _days, _DAYS_EXPECTED, 14.0)
    crit_days = get(t, "crit_days", path, _days, _DAYS_EXPECTED, 3.0)
    window = get(
        t, "window", path, cv.duration_between(3600.0, 90 * DAY),
        "a duration from 1h to 90d, like '7d'", 7 * DAY,
    )  # fmt: skip
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 60.0)
    # Unless given, the timeout is 10 s, or half the interval for a volume checked more often.
    default_timeout = min(10.0, interval / 2) if isinstance(interval, float) else 10.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    budget = get(t, "budget", path, _size, _SIZE_EXPECTED, None)
    if isinstance(warn, float) and isinstance(crit, float) and crit < warn:
        reader.problem(f"{path}.crit", t.get("crit"), f"at least warn ({warn * 100:g}%)")
    if isinstance(warn_days, float) and isinstance(crit_days, float) and crit_days > warn_days:
        reader.problem(
            f"{path}.crit_days", t.get("crit_days"), f"at most warn_days ({warn_days:g})"
        )
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    if len(reader.problems) > before:
        return None
    return VolumeConfig(
        entry_id, where, warn, crit, warn_days, crit_days, window, interval, timeout,
        entry_site, description, budget,
    )  # fmt: skip


def volume_target(entry: VolumeConfig) -> Target:
    labels = {"path": entry.path, "site": entry.site, "description": entry.description}
    if entry.budget is not None:
        labels["budget"] = format_value("B", entry.budget)
    labels.update(threshold_labels("used_ratio", entry.warn, entry.crit))
    labels.update(threshold_labels("inodes_used_ratio", entry.warn, entry.crit))
    labels.update(threshold_labels("days_to_full", entry.warn_days, entry.crit_days, below=True))
    return Target(entry.id, TargetKind.VOLUME, labels)


def archive_target(entry: ArchiveConfig) -> Target:
    labels = {"path": entry.url, "site": entry.site, "description": entry.description}
    return Target(entry.id, TargetKind.ARCHIVE, labels)


def targets(config: StorageConfig) -> list[Target]:
    return [volume_target(v) for v in config.volumes] + [archive_target(a) for a in config.archives]


# -- the check ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Space:
    """What ``statvfs`` says, in bytes and inodes (``free`` is what users may still write)."""

    used: float
    free: float
    inodes: int
    inodes_free: int
    #: The size when it is not used + free: a budget, which the files may overrun.
    total: float | None = None

    @property
    def size(self) -> float:
        return self.total if self.total is not None else self.used + self.free

    @property
    def used_ratio(self) -> float:
        return self.used / self.size if self.size > 0 else 0.0


def read_space(path: str) -> Space:
    """``df``'s figures for the filesystem holding ``path`` (blocking: call it in a thread)."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return Space(float(used), float(free), st.f_files, st.f_ffree)


#: Files and folders a budget's walk reads at most (beyond: the folder is too big to walk every
#: interval, said in words).
MAX_ENTRIES = 1_000_000


class TooBig(ValueError):
    """A budget's folder that cannot be walked within its bounds (said in words)."""


def read_budget(path: str, budget: float, seconds: float = 10.0) -> Space:
    """The bytes on disk of the files under ``path`` (as ``du`` counts them; symbolic links
    not followed, other filesystems not entered) against ``budget``. Blocking, bounded by
    :data:`MAX_ENTRIES` and ``seconds``."""
    deadline = time.monotonic() + seconds
    device = os.stat(path).st_dev
    used, seen = 0, 0
    folders = [path]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    raise TooBig(f"more than {MAX_ENTRIES:,} files: too many to add up each check")
                if seen % 1000 == 0 and time.monotonic() > deadline:
                    raise TooBig(f"its files could not be added up within {seconds:g} s")
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while walking
                if entry.is_dir(follow_symlinks=False):
                    if st.st_dev == device:
                        folders.append(entry.path)
                else:
                    used += st.st_blocks * 512
    return Space(float(used), max(0.0, budget - used), 0, 0, total=budget)


class VolumeCheck:
    """One volume every ``interval``: space, inodes, device rates, forecast, status."""

    pool = "storage"

    def __init__(
        self,
        entry: VolumeConfig,
        executor: ThreadPoolExecutor | None = None,
        history: HistoryReader | None = None,
        *,
        space: Callable[[str], Space] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entry = entry
        self.target = volume_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._executor = executor
        self._history = history
        if space is None and entry.budget is not None:
            budget, seconds = entry.budget, entry.timeout

            def space(path: str) -> Space:
                return read_budget(path, budget, seconds * 0.9)  # its words before the timeout

        self._space = space or read_space
        self._clock = clock
        self._points: deque[tuple[float, float]] = deque(maxlen=MAX_POINTS)
        self._seeded = False
        self._stuck: Future[Space] | None = None  # a statvfs that has not returned yet
        self._stuck_since = 0.0
        self._io: tuple[float, float, float] | None = None  # (monotonic, read, written)

    def __repr__(self) -> str:
        return f"VolumeCheck({self.target.id!r}, {self.entry.path!r})"

    @property
    def settings(self) -> VolumeConfig:
        return self.entry

    async def check(self) -> Result:
        now = self._clock()
        if self._stuck is not None and not self._stuck.done():
            since = time.strftime("%H:%M:%S", time.localtime(self._stuck_since))
            return Result(
                Status.DOWN,
                f"the filesystem has not answered since {since} (a hung network mount?)",
                details={"path": self.entry.path},
            )
        if not self._seeded:
            await self._seed(now)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._space, self.entry.path)
        try:
            space = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            self._stuck, self._stuck_since = future, now  # type: ignore[assignment]
            return Result(
                Status.DOWN,
                f"the filesystem did not answer within {self.timeout:g} s (a hung network mount?)",
                details={"path": self.entry.path},
            )
        except OSError as exc:
            return Result(
                Status.DOWN, _os_words(exc, self.entry.path), {}, {"path": self.entry.path}
            )
        except TooBig as exc:
            return Result(Status.UNKNOWN, str(exc), {}, {"path": self.entry.path})
        self._stuck = None
        return self._result(space, now)

    async def _seed(self, now: float) -> None:
        """The forecast's points from the history (once): a restart keeps its forecast."""
        self._seeded = True
        if self._history is None:
            return
        # The last hours as raw samples, at their own times; before them the rolled-up buckets
        # (at their start: an hour's error on a forecast over days). A window read whole came
        # as buckets only, and a day of samples read as "2 points over 48 min".
        window = self.entry.window
        recent = now - min(window, RAW_RECENT)
        try:
            older: Sequence[SeriesPoint] = ()
            if window > RAW_RECENT:
                older = await self._history.series(
                    self.target.id, "used_bytes", now - window, until=recent - 1
                )
            points = await self._history.series(self.target.id, "used_bytes", recent)
        except Exception:  # a history that cannot answer: the forecast starts from now
            return
        self._points.extend((p.ts, p.avg) for p in older if p.count and p.ts < recent)
        self._points.extend((p.ts, p.avg) for p in points if p.count)

    def _result(self, space: Space, now: float) -> Result:
        entry = self.entry
        points = self._points
        points.append((now, space.used))
        while points and points[0][0] < now - entry.window:
            points.popleft()
        fit = forecast(points, space.size, now, entry.window)
        metrics: dict[str, float] = {
            "used_ratio": space.used_ratio,
            "used_bytes": space.used,
            "free_bytes": space.free,
            "size_bytes": space.size,
        }
        if space.inodes > 0:
            metrics["inodes_used_ratio"] = 1 - space.inodes_free / space.inodes
        if fit.days is not None:
            metrics["days_to_full"] = round(fit.days, 4)  # minutes still count, near full
        if fit.rate is not None:
            metrics["growth_bytes_per_second"] = fit.rate
        metrics.update(self._device_rates())
        status, reason = judge(entry, space, metrics.get("inodes_used_ratio"), fit)
        details: dict[str, Any] = {
            "path": entry.path,
            "forecast": fit.words,
            "fit_points": fit.points,
        }
        if fit.rate is not None:
            details["growth"] = f"{format_value('B', fit.rate * DAY)} a day"
        return Result(status, reason, metrics, details, ts=now)

    def _device_rates(self) -> dict[str, float]:
        """Reads and writes a second of the device under the path, from psutil's counters
        (none for a filesystem with no block device: tmpfs, NFS)."""
        counters = device_counters(self.entry.path) if self.entry.budget is None else None
        if counters is None:
            return {}
        now = time.monotonic()
        last, self._io = self._io, (now, counters[0], counters[1])
        if last is None or now <= last[0] or counters[0] < last[1] or counters[1] < last[2]:
            return {}
        took = now - last[0]
        return {
            "read_bytes_per_second": (counters[0] - last[1]) / took,
            "write_bytes_per_second": (counters[1] - last[2]) / took,
        }

    async def close(self) -> None:
        """Nothing held open (a hung statvfs thread ends when its filesystem answers)."""


#: An archive's /statistics answer is read up to this size (it is a few hundred bytes).
ARCHIVE_ANSWER_LIMIT = 64 * 1024
_COUNTS = (
    ("CountPatients", "archive_patients"),
    ("CountStudies", "archive_studies"),
    ("CountSeries", "archive_series"),
    ("CountInstances", "archive_instances"),
)


class ArchiveError(Exception):
    """An archive that did not give its counts (said in words)."""


class NoPassword(Exception):
    """The password's secret or variable is not there (said in words): UNKNOWN, not DOWN."""


def secret_password(name: str) -> str:
    """The secret ``name``, resolved now: a ``pacs-tui secrets set`` since the last check counts.
    Blocking (a keyring may ask D-Bus): call it in a thread."""
    try:
        return secret_store.resolve(name, may_prompt=False).value
    except secret_store.SecretNotFound as exc:
        raise NoPassword(
            f"secret {name} (the password) not found: {'; '.join(exc.reasons)}"
        ) from None
    except secret_store.SecretError as exc:
        raise NoPassword(f"{exc} (the password)") from None


def fetch_statistics(entry: ArchiveConfig, password: str | None) -> dict[str, float]:
    """:func:`read_statistics` with the password, from the entry's secret when it has one."""
    if entry.password_secret:
        password = secret_password(entry.password_secret)
    return read_statistics(entry, password)


def read_statistics(entry: ArchiveConfig, password: str | None) -> dict[str, float]:
    """Orthanc's ``GET /statistics`` as metrics (blocking: call it in a thread)."""
    import base64
    import json

    from pacs_tui.http_get import HttpError, get_bounded

    headers = {"Accept": "application/json"}
    if entry.username:
        token = base64.b64encode(f"{entry.username}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        body = get_bounded(
            f"{entry.url}/statistics", timeout=entry.timeout, limit=ARCHIVE_ANSWER_LIMIT,
            headers=headers,
        )  # fmt: skip
    except HttpError as exc:
        hint = {
            401: " (username or password wrong?)",
            404: " for /statistics (is the url Orthanc's REST address?)",
        }.get(exc.status or 0, "")
        raise ArchiveError(f"{exc}{hint}") from None
    try:
        found = json.loads(body)
    except (ValueError, RecursionError):
        raise ArchiveError("its answer is not JSON: not Orthanc's /statistics") from None
    if not isinstance(found, dict):
        raise ArchiveError("its answer is not a JSON object: not Orthanc's /statistics")
    metrics: dict[str, float] = {}
    for key, name in (*_COUNTS, ("TotalDiskSize", "archive_disk_bytes")):
        value = found.get(key)
        # Orthanc writes the sizes as strings ("12345"), the counts as numbers.
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            metrics[name] = float(value)
    if "archive_instances" not in metrics:
        raise ArchiveError("no CountInstances in its answer: not Orthanc's /statistics")
    return metrics


class ArchiveCheck:
    """An archive's counts every ``interval`` (5 min): recorded, so its growth is charted
    beside its volume's."""

    pool = "storage"

    def __init__(self, entry: ArchiveConfig, executor: ThreadPoolExecutor | None = None) -> None:
        self.entry = entry
        self.target = archive_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._executor = executor

    def __repr__(self) -> str:
        return f"ArchiveCheck({self.target.id!r})"

    @property
    def settings(self) -> ArchiveConfig:
        return self.entry

    async def check(self) -> Result:
        password = os.environ.get(self.entry.password_env) if self.entry.password_env else None
        if self.entry.password_env and password is None:
            return Result(Status.UNKNOWN, f"${self.entry.password_env} is not set (the password)")
        loop = asyncio.get_running_loop()
        try:
            metrics = await asyncio.wait_for(
                loop.run_in_executor(self._executor, fetch_statistics, self.entry, password),
                self.timeout + 0.5,
            )
        except TimeoutError:
            return Result(Status.DOWN, f"no answer within {self.timeout:g} s")
        except ArchiveError as exc:
            return Result(Status.DOWN, str(exc))
        except NoPassword as exc:
            return Result(Status.UNKNOWN, str(exc))
        parts = [
            f"{metrics[name]:,.0f} {name.removeprefix('archive_')}"
            for _, name in _COUNTS[1:]
            if name in metrics
        ]
        if "archive_disk_bytes" in metrics:
            parts.append(format_value("B", metrics["archive_disk_bytes"]) + " on disk")
        return Result(Status.OK, ", ".join(parts), metrics, {"path": self.entry.url})

    async def close(self) -> None:
        """Nothing held open."""


def judge(
    entry: VolumeConfig, space: Space, inodes: float | None, fit: Forecast
) -> tuple[Status, str]:
    """The worst of: space used against warn/crit, inodes against the same, days to full
    against warn_days/crit_days; the reason says each part that is not OK, else the figures."""
    found: list[tuple[Status, str]] = []
    used = format_value("ratio", space.used_ratio)
    for status, limit in ((Status.CRIT, entry.crit), (Status.WARN, entry.warn)):
        if space.used_ratio >= limit:
            found.append((status, f"{used} used ≥ {format_value('ratio', limit)}"))
            break
    if inodes is not None:
        for status, limit in ((Status.CRIT, entry.crit), (Status.WARN, entry.warn)):
            if inodes >= limit:
                shown = format_value("ratio", inodes)
                found.append((status, f"inodes {shown} used ≥ {format_value('ratio', limit)}"))
                break
    if space.used > space.size:  # a budget overrun
        over = format_value("B", space.used - space.size)
        found.append((Status.CRIT, f"over its budget of {format_value('B', space.size)} by {over}"))
    elif fit.days == 0:
        found.append((Status.CRIT, "full now"))
    elif fit.days is not None:
        for status, days in ((Status.CRIT, entry.crit_days), (Status.WARN, entry.warn_days)):
            if days is not None and fit.days < days:
                found.append((status, f"{fit.words} (< {days_words(days)})"))
                break
    if not found:
        free = format_value("B", space.free)
        return Status.OK, f"{used} used, {free} free; {fit.words}"
    worst = max((s for s, _ in found), key=lambda s: s.rank)
    return worst, "; ".join(words for _, words in found)


def device_counters(path: str) -> tuple[float, float] | None:
    """Bytes read and written so far by the block device holding ``path`` (psutil), None when
    there is none to be found."""
    import psutil

    device = _device_of(path)
    if device is None:
        return None
    try:
        counters = psutil.disk_io_counters(perdisk=True, nowrap=True)
    except (OSError, RuntimeError):
        return None
    found = counters.get(device) if counters else None
    return None if found is None else (float(found.read_bytes), float(found.write_bytes))


def _device_of(path: str) -> str | None:
    """The kernel's name of the block device mounted at the longest mount point above
    ``path`` ("sda1", "dm-0"), None for a filesystem without one."""
    import psutil

    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        return None
    best = None
    for part in partitions:
        mount = part.mountpoint
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and (
            best is None or len(mount) > len(best.mountpoint)
        ):
            best = part
    if best is None or not best.device.startswith("/dev/"):
        return None
    return str(os.path.basename(os.path.realpath(best.device)))


def _os_words(exc: OSError, path: str) -> str:
    shown = visible(path, VALUE_LIMIT)
    if isinstance(exc, FileNotFoundError):
        return f"{shown} does not exist (not mounted?)"
    if isinstance(exc, PermissionError):
        return f"{shown}: permission denied"
    return f"{shown}: {exc.strerror or exc}"


# -- the declaration ----------------------------------------------------------------------------


def build(config: StorageConfig, ctx: BuildContext) -> list[Runnable]:
    volumes: list[Runnable] = [VolumeCheck(v, ctx.executor, ctx.history) for v in config.volumes]
    return volumes + [ArchiveCheck(a, ctx.executor) for a in config.archives]


def workers(config: StorageConfig) -> WorkerLimit:
    count = len(config.volumes) + len(config.archives)
    return WorkerLimit(max(1, min(count, THREADS)), threads=True)


def example() -> list[tuple[str, Any]]:
    entry = tomlkit.table()
    entry.add(tomlkit.comment("A volume to keep from filling: space, inodes, days to full."))
    entry.add("id", "archive")
    entry.add("path", "/var/lib/orthanc/db")
    entry.add("warn", "85%")
    entry.add("crit", "95%")
    entry.add("warn_days", 14)
    entry["warn_days"].comment("WARN when full in fewer days than this at the recent growth")
    entry.add("crit_days", 3)
    entry.add("window", "7d")
    entry["window"].comment("the growth is fitted over this much history")
    entry.add(tomlkit.comment("Optional:"))
    entry.add(tomlkit.comment('interval = "1m"'))
    entry.add(tomlkit.comment('timeout = "10s"'))
    entry.add(tomlkit.comment('description = "Orthanc storage area"'))
    storage = tomlkit.table(is_super_table=True)
    storage.add("volume", AoT([entry]))
    return [("storage", storage)]


def headline(state: TargetState) -> str | None:
    """A volume's used space; an archive's instances."""
    return "archive_instances" if state.target.kind == TargetKind.ARCHIVE else "used_ratio"


def tile_summary(states: Any) -> str:
    """The fullest volume, and the soonest full: "fullest archive 87 % · full soonest: archive
    in 11 days"."""
    fullest = max(states, key=lambda s: s.metrics.get("used_ratio", -1.0), default=None)
    if fullest is None or "used_ratio" not in fullest.metrics:
        return ""
    parts = [
        f"fullest {visible(fullest.id, 24)} {format_value('ratio', fullest.metrics['used_ratio'])}"
    ]
    soonest = min(
        (s for s in states if "days_to_full" in s.metrics),
        key=lambda s: s.metrics["days_to_full"],
        default=None,
    )
    if soonest is not None:
        days = days_words(soonest.metrics["days_to_full"])
        parts.append(f"full soonest: {visible(soonest.id, 24)} in {days}")
    return " · ".join(parts)


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Volume", "id", None, True),
    Column("path", "Path", "label", None, False, "path"),
    Column("used", "Used", "value", 17, True, "used_ratio", "fullest first", "", True, gauge=10),
    Column("free", "Free", "value", 9, False, "free_bytes", "least first", "most first"),
    Column("full", "Full in", "value", 10, True, "days_to_full", "soonest first", "latest first"),
    Column("trend", "Last hour", "trend", 14, False),
    Column("since", "Since", "since", 10, False, "", "latest change first", "oldest first", True),
    Column("reason", "Reason", "reason", None, True),
)

SOURCE = Source(
    name="storage",
    title="Storage",
    kinds=(TargetKind.VOLUME, TargetKind.ARCHIVE),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    headline=headline,
    noun="volume",
    entry="[[storage.volume]]",
    screen="storage",
    screen_title="Storage",
    detail_labels={
        "forecast": "Forecast",
        "growth": "Growth",
        "fit_points": "Readings fitted",
    },
    hidden_details=frozenset({"path"}),  # the target's own Path fact says it
    tile_summary=tile_summary,
)
