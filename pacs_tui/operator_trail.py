"""The operator audit trail: every action asked of the engine (done or refused), one JSON line
each in a 0600 file beside the history, each line carrying the SHA-256 of the one before, so
that :func:`verify` finds a changed, inserted or deleted line and names it; optionally each
line is also sent as syslog (RFC 5424) to where ``[operators] forward`` says.

Append-only by construction (``O_APPEND``, one ``write`` per line); the file's
own last lines can be cut without a trace in it, which is what forwarding is for.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacs_tui.private_paths import NOFOLLOW_FLAGS, RefusedPath, open_regular, refuse_unless_regular
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

GENESIS = "0" * 64
#: A line is at most this long (an action's words are short); longer is damage.
MAX_LINE = 64 * 1024
FIELDS = ("seq", "ts", "user", "uid", "role", "action", "target", "outcome", "words")


def trail_path(history: Path) -> Path:
    return history.with_name(history.name + ".operator-trail")


def _digest(prev: str, row: dict[str, Any]) -> str:
    body = json.dumps({k: row.get(k) for k in FIELDS}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


class TrailError(Exception):
    """The trail cannot be opened or written: the words say why."""


class OperatorTrail:
    """The writer: one per history (the engine that holds the history's lock)."""

    def __init__(self, path: Path, forward: str = "") -> None:
        self.path = path
        self.forward = forward
        self.seq, self.last = 0, GENESIS
        for row in _rows(path):  # where the chain goes on from (damage is verify's business)
            if isinstance(row, dict):
                self.seq = int(row.get("seq") or self.seq)
                self.last = str(row.get("hash") or self.last)
        self._fd = self._open()

    def _open(self) -> int:
        try:
            return open_regular(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except (OSError, RefusedPath) as exc:
            raise TrailError(f"cannot open the operator trail {self.path}: {exc}") from None

    def _still_ours(self) -> None:
        """The file written to is still the one at the path: an editor that saved a copy
        (``sed -i``) or a deletion left us writing to a file nobody can read. Then the trail
        goes on in a new file at the path, from the chain as we wrote it (so ``verify`` shows
        the break), and the log says so."""
        try:
            mine = os.fstat(self._fd)
            there = os.stat(self.path, follow_symlinks=False)
            same = (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino) and mine.st_nlink
        except OSError:
            same = False
        if not same:
            log.error(
                "the operator trail %s was replaced or deleted since it was opened (after line "
                "#%d): going on in the file now at that path; audit verify will show the break",
                self.path, self.seq,
            )  # fmt: skip
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = self._open()

    def append(
        self,
        *,
        user: str,
        uid: int,
        role: str,
        action: str,
        target: str = "",
        outcome: str = "done",
        words: str = "",
        ts: float | None = None,
    ) -> dict[str, Any]:
        """Write one line (durable when this returns) and forward it; the row written."""
        row: dict[str, Any] = {
            "seq": self.seq + 1, "ts": round(ts if ts is not None else _now(), 3),
            "user": user, "uid": uid, "role": role, "action": action, "target": target,
            "outcome": outcome, "words": words,
        }  # fmt: skip
        row["prev"] = self.last
        row["hash"] = _digest(self.last, row)
        self._still_ours()
        line = json.dumps(row, ensure_ascii=True, separators=(",", ":")) + "\n"
        try:  # one write: the kernel has it when this returns (as the message journal)
            os.write(self._fd, line.encode("ascii"))
        except OSError as exc:
            raise TrailError(f"cannot write the operator trail: {exc.strerror}") from None
        self.seq, self.last = row["seq"], row["hash"]
        if self.forward:  # in a thread: a slow syslog server must not hold the engine
            threading.Thread(
                target=send_syslog, args=(self.forward, line.strip()), daemon=True
            ).start()
        return row

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def _rows(path: Path) -> Iterator[dict[str, Any] | str]:
    """Each line as a dict, or the words of what is wrong with it; nothing when absent."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW_FLAGS)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise TrailError(f"cannot read the operator trail {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        try:
            refuse_unless_regular(path, os.fstat(file.fileno()).st_mode)
        except RefusedPath as exc:
            raise TrailError(str(exc)) from None
        while True:
            raw = file.readline(MAX_LINE + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE:
                yield f"a line over {MAX_LINE:,} bytes"
                file.readline()  # skip the rest of it: it is one line
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                yield "not a JSON line"
                continue
            yield row if isinstance(row, dict) else "not a JSON object"


@dataclass(frozen=True, slots=True)
class Verdict:
    rows: int
    problems: list[str]
    first: float | None = None
    last: float | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


#: Lines of the trail :func:`verify` reads at most (a trail is years of operator actions).
MAX_ROWS = 2_000_000


def verify(path: Path, *, most: int = 20) -> Verdict:
    """Walk the chain and name what broke it (at most ``most`` problems): a line whose hash is
    not its content's was **changed**; a line whose ``prev`` is the hash of a line *after* it
    is **out of order** (lines moved or swapped); lines that sit between a line and the one its
    ``prev`` names, which no line chains to, were **inserted**; a jump in the sequence numbers
    is lines **deleted**; a line that is not JSON was inserted or changed beyond reading. What
    follows the trail's last line cannot be told from the file alone (the history's operator
    events can: :func:`missing_actions`)."""
    rows: list[dict[str, Any] | str] = []
    for row in _rows(path):
        if len(rows) >= MAX_ROWS:
            return Verdict(
                len(rows),
                [f"the trail has more than {MAX_ROWS:,} lines: not verified (rotate it)"],
            )
        rows.append(row)
    dicts = [(i, r) for i, r in enumerate(rows) if isinstance(r, dict)]
    owners: dict[str, int] = {}
    for index, row in dicts:
        owners.setdefault(str(row.get("hash", "")), index)
    referenced = {str(row.get("prev", "")) for _, row in dicts}
    problems: list[str] = []
    times = [float(r["ts"]) for _, r in dicts if _number(r.get("ts"))]
    expected, last = 1, GENESIS
    for index, row in enumerate(rows):
        if len(problems) >= most:
            break
        if isinstance(row, str):
            problems.append(
                f"line {index + 1}: {row}: not a line of the trail (inserted, or changed "
                "beyond reading)"
            )
            continue
        name = _name(index, row)
        seq, prev, own = row.get("seq"), str(row.get("prev", "")), str(row.get("hash", ""))
        before = owners.get(prev)
        if _digest(prev, row) != own:
            problems.append(f"{name}: changed (its hash does not match its content)")
        elif not isinstance(seq, int) or isinstance(seq, bool):
            problems.append(f"{name}: changed (no sequence number)")
        elif prev == last:
            pass
        elif before is not None and before > index:
            problems.append(
                f"{name}: out of order (it follows line {before + 1} in the chain: lines "
                "moved or swapped)"
            )
        elif before is not None:
            between = [(i, r) for i, r in dicts if before < i < index]
            if any(str(r.get("hash", "")) in referenced for _, r in between):
                problems.append(f"{name}: out of order (lines moved or swapped before it)")
            elif between:
                for number, _ in between:
                    problems.append(f"{_name(number, rows[number])}: inserted (not in the chain)")
            else:  # only unreadable lines between: said as they came
                pass
        elif seq > expected:
            gone = seq - expected
            span = f"#{expected}" + (f" to #{seq - 1}" if gone > 1 else "")
            problems.append(
                f"{name}: {gone} line{'s' if gone != 1 else ''} deleted before it ({span})"
            )
        else:
            problems.append(f"{name}: the line before it was changed (the chain breaks here)")
        if isinstance(seq, int) and not isinstance(seq, bool):
            expected = max(expected, seq + 1)
        last = own
    return Verdict(len(rows), problems[:most], min(times, default=None), max(times, default=None))


def missing_actions(
    path: Path, recorded: Iterable[tuple[float, str, str]], *, slack: float = 5.0, most: int = 20
) -> list[str]:
    """The operator actions the history recorded (time, user, action) that no line of the
    trail holds: lines deleted at its end, or the whole trail deleted or replaced."""
    lines: dict[tuple[str, str], list[float]] = {}
    for row in _rows(path):
        if isinstance(row, dict) and _number(row.get("ts")) and row.get("outcome") == "done":
            key = (str(row.get("user", "")), str(row.get("action", "")))
            lines.setdefault(key, []).append(float(row["ts"]))
    for times in lines.values():
        times.sort()
    missing: list[str] = []
    for ts, user, action in sorted(recorded):
        # One line answers for one recorded action: the nearest in time, used up.
        times = lines.get((user, action), [])
        at = bisect.bisect_left(times, ts)
        near = [i for i in (at - 1, at) if 0 <= i < len(times)]
        nearest = min(near, key=lambda i: abs(times[i] - ts), default=None)
        if nearest is not None and abs(times[nearest] - ts) <= slack:
            del times[nearest]
        else:
            who = visible(user, 40)
            missing.append(
                f"the history records {visible(action, 40)} by {who} at {_when(ts)}, which no "
                "line of the trail holds (lines deleted, or the trail replaced)"
            )
            if len(missing) >= most:
                break
    return missing


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name(index: int, row: dict[str, Any] | str) -> str:
    if isinstance(row, str):
        return f"line {index + 1}"
    action, user = (visible(str(row.get(k, "")), 40) for k in ("action", "user"))
    return f"line {index + 1} (#{row.get('seq')}, {_when(row.get('ts'))}, {action} by {user})"


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "no time"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def send_syslog(target: str, line: str, *, timeout: float = 1.0) -> None:
    """One RFC 5424 message (facility authpriv, severity notice) to ``udp://`` or ``tcp://``
    (octet-counted) ``host:port``; a failure is logged, never raised: the file has the line."""
    scheme, _, address = target.partition("://")
    host, _, port = address.rpartition(":")
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    message = (
        f"<85>1 {stamp} {socket.gethostname()} pacs-tui {os.getpid()} OPERATOR - {line}"
    ).encode("utf-8", "replace")
    try:
        if scheme == "udp":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.sendto(message, (host.strip("[]"), int(port)))
        else:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
                s.sendall(str(len(message)).encode() + b" " + message)
    except OSError as exc:
        log.warning("operator trail: cannot forward to %s: %s", target, exc)
