"""Real restic and borg repositories made by the test: two backups, then a corrupted pack or
segment that the integrity check finds, a wrong password, a lock held by another process and a
repository that hangs; the password given through each secret source, and never in ``ps``,
the logs or the history. restic and borg run as subprocesses with timeouts; a missing one
skips, or fails under ``CI=true``. The only peer is on 127.0.0.1 (a REST repository that never
answers)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring.core
import pytest

from pacs_tui import secret_store
from pacs_tui.backup.repository import RepositoryCheck
from pacs_tui.config import parse_config
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status
from pacs_tui.probes import backup_source
from pacs_tui.scheduler import Scheduler
from pacs_tui.source import BuildContext, Check
from pacs_tui.store import Store

from .conftest import require_peer

RESTIC_PW = "Zq9!r3st1c-pw-8472"
BORG_PW = "Xk2#b0rg-pw-1193"
WAIT = 60.0  # seconds a condition may take at most (an integrity check of a tiny repository)


@pytest.fixture
def restic() -> str:
    return require_peer("/usr/bin/restic", "restic")


@pytest.fixture
def borg() -> str:
    return require_peer("/usr/bin/borg", "borgbackup")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG folders in tmp_path (pacs-tui's cache, the secrets file, keyrings.alt's
    file: the real keyring is never touched), the ``fail`` keyring backend until a test picks
    one, and no ``PACS_TUI_SECRET_*`` from outside."""
    for variable, name in (
        ("HOME", "home"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_DATA_HOME", "xdg-data"),
    ):
        (tmp_path / name).mkdir(mode=0o700)
        monkeypatch.setenv(variable, str(tmp_path / name))
    secrets = tmp_path / "xdg-config" / "pacs-tui" / "secrets" / "secrets.toml"
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # read from the environment
    for name in list(os.environ):
        if name.startswith("PACS_TUI_SECRET_"):
            monkeypatch.delenv(name)
    return tmp_path


def give_secret(how: str, name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Store the password as secret ``name`` in one of the three places a check reads."""
    if how == "env":
        monkeypatch.setenv(secret_store.env_name(name), value)
    elif how == "file":
        assert secret_store.set_secret(name, value, to_file=True).startswith("file ")
    else:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
        monkeypatch.setattr(keyring.core, "_keyring_backend", None)
        assert secret_store.set_secret(name, value) == "keyring (PlaintextKeyring)"
    words = {"env": "environment variable", "file": "file", "keyring": "keyring (PlaintextKeyring)"}
    assert secret_store.where(name).startswith(f"from {words[how]}")


def run_tool(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def restic_env(tmp_path: Path, password: str = RESTIC_PW) -> dict[str, str]:
    cache = tmp_path / "tool-cache"
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(tmp_path / "home"),
            "RESTIC_PASSWORD": password, "RESTIC_CACHE_DIR": str(cache)}  # fmt: skip


def borg_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(tmp_path / "home"),
            "BORG_PASSPHRASE": BORG_PW, "BORG_BASE_DIR": str(tmp_path / "tool-borg")}  # fmt: skip


def make_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "study1.dcm").write_bytes(os.urandom(512 * 1024))  # the first backup's bulk
    (data / "index.db").write_bytes(b"\1" * 1000)
    return data


def restic_repository(restic: str, tmp_path: Path) -> Path:
    """A restic repository with two snapshots of the data folder."""
    repo, data, env = tmp_path / "restic-repo", make_data(tmp_path), restic_env(tmp_path)
    run_tool([restic, f"--repo={repo}", "init"], env, tmp_path)
    run_tool([restic, f"--repo={repo}", "backup", "--tag=pacs", str(data)], env, tmp_path)
    (data / "study2.dcm").write_bytes(b"\2" * 2000)
    run_tool([restic, f"--repo={repo}", "backup", "--tag=pacs", str(data)], env, tmp_path)
    return repo


def borg_repository(borg: str, tmp_path: Path) -> Path:
    """A borg repository (repokey) with two archives of the data folder."""
    repo, env = tmp_path / "borg-repo", borg_env(tmp_path)
    make_data(tmp_path)
    run_tool([borg, "init", "--encryption=repokey", "--", str(repo)], env, tmp_path)
    run_tool([borg, "create", f"{repo}::pacs-1", "data"], env, tmp_path)
    (tmp_path / "data" / "study2.dcm").write_bytes(b"\2" * 2000)
    run_tool([borg, "create", f"{repo}::pacs-2", "data"], env, tmp_path)
    return repo


def check_of(toml: str) -> RepositoryCheck:
    """The one check the config's ``[backup]`` section builds."""
    config = parse_config(toml)
    (run,) = backup_source.build(config.section("backup"), BuildContext("test"))
    assert isinstance(run, RepositoryCheck)
    return run


async def checked(toml: str) -> Result:
    """One check of the config's backup, closed after it (nothing left running)."""
    check = check_of(toml)
    try:
        return await check.check()
    finally:
        await check.close()


def restic_entry(repo: object, *extra: str) -> str:
    lines = ['id = "pacs"', f'repo = "{repo}"', 'password = "secret:restic-pacs"', 'rpo = "24h"']
    return "[[backup.restic]]\n" + "\n".join([*lines, *extra]) + "\n"


def borg_entry(repo: object, *extra: str) -> str:
    lines = [
        'id = "pacs-borg"',
        f'repo = "{repo}"',
        'password = "secret:borg-pacs"',
        'rpo = "24h"',
    ]
    return "[[backup.borg]]\n" + "\n".join([*lines, *extra]) + "\n"


async def until(check: RepositoryCheck, condition: Callable[[Result], bool]) -> Result:
    """Check again until ``condition`` holds (the integrity check runs in the background)."""
    deadline = time.monotonic() + WAIT
    while True:
        result = await check.check()
        if condition(result):
            return result
        assert time.monotonic() < deadline, f"still {result.status}: {result.reason}"
        await asyncio.sleep(0.05)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- restic -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "file", "keyring"])
