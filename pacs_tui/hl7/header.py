"""The header of an HL7 v2 message (MSH, or FHS/BHS of a batch) read without parsing the rest.

A listener answers thousands of messages a second and needs only the header for its ACK and its
log row. ``hl7.parse`` builds the whole tree (1.34 ms a message here, 745 a second: under the
6,500 a second a bare MLLP server answers), so the header's fields are split out of the first
segment directly; the full parse is left to the detail view. Nothing of the message beyond the
header is read, so no patient field can leak from here.
"""

from __future__ import annotations

from functools import lru_cache

#: A header field kept for the log and the ACK is cut at this many characters.
FIELD_LIMIT = 180
#: Bytes of the first segment read at most (a header is a few hundred bytes).
HEADER_LIMIT = 8192


class HeaderError(ValueError):
    """The message has no header that can be answered (said in words)."""


class Header:
    """The header's fields as the message wrote them (escapes kept). ``segment`` is "MSH",
    or "FHS"/"BHS" for a batch; ``fields`` the header segment's fields by HL7 number (1 is the
    field separator, 2 the encoding characters), each cut at :data:`FIELD_LIMIT`.

    What the listener reads of every message (type, control ID, version, ACK modes, …) is
    worked out once here, as plain attributes: reading them through properties that split
    MSH-9 again each time was a tenth of the listener's time a message.
    """

    __slots__ = (
        "accept_ack_type", "app_ack_type", "charset", "control_id", "encoding", "enhanced",
        "fields", "message_code", "message_type", "processing_id", "receiving_app",
        "receiving_facility", "segment", "sending_app", "sending_facility", "separator", "trigger",
        "version",
    )  # fmt: skip

    def __init__(self, segment: str, separator: str, encoding: str, fields: tuple[str, ...]):
        self.segment = segment
        self.separator = separator
        self.encoding = encoding
        self.fields = fields
        # Padded to MSH-18 so each field is one index, not a call.
        f = fields if len(fields) >= 18 else (*fields, *("",) * (18 - len(fields)))
        self.sending_app, self.sending_facility = f[2], f[3]
        self.receiving_app, self.receiving_facility = f[4], f[5]
        sep = encoding[:1] or "^"
        kind = f[8].split(sep, 2)
        #: MSH-9's message code ("ADT") and trigger event ("A01"); its structure left out.
        self.message_code = kind[0]
        self.trigger = kind[1] if len(kind) > 1 else ""
        self.message_type = f"{kind[0]}{sep}{kind[1]}" if self.trigger else kind[0]
        if segment == "MSH":
            self.control_id = f[9]
            self.processing_id = f[10].split(sep, 1)[0]
            self.version = f[11].split(sep, 1)[0]
            self.accept_ack_type = f[14].upper()
            self.app_ack_type = f[15].upper()
            self.charset = f[17].split(sep, 1)[0]
        else:
            #: MSH-10 (FHS-11/BHS-11 for a batch: its control ID).
            self.control_id = f[10]
            self.processing_id = self.version = self.accept_ack_type = ""
            self.app_ack_type = self.charset = ""
        #: Enhanced acknowledgement mode: MSH-15 or MSH-16 is valued.
        self.enhanced = bool(self.accept_ack_type or self.app_ack_type)

    def __repr__(self) -> str:
        return f"Header({self.segment!r}, {self.separator!r}, {self.encoding!r}, {self.fields!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Header):
            return NotImplemented
        return (self.segment, self.separator, self.encoding, self.fields) == (
            other.segment, other.separator, other.encoding, other.fields,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]

    def field(self, number: int) -> str:
        """MSH-``number`` (``""`` when absent)."""
        index = number - 1
        return self.fields[index] if 0 <= index < len(self.fields) else ""

    def component(self, number: int, position: int = 1) -> str:
        """The ``position``-th component of MSH-``number``."""
        sep = self.encoding[:1] or "^"
        parts = self.field(number).split(sep)
        return parts[position - 1] if position <= len(parts) else ""


def read_header(message: bytes) -> Header:
    """The header of ``message`` (bytes between the MLLP blocks).

    Raises :class:`HeaderError` when there is none to answer: an empty message, a first segment
    that is not MSH, FHS or BHS, no field separator, or encoding characters that are missing or
    repeat the separator.
    """
    if not message or message.isspace():
        raise HeaderError("an empty message")
    # Two finds rather than one regex search: a third of the time, on every message.
    end = message.find(b"\r", 0, HEADER_LIMIT)
    lf = message.find(b"\n", 0, end if end >= 0 else HEADER_LIMIT)
    end = lf if lf >= 0 else end
    first = message[: end if end >= 0 else HEADER_LIMIT]
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
    if not _valid_encoding(separator, encoding):
        raise HeaderError(f"{segment}-2, the encoding characters, are not valid")
    fields[0] = separator
    if len(text) > FIELD_LIMIT and max(map(len, fields)) > FIELD_LIMIT:
        fields = [f[:FIELD_LIMIT] for f in fields]
    return Header(segment, separator, encoding, tuple(fields))


@lru_cache(maxsize=64)  # a feed uses one pair: checked once, not character by character
def _valid_encoding(separator: str, encoding: str) -> bool:
    """MSH-2: two to five distinct delimiters, none of them the field separator."""
    return (
        2 <= len(encoding) <= 5
        and separator not in encoding
        and len(set(encoding)) == len(encoding)
        and all(_delimiter(c) for c in encoding)
    )


def _delimiter(char: str) -> bool:
    """A printable ASCII character that is not a letter, a digit or a space."""
    return 0x21 <= ord(char) <= 0x7E and not char.isalnum()
