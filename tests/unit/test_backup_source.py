"""Backups without the real tools: the config's words, the RPO's words, the tools' JSON read
defensively, dump folders, a backup job's own report, and a repository's integrity check
remembered from the history (a stand-in restic that records how it was called)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pacs_tui.backup import borg, dumps, restic
from pacs_tui.backup.command import CommandBackupCheck, CommandBackupConfig, parse_report
from pacs_tui.backup.dumps import DumpsCheck, DumpsConfig, Scan
from pacs_tui.backup.repository import RepositoryCheck, repository_target
from pacs_tui.backup.rpo import measure, span_words
from pacs_tui.backup.tool import Unreadable, parse_time
from pacs_tui.config import parse_config
from pacs_tui.model import Status, Target, TargetKind, TargetState
from pacs_tui.probes import backup_source
from pacs_tui.probes.backup_source import tile_summary
from pacs_tui.store.schema import SeriesPoint
from tests.unit.config_problems import problems

HOUR, DAY = 3600.0, 86400.0
NOW = 1_800_000_000.0


RESTIC = '[[backup.restic]]\nid = "r"\nrepo = "/srv/restic"\npassword = "secret:restic-pacs"\n'


# -- config -------------------------------------------------------------------------------------


def test_each_kind_of_backup_reads_with_its_defaults() -> None:
    config = parse_config(
        RESTIC + 'rpo = "24h"\n'
        '[[backup.borg]]\nid = "b"\nrepo = "ssh://backup@nas:22/./pacs"\nrpo = "2d"\n'
        'check_interval = "0"\n'
        '[[backup.dumps]]\nid = "d"\npath = "/srv/dumps/"\nrpo = "1d"\n'
        '[[backup.command]]\nid = "tape"\ncommand = ["/usr/local/bin/tape-report"]\nrpo = "7d"\n'
    )
    section = config.section("backup")
    (r,), (b,), (d,), (c,) = section.restic, section.borg, section.dumps, section.command
    assert (r.rpo, r.password_secret, r.interval, r.timeout) == (DAY, "restic-pacs", 300, 60)
    assert (r.check_interval, r.check_timeout) == (DAY, HOUR)
    assert (b.check_interval, b.password_secret) == (None, "")
    assert (d.path, d.pattern, d.shrink_warn, d.timeout) == ("/srv/dumps", "*", 0.2, 10)
    assert (c.command, c.rpo, c.timeout) == (("/usr/local/bin/tape-report",), 7 * DAY, 60)
    found = backup_source.targets(section)
    assert [(t.id, t.kind, t.labels["kind"], t.labels["rpo"]) for t in found] == [
        ("r", TargetKind.BACKUP, "restic", "24 h"),
        ("b", TargetKind.BACKUP, "borg", "48 h"),
        ("d", TargetKind.BACKUP, "dumps", "24 h"),
        ("tape", TargetKind.BACKUP, "command", "7 days"),
    ]


AT = 'backup.restic "r" (#1).'


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('rpo = "24h"\nchek_interval = "1d"', AT + "chek_interval = '1d': no such key; "
         "did you mean 'check_interval'?"),
        ('rpo = "24h"\npassphrase = "hunter2"', AT + "passphrase = '(hidden)': no such "
         "key (known here: "),
        ('rpo = "24h"\npasswd = "hunter2"', AT + "passwd = '(hidden)': no such key; "
         "did you mean 'password'?"),
        ("", AT + "rpo: missing; expected a duration from 1m to 400d"),
        ('rpo = "30s"', AT + "rpo = '30s': expected a duration from 1m to 400d"),
        ('rpo = "1d"\ncheck_interval = "1h"\ncheck_timeout = "2h"',
         AT + "check_timeout = '2h': expected less than the check_interval"),
        ('rpo = "1d"\nread_data_subset = "150%"',
         AT + "read_data_subset = '150%': expected a part of the data"),
        ('rpo = "1d"\ntags = ["a,b"]', AT + "tags = a list: expected a list of restic tags"),
        ('rpo = "1d"\nprogram = "restic"', AT + "program = 'restic': expected the tool's absolute"),
    ],
)  # fmt: skip
def test_a_bad_restic_entry_names_the_key_the_value_and_what_was_expected(
    lines: str, expected: str
) -> None:
    found = problems(RESTIC + lines)
    assert any(p.startswith(expected) for p in found), found
    assert not any("hunter2" in p for p in found)


def test_a_password_in_the_toml_is_refused_and_never_printed_back() -> None:
    found = problems(
        '[[backup.restic]]\nid = "r"\nrpo = "1d"\npassword = "hunter2"\n'
        'repo = "rest:https://pacs:hunter3@backup.example.org:8000/pacs"\n'
        '[[backup.borg]]\nid = "b"\nrpo = "1d"\nrepo = "/srv/borg"\npassword = "hunter4"\n'
    )
    text = "\n".join(found)
    assert not any(word in text for word in ("hunter2", "hunter3", "hunter4")), text
    assert AT + """password = '(hidden)': expected a reference "secret:NAME" to a secret""" in text
    assert "repo = 'rest:https://•••@backup.example.org:8000/pacs': expected a restic" in text
    assert "backup.borg \"b\" (#1).password = '(hidden)'" in text


@pytest.mark.parametrize(
    ("kind", "repo"),
    [("restic", "relative/path"), ("restic", "ftp:host/x"), ("restic", "--repo=/x"),
     ("borg", "relative"), ("borg", "-x"), ("borg", "/srv/borg\n")],
)  # fmt: skip
def test_a_repository_must_be_absolute_or_the_tools_own_form(kind: str, repo: str) -> None:
    found = problems(
        f'[[backup.{kind}]]\nid = "x"\nrpo = "1d"\nrepo = {json.dumps(repo)}\n'
        'password = "secret:x"\n'
    )
    assert any(f".repo = {repo!r}: expected a {kind} repository" in p for p in found), found


def test_dumps_and_commands_read_strictly() -> None:
    found = problems(
        '[[backup.dumps]]\nid = "d"\npath = "/srv/dumps"\nrpo = "1d"\npattern = "sub/*.gz"\n'
        'shrink_warn = "20"\n'
        '[[backup.command]]\nid = "c"\nrpo = "1d"\ncommand = ["veeam-report"]\n'
    )
    assert "backup.dumps \"d\" (#1).pattern = 'sub/*.gz': expected a file name pattern" in found[0]
    assert found[1].startswith("backup.dumps \"d\" (#1).shrink_warn = '20': expected a percent")
    assert any(p.startswith("backup.command \"c\" (#1).command[0] = 'veeam-report'") for p in found)


def test_an_id_names_one_backup_whatever_its_kind() -> None:
    found = problems(RESTIC + 'rpo = "1d"\n[[backup.dumps]]\nid = "r"\npath = "/d"\nrpo = "1d"\n')
    assert found == [
        "backup.dumps \"r\" (#1).id = 'r': expected an id no other target has (backup.restic "
        '"r" (#1) has it; ids are unique across every kind of entry)'
    ]


def test_no_shrink_warning_and_no_integrity_check_can_be_asked_for() -> None:
    config = parse_config(
        RESTIC + 'rpo = "1d"\ncheck_interval = 0\n'
        '[[backup.dumps]]\nid = "d"\npath = "/d"\nrpo = "1d"\nshrink_warn = "0%"\n'
    )
    section = config.section("backup")
    assert section.restic[0].check_interval is None and section.dumps[0].shrink_warn is None


# -- the RPO in words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "status", "words"),
    [
        (3 * HOUR, Status.OK, "newest good snapshot 3 h ago (RPO 24 h)"),
        (26 * HOUR, Status.WARN, "newest good snapshot 26 h ago > RPO 24 h"),
        (50 * HOUR, Status.CRIT, "newest good snapshot 50 h ago > twice the RPO 24 h"),
        (-2 * HOUR, Status.WARN, "newest good snapshot is 2 h in the future: is a clock wrong?"),
        (-60.0, Status.OK, "newest good snapshot 0 s ago (RPO 24 h)"),
    ],
)
def test_the_age_against_the_rpo_in_words(age: float, status: Status, words: str) -> None:
    measured = measure(NOW - age, NOW, DAY, "newest good snapshot", "no snapshot")
    assert (measured.status, measured.words) == (status, words)
    if age > 0:
        assert measured.ratio == pytest.approx(age / DAY)


def test_no_recovery_point_at_all_is_critical() -> None:
    measured = measure(None, NOW, DAY, "newest good snapshot", "no snapshot in the repository")
    assert (measured.status, measured.words) == (
        Status.CRIT,
        "no snapshot in the repository (RPO 24 h)",
    )
    assert measured.age is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(45, "45 s"), (20 * 60, "20 min"), (5400, "1.5 h"), (26 * HOUR, "26 h"), (9 * DAY, "9 days")],
)
def test_spans_read_as_an_operator_says_them(seconds: float, words: str) -> None:
    assert span_words(seconds) == words


# -- the tools' JSON ----------------------------------------------------------------------------


def snapshot(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": "2026-12-02T11:35:14.620500244Z", "id": "b812cfcf" + "0" * 56,
        "short_id": "b812cfcf", "paths": ["/srv/pacs"], "hostname": "pacs1", "tags": ["daily"],
    }  # fmt: skip
    return base | fields


def test_restic_snapshots_are_read_with_their_zone_and_nanoseconds() -> None:
    listing = restic.parse_snapshots(
        json.dumps(
            [
                snapshot(),
                snapshot(time="2026-12-02T13:00:00.5+01:00", tags=None, summary={}),
                snapshot(time="2026-12-02T12:00:00Z", summary={"total_bytes_processed": 12345}),
            ]
        )
    )
    # A null tags list is not restic's shape: that entry is left out and counted.
    assert listing.skipped == 1
    first, second = listing.points
    assert first.time == pytest.approx(parse_time("2026-12-02T11:35:14.6205Z"))
    assert (first.name, first.group, first.size) == ("b812cfcf", "pacs1 /srv/pacs [daily]", None)
    assert second.size == 12345


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "restic snapshots printed nothing"),
        ("<html>", "restic snapshots printed something that is not JSON"),
        ('{"snapshots": []}', "restic snapshots printed JSON that is not a list of snapshots"),
        ('[{"time": "yesterday"}, 3]', "none of the 2 entries restic snapshots printed is a "
         "snapshot (id, time, paths): another restic version?"),
        ("[" * 100_000, "restic snapshots printed something that is not JSON"),
    ],
)  # fmt: skip
def test_what_is_not_restics_listing_is_said(text: str, words: str) -> None:
    with pytest.raises(Unreadable) as info:
        restic.parse_snapshots(text)
    assert str(info.value) == words


def test_a_time_without_a_zone_from_restic_is_not_guessed() -> None:
    with pytest.raises(Unreadable):
        restic.parse_snapshots(json.dumps([snapshot(time="2026-12-02T11:35:14")]))


def test_borg_times_without_a_zone_are_utc_and_checkpoints_are_not_recovery_points() -> None:
    listing = borg.parse_archives(
        json.dumps(
            {
                "archives": [
                    {"name": "pacs-1", "id": "a1", "start": "2026-12-02T10:11:12.000000"},
                    {"name": "pacs-2.checkpoint", "id": "a2", "time": "2026-12-02T11:00:00"},
                    {"name": "pacs-3", "id": "a3", "time": "2026-12-02T10:30:00.000000"},
                    {"name": 3, "time": "2026-12-02T10:30:00"},
                ],
                "repository": {"id": "r"},
            }
        )
    )
    assert [p.name for p in listing.points] == ["pacs-1", "pacs-3"]
    assert listing.skipped == 1
    assert listing.points[0].time == parse_time("2026-12-02T10:11:12Z")


def test_borg_info_must_describe_the_newest_archive() -> None:
    newest = borg.parse_archives(
        '{"archives": [{"name": "n", "id": "a3", "start": "2026-12-02T10:30:00"}]}'
    ).points[0]
    info = {"archives": [{"id": "a3", "stats": {"original_size": 2**30}}]}
    assert borg.parse_info(json.dumps(info), newest) == 2**30
    info["archives"][0]["id"] = "other"
    with pytest.raises(Unreadable, match="another archive than the newest"):
        borg.parse_info(json.dumps(info), newest)
    with pytest.raises(Unreadable, match=r"no stats\.original_size"):
        borg.parse_info('{"archives": [{"id": "a3", "stats": {"original_size": true}}]}', newest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"last_success": "2026-12-02T02:14:00+01:00"}',
         (parse_time("2026-12-02T01:14:00Z"), None, False, "")),
        ('{"last_success": 1796170440, "size_bytes": 5, "status": "failed", "message": "tape"}',
         (1796170440.0, 5.0, True, "tape")),
        ('{"last_success": null, "extra": 1}', (None, None, False, "")),
    ],
)  # fmt: skip
def test_a_backup_jobs_report_is_read(
    text: str, expected: tuple[float | None, float | None, bool, str]
) -> None:
    report = parse_report(text)
    assert (report.last_success, report.size, report.failed, report.message) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[]", "the command printed JSON that is not an object with last_success"),
        ("{}", "the command printed no last_success"),
        ('{"last_success": "2026-12-02T02:14:00"}', "last_success is neither an ISO 8601 time "
         "with its zone nor epoch seconds"),
        ('{"last_success": true}', "last_success is neither an ISO 8601 time with its zone nor "
         "epoch seconds"),
        ('{"last_success": -5}', "last_success is not a time (epoch seconds above 0)"),
        ('{"last_success": 5, "size_bytes": "5 GB"}', "size_bytes is not a number of bytes"),
        ('{"last_success": 5, "status": "warning"}', 'status is neither "ok" nor "failed"'),
        ('{"last_success": 5, "message": 7}',
         "message is not a string of at most 1,000 characters"),
    ],
)  # fmt: skip
def test_a_report_of_another_shape_is_said(text: str, words: str) -> None:
    with pytest.raises(Unreadable) as info:
        parse_report(text)
    assert str(info.value) == words


# -- dump folders -------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def dump(folder: Path, name: str, size: int, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"\1" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def dumps_entry(folder: Path, **kw: object) -> DumpsConfig:
    kw.setdefault("timeout", 2.0)
    return DumpsConfig("ris-dumps", str(folder), DAY, "ris-*.sql.gz", **kw)  # type: ignore[arg-type]


async def test_the_newest_dump_is_measured_and_a_shrunk_one_warns(tmp_path: Path) -> None:
    dump(tmp_path, "ris-1.sql.gz", 1000, 2 * DAY)
    dump(tmp_path, "ris-2.sql.gz", 1100, DAY + 3 * HOUR)
    dump(tmp_path, "other.log", 5, 0)  # not matching
    (tmp_path / "ris-sub.sql.gz").mkdir()  # a folder, not a dump
    (tmp_path / "ris-9.sql.gz").symlink_to(tmp_path / "ris-1.sql.gz")  # not followed
    check = DumpsCheck(dumps_entry(tmp_path), clock=Clock())
    result = await check.check()
    assert (result.status, result.reason) == (Status.WARN, "newest dump 27 h ago > RPO 24 h")
    assert result.metrics["backup_size_bytes"] == 1100 and result.metrics["backup_snapshots"] == 2
    assert result.metrics["backup_rpo_ratio"] == pytest.approx(27 / 24)
    assert result.details["newest"].startswith("ris-2.sql.gz · 1.1 KiB · ")
    # Tonight's dump is a third of yesterday's: a failed dump.
    dump(tmp_path, "ris-3.sql.gz", 400, HOUR)
    result = await check.check()
    assert result.status is Status.WARN
    assert result.reason == (
        "newest dump ris-3.sql.gz is 64 % smaller than the one before (400 B < 1.1 KiB); "
        "newest dump 60 min ago (RPO 24 h)"
    )
    dump(tmp_path, "ris-4.sql.gz", 0, 60)
    result = await check.check()
    assert result.status is Status.CRIT and result.reason.startswith(
        "newest dump ris-4.sql.gz is empty"
    )


async def test_a_dump_a_little_smaller_is_fine_and_none_at_all_is_critical(tmp_path: Path) -> None:
    dump(tmp_path, "ris-1.sql.gz", 1000, 2 * HOUR)
    dump(tmp_path, "ris-2.sql.gz", 900, HOUR)
    result = await DumpsCheck(dumps_entry(tmp_path), clock=Clock()).check()
    assert (result.status, result.reason) == (Status.OK, "newest dump 60 min ago (RPO 24 h)")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = await DumpsCheck(dumps_entry(empty), clock=Clock()).check()
    assert result.status is Status.CRIT
    assert result.reason == f"no file matching 'ris-*.sql.gz' in {empty} (RPO 24 h)"


async def test_a_missing_or_unreadable_folder_is_down(tmp_path: Path) -> None:
    result = await DumpsCheck(dumps_entry(tmp_path / "gone"), clock=Clock()).check()
    assert (result.status, result.reason) == (
        Status.DOWN,
        f"{tmp_path}/gone does not exist (not mounted?)",
    )
    (tmp_path / "file").write_bytes(b"")
    result = await DumpsCheck(dumps_entry(tmp_path / "file"), clock=Clock()).check()
    assert (result.status, result.reason) == (Status.DOWN, f"{tmp_path}/file is not a folder")


async def test_a_folder_of_too_many_files_is_unknown_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dumps, "MAX_ENTRIES", 5)
    for n in range(10):
        dump(tmp_path, f"ris-{n}.sql.gz", 1, HOUR)
    result = await DumpsCheck(dumps_entry(tmp_path), clock=Clock()).check()
    assert (result.status, result.reason) == (
        Status.UNKNOWN,
        "more than 5 entries: too many to read each check",
    )


async def test_a_folder_that_hangs_is_down_and_not_listed_again_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    calls: list[str] = []

    def hung(path: str, pattern: str) -> Scan:
        calls.append(path)
        release.wait(10)
        return Scan(None, None, 0)

    monkeypatch.setattr(dumps, "scan", hung)
    check = DumpsCheck(dumps_entry(tmp_path, timeout=0.2), clock=Clock())
    first = await check.check()
    assert (first.status, first.reason) == (
        Status.DOWN,
        "the folder did not answer within 0.2 s (a hung network mount?)",
    )
    second = await check.check()
    assert second.status is Status.DOWN and "has not answered since" in second.reason
    release.set()
    assert calls == [str(tmp_path)]


# -- a backup job's own report ------------------------------------------------------------------


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "report.py"
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, signal\n{body}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (f'print(json.dumps({{"last_success": {NOW - 3 * HOUR:.0f}, "size_bytes": 7}}))',
         Status.OK, "last successful backup 3 h ago (RPO 24 h)"),
        (f'print(json.dumps({{"last_success": {NOW - 30 * HOUR:.0f}, "status": "failed", '
         '"message": "tape full"}))',
         Status.WARN, "last successful backup 30 h ago > RPO 24 h; the last job failed: tape full"),
        ('print(json.dumps({"last_success": None}))', Status.CRIT,
         "no successful backup reported (RPO 24 h)"),
        ('print("Job finished OK")', Status.UNKNOWN,
         "the command printed something that is not JSON"),
        ('sys.stderr.write("cannot reach the director\\n"); sys.exit(2)', Status.UNKNOWN,
         "report.py exited with code 2: cannot reach the director"),
        ("signal.pause()", Status.DOWN, "report.py did not answer within 1 s"),
    ],
)  # fmt: skip
async def test_a_backup_jobs_report_is_measured_against_the_rpo(
    tmp_path: Path, body: str, status: Status, reason: str
) -> None:
    entry = CommandBackupConfig("tape", (script(tmp_path, body),), DAY, timeout=1)
    result = await CommandBackupCheck(entry, clock=Clock()).check()
    assert (result.status, result.reason) == (status, reason)
    if status is Status.OK:
        assert result.metrics["backup_size_bytes"] == 7
        assert result.metrics["backup_age_seconds"] == pytest.approx(3 * HOUR)


async def test_a_report_gets_only_the_environment_it_is_given(tmp_path: Path) -> None:
    body = (
        'open(sys.argv[1], "w").write(json.dumps(dict(os.environ)))\n'
        f'print(json.dumps({{"last_success": {NOW:.0f}}}))'
    )
    seen = tmp_path / "env.json"
    entry = CommandBackupConfig(
        "tape", (script(tmp_path, body), str(seen)), DAY, timeout=5, env={"BACULA_DIR": "dir1"}
    )
    await CommandBackupCheck(entry, clock=Clock()).check()
    env = json.loads(seen.read_text())
    assert env.pop("LC_CTYPE", None) in (None, "C.UTF-8")  # the interpreter may add it
    assert env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "BACULA_DIR": "dir1"}


# -- the repository check, with a stand-in for restic -------------------------------------------


SNAPSHOTS = json.dumps([snapshot(time="2026-12-02T10:00:00Z")])


def stand_in(tmp_path: Path, answers: dict[str, tuple[int, str, str]]) -> str:
    """A program that answers as restic would for each subcommand (a negative exit code: it
    never answers), and records its argv and its environment, one JSON line a call."""
    path = tmp_path / "restic"
    path.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(tmp_path / 'calls')!r}, 'a') as log:\n"
        "    log.write(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}) + '\\n')\n"
        f"for word, (code, out, err) in {answers!r}.items():\n"
        "    if word in sys.argv:\n"
        "        if code < 0:\n"
        "            import signal; signal.pause()  # a repository that never answers\n"
        "        sys.stdout.write(out); sys.stderr.write(err); sys.exit(code)\n"
        "sys.exit(99)\n"
    )
    path.chmod(0o755)
    return str(path)


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No keyring, the secrets file and the cache folder in tmp_path, the password in the
    environment as its secret."""
    import keyring.core

    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(tmp_path / "conf" / "secrets.toml"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PACS_TUI_SECRET_RESTIC_PACS", "Zq9!hunter2")


def restic_check(
    tmp_path: Path, program: str, clock: Clock, history: History | None = None, **kw: object
) -> RepositoryCheck:
    entry = restic.ResticConfig(
        "pacs",
        "/srv/restic",
        DAY,
        "restic-pacs",
        program=program,
        timeout=5,
        **kw,  # type: ignore[arg-type]
    )
    return RepositoryCheck(
        restic.Restic(entry), repository_target("restic", entry), history=history, clock=clock
    )


async def test_the_password_goes_in_the_environment_never_in_the_argv(
    tmp_path: Path, secrets: None
) -> None:
    program = stand_in(
        tmp_path, {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, '{"total_size": 9}', "")}
    )
    check = restic_check(
        tmp_path, program, Clock(parse_time("2026-12-02T13:00:00Z")), check_interval=None
    )
    result = await check.check()
    assert (result.status, result.reason) == (Status.OK, "newest good snapshot 3 h ago (RPO 24 h)")
    assert result.metrics["backup_size_bytes"] == 9
    made = calls(tmp_path)
    assert [c["argv"] for c in made] == [
        ["--repo=/srv/restic", "snapshots", "--json"],
        ["--repo=/srv/restic", "stats", "--json", "--mode=restore-size", "b812cfcf" + "0" * 56],
    ]
    env = made[0]["env"]
    assert isinstance(env, dict)
    cache = tmp_path / "cache" / "pacs-tui" / "backup" / "restic"
    assert env["RESTIC_PASSWORD"] == "Zq9!hunter2" and env["RESTIC_CACHE_DIR"] == str(cache)
    assert set(env) - {"LC_CTYPE"} <= {
        "PATH",
        "LC_ALL",
        "HOME",
        "RESTIC_CACHE_DIR",
        "RESTIC_PASSWORD",
    }
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert "Zq9!hunter2" not in json.dumps([result.reason, dict(result.details)])
    await check.check()
    assert len(calls(tmp_path)) == 3  # the size is read once per newest snapshot


