"""Which patient an HL7 message is about: PID-3's first ID, read from the PID segment alone
(the hot path reads nothing else of the body); the message log keeps it only as a keyed hash
(:mod:`pacs_tui.patient_key`) unless the listener's ``store_phi`` is on."""

from __future__ import annotations

import re
from functools import cache

from pacs_tui.hl7.header import Header

#: Characters of an ID kept at most.
ID_LIMIT = 64


@cache
def _pid_segment(separator: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?:^|[\r\n])PID" + re.escape(separator) + rb"([^\r\n]*)")


def patient_id(message: bytes, header: Header) -> str:
    """PID-3's first repetition's first component (the ID), "" when there is none."""
    separator = header.separator.encode("latin-1")
    found = _pid_segment(separator).search(message)
    if found is None:
        return ""
    fields = found.group(1).split(separator, 3)  # PID-1, PID-2, PID-3, the rest
    if len(fields) < 3:
        return ""
    encoding = header.encoding.encode("latin-1")
    first = fields[2].split(encoding[1:2] or b"~", 1)[0].split(encoding[:1] or b"^", 1)[0]
    try:  # as the admin types it: UTF-8 when it is, else ISO-8859-1 (which never fails)
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        text = first.decode("latin-1")
    return text.strip()[:ID_LIMIT]
