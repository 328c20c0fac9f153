"""What a listener checks of a message before it accepts it: the header's required fields, the
versions, processing IDs and kinds of message it takes, and for the common types the segments
HL7 v2 requires. Only segment names are read (the first three characters of each segment):
nothing of a patient's data."""

from __future__ import annotations

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
    fields = header.fields
    if len(fields) < 12 or not (fields[8] and fields[9] and fields[10] and fields[11]):
        for number, name in (
            (9, "message type"),
            (10, "control ID"),
            (11, "processing ID"),
            (12, "version"),
        ):
            if not header.field(number):
                return Problem(101, f"MSH-{number}, the {name}, is empty", "MSH", number)
    if not _version_taken(header.version):
        return Problem(203, f"version {header.version} is not taken (2.1 to 2.8)", "MSH", 12)
    if header.processing_id not in PROCESSING_IDS:
        return Problem(202, f"processing ID {header.processing_id} is not P, T or D", "MSH", 11)
    if not header.message_code.isalnum():
        return Problem(102, "MSH-9's message code is not a code", "MSH", 9)
    return None


def _version_taken(version: str) -> bool:
    """ "2.5", "2.5.1": its first two numbers are one of :data:`VERSIONS`."""
    return version in VERSIONS or ".".join(version.split(".")[:2]) in VERSIONS


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
    name: (b"\r" + name.encode(), b"\n" + name.encode())
    for names in REQUIRED.values()
    for name in names
}


def check_message(header: Header, message: bytes) -> Problem | None:
    """The first thing wrong with the message: its header (:func:`check_header`), then the
    segments its type requires (a missing one is HL7's error 100, segment sequence)."""
    problem = check_header(header)
    if problem is not None:
        return problem
    code = header.message_code
    kind = code if code == "ACK" else f"{code}^{header.trigger}"
    wanted = REQUIRED.get(kind)
    if wanted:
        for name in wanted:
            after_cr, after_lf = _SEGMENT_START[name]
            if after_cr not in message and after_lf not in message:
                return Problem(100, f"{kind} without its required {name} segment", name)
    return None