async def test_restics_errors_are_said_in_words_and_a_password_is_never_repeated(
    tmp_path: Path, secrets: None
) -> None:
    err = "Fatal: wrong password or no key found (tried Zq9!hunter2)\n"
    program = stand_in(tmp_path, {"snapshots": (12, "", err)})
    result = await restic_check(tmp_path, program, Clock()).check()
    assert (result.status, result.reason) == (
        Status.DOWN,
        "wrong password for the repository (secret restic-pacs)",
    )


async def test_a_repository_whose_secret_is_missing_is_unknown(
    tmp_path: Path, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PACS_TUI_SECRET_RESTIC_PACS")
    program = stand_in(tmp_path, {})
    result = await restic_check(tmp_path, program, Clock()).check()
    assert result.status is Status.UNKNOWN
    assert result.reason.startswith(
        "secret restic-pacs (the password) not found: keyring: no backend"
    )
    assert calls(tmp_path) == []


class History:
    """The store's series for the check's metrics: passed (or failed) 2 hours ago."""

    def __init__(self, now: float, ok: float) -> None:
        self.now, self.ok = now, ok
        self.asked: list[str] = []

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> Sequence[SeriesPoint]:
        self.asked.append(metric)
        ts = self.now - 60
        if metric == "backup_check_age_seconds":
            return [SeriesPoint(ts, 2 * HOUR - 60, 2 * HOUR - 60, 2 * HOUR - 60, 1)]
        return [SeriesPoint(ts, self.ok, self.ok, self.ok, 1)]


@pytest.mark.parametrize("ok", [1.0, 0.0])
async def test_a_restart_remembers_the_last_integrity_check_from_the_history(
    tmp_path: Path, secrets: None, ok: float
) -> None:
    now = parse_time("2026-12-02T13:00:00Z")
    program = stand_in(
        tmp_path, {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, '{"total_size": 9}', "")}
    )
    history = History(now, ok)
    check = restic_check(tmp_path, program, Clock(now), history)
    result = await check.check()
    assert not any("check" in c["argv"] for c in calls(tmp_path))  # not due for 22 h
    assert result.metrics["backup_check_ok"] == ok
    assert result.metrics["backup_check_age_seconds"] == pytest.approx(2 * HOUR)
    if ok:
        assert result.reason == "newest good snapshot 3 h ago (RPO 24 h); check passed 2 h ago"
    else:
        assert (result.status, result.reason) == (
            Status.CRIT,
            "restic check failed 2 h ago: errors found (recorded before a restart); "
            "newest good snapshot 3 h ago (RPO 24 h)",
        )


