"""Hostile files (ARCHITECTURE rule 9): links, devices, other programs' databases, corrupt or
full histories, read-only folders, huge or endless configs. Each is refused or read with a clear
error, and a refused file is left exactly as it was."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from pacs_tui.config import ConfigError, load_file, parse_config
from pacs_tui.config_init import RefusedDestination, write_starter
from pacs_tui.logs import PrivateRotatingFileHandler, close_logs, setup_logging
from pacs_tui.model import Event, EventKind, Sample, Status
from pacs_tui.store import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError

CLI = [sys.executable, "-m", "pacs_tui"]
NODE = '[[dicom.node]]\nid = "a"\naet = "A"\nhost = "127.0.0.1"\nport = 1\n'


def snapshot(path: Path) -> tuple[str, float, int]:
    """What a refusal must leave unchanged: content, mtime and mode (not following links)."""
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime, stat.S_IMODE(st.st_mode)


def siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path}


def cli(*args: str, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "xdg")}
    env.pop("PACS_TUI_CONFIG", None)
    return subprocess.run(
        [*prefix, *CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def config_file(tmp_path: Path, history: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f'[history]\npath = "{history}"\n[dicom]\ncalling_aet = "T"\n{NODE}')
    return path


async def write_history(path: Path, n: int = 10) -> None:
    store = await Store.open(path, retention_interval=None)
    store.add_samples([Sample(1000.0 + i, f"n{i % 7}", "echo_seconds", 0.01) for i in range(n)])
    for i in range(min(n, 200)):
        store.add_event(Event(1000.0 + i, "n1", EventKind.STATUS_CHANGE, Status.DOWN, "x" * 50))
    await store.close()


# -- the history file -------------------------------------------------------------------------


async def test_a_symlinked_lock_file_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "h.sqlite.lock").symlink_to(victim)  # the old lock file's name
    await write_history(tmp_path / "h.sqlite")
    assert victim.read_text() == "precious"


async def test_a_symlinked_history_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "real.sqlite"
    await write_history(target)
    target.chmod(0o644)
    before = snapshot(target)
    link = tmp_path / "h.sqlite"
    link.symlink_to(target)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
            await Store.open(link, readonly=readonly)
    assert snapshot(target) == before
    assert siblings(link) == set()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
async def test_a_symlinked_sqlite_sibling_is_refused(tmp_path: Path, suffix: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o644)
    before = snapshot(victim)
    path = tmp_path / "h.sqlite"
    Path(f"{path}{suffix}").symlink_to(victim)
    with pytest.raises(StoreError, match=f"{path}{suffix} is a symbolic link"):
        await Store.open(path)
    assert snapshot(victim) == before
    assert not path.exists()  # nothing created either


async def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    os.mkfifo(path)
    path.chmod(0o644)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"is not a regular file \(FIFO\)"):
            await asyncio.wait_for(Store.open(path, readonly=readonly), 10)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o644
    assert siblings(path) == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
async def test_a_character_device_is_refused_not_chmodded(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    path.chmod(0o666)  # whatever the umask
    with pytest.raises(StoreError, match=r"is not a regular file \(character device\)"):
        await Store.open(path)
    assert stat.S_IMODE(path.lstat().st_mode) == 0o666
    assert siblings(path) == set()  # no -journal, no .lock


def foreign_database(path: Path, app_id: int, user_version: int, wal: bool = False) -> None:
    with sqlite3.connect(path) as db:
        if wal:
            db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA application_id = {app_id}")
        db.execute(f"PRAGMA user_version = {user_version}")
        db.execute("CREATE TABLE things (x)")
        db.execute("INSERT INTO things VALUES (1)")
    db.close()  # the last connection: a WAL file is checkpointed, its -wal and -shm removed
    path.chmod(0o644)


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
@pytest.mark.parametrize(("app_id", "user_version"), [(0, 0), (0, 1), (0x12345678, 1)])
async def test_another_programs_database_is_refused_with_nothing_changed(
    tmp_path: Path, app_id: int, user_version: int, wal: bool
) -> None:
    path = tmp_path / "other.sqlite"
    foreign_database(path, app_id, user_version, wal)
    before = snapshot(path)
    folder = sorted(p.name for p in tmp_path.iterdir())
    for readonly in (False, True):
        with pytest.raises(
            StoreError,
            match=rf"{path} is not a pacs-tui history: it is another program's SQLite file "
            rf"\(application_id 0x{app_id:08x}",
        ):
            await Store.open(path, readonly=readonly)
    assert snapshot(path) == before  # not switched to WAL, not chmodded, no tables added
    assert sorted(p.name for p in tmp_path.iterdir()) == folder  # no -wal, -shm, -journal
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal" if wal else "delete",)
    db.close()


def test_cli_leaves_a_foreign_wal_database_exactly_as_it_was(tmp_path: Path) -> None:
    history = tmp_path / "data" / "other.sqlite"
    history.parent.mkdir()
    foreign_database(history, 0x12345678, 3, wal=True)
    before = snapshot(history)
    config = config_file(tmp_path, history)
    for command in (["history"], ["status"], ["collect"]):
        out = cli(*command, "--config", str(config), cwd=tmp_path)
        assert f"{history} is not a pacs-tui history" in out.stderr, (command, out.stderr)
        assert "Traceback" not in out.stderr
        assert [p.name for p in history.parent.iterdir()] == ["other.sqlite"], command
        assert snapshot(history) == before


async def test_a_foreign_database_left_with_a_wal_and_no_shm_gains_no_shm(tmp_path: Path) -> None:
    """Another program killed mid-write leaves its -wal; its cleanup removed the -shm. Reading
    the file's identity must not create one (SQLite would, for a normal read-only open)."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE things (x)")
        saved = tmp_path / "saved"
        saved.mkdir()
        db.execute("INSERT INTO things VALUES (1)")
        db.commit()
        for suffix in ("", "-wal"):  # copy while the writer still holds them: a crash image
            (saved / f"other.sqlite{suffix}").write_bytes(Path(f"{path}{suffix}").read_bytes())
    db.close()
    path.unlink()
    for suffix in ("", "-wal"):
        Path(f"{path}{suffix}").write_bytes((saved / f"other.sqlite{suffix}").read_bytes())
    folder = sorted(p.name for p in tmp_path.iterdir())
    assert "other.sqlite-wal" in folder and "other.sqlite-shm" not in folder
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"has a write-ahead log .* will not recover it"):
            await Store.open(path, readonly=readonly)
    assert sorted(p.name for p in tmp_path.iterdir()) == folder


