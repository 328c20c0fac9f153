"""Volumes: the config's words for bad values, the status and reason from space, inodes and
days to full, the forecast seeded from the history, a filesystem that hangs or is missing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from pacs_tui.config import ConfigError, parse_config
from pacs_tui.forecast import DAY
from pacs_tui.model import Status, Target, TargetKind, TargetState
from pacs_tui.probes.storage_source import (
    Space,
    VolumeCheck,
    VolumeConfig,
    read_space,
    tile_summary,
    volume_target,
)
from pacs_tui.store.schema import SeriesPoint

GIB = 2.0**30


def config_problems(volume: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[[storage.volume]]\n{volume}\n")
    return [str(p) for p in info.value.problems]


def test_a_volume_entry_reads_with_its_defaults() -> None:
    config = parse_config('[[storage.volume]]\nid = "archive"\npath = "/var/lib/orthanc//db/"\n')
    (volume,) = config.section("storage").volumes
    assert volume.path == "/var/lib/orthanc/db"
    assert (volume.warn, volume.crit, volume.warn_days, volume.crit_days) == (0.85, 0.95, 14, 3)
    assert volume.window == 7 * DAY and volume.interval == 60


AT = 'storage.volume "a" (#1).'


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('id = "a"\npath = "data"', AT + "path = 'data': expected an absolute path"),
        ('id = "a"\npath = "/d"\nwarn = "85"', AT + "warn = '85': expected a percentage"),
        (
            'id = "a"\npath = "/d"\nwarn = "90%"\ncrit = "80%"',
            AT + "crit = '80%': expected at least warn (90%)",
        ),
        (
            'id = "a"\npath = "/d"\nwarn_days = 2\ncrit_days = 5',
            AT + "crit_days = 5: expected at most warn_days (2)",
        ),
        (
            'id = "a"\npath = "/d"\nwindow = "5m"',
            AT + "window = '5m': expected a duration from 1h to 90d",
        ),
        ('id = "a"\npath = "/d"\nsize = 3', AT + "size = 3: no such key"),
    ],
)
def test_a_bad_volume_names_the_key_the_value_and_what_was_expected(
    lines: str, expected: str
) -> None:
    found = config_problems(lines)
    assert any(p.startswith(expected) for p in found), found


class Disk:
    """A filesystem whose usage the test sets."""

    def __init__(self, size: float) -> None:
        self.size, self.used, self.inodes_used = size, 0.0, 0.1

    def __call__(self, path: str) -> Space:
        return Space(self.used, self.size - self.used, 1000, round(1000 * (1 - self.inodes_used)))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def volume(**kw: object) -> VolumeConfig:
    return VolumeConfig("archive", "/archive", interval=60, timeout=1, **kw)  # type: ignore[arg-type]


async def test_space_over_warn_and_crit_says_the_percentage() -> None:
    disk, clock = Disk(100 * GIB), Clock()
    check = VolumeCheck(volume(), space=disk, clock=clock)
    disk.used = 50 * GIB
    result = await check.check()
    assert result.status is Status.OK
    assert result.reason.startswith("50 % used, 50.0 GiB free; no forecast yet")
    assert result.metrics["used_ratio"] == 0.5 and result.metrics["free_bytes"] == 50 * GIB
    disk.used = 87 * GIB
    result = await check.check()
    assert (result.status, result.reason) == (Status.WARN, "87 % used ≥ 85 %")
    disk.used = 96 * GIB
    assert (await check.check()).status is Status.CRIT


async def test_inodes_running_out_is_said_even_with_space_left() -> None:
    disk = Disk(100 * GIB)
    disk.inodes_used = 0.97
    result = await VolumeCheck(volume(), space=disk, clock=Clock()).check()
    assert result.status is Status.CRIT and "inodes 97 % used ≥ 95 %" in result.reason


async def test_growth_makes_it_warn_then_crit_with_the_days_left() -> None:
    disk, clock = Disk(100 * GIB), Clock()
    check = VolumeCheck(volume(warn=0.99, crit=1.0), space=disk, clock=clock)
    # 10 GiB a day from 10 GiB: after 2 days, 70 GiB free is 7 days: under warn_days (14).
    for day in range(3):
        disk.used = (10 + 10 * day) * GIB
        result = await check.check()
        clock.now += DAY
    assert result.status is Status.WARN
    assert result.reason == "full in 7 days (< 14 days)"
    assert result.metrics["days_to_full"] == pytest.approx(7.0)
    assert result.details["growth"] == "10.0 GiB a day"
    for _ in range(5):  # 30 GiB free, then 20 GiB: under crit_days (3) at 20
        disk.used += 10 * GIB
        result = await check.check()
        clock.now += DAY
    assert (result.status, result.reason) == (Status.CRIT, "full in 2 days (< 3 days)")


class History:
    """What the store's series gives for used_bytes: the last two days, hourly."""

    def __init__(self, now: float) -> None:
        self.asked: list[tuple[str, str, float]] = []
        self.points = [
            SeriesPoint(now - h * 3600, 0, 0, 50 * GIB - h * GIB / 24, 12) for h in range(48, 0, -1)
        ]

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> Sequence[SeriesPoint]:
        self.asked.append((target, metric, since))
        return [p for p in self.points if since <= p.ts and (until is None or p.ts <= until)]