async def test_a_due_check_runs_in_the_background_and_its_verdict_comes_next(
    tmp_path: Path, secrets: None
) -> None:
    errors = (
        "using temporary cache in /tmp/x\ncreate exclusive lock for repository\n"
        "error for tree c25309d9:\n  decrypting blob c253 failed: ciphertext verification failed\n"
        "Fatal: repository contains errors\n"
    )
    program = stand_in(
        tmp_path,
        {
            "snapshots": (0, SNAPSHOTS, ""),
            "stats": (0, '{"total_size": 9}', ""),
            "check": (1, "", errors),
        },
    )
    clock = Clock(parse_time("2026-12-02T13:00:00Z"))
    check = restic_check(tmp_path, program, clock, read_data_subset="5%")
    await check.check()
    deadline = time.monotonic() + 10
    while (
        "check passed" not in (result := await check.check()).reason and result.status is Status.OK
    ):
        assert time.monotonic() < deadline, result
        await asyncio.sleep(0.02)
    assert (result.status, result.reason) == (
        Status.CRIT,
        "restic check failed 0 s ago: repository contains errors (error for tree c25309d9: "
        "decrypting blob c253 failed: ciphertext verification failed); newest good snapshot "
        "3 h ago (RPO 24 h)",
    )
    assert result.metrics["backup_check_ok"] == 0
    checks = [c["argv"] for c in calls(tmp_path) if "check" in c["argv"]]
    assert checks == [["--repo=/srv/restic", "check", "--read-data-subset=5%"]]
    clock.now += 23 * HOUR  # the next is due a day after: not yet
    await check.check()
    assert len([c for c in calls(tmp_path) if "check" in c["argv"]]) == 1
    await check.close()


