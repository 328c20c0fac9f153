"""Secrets named in the config as ``"secret:NAME"``, looked up in the keyring, then in
``$PACS_TUI_SECRET_<NAME>``, then in a 0600 file in a 0700 folder; a value is never shown."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from pacs_tui.private_paths import (
    NOFOLLOW_FLAGS,
    RefusedPath,
    file_kind,
    make_private_dirs,
    refuse_unless_regular,
)
from pacs_tui.visible import visible

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "pacs-tui"
PREFIX = "secret:"
ENV_PREFIX = "PACS_TUI_SECRET_"
ENV_FILE = "PACS_TUI_SECRETS_FILE"
MAX_FILE_BYTES = 1 << 20
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NAME_RULE = "1 to 64 letters, digits, '-', '_' or '.'"
# A keyring backend's own error text, kept short in a reason.
_REASON_LIMIT = 160


class SecretError(Exception):
    """A secret that cannot be had, stored or named, in words (never with its value)."""


class SecretNotFound(SecretError):
    """No source holds the secret; ``reasons`` says what each source said."""

    def __init__(self, name: str, reasons: list[str]) -> None:
        self.name = name
        self.reasons = reasons
        super().__init__(f"secret {name} not found ({'; '.join(reasons)})")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A secret's value and where it came from, in words."""

    name: str
    value: str = field(repr=False)
    source: str


# -- names --------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """``name`` if it is a valid secret name, else :class:`SecretError` saying why."""
    if not NAME_RE.match(name):
        raise SecretError(f"{visible(name, 80)!r} is not a secret name: use {NAME_RULE}")
    return name


def reference_name(value: str) -> str | None:
    """``"secret:NAME"`` → NAME; any other string → None. A bad name after ``secret:`` is a
    :class:`SecretError` naming it."""
    if not value.startswith(PREFIX):
        return None
    return check_name(value[len(PREFIX) :])


def env_name(name: str) -> str:
    """The environment variable read for ``name``, upper case with ``-`` and ``.`` as ``_``:
    ``orthanc-admin`` → ``PACS_TUI_SECRET_ORTHANC_ADMIN``."""
    return ENV_PREFIX + re.sub(r"[-.]", "_", check_name(name)).upper()


def secrets_file() -> Path:
    """``$PACS_TUI_SECRETS_FILE``, else ``secrets/secrets.toml`` in the user's config folder."""
    override = os.environ.get(ENV_FILE)
    if override:
        return Path(os.path.abspath(os.path.expanduser(override)))
    return Path(platformdirs.user_config_dir("pacs-tui")) / "secrets" / "secrets.toml"


# -- the keyring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Keyring:
    """The keyring backend in use (None: there is no usable one, ``words`` says why)."""

    backend: KeyringBackend | None
    words: str