async def test_the_forecast_starts_from_the_history_after_a_restart() -> None:
    disk, clock = Disk(100 * GIB), Clock()
    history = History(clock.now)
    disk.used = 50 * GIB
    check = VolumeCheck(volume(), history=history, space=disk, clock=clock)
    result = await check.check()
    # The week in buckets, the last five hours as raw samples (at their own times).
    assert history.asked == [
        ("archive", "used_bytes", clock.now - 7 * DAY),
        ("archive", "used_bytes", clock.now - 5 * 3600),
    ]
    assert result.metrics["days_to_full"] == pytest.approx(50.0, rel=0.01)  # 1 GiB a day
    assert result.details["fit_points"] == 49  # each point once, and this reading
    await check.check()
    assert len(history.asked) == 2  # read once


async def test_after_a_restart_minutes_of_samples_are_minutes_not_a_bucket(tmp_path: Path) -> None:
    """Three samples two minutes apart, read back as themselves: a window read whole came as
    one 5-minute bucket at its start ("2 points over 48 min" in a reviewer's run)."""
    from pacs_tui.model import Sample
    from pacs_tui.store import Store

    now = time.time()
    store = await Store.open(tmp_path / "h.sqlite")
    try:
        store.upsert_targets([volume_target(volume())])
        store.add_samples(
            Sample(now - 120 + 60 * n, "archive", "used_bytes", 50 * GIB + n * GIB)
            for n in range(3)
        )
        await store.flush()
        disk = Disk(100 * GIB)
        disk.used = 53 * GIB
        clock = Clock()
        clock.now = now + 10
        result = await VolumeCheck(volume(), history=store, space=disk, clock=clock).check()
    finally:
        await store.close()
    assert result.details["forecast"].startswith("no forecast yet: 4 points over 2 min ")


async def test_a_filesystem_that_hangs_is_down_and_not_asked_again_meanwhile() -> None:
    release = threading.Event()
    calls: list[str] = []

    def hung(path: str) -> Space:
        calls.append(path)
        release.wait(10)
        return Space(1.0, 1.0, 0, 0)

    check = VolumeCheck(volume(), space=hung, clock=Clock())
    first = await check.check()
    assert first.status is Status.DOWN
    assert first.reason == "the filesystem did not answer within 1 s (a hung network mount?)"
    second = await check.check()
    assert second.status is Status.DOWN and "has not answered since" in second.reason
    assert calls == ["/archive"]  # one thread held, not one more at every check
    release.set()
    for _ in range(100):  # the hung call returns: the next check asks again
        await asyncio.sleep(0.01)
        if (await check.check()).status is Status.OK:
            break
    assert len(calls) == 2


async def test_a_missing_path_is_down_in_words(tmp_path: Path) -> None:
    entry = VolumeConfig("gone", str(tmp_path / "not-mounted"), timeout=2)
    result = await VolumeCheck(entry).check()
    assert result.status is Status.DOWN
    assert result.reason == f"{tmp_path}/not-mounted does not exist (not mounted?)"


async def test_a_real_folder_gives_dfs_figures(tmp_path: Path) -> None:
    space = read_space(str(tmp_path))
    result = await VolumeCheck(VolumeConfig("tmp", str(tmp_path), timeout=2)).check()
    assert result.status in (Status.OK, Status.WARN, Status.CRIT)
    assert result.metrics["size_bytes"] == pytest.approx(space.size, rel=0.01)
    assert 0 <= result.metrics["used_ratio"] <= 1


def test_the_tile_names_the_fullest_and_the_soonest_full() -> None:
    def state(name: str, used: float, days: float | None) -> TargetState:
        metrics = {"used_ratio": used} | ({"days_to_full": days} if days is not None else {})
        return TargetState(Target(name, TargetKind.VOLUME), Status.OK, metrics=metrics)

    states = [state("archive", 0.87, 40.0), state("dumps", 0.5, 11.0), state("db", 0.2, None)]
    assert tile_summary(states) == "fullest archive 87 % · full soonest: dumps in 11 days"
    assert tile_summary([]) == ""


