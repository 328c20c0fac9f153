"""A message's segment tree for the detail view, with every field that could name a patient
masked: parsed by python-hl7 (``hl7.parse``), then shown by allow-list.

What is shown is decided field by field, the other way round from a block-list: a field is
shown only if :data:`SHOWN` lists it for its segment (the header, the acknowledgement, the
codes that route and classify an order or a result); every other field of every segment —
PID, NK1, GT1, IN1 and PV1 names, identifiers, dates, addresses and telephone numbers, but also
accession numbers, free-text results and whatever a Z-segment carries — is masked. A field
added by a later HL7 version or a site's own segment is therefore masked, never leaked.
The admin still sees the structure: which segments came, which fields are valued, and how long.
"""

from __future__ import annotations

import re

import hl7  # python-hl7: the parser the detail view uses (the hot path reads the header only)

from pacs_tui.model import MessageField as Field
from pacs_tui.model import MessageSegment as Segment
from pacs_tui.model import MessageTree as Tree

#: What a masked field shows instead of its value.
MASK = "•••"
#: Segments and fields listed at most (a message of many thousand OBX lines shows its start).
MAX_SEGMENTS = 500
MAX_FIELDS = 100
MAX_COMPONENTS = 20
#: A value longer than this is cut (with "…") in the tree.
VALUE_LIMIT = 200

#: How a shown field must look, by its HL7 data type, else it is masked (a misbuilt segment
#: whose fields moved, a name where a code or a time belongs):
#: "any" the header's fields, taken as they come; "sid" a set ID, a small number; "id" a code,
#: one short word; "ts" a time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+ZZZZ]); "ce" a coded element
#: (code^text^system, twice), its codes words and its texts short, no field longer than
#: CE_LIMIT; "erl" an error location (MSH^1^12); "token" one word of at most CODE_LIMIT (a
#: control ID); "nm" a count.
Kind = str
_ANY_FIELD: dict[int, Kind] = dict.fromkeys(range(1, MAX_FIELDS + 1), "any")
_HEADER: dict[int, Kind] = dict.fromkeys((1, 2, 3, 4, 5, 6, 7, 9, 11), "any")  # a batch's
#: Fields shown, by segment, and how each must look (coded fields: free text, such as MSA-3,
#: ERR-7/8 or a location's description, can name a patient). Everything else is masked.
SHOWN: dict[str, dict[int, Kind]] = {
    "MSH": _ANY_FIELD,  # routing: applications, facilities, type, control ID, version
    "FHS": _HEADER,
    "BHS": _HEADER,
    "FTS": {1: "nm"},  # the count
    "BTS": {1: "nm"},
    "MSA": {1: "id", 2: "token"},  # the code and the control ID answered
    "ERR": {2: "erl", 3: "ce", 4: "id"},  # where, the error code, the severity
    "EVN": {1: "id", 2: "ts", 3: "ts", 4: "id", 6: "ts"},  # event type and times (5: operator)
    "PID": {1: "sid"},  # the set ID only
    "NK1": {1: "sid"},
    "GT1": {1: "sid"},
    "IN1": {1: "sid"},
    # class, admission type, service, admit source, patient type, disposition, facility, status
    "PV1": {1: "sid", 2: "id", 4: "id", 10: "id", 14: "id", 18: "id", 36: "id", 39: "id"}
    | {41: "id"},
    "ORC": {1: "id", 5: "id", 6: "id"},  # order control, status, response flag
    "OBR": {1: "sid", 4: "ce", 24: "id", 25: "id"},  # service, diagnostic section, status
    "OBX": {1: "sid", 2: "id", 3: "ce", 4: "token", 6: "ce", 8: "id", 11: "id"},
    "SCH": {25: "ce"},  # filler status code
    "TXA": {1: "sid", 2: "id", 3: "id", 17: "id", 19: "id"},  # document type, status
    "NTE": {1: "sid", 2: "id"},
}
#: A shown field outside the header is at most this long (a coded element CE_LIMIT).
CODE_LIMIT = 40
CE_LIMIT = 60
_SHAPES = {
    "sid": re.compile(r"\d{1,4}"),
    "id": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/+]{0,19}"),
    "ts": re.compile(r"\d{4}(?:\d{2}){0,5}(?:\.\d{1,4})?(?:[+-]\d{4})?(?:\^[A-Z])?"),
    "erl": re.compile(r"[A-Z][A-Z0-9]{2}(?:\^\d{0,4}){0,5}"),
    "token": re.compile(r"[^\s^~&\\|]{1,40}"),
    "nm": re.compile(r"\d{1,9}"),
}
_CODE = re.compile(r"[A-Za-z0-9_.\-/+:]{0,30}")  # a coded element's code or coding system
_CE_TEXT = re.compile(r"[^\x00-\x1f\x7f]{0,40}")  # and its text: short, printable
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")


