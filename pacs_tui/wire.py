"""The collector's socket protocol: one JSON object per line, and the value types in and out.

A viewer connects to the collector's Unix socket and sends ``hello``; the collector answers
``welcome`` (or ``refused`` with the reason in words and closes), then a snapshot in ``states``
frames ending with ``"done": true``, then every change as ``state`` and ``event`` frames.
Requests carry an ``id`` and are answered by a ``reply`` with the same id. A collector that
drops a slow viewer's backlog sends a fresh snapshot instead. JSON lines (not a binary framing)
because every frame is small, Python's ``json`` is fast at it, and a person can read the
stream with ``socat``; a line is bounded on both sides (:data:`REQUEST_LIMIT`,
:data:`FRAME_LIMIT`). Decoders never trust a frame: a wrong type is a :class:`WireError`.
No Textual, no I/O here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pacs_tui.model import (
    Event,
    LoggedMessage,
    MessageField,
    MessageSegment,
    MessageTree,
    Sample,
    Status,
    Target,
    TargetState,
)
from pacs_tui.store.schema import SeriesPoint

#: The protocol version this build speaks; a viewer and a collector must agree exactly.
#: 2: message-log filters (until, control ID, ACK, type, patient), rows with a patient,
#: message_tree. 3: the collector's ``beat`` when it has had nothing to send for 2 s.
PROTOCOL = 3
#: What the hello and the welcome name, so a stray client of another program is told apart.
MAGIC = "pacs-tui"
#: The longest line a viewer may send the collector (requests are small).
REQUEST_LIMIT = 64 * 1024
#: The longest line the collector may send a viewer (a snapshot is split into frames of
#: :data:`SNAPSHOT_CHUNK` states; the longest is a trend column's history of many targets).
FRAME_LIMIT = 32 * 1024 * 1024
#: States per snapshot frame.
SNAPSHOT_CHUNK = 250


class WireError(ValueError):
    """A frame that is not what the protocol says, in words."""


def encode(frame: Mapping[str, Any]) -> bytes:
    """One frame as a line. Values that JSON cannot hold (a peer's bytes in a detail) are
    written as their text; NaN and infinities (not JSON) as ``null``."""
    return (
        json.dumps(_finite(frame), separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
    ).encode("utf-8", "surrogatepass")


def decode(line: bytes) -> dict[str, Any]:
    """A line as a frame (a JSON object with a string ``type`` or ``op``)."""
    try:
        frame = json.loads(line.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not a JSON line ({exc})") from None
    if not isinstance(frame, dict):
        raise WireError(f"a JSON object, not {type(frame).__name__}")
    return frame


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# -- fields, checked --------------------------------------------------------------------------


def need(frame: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``frame[key]``, which must be of ``kind`` (a bool is not a number here)."""
    value = frame.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise WireError(f"{key}: expected {_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise WireError(f"{key}: expected {_names(kinds)}, got {type(value).__name__}")
    return value


def optional(frame: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    return None if frame.get(key) is None else need(frame, key, kind)


def optional_strings(frame: Mapping[str, Any], key: str, most: int) -> tuple[str, ...] | None:
    """A list of at most ``most`` strings, or None when absent."""
    value = optional(frame, key, list)
    if value is None:
        return None
    if len(value) > most or not all(isinstance(item, str) for item in value):
        raise WireError(f"{key} must be a list of at most {most} strings")
    return tuple(value)


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


def number(frame: Mapping[str, Any], key: str) -> float:
    return float(need(frame, key, (int, float)))


def optional_number(frame: Mapping[str, Any], key: str) -> float | None:
    value = optional(frame, key, (int, float))
    return None if value is None else float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _status(word: Any, key: str = "status") -> Status:
    try:
        return Status(word)
    except ValueError:
        raise WireError(f"{key}: not a status word: {str(word)[:40]!r}") from None


def _str_map(frame: Mapping[str, Any], key: str) -> dict[str, str]:
    value = need(frame, key, dict)
    return {str(k): str(v) for k, v in value.items()}


def float_map(frame: Mapping[str, Any], key: str) -> dict[str, float]:
    """``frame[key]``, an object, with its numbers as floats (anything else left out)."""
    value = need(frame, key, dict)
    return {str(name): float(v) for name, v in value.items() if _is_number(v)}


# -- value types ------------------------------------------------------------------------------


def target_out(target: Target) -> dict[str, Any]:
    return {"id": target.id, "kind": str(target.kind), "labels": dict(target.labels)}


def target_in(frame: Any) -> Target:
    if not isinstance(frame, Mapping):
        raise WireError("a target must be an object")
    return Target(need(frame, "id", str), need(frame, "kind", str), _str_map(frame, "labels"))


def state_out(state: TargetState) -> dict[str, Any]:
    return {
        "target": target_out(state.target),
        "status": state.status.value,
        "reason": state.reason,
        "since": state.since,
        "last_seen": state.last_seen,
        "checked": state.checked,
        "metrics": dict(state.metrics),
        "details": dict(state.details),
    }


def state_in(frame: Mapping[str, Any]) -> TargetState:
    if not isinstance(frame, Mapping):
        raise WireError("a state must be an object")
    return TargetState(
        target_in(need(frame, "target", dict)),
        status=_status(frame.get("status")),
        reason=need(frame, "reason", str),
        since=optional_number(frame, "since"),
        last_seen=optional_number(frame, "last_seen"),
        checked=optional_number(frame, "checked"),
        metrics=float_map(frame, "metrics"),
        details=dict(need(frame, "details", dict)),
    )


def event_out(event: Event) -> dict[str, Any]:
    return {
        "ts": event.ts,
        "target": event.target,
        "kind": str(event.kind),
        "status": event.status.value if event.status is not None else None,
        "summary": event.summary,
        "fields": dict(event.fields),
    }


def event_in(frame: Mapping[str, Any]) -> Event:
    if not isinstance(frame, Mapping):
        raise WireError("an event must be an object")
    status = frame.get("status")
    return Event(
        number(frame, "ts"),
        need(frame, "target", str),
        need(frame, "kind", str),
        None if status is None else _status(status),
        need(frame, "summary", str),
        dict(need(frame, "fields", dict)),
    )


_MESSAGE_TEXT = (
    "link",
    "direction",
    "type",
    "control_id",
    "sender",
    "receiver",
    "detail",
    "version",
    "sender_facility",
    "receiver_facility",
    "patient",
)


def message_out(message: LoggedMessage) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(message, k) for k in _MESSAGE_TEXT}
    out.update(ts=message.ts, ack=message.ack, latency=message.latency, size=message.size)
    return out


def message_in(frame: Any) -> LoggedMessage:
    if not isinstance(frame, Mapping):
        raise WireError("a message must be an object")
    ack = optional(frame, "ack", str)
    latency = optional_number(frame, "latency")
    size = need(frame, "size", int)
    texts = {k: need(frame, k, str) for k in _MESSAGE_TEXT}
    return LoggedMessage(ts=number(frame, "ts"), ack=ack, latency=latency, size=size, **texts)


def tree_out(tree: MessageTree) -> dict[str, Any]:
    return {
        "problem": tree.problem,
        "segments": [
            [s.name, [[f.number, f.text, f.masked, list(f.components), f.length] for f in s.fields]]
            for s in tree.segments
        ],
    }


def tree_in(frame: Any) -> MessageTree:
    if not isinstance(frame, Mapping):
        raise WireError("a message tree must be an object")
    segments: list[MessageSegment] = []
    for item in need(frame, "segments", list):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise WireError("a segment must be [name, fields]")
        fields: list[MessageField] = []
        for f in item[1] if isinstance(item[1], list) else ():
            if not (
                isinstance(f, list)
                and len(f) == 5
                and isinstance(f[0], int)
                and isinstance(f[1], str)
                and isinstance(f[2], bool)
                and isinstance(f[3], list)
                and all(isinstance(c, str) for c in f[3])
                and isinstance(f[4], int)
            ):
                raise WireError("a field must be [number, text, masked, components, length]")
            fields.append(MessageField(f[0], f[1], f[2], tuple(f[3]), f[4]))
        segments.append(MessageSegment(item[0], tuple(fields)))
    return MessageTree(tuple(segments), need(frame, "problem", str))


def samples_out(samples: list[Sample]) -> list[list[Any]]:
    return [[s.ts, s.target, s.metric, s.value] for s in samples]


def points_out(points: list[SeriesPoint]) -> list[list[float]]:
    return [[p.ts, p.min, p.max, p.avg, p.count] for p in points]


def points_in(value: Any) -> list[SeriesPoint]:
    if not isinstance(value, list):
        raise WireError("a series must be a list")
    points: list[SeriesPoint] = []
    for row in value:
        if not isinstance(row, list) or len(row) != 5 or not all(_is_number(v) for v in row):
            raise WireError("a series point must be five numbers")
        points.append(SeriesPoint(float(row[0]), row[1], row[2], row[3], int(row[4])))
    return points


def samples_in(value: Any) -> list[Sample]:
    if not isinstance(value, list):
        raise WireError("samples must be a list")
    samples: list[Sample] = []
    for row in value:
        if (
            not isinstance(row, list)
            or len(row) != 4
            or not isinstance(row[1], str)
            or not isinstance(row[2], str)
            or not (_is_number(row[0]) and _is_number(row[3]))
        ):
            raise WireError("a sample must be [ts, target, metric, value]")
        samples.append(Sample(float(row[0]), row[1], row[2], float(row[3])))
    return samples