async def test_a_folder_with_a_budget_counts_its_files_against_it(tmp_path: Path) -> None:
    (tmp_path / "study1").mkdir()
    (tmp_path / "study1" / "ct.dcm").write_bytes(b"\1" * 3 * 2**20)
    (tmp_path / "sr.dcm").write_bytes(b"\2" * 2**20)
    (tmp_path / "link").symlink_to("/usr")  # not followed
    config = parse_config(
        f'[[storage.volume]]\nid = "demo"\npath = "{tmp_path}"\nbudget = "4.5 MiB"\n'
    )
    (entry,) = config.section("storage").volumes
    assert entry.budget == 4.5 * 2**20
    result = await VolumeCheck(entry).check()
    assert result.metrics["used_bytes"] == pytest.approx(4 * 2**20, rel=0.01)
    assert result.metrics["size_bytes"] == 4.5 * 2**20
    assert (result.status, result.reason) == (Status.WARN, "88.9 % used ≥ 85 %")


async def test_a_folder_too_big_to_add_up_is_unknown_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pacs_tui.probes import storage_source

    monkeypatch.setattr(storage_source, "MAX_ENTRIES", 5)
    for n in range(10):
        (tmp_path / f"f{n}").write_bytes(b"x")
    entry = VolumeConfig("big", str(tmp_path), budget=2.0**30, timeout=2)
    result = await VolumeCheck(entry).check()
    assert result.status is Status.UNKNOWN
    assert result.reason == "more than 5 files: too many to add up each check"


@pytest.mark.parametrize("size", ["5", "5 XB", "512 KiB", "-1 GiB", 5])
def test_a_budget_must_be_a_size(size: object) -> None:
    shown = f'"{size}"' if isinstance(size, str) else str(size)
    found = config_problems(f'id = "a"\npath = "/d"\nbudget = {shown}')
    expected = "expected a size of at least 1 MiB, like"
    assert any(".budget = " in p and expected in p for p in found), found


@pytest.mark.parametrize(
    ("ratio", "bar"),
    [(0.0, "░░░░░░░░░░"), (0.87, "████████▊░"), (1.0, "██████████"), (1.7, "██████████"),
     (0.05, "▌░░░░░░░░░")],
)  # fmt: skip
def test_a_gauge_is_drawn_in_eighths_of_a_cell(ratio: float, bar: str) -> None:
    from pacs_tui.screens.table_cells import gauge_bar

    assert gauge_bar(ratio, 10) == bar


def test_an_archive_takes_no_password_in_the_toml() -> None:
    found = config_problems(
        'id = "a"\npath = "/d"\n[[storage.archive]]\nid = "o"\nurl = "http://u:pw@orthanc:8042"\n'
        'username = "u"\npassword = "x"'
    )
    assert any(".url = " in p and "REST address" in p for p in found), found
    expected = """.password = '(hidden)': expected a reference "secret:NAME" to a secret"""
    assert any(expected in p for p in found), found


ARCHIVE = '[[storage.archive]]\nid = "o"\nurl = "http://orthanc:8042"\nusername = "u"\n'


def test_an_archive_password_is_a_secret_reference() -> None:
    config = parse_config(ARCHIVE + 'password = "secret:orthanc-admin"')
    (archive,) = config.section("storage").archives
    assert (archive.password_secret, archive.password_env) == ("orthanc-admin", "")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            'password = "secret:orthanc-admin"\npassword_env = "PW"',
            'storage.archive "o" (#1).password_env: expected either password or password_env, '
            "not both",
        ),
        (
            'password = "secret:bad name"',
            """storage.archive "o" (#1).password = '(hidden)': expected a reference "secret:""",
        ),
    ],
)
def test_an_archive_password_reference_in_words(lines: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(ARCHIVE + lines)
    found = [str(p) for p in info.value.problems]
    assert any(p.startswith(expected) for p in found), found


def test_an_archive_password_needs_a_user_name() -> None:
    found = config_problems(
        'id = "a"\npath = "/d"\n[[storage.archive]]\nid = "o"\nurl = "http://orthanc:8042"\n'
        'password = "secret:orthanc-admin"'
    )
    assert 'storage.archive "o" (#1).username: missing; expected a user name beside password' in (
        found
    )


class Answers:
    """An HTTP peer that answers /statistics as the test says (and keeps the Authorization
    header of each request)."""

    def __init__(self, body: bytes) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        answer = body
        self.authorizations: list[str | None] = []
        seen = self.authorizations

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>login</html>", "its answer is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"CountStudies": 3}', "no CountInstances in its answer"),
        (
            b'{"CountInstances": 1, "x": "' + b"y" * 70_000 + b'"}',
            "its answer is over 64 KiB: not read",
        ),
        (b"[" * 100_000, "its answer is over 64 KiB: not read"),
    ],
)
async def test_what_is_not_orthancs_statistics_is_down_in_words(body: bytes, words: str) -> None:
    from pacs_tui.probes.storage_source import ArchiveCheck, ArchiveConfig

    peer = Answers(body)
    try:
        result = await ArchiveCheck(ArchiveConfig("o", peer.url, timeout=2)).check()
    finally:
        peer.close()
    assert result.status is Status.DOWN and words in result.reason, result.reason


