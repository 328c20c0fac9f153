"""Where the collector's socket lives and who may use it: the folder and the file are checked
and made private before the socket is bound, and each connecting process is judged by the
kernel's word for who it is (``SO_PEERCRED``), never by what it says. No Textual here.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import socket
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pacs_tui.private_paths import RefusedPath, make_private_dirs

#: ``sun_path`` holds 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH = 107


class SocketPathError(Exception):
    """The socket cannot be served at this path, in words (with what to do)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The process at the other end of a connection, as the kernel tells it."""

    pid: int
    uid: int
    gid: int

    @property
    def user(self) -> str:
        """The peer's login name (``uid 1234`` when it has none)."""
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return f"uid {self.uid}"

    def describe(self) -> str:
        return f"user {self.user} (uid {self.uid}, pid {self.pid})"


def peer_of(sock: socket.socket) -> Peer:
    """The connecting process's pid, uid and gid (Linux ``SO_PEERCRED``)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid, uid, gid)


def group_id(name: str) -> int:
    """The id of group ``name``; :class:`SocketPathError` when this machine has no such group."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise SocketPathError(
            f"[collector] group = {name!r}: no such group on this machine "
            "(create it, or remove the key to let only this user attach)"
        ) from None


def may_attach(peer: Peer, group: int | None) -> bool:
    """This process's own user and root may attach; with a group, its members too (by primary
    or supplementary group, from the group database)."""
    if peer.uid in (0, os.geteuid()):
        return True
    if group is None:
        return False
    if peer.gid == group:
        return True
    try:
        name = pwd.getpwuid(peer.uid).pw_name
    except KeyError:
        return False
    return group in os.getgrouplist(name, peer.gid)


def prepare(path: Path, group: int | None) -> None:
    """Make ``path``'s folder ours and private (0700; 0750 and owned by ``group`` when one is
    set), and clear a dead socket left at ``path``. Refused in words: a folder of another
    user, a folder that is a symbolic link, something at the path that is not a socket, a
    collector already answering there. (A path longer than a socket's is fine: see
    :func:`address`.)"""
    folder = path.parent
    try:
        make_private_dirs(folder)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except RefusedPath as exc:
        raise SocketPathError(f"cannot use the folder of socket {path}: {exc}") from None
    except OSError as exc:
        raise SocketPathError(
            f"cannot use the folder {folder} for the socket: {exc.strerror or exc}"
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise SocketPathError(
                f"the socket's folder {folder} belongs to uid {info.st_uid}, not to this user: "
                "the socket needs a folder of its own (set [collector] socket, e.g. "
                "/run/pacs-tui/collector.sock)"
            )
        want = 0o750 if group is not None else 0o700
        if group is not None and info.st_gid != group:
            os.fchown(fd, -1, group)
        if stat.S_IMODE(info.st_mode) != want:
            os.fchmod(fd, want)
    except OSError as exc:
        raise SocketPathError(
            f"cannot make the socket's folder {folder} private: {exc.strerror or exc}"
        ) from None
    finally:
        os.close(fd)
    _clear_dead_socket(path)


def _clear_dead_socket(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketPathError(
            f"{path} exists and is not a socket; not touching it (remove it, or set "
            "[collector] socket to another path)"
        )
    if answers(path):
        raise SocketPathError(
            f"another collector is answering on {path}; stop it first (one collector per history)"
        )
    os.unlink(path)  # a socket left by a collector that was killed


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """``path`` as a socket address to bind or connect to while the block runs.

    A path longer than ``sun_path`` holds (a history deep in a home folder) is reached through
    its folder's descriptor, ``/proc/self/fd/N/name``, which Linux resolves like the folder."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield os.fspath(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def answers(path: Path) -> bool:
    """Does a process listen on the socket at ``path``?"""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        with address(path) as where:
            probe.connect(where)
    except OSError as exc:
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        probe.close()
    return True


def publish(path: Path, group: int | None) -> int:
    """Give the freshly bound socket its mode (0660) and group; its inode, to remove only our
    own at the end. The folder is private by now, so no one else can have swapped the file."""
    os.chmod(path, 0o660)
    if group is not None:
        os.chown(path, -1, group)
    return os.lstat(path).st_ino


def remove(path: Path, inode: int) -> None:
    """Remove the socket at ``path`` if it is still the one we bound."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass
