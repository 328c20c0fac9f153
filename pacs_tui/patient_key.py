"""The history's key for patient references: a message log row says which patient it is about
as ``#`` and 16 hex digits of keyed BLAKE2b(key, the patient's ID) — the same patient,
the same reference, in one history — never the ID (unless a source's ``store_phi`` says so).

The key is a secret of the history's (``<history>.patient-key``, 0600, made once, refused if
others can read it), so a reference cannot be turned back into the ID by hashing every possible
ID without it. Without a history, a key of the process's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path

from pacs_tui.private_paths import RefusedPath, open_regular

KEY_BYTES = 32


class PatientKey:
    """The history's key, read (or made) by :meth:`load`; until then, or without a history,
    a key of this process only (references then match within the run)."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(KEY_BYTES)
        self.path: Path | None = None

    def load(self, history: Path) -> None:
        """Read ``<history>.patient-key``, making it (0600) if it is not there. Raises
        :class:`OSError` (in words) for a key file that is not a private regular file."""
        path = history.with_name(f"{history.name}.patient-key")
        try:
            fd = open_regular(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = _make(path)
        except RefusedPath as exc:
            raise OSError(f"{path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            if mode & 0o077:
                raise OSError(f"{path} can be read by other users (mode {mode:04o}); make it 0600")
            key = file.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise OSError(f"{path} is not a patient key ({len(key)} bytes, not {KEY_BYTES})")
        self.key, self.path = key, path

    def reference(self, patient_id: str, store_phi: bool = False) -> str:
        """``#`` and 16 hex digits (the ID itself with ``store_phi``); "" without an ID."""
        if not patient_id:
            return ""
        if store_phi:
            return patient_id
        # BLAKE2b in its keyed mode is a MAC, in C: hmac.new over SHA-256 cost 3 µs a message
        # in Python, a tenth of the listener's own time.
        digest = hashlib.blake2b(patient_id.encode("utf-8", "replace"), digest_size=8, key=self.key)
        return "#" + digest.hexdigest()


def _make(path: Path) -> int:
    """A new key file, 0600, written whole before anyone can read it; its descriptor, at 0."""
    fd = open_regular(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return fd