async def until_called(tmp_path: Path, word: str) -> None:
    deadline = time.monotonic() + 10
    while not any(word in c["argv"] for c in calls(tmp_path)):
        assert time.monotonic() < deadline, f"restic {word} never ran"
        await asyncio.sleep(0.02)


async def test_a_check_killed_at_its_timeout_has_its_stale_lock_removed(
    tmp_path: Path, secrets: None
) -> None:
    program = stand_in(
        tmp_path,
        {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, '{"total_size": 9}', ""),
         "check": (-1, "", ""), "unlock": (0, "", "successfully removed locks\n")},
    )  # fmt: skip
    clock = Clock(parse_time("2026-12-02T13:00:00Z"))
    check = restic_check(tmp_path, program, clock, check_timeout=0.3)
    await check.check()
    await until_called(tmp_path, "unlock")  # a killed restic's exclusive lock would stop backups
    result = await check.check()
    assert result.status is Status.WARN
    assert "restic check did not finish within 0.3 s" in result.reason
    assert [c["argv"] for c in calls(tmp_path) if "unlock" in c["argv"]] == [
        ["--repo=/srv/restic", "unlock"]  # without --remove-all: only the dead process's lock
    ]
    await check.close()


async def test_a_check_stopped_by_close_has_its_stale_lock_removed(
    tmp_path: Path, secrets: None
) -> None:
    program = stand_in(
        tmp_path,
        {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, '{"total_size": 9}', ""),
         "check": (-1, "", ""), "unlock": (0, "", "")},
    )  # fmt: skip
    check = restic_check(tmp_path, program, Clock())
    await check.check()
    await until_called(tmp_path, "check")
    await check.close()
    assert any("unlock" in c["argv"] for c in calls(tmp_path))


