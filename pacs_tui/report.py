"""Render states, samples and events as the text tables and JSON documents the CLI prints.

The JSON shapes are the machine-readable contracts of ARCHITECTURE.md; change them only with a
version bump noted in the README. JSON needs no escaping of ours (``json.dumps`` writes every
control and non-ASCII character as ``\\uXXXX``); the text tables show every string that came
from outside (ids, AE titles, hosts, reasons, summaries, the site name) through
:func:`~pacs_tui.visible.visible`, so a peer's escape sequence never reaches the terminal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pacs_tui.model import Event, LoggedMessage, Sample, Status, TargetState, iso
from pacs_tui.probes import find_metric, headline
from pacs_tui.source import plain_number
from pacs_tui.units import NONE_TEXT, format_metric, format_value
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, host_port, visible

STATUS_SCHEMA_VERSION = 1


def _number(value: float) -> float:
    """A metric for JSON: rounded to the microsecond (metrics are in base units, seconds and
    bytes; float noise below 1e-6 only makes documents longer and diffs noisier)."""
    return round(value, 6) if isinstance(value, float) else value


def status_document(site: str, checked_at: float, states: Iterable[TargetState]) -> dict[str, Any]:
    return {
        "site": site,
        "checked_at": iso(checked_at),
        "targets": [
            {
                "id": s.target.id,
                "kind": s.target.kind,
                "status": s.status.word,
                "reason": s.reason,
                "since": iso(s.since),
                "metrics": {name: _number(value) for name, value in s.metrics.items()},
            }
            for s in states
        ],
    }


def status_json(site: str, checked_at: float, states: Iterable[TargetState]) -> str:
    return json.dumps(status_document(site, checked_at, states), indent=2)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def status_table(site: str, states: Sequence[TargetState]) -> str:
    rows = [
        [
            s.status.label,
            visible(s.target.id, VALUE_LIMIT),
            visible(s.target.kind, VALUE_LIMIT),
            _address(s),
            headline_text(s),
            visible(s.reason, TEXT_LIMIT),
        ]
        for s in states
    ]
    overall = Status.worst(s.status for s in states)
    count = f"{len(states)} target{'s' if len(states) != 1 else ''}"
    head = f"{visible(site, VALUE_LIMIT)}: {overall.label} ({count})"
    return head + "\n" + _table(["STATUS", "TARGET", "KIND", "ADDRESS", "VALUE", "REASON"], rows)


def headline_text(state: TargetState) -> str:
    """The target's headline metric as its source declares it: ``"echo 12 ms"``; "—" when
    there is none (never checked, DOWN)."""
    spec, value = headline(state)
    if spec is None or value is None:
        return NONE_TEXT
    label = visible(spec.label.lower(), VALUE_LIMIT)
    return f"{label} {format_metric(spec, value)}"


def _address(state: TargetState) -> str:
    """``AET@host:port`` (``[::1]:104`` for IPv6), made visible; "" without a host."""
    labels = state.target.labels
    if "plugin" in labels:  # a command check: its plugin
        return visible(labels["plugin"], VALUE_LIMIT)
    if "host" in labels:
        address = host_port(labels["host"], labels.get("port"))
        return f"{visible(labels['aet'], VALUE_LIMIT)}@{address}" if "aet" in labels else address
    # An audit receiver's "tcp 0.0.0.0:6514", a log's file, a host's "this server" or exporter URL.
    for key in ("address", "path", "where"):
        if labels.get(key):
            return visible(labels[key], VALUE_LIMIT)
    return ""


def history_document(samples: Iterable[Sample], events: Iterable[Event]) -> dict[str, Any]:
    return {
        "samples": [
            {"ts": iso(s.ts), "target": s.target, "metric": s.metric, "value": _number(s.value)}
            for s in samples
        ],
        "events": [
            {
                "ts": iso(e.ts),
                "target": e.target,
                "kind": e.kind,
                "status": e.status.word if e.status is not None else None,
                "summary": e.summary,
                "fields": dict(e.fields),
            }
            for e in events
        ],
    }


def history_csv(samples: Iterable[Sample]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ts", "target", "metric", "value"])
    for s in samples:
        # To the microsecond, as the JSON has it, and never in exponent form (1e-05).
        writer.writerow([iso(s.ts), s.target, s.metric, plain_number(s.value)])
    return out.getvalue()


def history_table(samples: Sequence[Sample], events: Sequence[Event]) -> str:
    parts: list[str] = []
    if events:
        rows = [
            [
                iso(e.ts) or "",
                visible(e.target, VALUE_LIMIT),
                visible(e.kind, VALUE_LIMIT),
                e.status.label if e.status is not None else "",
                visible(e.summary, TEXT_LIMIT),
            ]
            for e in events
        ]
        parts.append(
            f"Events ({len(events)})\n"
            + _table(["TIME", "TARGET", "EVENT", "STATUS", "SUMMARY"], rows)
        )
    if samples:
        rows = [
            [
                iso(s.ts) or "",
                visible(s.target, VALUE_LIMIT),
                visible(s.metric, VALUE_LIMIT),
                format_metric(find_metric(s.metric), s.value),
            ]
            for s in samples
        ]
        parts.append(
            f"Samples ({len(samples)})\n" + _table(["TIME", "TARGET", "METRIC", "VALUE"], rows)
        )
    if not parts:
        return "No history in that window."
    return "\n\n".join(parts)


def history_json_text(samples: Iterable[Sample], events: Iterable[Event]) -> str:
    return json.dumps(history_document(samples, events), indent=2, default=str)


def message_out(m: LoggedMessage) -> dict[str, Any]:
    """One message-log row as ``history --messages --json`` prints it (``ack`` null when none
    came; metadata only: the log holds nothing else)."""
    return {
        "ts": iso(m.ts),
        "target": m.link,
        "direction": m.direction,
        "type": m.type,
        "control_id": m.control_id,
        "version": m.version,
        "ack": m.ack,
        "latency_seconds": m.latency,
        "size_bytes": m.size,
        "sending_app": m.sender,
        "sending_facility": m.sender_facility,
        "receiving_app": m.receiver,
        "receiving_facility": m.receiver_facility,
        "errors": m.detail,
        "patient": m.patient or None,
    }


def messages_json_text(messages: Iterable[LoggedMessage]) -> str:
    return json.dumps({"messages": [message_out(m) for m in messages]}, indent=2)


#: A cell of the message table is cut (with "…") at this many characters: one sender's
#: 300-character user ID must not pad every row's column (``--json`` has every value whole).
CELL_LIMIT = 40


def messages_table(messages: Sequence[LoggedMessage]) -> str:
    """The message log, oldest first, every field from outside shown through ``visible``."""
    if not messages:
        return "No messages in that window."
    rows = [
        [
            iso(m.ts) or "",
            visible(m.link, CELL_LIMIT),
            visible(m.direction, 8),
            visible(m.type, 20),
            visible(m.control_id, CELL_LIMIT),
            visible(m.ack, 4) if m.ack is not None else "-",
            format_value("s", m.latency) if m.latency is not None else "",
            f"{m.size:,}",
            # app^facility, as HL7 writes a party and the UI's log shows it
            visible("^".join(x for x in (m.sender, m.sender_facility) if x), CELL_LIMIT),
            visible("^".join(x for x in (m.receiver, m.receiver_facility) if x), CELL_LIMIT),
            visible(m.patient, CELL_LIMIT),
            visible(m.detail, TEXT_LIMIT),
        ]
        for m in messages
    ]
    head = ["TIME", "TARGET", "DIR", "TYPE", "CONTROL ID", "ACK", "LATENCY", "BYTES", "FROM"]
    return f"Messages ({len(messages)})\n" + _table([*head, "TO", "PATIENT", "ERRORS"], rows)