def _keyring() -> _Keyring:
    """The configured keyring, or why there is none: the ``fail`` and ``null`` backends and a
    chainer with nothing to chain are "no backend" (a headless server without D-Bus)."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null
    except ImportError:
        return _Keyring(None, "keyring: not installed")
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a backend named in $PYTHON_KEYRING_BACKEND that does not load
        return _Keyring(None, f"keyring: {_error_words(exc)}")
    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, fail.Keyring | null.Keyring) or empty_chain:
        return _Keyring(None, "keyring: no backend")
    shown = type(backend).__name__
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND", "")
    if shown == "PlaintextKeyring" and not chosen.endswith("PlaintextKeyring"):
        # keyrings.alt's plain-text file (base64, with the user's umask), picked by keyring on
        # its own where nothing better is installed: weaker than our 0600 file, so not used
        # unless named on purpose in $PYTHON_KEYRING_BACKEND.
        return _Keyring(None, "keyring: only a plain-text file (keyrings.alt), not used")
    if shown == "Keyring":  # the OS backends are all called Keyring: name its module too
        shown = str(backend.name)
    return _Keyring(backend, f"keyring ({shown})")


def _prompts(backend: KeyringBackend) -> bool:
    """Does this backend ask for a password at the terminal (keyrings.alt's encrypted file)?"""
    return type(backend).__name__ == "EncryptedKeyring"


def _error_words(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return visible(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, _REASON_LIMIT)


def _from_keyring(name: str, *, may_prompt: bool) -> tuple[str | None, str]:
    """The keyring's value for ``name`` (None when it has none) and the keyring in words, or
    why it could not be asked. Backends raise anything (D-Bus errors, EOFError from getpass):
    every error is a reason to read the next source."""
    ring = _keyring()
    if ring.backend is None:
        return None, ring.words
    if not may_prompt and _prompts(ring.backend):
        return None, f"{ring.words}: not asked (it would ask for its password at a terminal)"
    try:
        value = ring.backend.get_password(SERVICE, name)
    except Exception as exc:
        return None, f"{ring.words}: {_error_words(exc)}"
    if not value:
        return None, f"not in {ring.words}"
    return value, ring.words


# -- resolving ----------------------------------------------------------------------------------


def resolve(name: str, *, may_prompt: bool = True) -> Resolved:
    """The secret ``name`` from the keyring, else ``$PACS_TUI_SECRET_<NAME>``, else the file;
    :class:`SecretNotFound` with each source's words when none has it. ``may_prompt=False``
    (a check in the engine) skips a keyring that would ask for its password at the terminal."""
    check_name(name)
    reasons: list[str] = []
    value, words = _from_keyring(name, may_prompt=may_prompt)
    if value is not None:
        return Resolved(name, value, words)
    reasons.append(words)
    variable = env_name(name)
    value = os.environ.get(variable)
    if value:
        return Resolved(name, value, f"environment variable {variable}")
    reasons.append(f"${variable} is empty" if value == "" else f"no ${variable}")
    value, words = _from_file(name)
    if value is not None:
        return Resolved(name, value, words)
    reasons.append(words)
    raise SecretNotFound(name, reasons)


def _from_file(name: str) -> tuple[str | None, str]:
    """The file's value for ``name`` and "file PATH", or None and why not (a refusal too)."""
    path = secrets_file()
    try:
        entries = read_file(path)
    except SecretError as exc:
        return None, str(exc)
    if entries is None:
        return None, f"no file {path}"
    if not entries.get(name):
        return None, f"not in file {path}"
    return entries[name], f"file {path}"


def where(name: str) -> str:
    """Where ``name`` resolves from ("from keyring (PlaintextKeyring)"), or "NOT FOUND (why)";
    never the value."""
    try:
        return f"from {resolve(name).source}"
    except SecretNotFound as exc:
        return f"NOT FOUND ({'; '.join(exc.reasons)})"


# -- storing ------------------------------------------------------------------------------------


def set_secret(name: str, value: str, *, to_file: bool = False) -> str:
    """Store ``value`` as ``name``: in the keyring when there is a real one, else (or with
    ``to_file``) in the secrets file. Returns where it went, in words."""
    check_name(name)
    if not value:
        raise SecretError("an empty value is not a secret: nothing stored")
    note = ""
    if not to_file:
        ring = _keyring()
        if ring.backend is not None:
            try:
                ring.backend.set_password(SERVICE, name, value)
                return ring.words
            except Exception as exc:  # any backend error: the file instead, and say why
                words = _error_words(exc).replace(value, "•••")
                note = f" ({ring.words} could not store it: {words})"
    path = secrets_file()
    _update_file(path, lambda entries: entries.__setitem__(name, value))
    return f"file {path}{note}"


def delete_secret(name: str) -> list[str]:
    """Remove ``name`` from the keyring and from the secrets file; where it was (empty: in
    neither). An environment variable is the environment's: it is left as it is. A keyring
    that fails is a :class:`SecretError` after the file is done."""
    check_name(name)
    found: list[str] = []
    failed = ""
    ring = _keyring()
    if ring.backend is not None:
        try:
            if ring.backend.get_password(SERVICE, name) is not None:
                ring.backend.delete_password(SERVICE, name)
                found.append(ring.words)
        except Exception as exc:
            failed = f"{ring.words}: {_error_words(exc)}"
    path = secrets_file()
    if read_file(path) is not None:
        removed: list[object] = []
        _update_file(path, lambda entries: removed.append(entries.pop(name, None)))
        if any(value is not None for value in removed):
            found.append(f"file {path}")
    if failed:
        done = f"; deleted from {', '.join(found)}" if found else ""
        raise SecretError(f"{failed}{done}")
    return found


def list_secrets() -> list[tuple[str, str]]:
    """(name, where) of the secrets that can be listed: the file's and ``$PACS_TUI_SECRET_*``
    (named by their variable's suffix, lower case). A keyring cannot list its entries."""
    out: list[tuple[str, str]] = []
    path = secrets_file()
    for name in sorted(read_file(path) or {}):
        variable = env_name(name)
        shadow = f" (${variable} is read first)" if os.environ.get(variable) else ""
        out.append((name, f"file {path}{shadow}"))
    for variable in sorted(os.environ):
        suffix = variable.removeprefix(ENV_PREFIX)
        if suffix != variable and NAME_RE.match(suffix) and os.environ[variable]:
            out.append((suffix.lower(), f"environment variable {variable}"))
    return out


def keyring_words() -> str:
    """The keyring in use in words ("keyring (PlaintextKeyring)"), or why there is none."""
    return _keyring().words


# -- the file -----------------------------------------------------------------------------------


def read_file(path: Path) -> dict[str, str] | None:
    """The secrets file's entries; None when it (or its folder) does not exist. Refused
    (:class:`SecretError`): a folder or file that is not ours, that others may read, or that is
    not a plain folder and a regular file."""
    with _folder(path.parent, create=False) as folder:
        if folder is None:
            return None
        return _read_in(folder, path)


def _update_file(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Read, ``change`` and write back the file, under a lock, replacing it in one rename."""
    import tomlkit

    with _folder(path.parent, create=True) as folder:
        assert folder is not None
        fcntl.flock(folder, fcntl.LOCK_EX)  # two `secrets set` at once: neither loses its entry
        # Checked with tomllib first: tomlkit's parse errors would quote the file's characters.
        entries = _read_in(folder, path)
        if entries is None:
            doc = tomlkit.document()
            doc.add(tomlkit.comment('pacs-tui secrets: NAME = "value". Keep it 0600 in a 0700'))
            doc.add(tomlkit.comment("folder; set them with: pacs-tui secrets set NAME"))
        else:
            doc = tomlkit.parse(_read_text(folder, path))
        change(doc)
        _replace(folder, path, tomlkit.dumps(doc).encode())


@contextlib.contextmanager
def _folder(folder: Path, *, create: bool) -> Iterator[int | None]:
    """A descriptor on the secrets folder, checked (ours, 0700, not a link); None when missing."""
    if create:
        try:
            make_private_dirs(folder)
        except OSError as exc:
            raise SecretError(f"cannot create the folder {folder}: {_os_words(exc)}") from None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    except OSError as exc:
        raise SecretError(f"folder {folder} refused: {_folder_words(folder, exc)}") from None
    try:
        _check_private(folder, os.fstat(fd), "folder", "700")
        yield fd
    finally:
        os.close(fd)


def _folder_words(folder: Path, exc: OSError) -> str:
    """Why the folder did not open: O_DIRECTORY | O_NOFOLLOW says ENOTDIR for a link too."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        with contextlib.suppress(OSError):
            kind = file_kind(os.lstat(folder).st_mode) or "regular file"
            return "it is a symbolic link" if kind == "symbolic link" else f"it is a {kind}"
    return _os_words(exc)


def _check_private(path: Path, st: os.stat_result, what: str, mode: str) -> None:
    if st.st_uid != os.geteuid():
        raise SecretError(
            f"{what} {path} refused: it belongs to uid {st.st_uid}, not to this user "
            f"(uid {os.geteuid()})"
        )
    if st.st_mode & 0o077:
        raise SecretError(
            f"{what} {path} refused: mode {stat.S_IMODE(st.st_mode):04o} lets the group or "
            f"others in; chmod {mode} {path}"
        )


def _read_in(folder: int, path: Path) -> dict[str, str] | None:
    """The entries of the file ``path.name`` in the open ``folder``; None when missing."""
    try:
        text = _read_text(folder, path)
    except FileNotFoundError:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SecretError(f"file {path} is not valid TOML ({exc})") from None
    return _entries(path, data)


def _entries(path: Path, data: dict[str, Any]) -> dict[str, str]:
    for key, value in data.items():
        if not NAME_RE.match(key):
            raise SecretError(f"file {path}: {visible(key, 80)!r} is not a name ({NAME_RULE})")
        if not isinstance(value, str):
            raise SecretError(f'file {path}: {key} is not a string (write {key} = "...")')
    return data


def _read_text(folder: int, path: Path) -> str:
    """The file's text, at most 1 MiB: checked before opening (a device is never opened),
    opened without following a link or waiting on a FIFO, and checked again on the descriptor."""
    name = path.name
    try:
        refuse_unless_regular(path, os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        fd = os.open(name, os.O_RDONLY | NOFOLLOW_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        raise
    except RefusedPath as exc:
        raise SecretError(f"file {path} refused: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SecretError(f"file {path} refused: it is a symbolic link") from None
        raise SecretError(f"file {path} cannot be read: {_os_words(exc)}") from None
    try:
        st = os.fstat(fd)
        try:
            refuse_unless_regular(path, st.st_mode)
        except RefusedPath as exc:
            raise SecretError(f"file {path} refused: {exc.strerror}") from None
        _check_private(path, st, "file", "600")
        os.set_blocking(fd, True)
        data = _read_bounded(fd)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SecretError(f"file {path} refused: larger than 1 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"file {path} is not UTF-8 text") from None


def _read_bounded(fd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _replace(folder: int, path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file beside ``path`` and rename it over ``path``."""
    temp = f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o600, dir_fd=folder)
    except OSError as exc:
        raise SecretError(f"cannot write in {path.parent}: {_os_words(exc)}") from None
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added: exact anyway
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise SecretError(f"cannot write {path}: {_os_words(exc)}") from None


def _os_words(exc: OSError) -> str:
    return exc.strerror or str(exc)