async def test_a_listing_killed_at_its_timeout_has_its_lock_removed_in_the_background(
    tmp_path: Path, secrets: None
) -> None:
    program = stand_in(tmp_path, {"snapshots": (-1, "", ""), "unlock": (0, "", "")})
    entry = restic.ResticConfig(
        "pacs", "/srv/restic", DAY, "restic-pacs", program=program, timeout=0.3
    )
    check = RepositoryCheck(restic.Restic(entry), repository_target("restic", entry))
    result = await check.check()
    assert (result.status, result.reason) == (
        Status.DOWN,
        "restic snapshots did not answer within 0.3 s",
    )
    await until_called(tmp_path, "unlock")
    await check.close()


# -- the Overview's tile ------------------------------------------------------------------------


def test_the_tile_names_the_backup_furthest_past_its_rpo() -> None:
    def state(name: str, age: float | None, rpo: str) -> TargetState:
        metrics = {} if age is None else {"backup_age_seconds": age, "backup_rpo_ratio": age / DAY}
        target = Target(name, TargetKind.BACKUP, {"rpo": rpo})
        return TargetState(target, Status.OK, metrics=metrics)

    states = [state("a", 3 * HOUR, "24 h"), state("b", 26 * HOUR, "24 h"), state("c", None, "24 h")]
    assert tile_summary(states) == "3 backups · worst 26 h / RPO 24 h"
    assert tile_summary(states[2:]) == "1 backup"
    assert tile_summary([]) == ""


