"""Following a log file as ``tail -F`` does, from a hostile disk: rotation by rename (the old
file read to its end, then the new one from its start), copytruncate (the file shrinks: read
again from its start), a file that disappears and comes back, a file that is not a regular
file (refused, never waited on), a huge file (started at its end), an endless line (cut at
``max_line``, the rest skipped up to its newline). Each :meth:`Follower.poll` reads at most
``budget`` bytes: a flood is caught up over several polls, never all at once.

And :func:`mask_phi`: a matching line as it may be shown — anything that looks like a patient's
name or identifier masked.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

#: Bytes of a line kept at most (the rest of a longer line is skipped).
MAX_LINE = 64 * 1024
#: Bytes read at most in one poll.
POLL_BUDGET = 4 * 2**20


@dataclass
class Polled:
    """What one poll found: whole lines (decoded, cut at ``max_line``), and what happened to
    the file in words (rotated, truncated, missing, refused)."""

    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cut: int = 0  # lines longer than max_line


class Follower:
    """One file, followed by name (blocking reads: poll from a thread)."""

    def __init__(
        self,
        path: str,
        *,
        from_start: bool = False,
        max_line: int = MAX_LINE,
        budget: int = POLL_BUDGET,
    ) -> None:
        self.path = path
        self.max_line = max_line
        self.budget = budget
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of what is open
        self._position = 0
        self._partial = bytearray()
        self._skipping = False  # inside a line already cut
        self._from_start = from_start
        #: Why the file cannot be read now, in words ("" when it is being followed).
        self.missing = ""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def poll(self) -> Polled:
        out = Polled()
        current = self._stat_path(out)
        if self._fd is not None and current is not None and current[:2] != self._identity:
            # Rotated: what is left of the old file first, then the new one from its start.
            self._read(out, self.budget)
            self._flush_partial(out)
            self.close()
            out.notes.append("rotated: following the new file")
            self._from_start = True
        if self._fd is None:
            if current is None:
                self._from_start = True  # when it appears, all of it is new
                return out
            self._open(out)
            if self._fd is None:
                return out
        size = os.fstat(self._fd).st_size if self._fd is not None else 0
        if size < self._position:
            out.notes.append("truncated: reading it again from its start")
            self._position = 0
            self._partial.clear()
            self._skipping = False
        self._read(out, self.budget)
        return out

    def _stat_path(self, out: Polled) -> tuple[int, int, int] | None:
        """(device, inode, mode) of what the path names now; None (and why) when nothing."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self.missing:
                out.notes.append("the file is missing")
            self.missing = "the file is missing"
            return None
        except OSError as exc:
            self.missing = f"cannot read it: {exc.strerror or exc}"
            return None
        if not stat.S_ISREG(st.st_mode):
            if not self.missing.startswith("not a regular"):
                out.notes.append("not a regular file: not read")
            self.missing = "not a regular file (a FIFO, a device, a folder): not read"
            return None
        return st.st_dev, st.st_ino, st.st_mode

    def _open(self, out: Polled) -> None:
        try:
            # O_NONBLOCK: a FIFO put at the path between the stat and the open does not hang us.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as exc:
            self.missing = f"cannot open it: {exc.strerror or exc}"
            return
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            self.missing = "not a regular file (a FIFO, a device, a folder): not read"
            return
        if self.missing:
            out.notes.append("the file is back")
        self.missing = ""
        self._fd, self._identity = fd, (st.st_dev, st.st_ino)
        # A file met for the first time is followed from its end (a 2 GB log is not read
        # whole); after a rotation, or with from_start, from its start.
        self._position = 0 if self._from_start else st.st_size
        self._partial.clear()
        self._skipping = False

    def _read(self, out: Polled, budget: int) -> None:
        if self._fd is None:
            return
        while budget > 0:
            try:
                chunk = os.pread(self._fd, min(budget, 1 << 20), self._position)
            except OSError as exc:
                self.missing = f"cannot read it: {exc.strerror or exc}"
                return
            if not chunk:
                return
            budget -= len(chunk)
            self._position += len(chunk)
            self._split(chunk, out)

    def _split(self, chunk: bytes, out: Polled) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if self._skipping:
                if end >= 0:
                    self._skipping = False
            else:
                room = self.max_line - len(self._partial)
                self._partial += piece[:room]
                if len(piece) > room:
                    out.cut += 1
                    self._skipping = end < 0
                    self._flush_partial(out)
                elif end >= 0:
                    self._flush_partial(out)
            if end < 0:
                return
            start = end + 1

    def _flush_partial(self, out: Polled) -> None:
        if self._partial:
            out.lines.append(self._partial.decode("utf-8", errors="replace").rstrip("\r"))
            self._partial.clear()


#: What looks like a patient's data in a log line: DICOM person names (LAST^FIRST), tagged
#: values (PatientName=…, PatientID: …, (0010,0020) […]), and long runs of digits (MRNs,
#: accession numbers, social security numbers).
_TAGGED = re.compile(
    r"(?i)(\b(?:patient ?(?:name|id|birth ?date|'s name)|pid|mrn)\b|\(0010,[0-9a-f]{4}\))"
    r"(\s*[:=]?\s*)(\[[^\]]*\]|\"[^\"]*\"|'[^']*'|[^\s,;)\]}]+)"
)
#: LAST^FIRST^MIDDLE: the components without spaces (a name with spaces in its family name,
#: VAN DER BERG^JAN, keeps its first words: the line would lose its sense otherwise).
_PERSON_NAME = re.compile(r"\b[\w'-]+(?:\^[\w'-]*)+")
#: Not the fraction of a time of day ("16:47:32.123456", a log line's own stamp: up to
#: nanoseconds; more digits there are masked as any others).
_DIGITS = re.compile(r"(?<!\d\d:\d\d[.,])\b\d{6,}\b|(?<=\d\d:\d\d[.,])\d{10,}\b")
MASK = "•••"


def mask_phi(line: str) -> str:
    """``line`` with anything that looks like a patient's name or identifier masked."""
    line = _TAGGED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", line)
    line = _PERSON_NAME.sub(MASK, line)
    return _DIGITS.sub(MASK, line)
