"""Acknowledgements by HL7 v2's rules: which code a message gets and the ACK message itself.

Original mode (MSH-15 and MSH-16 empty): AA, AE (the message's structure is wrong) or AR (a
version, type or processing ID this receiver does not take). Enhanced mode: an accept ACK
(CA/CE/CR) as MSH-15 asks (AL always, NE never, ER on error only, SU on success only; empty
is AL), then an application ACK (AA/AE/AR) only as MSH-16 asks (empty: none). The ACK swaps
sender and receiver, keeps the message's separators and version, echoes MSH-10 in MSA-2 and
says what was wrong in MSA-3 and an ERR segment.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from pacs_tui.hl7.header import Header, HeaderError, read_header


class Verdict(Enum):
    """What a receiver makes of a message: accepted, an error in it, or rejected."""

    ACCEPT = "A"
    ERROR = "E"
    REJECT = "R"


#: HL7 table 0357's names of the error codes a listener answers with (detail lines say them
#: beside the code: "error 100 (segment sequence)").
ERROR_NAMES = {
    100: "segment sequence",
    101: "required field missing",
    102: "data type",
    103: "table value not found",
    200: "unsupported message type",
    201: "unsupported event",
    202: "unsupported processing ID",
    203: "unsupported version",
    207: "internal error",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message is not accepted: the HL7 error code (table 0357: 100 segment sequence,
    101 required field missing, 102 data type, 200 unsupported message type, 201 unsupported
    event, 202 unsupported processing ID, 203 unsupported version, 207 internal error), the
    words, and where (segment, field number; "" and 0 when it is the whole message)."""

    code: int
    words: str
    segment: str = ""
    field: int = 0

    @property
    def verdict(self) -> Verdict:
        return Verdict.REJECT if 200 <= self.code < 207 else Verdict.ERROR


_CODE_TEXT = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    207: "Application internal error",
}


def answers(header: Header, problem: Problem | None) -> list[str]:
    """The ACK codes owed for a message, in the order they go: ``["AA"]``, ``["CA"]``,
    ``["CE", "AE"]``, ``[]`` (enhanced mode, NE), …"""
    verdict = problem.verdict if problem is not None else Verdict.ACCEPT
    if not header.enhanced:
        return ["A" + verdict.value]
    owed = []
    if _asked(header.accept_ack_type or "AL", verdict):
        owed.append("C" + verdict.value)
    if header.app_ack_type and _asked(header.app_ack_type, verdict):
        owed.append("A" + verdict.value)
    return owed


def _asked(condition: str, verdict: Verdict) -> bool:
    """MSH-15/16: AL always, NE never, ER on error or reject, SU on success."""
    if condition == "NE":
        return False
    if condition == "ER":
        return verdict is not Verdict.ACCEPT
    if condition == "SU":
        return verdict is Verdict.ACCEPT
    return True  # AL, and anything unknown: better an ACK than a sender waiting for one


_control_ids = itertools.count(1)


def build_ack(
    header: Header,
    code: str,
    problem: Problem | None = None,
    *,
    now: float | None = None,
    control_id: str | None = None,
) -> bytes:
    """The ACK message (without MLLP blocks) answering ``header`` with ``code``."""
    sep = header.separator
    clock = time.time()
    stamp = _timestamp(clock if now is None else now)
    ours = control_id or f"PT{int(clock * 1000) % 10**13}{next(_control_ids) % 10000:04d}"
    msh = header.segment == "MSH"
    before, between, after = _ack_header(
        sep,
        header.encoding,
        header.sending_app,
        header.sending_facility,
        header.receiving_app,
        header.receiving_facility,
        header.trigger,
        header.field(11) if msh else "",
        header.field(12) if msh else "",
        header.version,
    )
    echoed = _echo(header.control_id)
    if problem is None:
        msa = f"MSA{sep}{code}{sep}{echoed}" if echoed else f"MSA{sep}{code}"
        return f"{before}{stamp}{between}{ours}{after}\r{msa}\r".encode("latin-1", "replace")
    text = _escape(problem.words, sep, header.encoding)
    msa = sep.join(x for x in ("MSA", code, echoed, text)).rstrip(sep)
    err = _err(problem, header.version or "2.5", sep, header.encoding)
    ack = f"{before}{stamp}{between}{ours}{after}\r{msa}\r{err}\r"
    return ack.encode("latin-1", errors="replace")


@lru_cache(maxsize=256)  # a feed sends one header's routing over and over: made once for it
def _ack_header(
    sep: str,
    enc: str,
    sending_app: str,
    sending_facility: str,
    receiving_app: str,
    receiving_facility: str,
    trigger: str,
    processing: str,
    version_field: str,
    version: str,
) -> tuple[str, str, str]:
    """The ACK's MSH around its time (MSH-7) and its control ID (MSH-10): sender and receiver
    swapped, the message's separators, processing ID and version kept."""
    kind = enc[0].join(x for x in ("ACK", trigger, "ACK" if trigger else "") if x)
    swapped = (receiving_app, receiving_facility, sending_app, sending_facility)
    before = sep.join(("MSH", enc, *map(_echo, swapped), ""))
    between = sep.join(("", "", kind, ""))
    after = sep.join((
        "",
        _echo(processing) if processing else "P",
        _echo(version_field) if version_field else (version or "2.5"),
    ))  # fmt: skip
    return before, between, after


