"""What a listener checks of a message before it accepts it: the header's required fields, the
versions, processing IDs and kinds of message it takes, and for the common types the segments
HL7 v2 requires. Only segment names are read (the first three characters of each segment):
nothing of a patient's data."""

from __future__ import annotations

import re

from pacs_tui.hl7.ack import Problem
from pacs_tui.hl7.header import Header

#: HL7 v2 versions taken (MSH-12's first component, its first two numbers).
VERSIONS = ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8")
#: MSH-11: production, training, debugging.
PROCESSING_IDS = ("P", "T", "D")


def check_header(header: Header) -> Problem | None:
    """The first thing wrong with ``header``, or None."""
    if header.segment != "MSH":
        return Problem(200, f"a batch ({header.segment}): only single messages are taken")
    for number, name in ((9, "message type"), (10, "control ID"), (11, "processing ID")):
        if not header.field(number):
            return Problem(101, f"MSH-{number}, the {name}, is empty", "MSH", number)
    if not header.field(12):
        return Problem(101, "MSH-12, the version, is empty", "MSH", 12)
    if ".".join(header.version.split(".")[:2]) not in VERSIONS:
        return Problem(203, f"version {header.version} is not taken (2.1 to 2.8)", "MSH", 12)
    if header.processing_id not in PROCESSING_IDS:
        return Problem(202, f"processing ID {header.processing_id} is not P, T or D", "MSH", 11)
    if not header.component(9, 1).isalnum():
        return Problem(102, "MSH-9's message code is not a code", "MSH", 9)
    return None


#: Segments each type of message must have (HL7 v2.5's abstract message syntax, the required
#: segments only; the optional and repeating groups are not checked).
REQUIRED: dict[str, tuple[str, ...]] = {
    "ADT^A01": ("EVN", "PID", "PV1"),
    "ADT^A04": ("EVN", "PID", "PV1"),
    "ADT^A08": ("EVN", "PID", "PV1"),
    "ORM^O01": ("ORC",),
    "ORU^R01": ("OBR",),
    "SIU^S12": ("SCH", "RGS"),
    "MDM^T02": ("EVN", "PID", "PV1", "TXA", "OBX"),
    "ORR^O02": ("MSA",),
    "ACK": ("MSA",),
}
#: A segment of each required name, at the start of a line (CR, LF or CRLF before it): a search
#: of the bytes, not a split of the whole message into segments.
_SEGMENT_START = {
    name: re.compile(rb"[\r\n]" + name.encode()) for names in REQUIRED.values() for name in names
}


def check_message(header: Header, message: bytes) -> Problem | None:
    """The first thing wrong with the message: its header (:func:`check_header`), then the
    segments its type requires (a missing one is HL7's error 100, segment sequence)."""
    problem = check_header(header)
    if problem is not None:
        return problem
    code = header.component(9, 1)
    kind = code if code == "ACK" else f"{code}^{header.trigger}"
    wanted = REQUIRED.get(kind)
    if wanted:
        for name in wanted:
            if _SEGMENT_START[name].search(message) is None:
                return Problem(100, f"{kind} without its required {name} segment", name)
    return None
