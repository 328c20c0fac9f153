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

_ALL = frozenset(range(1, MAX_FIELDS + 1))
_HEADER = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 11})  # a batch's: applications, facilities, time, ID
#: Fields shown as they came, by segment (coded fields: free text, such as MSA-3, ERR-7/8 or a
#: location's description, can name a patient). Everything else is masked.
SHOWN: dict[str, frozenset[int]] = {
    "MSH": _ALL,  # routing: applications, facilities, type, control ID, version
    "FHS": _HEADER,
    "BHS": _HEADER,
    "FTS": frozenset({1}),  # the count
    "BTS": frozenset({1}),
    "MSA": frozenset({1, 2}),  # the code and the control ID answered
    "ERR": frozenset({2, 3, 4}),  # where, the error code, the severity
    "EVN": frozenset({1, 2, 3, 4, 6}),  # event type and times (EVN-5 is an operator)
    "PID": frozenset({1}),  # the set ID only
    "PD1": frozenset(),
    "NK1": frozenset({1}),
    "GT1": frozenset({1}),
    "IN1": frozenset({1}),
    "IN2": frozenset(),
    "MRG": frozenset(),
    "PV1": frozenset({1, 2, 4, 10, 14, 18, 36, 39, 41}),  # class, types, service, status
    "PV2": frozenset(),
    "ORC": frozenset({1, 5, 6}),  # order control, status, response flag
    "OBR": frozenset({1, 4, 24, 25}),  # service ID, diagnostic section, result status
    "OBX": frozenset({1, 2, 3, 4, 6, 8, 11}),  # type, observation ID, units, flags, status
    "SCH": frozenset({25}),  # filler status code
    "TXA": frozenset({1, 2, 3, 17, 19}),  # document type, presentation, completion/status
    "NTE": frozenset({1, 2}),
}

#: Set IDs (field 1 of these) are shown only as what they are: a small number.
_SET_ID_IN = frozenset({"PID", "NK1", "GT1", "IN1", "PV1", "OBR", "OBX", "NTE"})
_SET_ID = re.compile(r"\d{1,4}")
#: A shown field outside the header must look like a code: short, not repeated. Anything else
#: (a misbuilt segment whose fields moved, text where a code belongs) is masked.
CODE_LIMIT = 40
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
    shown = SHOWN.get(name, frozenset())
    fields: list[Field] = []
    # python-hl7 numbers MSH's fields as HL7 does (MSH[1] is the field separator).
    for number in range(1, min(len(segment), MAX_FIELDS + 1)):
        value = str(segment[number])
        if not value:
            continue
        if number not in shown or not _looks_shown(name, number, value, segment):
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


def _looks_shown(name: str, number: int, value: str, segment: hl7.Segment) -> bool:
    """Whether an allowed field holds what belongs there: a set ID a small number, a code
    short and not repeated (the header's fields are taken as they come)."""
    if name == "MSH":
        return True
    if number == 1 and name in _SET_ID_IN:
        return _SET_ID.fullmatch(value) is not None
    repetition = getattr(segment, "separators", "\r|~^&")[2:3] or "~"
    return len(value) <= CODE_LIMIT and repetition not in value


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
