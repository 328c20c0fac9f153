"""What a listener checks of a message before it accepts it: the header's required fields and
the versions, processing IDs and kinds of message it takes (structure of the segments by type
is the next step of issue 9)."""

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
