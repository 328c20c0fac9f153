"""The history as a file, before SQLite opens it: refusing links and special files, creating,
locking and tightening it, reading its header, and how to open it just to probe it."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from pacs_tui.private_paths import (
    RefusedPath,
    file_kind,
    make_private_dirs,
    open_regular,
)
from pacs_tui.store.errors import StoreError
from pacs_tui.visible import visible

# Files SQLite opens beside the history, by name: we check them too, since SQLite follows links.
_SIBLINGS = ("-wal", "-shm", "-journal")
# The 100-byte database header (sqlite.org/fileformat.html): magic, then big-endian fields.
_HEADER_SIZE = 100
_MAGIC = b"SQLite format 3\x00"
_USER_VERSION_AT = 60
_APPLICATION_ID_AT = 68


def header_problem(header: bytes) -> str | None:
    """Why a file that starts with ``header`` is not a pacs-tui history, as words to follow
    "… is not a pacs-tui history": " (not an SQLite database)" or ": it is another program's
    SQLite file (…)". None for an empty file, or an SQLite file whose application id is ours
    or none yet (a new one; its WAL may say more)."""
    import struct

    from pacs_tui.store.schema import APPLICATION_ID

    if not header:
        return None
    if len(header) < _HEADER_SIZE or not header.startswith(_MAGIC):
        return " (not an SQLite database)"
    (version,) = struct.unpack_from(">i", header, _USER_VERSION_AT)
    (app_id,) = struct.unpack_from(">i", header, _APPLICATION_ID_AT)
    return foreign_words(app_id, version) if app_id not in (0, APPLICATION_ID) else None


def foreign_words(app_id: int, version: int) -> str:
    """ ": it is another program's SQLite file (application_id …, user_version …)"."""
    return (
        ": it is another program's SQLite file "
        f"(application_id 0x{app_id & 0xFFFFFFFF:08x}, user_version {version})"
    )


def _refusal(path: Path, kind: str) -> StoreError:
    if kind == "symbolic link":
        return StoreError(f"{path} is a symbolic link; give the real path of the history")
    return StoreError(f"{path} is not a regular file ({kind})")


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if kind := file_kind(mode):
        raise _refusal(path, kind)


def _open_history(path: Path, real: Path, flags: int) -> int:
    """:func:`~pacs_tui.private_paths.open_regular` on the history, a refusal in its words."""
    try:
        return open_regular(real, flags)
    except RefusedPath as exc:
        raise _refusal(path, exc.kind) from None


def _check_paths(path: Path, real: Path) -> bool:
    """Refuse a history (or a sibling SQLite would open) that is a link or not a regular file,
    without opening anything. True if the history exists. Messages name the path as given."""
    exists = False
    for suffix in ("", *_SIBLINGS):
        try:
            st = os.lstat(f"{real}{suffix}")
        except FileNotFoundError:
            continue
        _refuse_unless_regular(Path(f"{path}{suffix}"), st.st_mode)
        exists = exists or not suffix
    return exists


def _real_path(path: Path) -> Path:
    """The history in its real folder: a symlinked folder is fine, a symlinked file is not."""
    return Path(os.path.realpath(path.parent)) / path.name


def _open_for_writing(path: Path) -> tuple[int, Path]:
    """Open (creating it 0600, its folder 0700) and lock the history; return (fd, real path).

    The lock is a ``flock`` on the history file itself, not on a ``.lock`` beside it, so it is
    keyed on the file's device and inode: the same history reached through a symlinked folder, a
    bind mount or a hard link is still written by one engine only, and there is no second file
    to guard. flock and SQLite's own POSIX (fcntl) locks do not interact on Linux's local file
    systems (a WAL history needs a local one anyway). The descriptor must outlive the SQLite
    connection: closing any descriptor of a file drops the process's POSIX locks on it.
    """
    make_private_dirs(path.parent)
    real = _real_path(path)
    _check_paths(path, real)
    try:
        fd = _open_history(path, real, os.O_RDWR | os.O_CREAT)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot create the history {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(os.fstat(fd).st_ino)
        os.close(fd)
        raise StoreError(
            f"the history {path} is already written by another pacs-tui engine ({holder}). "
            "Only one engine may write a history: stop the other one, or give this one another "
            "[history] path. `pacs-tui history` can read it meanwhile."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd, real


def _lock_holder(inode: int) -> str:
    """Who holds the flock on ``inode``, from /proc/locks (best effort: "another process")."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read(1 << 20).splitlines()
    except OSError:
        return "another process"
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 6327 fe:00:2146493 0 EOF"; waiters have "->" in field 1
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            pid = fields[4]
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    argv = fh.read(4096).split(b"\0")
            except OSError:
                return f"pid {pid}"
            command = " ".join(a.decode("utf-8", "replace") for a in argv if a)
            return f"pid {pid}: {visible(command, 160)}"
    return "another process"


def _tighten(fd: int, path: Path, real: Path) -> None:
    """Mode 0600 for the history (through its descriptor) and for stale -wal/-shm files (SQLite
    gives new ones the history's mode, but stale ones may be looser)."""
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, 0o600)
    for suffix in ("-wal", "-shm"):
        try:
            sibling = _open_history(Path(f"{path}{suffix}"), Path(f"{real}{suffix}"), os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"cannot open {path}{suffix}: {exc.strerror}") from None
        try:
            if stat.S_IMODE(os.fstat(sibling).st_mode) & 0o077:
                os.fchmod(sibling, 0o600)
        finally:
            os.close(sibling)  # no connection of ours has it open yet, so no lock is lost


def _same_file(fd: int, real: Path) -> bool:
    try:
        st = os.lstat(real)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_header(fd: int) -> bytes:
    """Up to the first 100 bytes of the history (fewer for a shorter file), one bounded read."""
    chunks: list[bytes] = []
    size = 0
    while size < _HEADER_SIZE and (chunk := os.pread(fd, _HEADER_SIZE - size, size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_header_of(path: Path, real: Path) -> bytes:
    """The history's header for a reader: opened ``O_NOFOLLOW | O_NONBLOCK``, checked to be a
    regular file on the descriptor, read without SQLite (which would make -wal and -shm files
    beside a WAL-mode database just to look at it)."""
    try:
        fd = _open_history(path, real, os.O_RDONLY)
    except PermissionError:
        raise StoreError(
            f"cannot read the history {path}: permission denied (run this as the user that "
            "writes the history)"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot read the history {path}: {exc.strerror}") from None
    try:
        return _read_header(fd)
    finally:
        os.close(fd)


def _probe_query(real: Path) -> str | None:
    """How to open a history just to read its identity: immutable (no locks, no -shm, no -wal
    made) unless a -wal or -journal beside it holds changes only a normal reader sees. None
    when a -wal has no -shm: a normal reader would create one beside what may be another
    program's database, and an immutable one would miss a schema that lives only in the -wal."""
    if os.path.lexists(f"{real}-wal") and not os.path.lexists(f"{real}-shm"):
        return None
    if any(os.path.lexists(f"{real}{suffix}") for suffix in ("-wal", "-journal")):
        return "mode=ro"
    return "mode=ro&immutable=1"


def _uri(real: Path, query: str) -> str:
    return f"{real.as_uri()}?{query}"