class SizeHistory:
    """A history holding a repository's size a week ago (the store's series shape)."""

    def __init__(self, points: Sequence[SeriesPoint]) -> None:
        self.points = points

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> Sequence[SeriesPoint]:
        assert metric == "backup_size_bytes"
        return [p for p in self.points if p.ts >= since]


async def test_the_size_trend_compares_with_the_oldest_size_of_the_week() -> None:
    from pacs_tui.backup.repository import size_trend

    gib = 2.0**30
    week = SizeHistory([SeriesPoint(NOW - 6 * DAY, 40 * gib, 40 * gib, 40 * gib, 1)])
    words = await size_trend(week, "r", NOW, 41 * gib)
    assert words == "40.0 GiB 6 days ago → 41.0 GiB (+2.5 %)"
    # No history, no older size, a history that fails: no trend, never an error.
    assert await size_trend(None, "r", NOW, 41 * gib) == ""
    assert await size_trend(SizeHistory([]), "r", NOW, 41 * gib) == ""

    class Broken(SizeHistory):
        async def series(
            self, target: str, metric: str, since: float, until: float | None = None
        ) -> Sequence[SeriesPoint]:
            raise OSError("disk I/O error")

    assert await size_trend(Broken([]), "r", NOW, 41 * gib) == ""