async def test_an_empty_file_or_an_empty_database_is_initialised(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    blank = tmp_path / "blank.sqlite"
    sqlite3.connect(blank).execute("VACUUM").connection.close()  # a valid, table-less file
    for path in (empty, blank):
        await (await Store.open(path)).close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        db.close()


async def test_a_reader_of_an_empty_history_says_nothing_is_recorded_yet(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.touch()  # a writer created it and has not written yet
    with pytest.raises(StoreError, match=f"the history {path} is empty: nothing recorded yet"):
        await Store.open(path, readonly=True)


async def test_a_history_from_before_application_ids_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    await write_history(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")  # as pacs-tui wrote it before the id existed
    db.close()
    store = await Store.open(path)
    try:
        assert len(await store.samples()) == 10
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


async def test_one_writer_per_file_whatever_the_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    path = real / "h.sqlite"
    (tmp_path / "via-link").symlink_to(real)
    first = await Store.open(path)
    try:
        os.link(path, tmp_path / "hard.sqlite")
        for other in (tmp_path / "via-link" / "h.sqlite", tmp_path / "hard.sqlite"):
            with pytest.raises(StoreError, match=rf"already written by .* \(pid {os.getpid()}"):
                await Store.open(other)
    finally:
        await first.close()
    await (await Store.open(tmp_path / "hard.sqlite")).close()  # the lock went with the first


async def test_missing_history_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "a" / "b" / "c" / "h.sqlite"
    old = os.umask(0)
    try:
        await (await Store.open(path)).close()
    finally:
        os.umask(old)
    for folder in ("deep", "deep/a", "deep/a/b", "deep/a/b/c"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- the UI log file ----------------------------------------------------------------------------


@pytest.fixture
def ui_log() -> Iterator[None]:
    """Puts logging back as it was after a test that sets up the UI's log file."""
    root = logging.getLogger()
    level, handlers, hook = root.level, list(root.handlers), threading.excepthook
    yield
    close_logs()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    threading.excepthook = hook
    logging.captureWarnings(False)


def test_a_symlinked_ui_log_is_refused_and_its_target_untouched(
    tmp_path: Path, ui_log: None, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o644)
    before = snapshot(victim)
    link = tmp_path / "pacs-tui.log"
    link.symlink_to(victim)
    assert setup_logging("info", file=link) is None
    logging.getLogger("t").warning("a line that must go nowhere")
    close_logs()
    assert snapshot(victim) == before  # not chmodded to 0600, no log line appended
    assert capsys.readouterr().err == (
        f"pacs-tui: cannot write the log file {link} (it is a symbolic link); "
        "logging is off for this run\n"
    )


@pytest.mark.parametrize("kind", ["FIFO", "directory"])
def test_a_ui_log_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "pacs-tui.log"
    if kind == "FIFO":
        os.mkfifo(path)  # opening it to write would wait for a reader: a blank UI for ever
    else:
        path.mkdir()
    path.chmod(0o644)
    script = (
        "import sys\nfrom pathlib import Path\nfrom pacs_tui.logs import setup_logging\n"
        "print(setup_logging('info', file=Path(sys.argv[1])))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=20
    )
    assert out.stdout == "None\n"
    assert out.stderr == (
        f"pacs-tui: cannot write the log file {path} (it is a {kind}, not a regular file); "
        "logging is off for this run\n"
    )
    assert stat.S_IMODE(path.lstat().st_mode) == 0o644


def test_ui_log_rotation_never_writes_or_chmods_through_a_link(tmp_path: Path) -> None:
    log_file = tmp_path / "pacs-tui.log"
    victims = []
    for i in range(4):
        victim = tmp_path / f"victim{i}"
        victim.write_text("precious")
        victim.chmod(0o644)
        victims.append((victim, snapshot(victim)))
    for i in (1, 2, 3):
        Path(f"{log_file}.{i}").symlink_to(victims[i][0])
    handler = PrivateRotatingFileHandler(log_file, maxBytes=100, backupCount=3)
    try:
        for i in range(10):
            if i == 5:  # the live file swapped for a link: the next rotation reopens its name
                log_file.unlink()
                log_file.symlink_to(victims[0][0])
            handler.emit(logging.makeLogRecord({"msg": f"{i} " + "x" * 60}))
    finally:
        handler.close()
    for victim, before in victims:
        assert snapshot(victim) == before, victim
    for path in (log_file, *(Path(f"{log_file}.{i}") for i in (1, 2, 3))):
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_missing_ui_log_folders_are_private_whatever_the_umask(
    tmp_path: Path, ui_log: None
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log_file = home / ".local" / "state" / "pacs-tui" / "pacs-tui.log"
    old = os.umask(0)
    try:
        assert setup_logging("info", file=log_file) == log_file
        logging.getLogger("t").warning("a line")
        close_logs()
    finally:
        os.umask(old)
    for folder in (".local", ".local/state", ".local/state/pacs-tui"):
        assert stat.S_IMODE((home / folder).stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert "a line" in log_file.read_text()


# -- corrupt and full histories -----------------------------------------------------------------


async def corrupt_history(path: Path) -> None:
    """A real history with garbage over every page but the first (header and schema)."""
    await write_history(path, n=3000)
    size = path.stat().st_size
    assert size > 16 * 4096
    with open(path, "r+b") as fh:
        fh.seek(4096)
        fh.write(os.urandom(size - 4096))


async def test_a_corrupt_history_is_a_store_error_in_words(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    await corrupt_history(path)
    corrupt = rf"the history file {path} is corrupt: database disk image is malformed"
    reader = await Store.open(path, readonly=True)
    try:
        with pytest.raises(StoreError, match=corrupt):
            await reader.events()
    finally:
        await reader.close()
    writer = await Store.open(path, retention_interval=None)
    writer.add_samples([Sample(9000.0, "n", "echo_seconds", 0.01)])
    with pytest.raises(StoreError, match=corrupt):
        await writer.close()  # the final flush of a stop
    assert writer.closed
    await (await Store.open(path, retention_interval=None)).close()  # lock released


async def test_a_full_disk_on_stop_is_a_store_error_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = await Store.open(path, flush_interval=3600, retention_interval=None)
    # A real SQLITE_FULL: SQLite may not grow the file past max_page_count pages.
    db = store._conn()
    ((pages,),) = await db.execute_fetchall("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")
    store.add_samples([Sample(1000.0 + i, "n", "echo_seconds", 0.01) for i in range(5000)])
    with pytest.raises(StoreError, match=f"disk full writing the history {path}"):
        await store.close()
    await (await Store.open(path)).close()


async def test_a_failing_background_flush_is_logged_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h.sqlite"
    store = await Store.open(path, flush_interval=0.01, retention_interval=None)
    db = store._conn()
    ((pages,),) = await db.execute_fetchall("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")
    caplog.clear()  # (an earlier test may have lowered the root level: INFO lines come too)

    def full() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "disk full writing the history" in r.getMessage()]

    with caplog.at_level(logging.ERROR, logger="pacs_tui.store"):
        store.add_samples([Sample(1000.0 + i, "n", "echo_seconds", 0.01) for i in range(5000)])
        for _ in range(500):
            if full():
                break
            await asyncio.sleep(0.01)
    with pytest.raises(StoreError):
        await store.close()
    assert full(), [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.ERROR)


async def test_malformed_json_in_a_history_row_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    await write_history(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET fields = 'not json'")
    db.close()
    reader = await Store.open(path, readonly=True)
    try:
        with pytest.raises(StoreError, match="is corrupt: an event's fields are not JSON"):
            await reader.events()
    finally:
        await reader.close()


def test_cli_history_reports_a_corrupt_history_without_a_traceback(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    asyncio.run(corrupt_history(history))
    out = cli("history", "--config", str(config_file(tmp_path, history)), cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"pacs-tui: the history file {history} is corrupt" in out.stderr


def test_collect_on_a_corrupt_history_stops_with_the_reason_in_words(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    asyncio.run(corrupt_history(history))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("PACS_TUI_CONFIG", None)
    command = [*CLI, "collect", "--config", str(config_file(tmp_path, history))]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    flush_failed = threading.Event()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.append(line)
            if "history flush failed" in line:
                flush_failed.set()

    reader = threading.Thread(target=read, args=(proc.stderr,), daemon=True)
    reader.start()
    try:
        assert flush_failed.wait(30), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    stderr = "".join(lines)
    failed = next(line for line in lines if "history flush failed" in line)
    assert f"the history file {history} is corrupt" in failed
    stop = stderr[stderr.index("stopping: flushing history") :]
    assert "Traceback" not in stop
    assert f"history could not be flushed: the history file {history} is corrupt" in stop


# -- read-only readers ------------------------------------------------------------------------


@pytest.fixture
def unprivileged() -> tuple[str, ...]:
    """A command prefix under which this user is held to file permissions (root is not)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        why = "needs setpriv (util-linux) to run without root's file-permission bypass"
        if os.environ.get("CI") == "true":  # a missing peer fails CI, never skips
            pytest.fail(why)
        pytest.skip(why)
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


@pytest.fixture
def readonly_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    folder.chmod(0o700)


def test_a_history_in_a_read_only_folder_reads_fine(
    tmp_path: Path, readonly_folder: Path, unprivileged: tuple[str, ...]
) -> None:
    history = readonly_folder / "h.sqlite"
    asyncio.run(write_history(history))
    assert not siblings(history) & {"h.sqlite-wal", "h.sqlite-shm"}  # closed cleanly
    readonly_folder.chmod(0o555)
    probe = [*unprivileged, sys.executable, "-c", f"open('{readonly_folder}/x', 'w')"]
    assert subprocess.run(probe, capture_output=True).returncode != 0  # really read-only
    out = cli(
        "history", "--json", "--since", "100000d", "--config", str(config_file(tmp_path, history)),
        cwd=tmp_path, prefix=unprivileged,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["samples"]) == 10


def test_a_read_only_folder_with_a_wal_log_is_a_clear_error(
    tmp_path: Path, readonly_folder: Path, unprivileged: tuple[str, ...]
) -> None:
    history = readonly_folder / "h.sqlite"

    async def crash_image() -> None:
        # Copy the history and its -wal while the writer is open: what a power cut leaves.
        live = tmp_path / "live.sqlite"
        store = await Store.open(live, retention_interval=None)
        store.add_samples([Sample(1000.0, "n", "echo_seconds", 0.01)])
        await store.flush()
        shutil.copy(live, history)
        shutil.copy(f"{live}-wal", f"{history}-wal")
        await store.close()

    asyncio.run(crash_image())
    readonly_folder.chmod(0o555)
    out = cli(
        "history", "--config", str(config_file(tmp_path, history)), cwd=tmp_path,
        prefix=unprivileged,
    )  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "not a pacs-tui history" not in out.stderr
    assert f"folder {readonly_folder} is not writable and the history has a WAL log" in out.stderr


def test_unreadable_or_unwritable_histories_are_errors_in_words(
    tmp_path: Path, readonly_folder: Path, unprivileged: tuple[str, ...]
) -> None:
    history = tmp_path / "h.sqlite"
    asyncio.run(write_history(history))
    history.chmod(0)
    out = cli(
        "history", "--config", str(config_file(tmp_path, history)), cwd=tmp_path,
        prefix=unprivileged,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr == (
        f"pacs-tui: cannot read the history {history}: permission denied "
        "(run this as the user that writes the history)\n"
    )
    readonly_folder.chmod(0o555)
    new = readonly_folder / "new.sqlite"
    out = cli(
        "collect", "--config", str(config_file(tmp_path, new)), cwd=tmp_path, prefix=unprivileged
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"cannot create the history {new}: Permission denied" in out.stderr


def test_a_history_in_a_folder_that_cannot_be_entered(
    tmp_path: Path, unprivileged: tuple[str, ...]
) -> None:
    """``status`` still checks (exit = worst status) and says why it reads no history;
    ``history`` says so and exits 1; neither shows a traceback nor says "no history yet"."""
    locked = tmp_path / "locked"
    locked.mkdir()
    history = locked / "h.sqlite"
    asyncio.run(write_history(history))
    config = tmp_path / "plugin.toml"
    config.write_text(
        f'[history]\npath = "{history}"\n[[command]]\nid = "d"\n'
        'command = ["/bin/sh", "-c", "echo WARNING - meh; exit 1"]\n'
    )
    locked.chmod(0)
    try:
        status = cli("status", "--config", str(config), cwd=tmp_path, prefix=unprivileged)
        shown = cli("history", "--config", str(config), cwd=tmp_path, prefix=unprivileged)
    finally:
        locked.chmod(0o700)
    words = f"cannot reach the history {history}: permission denied on a folder above it"
    assert status.returncode == 1, status.stderr  # the check's WARN
    assert "WARNING - meh" in status.stdout and words in status.stderr
    assert shown.returncode == 1 and words in shown.stderr
    assert "Traceback" not in status.stderr + shown.stderr
    assert "no history yet" not in shown.stderr


# -- config init --------------------------------------------------------------------------------


def test_config_init_refuses_a_symlink_even_with_force(tmp_path: Path) -> None:
    victim = tmp_path / "victim.toml"
    victim.write_text("precious")
    victim.chmod(0o644)
    before = snapshot(victim)
    link = tmp_path / "config.toml"
    link.symlink_to(victim)
    for force in (False, True):
        with pytest.raises(RefusedDestination, match=f"{link} is a symbolic link"):
            write_starter(link, force=force)
    assert snapshot(victim) == before
    assert link.is_symlink()
    out = cli("config", "init", "--force", "--path", str(link), cwd=tmp_path)
    assert out.returncode == 1
    assert f"{link} is a symbolic link" in out.stderr
    assert snapshot(victim) == before


def test_config_init_force_replaces_a_loose_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("old")
    path.chmod(0o644)
    write_starter(path, force=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "[[dicom.node]]" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temp file left


def test_config_init_makes_private_folders_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "config.toml"
    old = os.umask(0)
    try:
        write_starter(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_config_init_refuses_a_link_in_place_of_a_folder_it_would_make(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    elsewhere.chmod(0o755)
    (tmp_path / "a").symlink_to(elsewhere)  # an existing folder link is used as it is ...
    write_starter(tmp_path / "a" / "b" / "config.toml")
    assert stat.S_IMODE((elsewhere / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # ... and never chmodded
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError):
        write_starter(tmp_path / "dangling" / "config.toml")  # not created through the link
    assert not (tmp_path / "nowhere").exists()


def test_config_init_refuses_a_device(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    os.mkfifo(path)
    with pytest.raises(RefusedDestination, match="is not a regular file"):
        write_starter(path, force=True)
    assert stat.S_ISFIFO(path.lstat().st_mode)


# -- config files -------------------------------------------------------------------------------


def test_a_config_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[dicom]\ncalling_aet = "T"\n{NODE}' + "#" * (1 << 20) + "\n")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert [str(p) for p in info.value.problems] == [
        f"(file) = '{path}': expected a config file of at most 1 MiB (this one is larger)"
    ]


def _limit_memory() -> None:
    # Before the fix `--config /dev/zero` read until memory ran out: cap it at 1 GiB.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_a_config_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    if kind == "FIFO":
        path = tmp_path / "fifo.toml"
        os.mkfifo(path)  # opening it to read would wait for a writer forever
    else:
        path = Path("/dev/zero")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    out = subprocess.run(
        [*CLI, "config", "check", "--config", str(path)],
        env=env, capture_output=True, text=True, timeout=20, preexec_fn=_limit_memory,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"(file) = '{path}': expected a regular file, not a {kind}" in out.stderr


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf" + f'[dicom]\ncalling_aet = "T"\n{NODE}'.encode())
    assert load_file(path).section("dicom").calling_aet == "T"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + f'[dicom]\ncalling_aet = "T"\n{NODE}'.encode())
    with pytest.raises(ConfigError, match="valid TOML"):
        load_file(path)  # one mark is a text editor's; a second is in the TOML itself


@pytest.mark.parametrize(
    "text",
    [
        '[dicom]\ncalling_aet = "T"\nnode = []\n',
        "dicom.node = []\n",
    ],
)
def test_an_empty_node_list_is_nothing_to_watch(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(p) for p in info.value.problems] == [
        "(nothing to watch): expected at least one [[dicom.node]], [[command]], [[hl7.listener]], "
        "[[hl7.link]], [[storage.volume]], [[host]], [[logtail]], [[audit.syslog]], "
        "[[backup.restic]], [[backup.borg]], [[backup.dumps]], [[backup.command]], [[mirror]] "
        "or [dr]"
    ]