async def test_a_restic_repository_is_measured_and_checked(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    repo = restic_repository(restic, tmp_path)
    give_secret(how, "restic-pacs", RESTIC_PW, monkeypatch)
    check = check_of(restic_entry(repo))
    try:
        result = await check.check()
        assert result.status is Status.OK, result.reason
        assert result.reason.startswith("newest good snapshot ") and "(RPO 24 h)" in result.reason
        assert result.metrics["backup_snapshots"] == 2
        assert result.metrics["backup_age_seconds"] < WAIT * 5
        # restic's restore size of the newest snapshot: every file, the new one too.
        assert result.metrics["backup_size_bytes"] == 512 * 1024 + 1000 + 2000
        result = await until(check, lambda r: "check passed" in r.reason)
        assert result.status is Status.OK and result.metrics["backup_check_ok"] == 1
        assert RESTIC_PW not in repr(result)
    finally:
        await check.close()


async def test_an_integrity_check_that_ends_is_shown_at_once_not_at_the_next_listing(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = restic_repository(restic, tmp_path)
    give_secret("env", "restic-pacs", RESTIC_PW, monkeypatch)
    # Listed once an hour: only the check's own "run me now" can bring its verdict sooner.
    check = check_of(restic_entry(repo, 'interval = "1h"'))
    results: list[Result] = []
    scheduler = Scheduler([check], lambda _t, result: results.append(result), first_run_spread=0)
    scheduler.start()
    try:
        deadline = time.monotonic() + WAIT
        while not any("check passed" in r.reason for r in results):
            assert time.monotonic() < deadline, [r.reason for r in results]
            await asyncio.sleep(0.05)
        assert results[0].details["check"].startswith("running since")
        assert len(results) == 2  # the first listing, and the one the ended check asked for
    finally:
        await scheduler.stop()
        await check.close()


async def test_each_restic_path_and_tag_is_measured_against_the_rpo(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The images were backed up a minute ago, the database dumps' backups stopped five days
    ago: the repository is CRIT and names the database's group, not OK from the images."""
    repo, env = tmp_path / "restic-repo", restic_env(tmp_path)
    # The data in a short folder: a group's name is its host and paths, cut when long (as
    # pytest's temporary paths are under xdist), and the reason must still name the tag.
    short = Path(tempfile.mkdtemp(prefix="rpo-"))
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    images, dumps = short / "images", short / "dumps"
    for folder, name in ((images, "study.dcm"), (dumps, "ris.sql")):
        folder.mkdir()
        (folder / name).write_bytes(os.urandom(4096))
    five_days_ago = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 5 * 86400))
    run_tool([restic, f"--repo={repo}", "init"], env, tmp_path)
    run_tool([restic, f"--repo={repo}", "backup", "--tag=db", f"--time={five_days_ago}",
              str(dumps)], env, tmp_path)  # fmt: skip
    run_tool([restic, f"--repo={repo}", "backup", "--tag=images", str(images)], env, tmp_path)
    give_secret("env", "restic-pacs", RESTIC_PW, monkeypatch)

    result = await checked(restic_entry(repo, "check_interval = 0"))
    assert result.status is Status.CRIT, result.reason
    assert result.reason.startswith(f"2 groups, stalest {socket.gethostname()} {dumps} [db]: ")
    assert "newest good snapshot 5 days ago > twice the RPO 24 h" in result.reason
    assert 4.9 < result.metrics["backup_age_seconds"] / 86400 < 5.1
    assert result.metrics["backup_rpo_ratio"] > 4.9
    first, second = result.details["groups"]
    assert first.startswith(f"CRIT {socket.gethostname()} {dumps} [db]: 5 days ago (1)")
    # The group's name is cut at GROUP_LIMIT: a long temporary path may lose its tags.
    assert second.startswith(f"OK {socket.gethostname()} {images}"[:40])

    # The config chooses what counts: the images alone are within the RPO.
    only_images = await checked(restic_entry(repo, "check_interval = 0", 'tags = ["images"]'))
    assert only_images.status is Status.OK, only_images.reason
    assert only_images.reason.startswith("newest good snapshot ")
    assert only_images.metrics["backup_age_seconds"] < WAIT * 5


async def test_a_corrupted_restic_repository_fails_its_check(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = restic_repository(restic, tmp_path)
    for pack in (repo / "data").rglob("*"):
        if pack.is_file():
            pack.chmod(0o600)
            body = bytearray(pack.read_bytes())
            body[len(body) // 2] ^= 0xFF
            pack.write_bytes(bytes(body))
    give_secret("env", "restic-pacs", RESTIC_PW, monkeypatch)
    check = check_of(restic_entry(repo))
    try:
        result = await until(check, lambda r: r.status is not Status.OK)
        assert result.status is Status.CRIT
        assert result.reason.startswith("restic check failed 0 s ago: repository contains errors")
        assert "; newest good snapshot " in result.reason  # still measured
        assert result.metrics["backup_check_ok"] == 0
        assert result.metrics["backup_snapshots"] == 2  # the snapshots are still listed
    finally:
        await check.close()


async def test_a_wrong_password_or_no_repository_is_down_in_words(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = restic_repository(restic, tmp_path)
    give_secret("env", "restic-pacs", "not-" + RESTIC_PW, monkeypatch)
    result = await checked(restic_entry(repo))
    assert (result.status, result.reason) == (
        Status.DOWN,
        "wrong password for the repository (secret restic-pacs)",
    )
    assert RESTIC_PW not in repr(result)
    result = await checked(restic_entry(tmp_path / "nothing-here"))
    assert (result.status, result.reason) == (
        Status.DOWN,
        f"no restic repository at {tmp_path}/nothing-here",
    )


async def test_a_restic_repository_locked_by_another_process_is_still_measured(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = restic_repository(restic, tmp_path)
    give_secret("env", "restic-pacs", RESTIC_PW, monkeypatch)
    # `restic key passwd` locks the repository exclusively, then waits for the new password.
    holder = subprocess.Popen(
        [restic, f"--repo={repo}", "key", "passwd"],
        env=restic_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any((repo / "locks").iterdir()), "restic's exclusive lock")
        result = await checked(restic_entry(repo, 'check_interval = "0"'))
    finally:
        holder.kill()
        holder.wait(10)
    assert result.status is Status.WARN
    assert result.reason.startswith(f"repository locked exclusively by PID {holder.pid} on ")
    assert " (listed without the lock); newest good snapshot " in result.reason
    assert result.metrics["backup_snapshots"] == 2


class Silent:
    """A TCP peer on 127.0.0.1 that accepts and never answers (a hung REST repository)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def processes_with(text: str) -> list[int]:
    """The pids whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


def environ_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


async def hung_while_watching(
    check: RepositoryCheck, marker: str, password: str, variable: str
) -> Result:
    """Run the check against a repository that never answers; while the tool waits, the
    password is in its environment and in no process's command line; at the timeout, the
    tool is gone."""
    task = asyncio.ensure_future(check.check())
    deadline = time.monotonic() + WAIT
    while not (pids := processes_with(marker)):
        assert time.monotonic() < deadline and not task.done(), "the tool never started"
        await asyncio.sleep(0.01)
    assert f"{variable}={password}".encode() in environ_of(pids[0])
    assert processes_with(password) == []  # not in any argv: `ps` never shows it
    assert password not in os.environ.values()  # ours never held it
    result = await task
    assert not Path(f"/proc/{pids[0]}").exists()  # its process group was killed
    return result


async def test_a_hung_restic_repository_is_down_and_the_password_is_not_in_ps(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = Silent()
    repo = f"rest:http://127.0.0.1:{silent.port}/pacs"
    give_secret("file", "restic-pacs", RESTIC_PW, monkeypatch)
    check = check_of(restic_entry(repo, 'timeout = "2s"'))
    try:
        started = time.monotonic()
        result = await hung_while_watching(check, repo, RESTIC_PW, "RESTIC_PASSWORD")
        took = time.monotonic() - started
    finally:
        await check.close()  # and the `restic unlock` started after the kill with it
        silent.close()
    assert (result.status, result.reason) == (
        Status.DOWN,
        "restic snapshots did not answer within 2 s",
    )
    assert took < 4
    assert processes_with(repo) == []


# -- borg ---------------------------------------------------------------------------------------


@pytest.fixture
def far_time_zone() -> Iterator[None]:
    """This process in UTC+14: borg's times (printed without a zone) must not be read in it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize("how", ["env", "file", "keyring"])
async def test_a_borg_repository_is_measured_and_checked(
    borg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, far_time_zone: None
) -> None:
    repo = borg_repository(borg, tmp_path)
    give_secret(how, "borg-pacs", BORG_PW, monkeypatch)
    check = check_of(borg_entry(repo))
    try:
        result = await check.check()
        assert result.status is Status.OK, result.reason
        assert result.metrics["backup_age_seconds"] < WAIT * 5  # not 14 hours off
        assert result.metrics["backup_snapshots"] == 2
        assert result.details["newest"].startswith("pacs-2 at ")
        assert result.metrics["backup_size_bytes"] == 512 * 1024 + 1000 + 2000
        result = await until(check, lambda r: "check passed" in r.reason)
        assert result.status is Status.OK and result.metrics["backup_check_ok"] == 1
    finally:
        await check.close()


async def test_a_corrupted_borg_segment_fails_the_check(
    borg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = borg_repository(borg, tmp_path)
    # The largest segment holds the first archive's data (not the manifest, written last).
    largest = max((repo / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    body = bytearray(largest.read_bytes())
    body[len(body) // 2] ^= 0xFF
    largest.write_bytes(bytes(body))
    give_secret("env", "borg-pacs", BORG_PW, monkeypatch)
    check = check_of(borg_entry(repo))
    try:
        result = await until(check, lambda r: r.status is not Status.OK)
        assert result.status is Status.CRIT
        assert result.reason.startswith("borg check failed 0 s ago: ")
        assert "errors found" in result.reason and "checksum mismatch" in result.reason
        assert result.metrics["backup_check_ok"] == 0
        assert result.metrics["backup_snapshots"] == 2
    finally:
        await check.close()


async def test_a_wrong_borg_password_or_no_repository_is_down_in_words(
    borg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = borg_repository(borg, tmp_path)
    give_secret("env", "borg-pacs", "not-" + BORG_PW, monkeypatch)
    result = await checked(borg_entry(repo))
    assert (result.status, result.reason) == (
        Status.DOWN,
        "wrong password for the repository (secret borg-pacs)",
    )
    result = await checked(borg_entry(tmp_path / "data"))
    assert (result.status, result.reason) == (
        Status.DOWN,
        f"{tmp_path}/data is not a borg repository",
    )


async def test_a_borg_repository_locked_by_another_process_is_still_measured(
    borg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = borg_repository(borg, tmp_path)
    give_secret("env", "borg-pacs", BORG_PW, monkeypatch)
    holder = subprocess.Popen(
        [borg, "with-lock", str(repo), sys.executable, "-c", "import sys; sys.stdin.read()"],
        env=borg_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (repo / "lock.exclusive").exists(), "borg's lock")
        result = await checked(borg_entry(repo, 'check_interval = "0"'))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    assert result.status is Status.WARN
    assert result.reason.startswith(
        "repository locked by another process (Failed to create/acquire the lock"
    )
    assert " (listed without the lock); newest good archive " in result.reason
    assert result.metrics["backup_snapshots"] == 2


async def test_a_hung_borg_repository_is_down_and_the_password_is_not_in_ps(
    borg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = tmp_path / "hung-repo"
    (hung / "data").mkdir(parents=True)
    os.mkfifo(hung / "config")  # borg opens it and waits for a writer that never comes
    give_secret("keyring", "borg-pacs", BORG_PW, monkeypatch)
    check = check_of(borg_entry(hung, 'timeout = "2s"'))
    try:
        result = await hung_while_watching(check, str(hung), BORG_PW, "BORG_PASSPHRASE")
    finally:
        await check.close()
    assert (result.status, result.reason) == (Status.DOWN, "borg list did not answer within 2 s")
    assert processes_with(str(hung)) == []


# -- nothing of a password in the logs or the history -------------------------------------------


async def test_no_password_reaches_the_logs_or_the_history(
    restic: str,
    borg: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "r").mkdir()
    (tmp_path / "b").mkdir()
    restic_repo = restic_repository(restic, tmp_path / "r")
    borg_repo = borg_repository(borg, tmp_path / "b")
    give_secret("env", "restic-pacs", RESTIC_PW, monkeypatch)
    give_secret("file", "borg-pacs", BORG_PW, monkeypatch)
    give_secret("env", "wrong", "not-" + RESTIC_PW, monkeypatch)
    history = tmp_path / "history" / "history.sqlite"
    config = parse_config(
        f'[history]\npath = "{history}"\n'
        + restic_entry(restic_repo)
        + borg_entry(borg_repo)
        + restic_entry(restic_repo)
        .replace('"pacs"', '"pacs-wrong"')
        .replace("secret:restic-pacs", "secret:wrong")
    )
    engine = Engine(config, store=await Store.open(history))
    try:
        states = {s.target.id: s for s in await engine.run_once()}
    finally:
        await engine.stop()
    assert states["pacs"].status is Status.OK and states["pacs-borg"].status is Status.OK
    assert states["pacs-wrong"].reason == "wrong password for the repository (secret wrong)"
    written = b"".join(p.read_bytes() for p in history.parent.rglob("*") if p.is_file())
    assert b"pacs-borg" in written  # the history was written
    for password in (RESTIC_PW, BORG_PW):
        assert password.encode() not in written
        assert password not in caplog.text


# -- the demo's backups -------------------------------------------------------------------------


async def test_the_demo_backups_are_ok_through_the_engines_checks(
    restic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pacs-tui demo`` makes a dumps folder and a restic repository with the restic found in
    the shell's PATH; the engine runs that same restic (it looks for a bare "restic" only in
    the system folders) and finds both within their RPO."""
    from pacs_tui.demo.backups import DemoBackups
    from pacs_tui.demo.site import demo_config

    shell_bin = tmp_path / "shell-bin"  # restic where only this shell's PATH finds it
    shell_bin.mkdir()
    (shell_bin / "restic").symlink_to(restic)
    monkeypatch.setenv("PATH", f"{shell_bin}:/bin")
    demo = DemoBackups(tmp_path / "demo-backups")
    paths = await asyncio.to_thread(demo.start)
    try:
        assert paths.restic is not None, "the demo made no restic repository"
        config = demo_config([], tmp_path / "h.sqlite", backups=paths)
        (restic_entry,) = config.section("backup").restic
        assert restic_entry.program == str(shell_bin / "restic")
        checks = backup_source.build(config.section("backup"), BuildContext("Demo Hospital"))
        results = {}
        for check in checks:
            assert isinstance(check, Check)
            try:
                results[check.target.id] = await check.check()
            finally:
                await check.close()
        dumps, repository = results["ris-db-dumps"], results["pacs-restic"]
        assert dumps.status is Status.OK, dumps.reason
        assert "2 h ago (RPO 24 h)" in dumps.reason
        assert repository.status is Status.OK, repository.reason
        assert repository.reason.startswith("newest good snapshot ")
        assert repository.metrics["backup_snapshots"] == 1
    finally:
        demo.stop()
    assert secret_store.env_name("demo-restic") not in os.environ