async def test_dump_folders_and_backup_commands_show_their_size_trend(tmp_path: Path) -> None:
    week = SizeHistory([SeriesPoint(NOW - 6 * DAY, 2000.0, 2000.0, 2000.0, 1)])
    dump(tmp_path, "ris-1.sql.gz", 1100, HOUR)
    result = await DumpsCheck(dumps_entry(tmp_path), history=week, clock=Clock()).check()
    assert result.details["trend"] == "2.0 KiB 6 days ago → 1.1 KiB (-45.0 %)"
    body = f'print(json.dumps({{"last_success": {NOW - HOUR:.0f}, "size_bytes": 3000}}))'
    entry = CommandBackupConfig("tape", (script(tmp_path, body),), DAY, timeout=5)
    result = await CommandBackupCheck(entry, week, clock=Clock()).check()
    assert result.status is Status.OK
    assert result.details["trend"] == "2.0 KiB 6 days ago → 2.9 KiB (+50.0 %)"
    # Without a history the check is the same, with no trend.
    result = await CommandBackupCheck(entry, clock=Clock()).check()
    assert "trend" not in result.details


@pytest.mark.parametrize(("passed", "shown"), [(1.0, "✔ 5.0 h"), (0.0, "✖ 5.0 h"), (None, "5.0 h")])
def test_the_checked_cell_leads_with_the_last_checks_verdict(
    passed: float | None, shown: str
) -> None:
    """Not by colour alone: a failed integrity check is a glyph before its age."""
    from pacs_tui.model import Target, TargetKind, TargetState
    from pacs_tui.probes import backup_source
    from pacs_tui.screens.backups import COLUMNS as SCREEN_COLUMNS
    from pacs_tui.screens.table_cells import value_text

    metrics = {"backup_check_age_seconds": 5 * HOUR}
    if passed is not None:
        metrics["backup_check_ok"] = passed
    state = TargetState(Target("r", TargetKind.BACKUP, {}), Status.OK, metrics=metrics)
    checked = [c for c in (*backup_source.COLUMNS, *SCREEN_COLUMNS) if c.key == "check"]
    assert len(checked) == 2  # the backup table's and the Backups screen's
    for column in checked:
        assert value_text(backup_source.SOURCE, state, column) == shown