def _echo(value: str) -> str:
    """A field of the message echoed in the ACK, without control characters (a VT or FS in it
    would break the ACK's own framing)."""
    if value.isprintable():  # nearly always: one C call instead of a loop over the characters
        return value
    return "".join(c if c.isprintable() else " " for c in value)


_stamp: tuple[int, str] = (-1, "")


def _timestamp(now: float) -> str:
    """MSH-7 of an ACK: the second, UTC (made once a second, not for every ACK)."""
    global _stamp
    second = int(now)
    if _stamp[0] != second:
        _stamp = (second, time.strftime("%Y%m%d%H%M%S+0000", time.gmtime(second)))
    return _stamp[1]


def _err(problem: Problem, version: str, sep: str, enc: str) -> str:
    component, sub = enc[0], enc[3] if len(enc) > 3 else "&"
    name = _CODE_TEXT.get(problem.code, "Application error")
    if _at_least(version, (2, 5)):
        where = component.join(
            (problem.segment, "1" if problem.segment else "", str(problem.field or ""))
        ).rstrip(component)
        code = component.join((str(problem.code), name, "HL70357"))
        return sep.join(("ERR", "", where, code, "E"))
    # Before 2.5, ERR-1: segment^sequence^field^code&text&table.
    location = component.join(
        (problem.segment, "1" if problem.segment else "", str(problem.field or ""))
    )
    code = sub.join((str(problem.code), name, "HL70357"))
    return sep.join(("ERR", component.join((location, code))))


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= wanted


def _escape(text: str, sep: str, enc: str) -> str:
    """``text`` with HL7's escape sequences for the delimiters (and no control characters)."""
    component, repetition, escape = enc[0], enc[1], enc[2]
    sub = enc[3] if len(enc) > 3 else ""
    marks = {escape: "E", sep: "F", component: "S", repetition: "R"}
    if sub:
        marks[sub] = "T"
    out = []
    for char in text:
        if char in marks:
            out.append(f"{escape}{marks[char]}{escape}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(" ")
    return "".join(out)[:200]


def read_msa(answer: bytes, free_text: bool = True) -> tuple[str, str, str] | None:
    """An answer's MSA-1 (upper case), MSA-2 (the control ID it answers, cut at 180) and words
    (MSA-3, else its first ERR segment's fields, cut at 300); None when it has no header or no
    MSA (not an ACK). Without ``free_text`` the words are only what is coded: the first ERR's
    error number and place ("error 204 at PID-3"): a receiver's own words about a real
    message may name its patient ("Unknown patient DOE^JANE")."""
    try:
        header = read_header(answer)
    except HeaderError:
        return None
    sep = header.separator.encode("latin-1")
    msa: list[str] | None = None
    err = ""
    for segment in re.split(rb"\r\n|\r|\n", answer)[1:]:
        fields = [f.decode("latin-1") for f in segment.split(sep)]
        if fields[0] == "MSA" and msa is None:
            msa = [f.strip() for f in fields[1:4]] + ["", "", ""]
        elif fields[0] == "ERR" and not err:
            err = _err_words(fields, header.encoding, free_text)
    if msa is None:
        return None
    words = (msa[2] or err) if free_text else err
    return msa[0].upper(), msa[1][:180], words[:300]


_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,20}")


def _err_words(fields: list[str], encoding: str, free_text: bool = True) -> str:
    """An ERR segment as people read it: "Unsupported version id (203) at MSH-12: its words"
    (ERR-3's text and code, ERR-2's place, ERR-8 or else ERR-7), or before 2.5 from ERR-1
    (segment^sequence^field^code&text); its fields joined by spaces when neither reads."""
    component = encoding[:1] or "^"
    sub = encoding[3:4] or "&"
    f = [*fields, *[""] * (9 - len(fields))]
    place, code = f[2].split(component), f[3].split(component)
    if not (f[2] or f[3]) and f[1]:  # ERR-1, the form before 2.5
        eld = f[1].split(component)
        place = eld[:3]
        code = eld[3].split(sub) if len(eld) > 3 else [""]
    number, name = code[0].strip(), (code[1].strip() if len(code) > 1 else "")
    said = f[8].strip() or f[7].strip()
    if number and not _CODE.fullmatch(number):  # text where the code belongs: said, not coded
        said = said or component.join(code).strip()
        number = name = ""
    what = (
        f"{name} ({number})" if name and number else name or (f"error {number}" if number else "")
    )
    segment = place[0].strip()
    field = place[2].strip() if len(place) > 2 else ""
    if not _SEGMENT_ID.fullmatch(segment):  # not a place: free text where one belongs
        segment = field = ""
    at = f"{segment}-{field}" if segment and field.isdigit() else segment
    if not free_text:  # the number and the place only: a name or words may be anything
        return " at ".join(x for x in (f"error {number}" if number else "", at) if x)
    if not (what or at):
        return said or " ".join(x for x in fields[1:] if x.strip()).strip()
    head = " at ".join(x for x in (what or "error", at) if x)
    return f"{head}: {said}" if said else head
