"""The header of an HL7 v2 message (MSH, or FHS/BHS of a batch) read without parsing the rest.

A listener answers thousands of messages a second and needs only the header for its ACK and its
log row. ``hl7.parse`` builds the whole tree (1.34 ms a message here, 745 a second: under the
6,500 a second a bare MLLP server answers), so the header's fields are split out of the first
segment directly; the full parse is left to the detail view. Nothing of the message beyond the
header is read, so no patient field can leak from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Segment separators: CR in the standard; LF and CRLF from senders that write files.
_SEGMENT_END = re.compile(rb"[\r\n]")
#: A header field kept for the log and the ACK is cut at this many characters.
FIELD_LIMIT = 180
#: Bytes of the first segment read at most (a header is a few hundred bytes).
HEADER_LIMIT = 8192


class HeaderError(ValueError):
    """The message has no header that can be answered (said in words)."""


@dataclass(frozen=True, slots=True)
class Header:
    """The header's fields as the message wrote them (escapes kept). ``segment`` is "MSH",
    or "FHS"/"BHS" for a batch; ``fields`` the header segment's fields by HL7 number (1 is the
    field separator, 2 the encoding characters)."""

    segment: str
    separator: str
    encoding: str
    fields: tuple[str, ...]

    def field(self, number: int) -> str:
        """MSH-``number`` (``""`` when absent), cut at :data:`FIELD_LIMIT` (by
        :func:`read_header`)."""
        index = number - 1
        return self.fields[index] if 0 <= index < len(self.fields) else ""

    def component(self, number: int, position: int = 1) -> str:
        """The ``position``-th component of MSH-``number``."""
        sep = self.encoding[:1] or "^"
        parts = self.field(number).split(sep)
        return parts[position - 1] if position <= len(parts) else ""

    @property
    def sending_app(self) -> str:
        return self.field(3)

    @property
    def sending_facility(self) -> str:
        return self.field(4)

    @property
    def receiving_app(self) -> str:
        return self.field(5)

    @property
    def receiving_facility(self) -> str:
        return self.field(6)

    @property
    def message_type(self) -> str:
        """ "ADT^A01" (MSH-9's code and trigger; its structure left out)."""
        code, trigger = self.component(9, 1), self.component(9, 2)
        sep = self.encoding[:1] or "^"
        return f"{code}{sep}{trigger}" if trigger else code

    @property
    def trigger(self) -> str:
        return self.component(9, 2)

    @property
    def control_id(self) -> str:
        """MSH-10 (FHS-11/BHS-11 for a batch: its control ID)."""
        return self.field(10 if self.segment == "MSH" else 11)

    @property
    def processing_id(self) -> str:
        return self.component(11, 1) if self.segment == "MSH" else ""

    @property
    def version(self) -> str:
        return self.component(12, 1) if self.segment == "MSH" else ""

    @property
    def accept_ack_type(self) -> str:
        return self.field(15).upper() if self.segment == "MSH" else ""

    @property
    def app_ack_type(self) -> str:
        return self.field(16).upper() if self.segment == "MSH" else ""

    @property
    def charset(self) -> str:
        return self.component(18, 1) if self.segment == "MSH" else ""

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode: MSH-15 or MSH-16 is valued."""
        return bool(self.accept_ack_type or self.app_ack_type)


def read_header(message: bytes) -> Header:
    """The header of ``message`` (bytes between the MLLP blocks).

    Raises :class:`HeaderError` when there is none to answer: an empty message, a first segment
    that is not MSH, FHS or BHS, no field separator, or encoding characters that are missing or
    repeat the separator.
    """
    if not message or message.isspace():
        raise HeaderError("an empty message")
    end = _SEGMENT_END.search(message, 0, HEADER_LIMIT)
    first = message[: end.start() if end is not None else HEADER_LIMIT]
    # Latin-1 never fails: the header is ASCII in practice and only its structure matters here.
    text = first.decode("latin-1")
    segment = text[:3]
    if segment not in ("MSH", "FHS", "BHS"):
        raise HeaderError(
            "no MSH segment first" if segment.isprintable() else "no header segment first"
        )
    if len(text) < 8:
        raise HeaderError(f"the {segment} segment is cut short")
    separator = text[3]
    if not _delimiter(separator):
        raise HeaderError(f"{segment}-1, the field separator, is not a separator")
    fields = text.split(separator)
    encoding = fields[1]
    if (
        not 2 <= len(encoding) <= 5
        or separator in encoding
        or len(set(encoding)) != len(encoding)
        or not all(_delimiter(c) for c in encoding)
    ):
        raise HeaderError(f"{segment}-2, the encoding characters, are not valid")
    return Header(segment, separator, encoding, (separator, *(f[:FIELD_LIMIT] for f in fields[1:])))


def _delimiter(char: str) -> bool:
    """A printable ASCII character that is not a letter, a digit or a space."""
    return 0x21 <= ord(char) <= 0x7E and not char.isalnum()