def segment_tree(data: bytes, charset: str = "") -> Tree:
    """The masked tree of ``data`` (the bytes between the MLLP blocks). Never raises."""
    text = _decode(data, charset)
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    lines = [line for line in text.split("\r") if line.strip()]
    if not lines:
        return Tree((), "an empty message")
    problem = ""
    if len(lines) > MAX_SEGMENTS:
        problem = f"the first {MAX_SEGMENTS:,} of {len(lines):,} segments"
        lines = lines[:MAX_SEGMENTS]
    try:
        message = hl7.parse("\r".join(lines))
    except Exception as exc:  # python-hl7 raises several kinds on a malformed message
        names = tuple(Segment(_name(line[:3]), ()) for line in lines)
        return Tree(names, f"python-hl7 could not parse it ({type(exc).__name__}): names only")
    segments = tuple(_segment(segment) for segment in message)
    return Tree(segments, problem)


def _segment(segment: hl7.Segment) -> Segment:
    name = _name(str(segment[0]))
    shown = SHOWN.get(name, {})
    fields: list[Field] = []
    # python-hl7 numbers MSH's fields as HL7 does (MSH[1] is the field separator).
    for number in range(1, min(len(segment), MAX_FIELDS + 1)):
        value = str(segment[number])
        if not value:
            continue
        kind = shown.get(number)
        if kind is None or not _looks_shown(kind, value, segment):
            fields.append(Field(number, MASK, True, (), len(value)))
            continue
        field = segment[number]
        components: tuple[str, ...] = ()
        if not (name == "MSH" and number <= 2) and isinstance(field, hl7.Field):
            first = field[0] if len(field) == 1 else None  # a repeated field: shown whole
            if isinstance(first, hl7.Repetition) and len(first) > 1:
                components = tuple(_cut(str(c)) for c in first[:MAX_COMPONENTS])
        fields.append(Field(number, _cut(value), False, components, len(value)))
    return Segment(name, tuple(fields))


def _looks_shown(kind: Kind, value: str, segment: hl7.Segment) -> bool:
    """Whether an allowed field holds what belongs there (see :data:`SHOWN`)."""
    if kind == "any":
        return True
    separators = getattr(segment, "separators", "\r|~^&")
    repetition, component = separators[2:3] or "~", separators[3:4] or "^"
    if repetition in value:  # a repeated field is never a single code
        return False
    if component != "^":  # the shapes are written with "^"
        value = value.replace("^", "\0").replace(component, "^")
    if kind == "ce":
        parts = value.split("^")
        if len(value) > CE_LIMIT or len(parts) > 6 or not parts[0]:
            return False
        return all(
            (_CE_TEXT if i % 3 == 1 else _CODE).fullmatch(part) is not None
            for i, part in enumerate(parts)
        )
    return len(value) <= CODE_LIMIT and _SHAPES[kind].fullmatch(value) is not None


def _name(raw: str) -> str:
    """A segment's name as shown: three letters and digits, else "???"."""
    return raw if _SEGMENT_NAME.fullmatch(raw) else "???"


def _cut(value: str) -> str:
    return value if len(value) <= VALUE_LIMIT else value[: VALUE_LIMIT - 1] + "…"


def _decode(data: bytes, charset: str) -> str:
    """The message's text: UTF-8 when MSH-18 says so or the bytes are valid UTF-8, else
    ISO-8859-1 (which never fails)."""
    if charset.upper().replace("-", "").replace(" ", "") in ("UNICODEUTF8", "UTF8"):
        return data.decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
