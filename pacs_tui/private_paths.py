"""Private files and folders we create or write (ARCHITECTURE rule 9).

Every path is checked before it is opened, written or chmodded: a symbolic link or anything but
a regular file is refused, and opening never follows a link at the last component nor blocks on
a FIFO or a device. Folders we create are 0700 whatever the umask.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = {
    stat.S_IFLNK: "symbolic link",
    stat.S_IFDIR: "directory",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
# NONBLOCK: opening a FIFO or some devices would otherwise wait; NOFOLLOW: a link is ELOOP.
NOFOLLOW_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def file_kind(mode: int) -> str:
    """What a file is, in words, from its ``st_mode``: "" for a regular file, else "symbolic
    link", "directory", "FIFO", "character device", ..."""
    if stat.S_ISREG(mode):
        return ""
    return _KINDS.get(stat.S_IFMT(mode), "special file")


class RefusedPath(OSError):
    """A path we will not open, write or chmod: a symbolic link or not a regular file.

    Its ``strerror`` says why in words ("it is a symbolic link", "it is a FIFO, not a regular
    file"), so a caller reporting ``exc.strerror`` for any ``OSError`` says it too.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.kind = kind
        if kind == "symbolic link":
            reason = "it is a symbolic link"
        else:
            reason = f"it is a {kind}, not a regular file"
        super().__init__(0, reason, os.fspath(path))


def refuse_unless_regular(path: str | os.PathLike[str], mode: int) -> None:
    """:class:`RefusedPath` unless ``mode`` (from ``lstat`` or ``fstat``) is a regular file's."""
    if kind := file_kind(mode):
        raise RefusedPath(path, kind)


def open_regular(path: str | os.PathLike[str], flags: int, mode: int = 0o600) -> int:
    """Open ``path`` as a regular file only, returning a blocking descriptor.

    The path is ``lstat``-ed first (opening a device or a FIFO can have effects), opened with
    ``O_NOFOLLOW | O_NONBLOCK`` (a link swapped in meanwhile is not followed, a FIFO does not
    hang us), checked again on the descriptor, then set back to blocking. A file created by this
    call gets ``mode`` masked by the umask: the caller fchmods it if it must be exact.
    """
    try:
        refuse_unless_regular(path, os.lstat(path).st_mode)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    try:
        fd = os.open(path, flags | NOFOLLOW_FLAGS, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a link after the lstat
            raise RefusedPath(path, "symbolic link") from None
        raise
    try:
        refuse_unless_regular(path, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """:func:`open_regular`, creating it if missing, and make it exactly 0600 (through the
    descriptor, so never a link's target)."""
    fd = open_regular(path, flags | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private_dirs(folder: str | os.PathLike[str]) -> list[Path]:
    """Create ``folder`` and each missing parent 0700, whatever the umask; the folders created.

    ``Path.mkdir(parents=True, mode=0o700)`` gives the parents the default mode (0777 under
    umask 000), and ``mkdir``'s mode is masked by the umask either way, so each folder made here
    is fchmodded to 0700 through a descriptor opened ``O_NOFOLLOW``: a link put in its place
    meanwhile is refused, never followed. Existing folders (a symlinked one too) are used as
    they are. A folder another process creates meanwhile is used as it is, if it is a folder.
    """
    target = Path(os.path.abspath(folder))
    missing: list[Path] = []
    current = target
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if os.path.isdir(path):
                continue  # made meanwhile by someone else (another pacs-tui starting)
            raise
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedPath(path, "symbolic link") from None
            raise
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
        created.append(path)
    return created