@pytest.mark.parametrize("tool", ["restic", "borg"])
def test_a_password_that_is_a_word_of_the_tools_message_is_neither_shown_nor_breaks_it(
    tool: str,
) -> None:
    from pacs_tui.backup.repository import RepositoryConfig
    from pacs_tui.probes.plugin_run import PluginRun

    entry = RepositoryConfig("pacs", "/srv/restic", 86400.0, password_secret="restic-pacs")
    stderr = {
        "restic": "Fatal: wrong password or no key found\n",
        "borg": "passphrase supplied in BORG_PASSPHRASE is incorrect.\n",
    }[tool]
    secret = {"restic": "wrong", "borg": "incorrect"}[tool]  # a password that is a word of it
    run = PluginRun(1 if tool == "restic" else 2, None, "", stderr, False, False, 0.1, None)
    module = restic if tool == "restic" else borg
    found = module.failure(run, "listing", entry, secret)
    assert found is not None and found.kind == "password"
    assert found.words == "wrong password for the repository (secret restic-pacs)"
    other = dataclasses.replace(run, stderr=f"Fatal: unable to open {secret} thing\nnext line\n")
    said = module.failure(other, "listing", entry, secret)
    assert said is not None and secret not in said.words.replace("wrong password", "")


async def test_after_a_restart_the_checks_age_is_its_own_not_its_buckets(
    tmp_path: Path, secrets: None
) -> None:
    """The age's last raw sample says when the check ran, to the second: a window read whole
    came as 5-minute buckets, each at its start, and the age read up to 5 minutes older."""
    from pacs_tui.model import Sample
    from pacs_tui.store import Store

    program = stand_in(
        tmp_path, {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, '{"total_size": 9}', "")}
    )
    now = time.time()
    checked = now - 180  # the check ended three minutes ago
    store = await Store.open(tmp_path / "h.sqlite")
    try:
        store.upsert_targets([Target("pacs", TargetKind.BACKUP, {})])
        store.add_samples(
            Sample(at, "pacs", name, value)
            for at in (now - 120, now - 60)
            for name, value in (("backup_check_age_seconds", at - checked), ("backup_check_ok", 1))
        )
        await store.flush()
        check = restic_check(tmp_path, program, Clock(now), store)  # type: ignore[arg-type]
        result = await check.check()
    finally:
        await store.close()
    assert result.metrics["backup_check_age_seconds"] == pytest.approx(180, abs=1)


async def test_a_tag_that_matches_nothing_is_not_said_as_an_empty_repository(
    tmp_path: Path, secrets: None
) -> None:
    program = stand_in(tmp_path, {"snapshots": (0, "[]", "")})  # restic --tag=nosuchtag: none
    check = restic_check(tmp_path, program, Clock(NOW), tags=("nosuchtag",), check_interval=None)
    try:
        result = await check.check()
    finally:
        await check.close()
    assert result.status is Status.CRIT
    assert result.reason.startswith(
        "no snapshot with tag nosuchtag (the config's choice) in the repository"
    )