@pytest.fixture
def no_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No keyring backend (the user's own is never touched), the secrets file in tmp_path."""
    import keyring.core

    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    path = tmp_path / "secrets" / "secrets.toml"
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(path))
    monkeypatch.delenv("PACS_TUI_SECRET_ORTHANC_ADMIN", raising=False)
    return path


async def test_an_archive_sends_its_secret_as_basic_auth_at_each_check(no_keyring: Path) -> None:
    import base64

    from pacs_tui import secret_store
    from pacs_tui.probes.storage_source import ArchiveCheck, ArchiveConfig

    peer = Answers(b'{"CountInstances": 7}')
    entry = ArchiveConfig("o", peer.url, "pacs-tui", timeout=2, password_secret="orthanc-admin")
    check = ArchiveCheck(entry)
    try:
        missing = await check.check()
        secret_store.set_secret("orthanc-admin", "s3cr3t:x")  # taken at the next check
        found = await check.check()
    finally:
        peer.close()
    assert missing.status is Status.UNKNOWN
    assert missing.reason == (
        "secret orthanc-admin (the password) not found: keyring: no backend; "
        f"no $PACS_TUI_SECRET_ORTHANC_ADMIN; no file {no_keyring}"
    )
    assert found.status is Status.OK and found.metrics["archive_instances"] == 7
    from pacs_tui.probes.storage_source import archive_target
    from pacs_tui.report import headline_text

    state = TargetState(archive_target(entry), found.status, metrics=found.metrics)
    assert headline_text(state) == "instances 7"  # its label, not "archive_instances 7"
    token = base64.b64encode(b"pacs-tui:s3cr3t:x").decode()
    assert peer.authorizations == [f"Basic {token}"]
    assert "s3cr3t" not in found.reason + missing.reason


async def test_an_archive_at_the_wrong_address_says_what_to_look_at() -> None:
    """A web server that is not Orthanc (404 for /statistics), and https:// to a port that
    speaks plain HTTP: the reason points at the url, not at a status or an SSL library."""
    from pacs_tui.probes.storage_source import ArchiveCheck, ArchiveConfig

    peer = Answers(b"")
    try:
        https = peer.url.replace("http://", "https://")
        tls = await ArchiveCheck(ArchiveConfig("o", https, "", timeout=2)).check()
    finally:
        peer.close()
    assert tls.reason == "cannot reach it: no TLS on that port (http://, not https://?)"
    assert "SSL" not in tls.reason

    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404, "File not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        missing = await ArchiveCheck(ArchiveConfig("o", url, "", timeout=2)).check()
    finally:
        server.shutdown()
        server.server_close()
    assert missing.reason.endswith(
        "HTTP 404 File not found for /statistics (is the url Orthanc's REST address?)"
    )


async def test_a_folder_over_its_budget_says_by_how_much(tmp_path: Path) -> None:
    (tmp_path / "big.dcm").write_bytes(b"\1" * 3 * 2**20)
    entry = VolumeConfig("quota", str(tmp_path), budget=2.0 * 2**20, timeout=2)
    result = await VolumeCheck(entry).check()
    assert result.status is Status.CRIT
    assert result.metrics["used_ratio"] == pytest.approx(1.5, rel=0.01)
    assert result.metrics["size_bytes"] == 2 * 2**20
    assert "over its budget of 2.0 MiB by 1.0 MiB" in result.reason


def test_a_secret_or_a_password_in_a_url_is_never_printed_back() -> None:
    found = config_problems(
        'id = "a"\npath = "/d"\n[[storage.archive]]\nid = "o"\n'
        'url = "http://admin:hunter2@orthanc:8042"\npassword = "hunter3"\ntoken = "hunter4"'
    )
    text = "\n".join(found)
    assert not any(word in text for word in ("hunter2", "hunter3", "hunter4")), text
    assert "http://•••@orthanc:8042" in text and "password = '(hidden)'" in text
    assert "token = '(hidden)'" in text


def test_a_port_out_of_range_is_a_config_problem_not_a_traceback() -> None:
    found = config_problems(
        'id = "a"\npath = "/d"\n[[host]]\nid = "h"\nurl = "http://db1:99999/metrics"'
    )
    assert any(".url = " in p and "a port from 1 to 65535" in p for p in found), found
