"""The detail view's segment tree: every field that could name a patient masked, by allow-list;
whatever bytes come, a tree (or words saying why not) and never an exception; the recent
messages bounded; the tree crossing the collector's wire whole."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacs_tui import wire
from pacs_tui.hl7.recent import KEEP_ONE_AT_MOST, RecentMessages
from pacs_tui.hl7.segments import MASK, MAX_SEGMENTS, segment_tree
from pacs_tui.model import MessageTree

#: Words that identify the patient (or a relative, a guarantor, an insured person): none may
#: appear in a tree.
PHI = (
    "MRN4471",
    "DUPONT",
    "MARIE",
    "19580203",
    "RUE DES LILAS",
    "0612345678",
    "ACC99812",
    "VISIT5521",
    "SMITHSON",
    "INSURED77",
    "GUARANTOR9",
    "ZSECRET",
    "REPORTTEXT",
)

ADT = "\r".join(
    (
        "MSH|^~\\&|HIS|MAIN|RIS|RAD|20261202080000||ADT^A01^ADT_A01|C77|P|2.5|||AL|NE||8859/1",
        "EVN|A01|20261202080000||||20261202075900",
        "PID|1|MRN4471|MRN4471^^^MAIN^MR~SSN123^^^SS||DUPONT^MARIE^^^MME||19580203|F|||"
        "12 RUE DES LILAS^^PARIS^^75001||0612345678|||||VISIT5521",
        "NK1|1|SMITHSON^PAUL|SPO|1 RUE DES LILAS^^PARIS|0612345678",
        "PV1|1|I|W3^12^1|R||||DOCTOR^WHO|||MED|||||||I|VISIT5521",
        "GT1|1|GUARANTOR9|DUPONT^MARIE",
        "IN1|1|PLAN1|INS01|ACME|||||||||||DUPONT^MARIE|SEL|19580203||||||||||||||||||INSURED77",
        "ORC|NW|ACC99812|ACC99812||SC",
        "|".join(["OBR", "1", "ACC99812", "ACC99812", "CT^CT HEAD", *[""] * 19, "CT", "F"]),
        "OBX|1|TX|RPT^Report||REPORTTEXT on DUPONT||||||F",
        "ZPI|ZSECRET|DUPONT",
    )
)


def texts(tree: MessageTree) -> str:
    return repr([(f.text, f.components) for s in tree.segments for f in s.fields])


def field(tree: MessageTree, segment: str, number: int) -> tuple[str, bool]:
    seg = next(s for s in tree.segments if s.name == segment)
    found = next(f for f in seg.fields if f.number == number)
    return found.text, found.masked


def test_no_patient_word_is_in_the_tree_and_routing_fields_are() -> None:
    tree = segment_tree(ADT.encode("latin-1"))
    shown = texts(tree)
    for word in PHI:
        assert word not in shown, word
    assert [s.name for s in tree.segments] == [
        *("MSH", "EVN", "PID", "NK1", "PV1", "GT1", "IN1", "ORC", "OBR", "OBX", "ZPI"),
    ]
    assert field(tree, "MSH", 9) == ("ADT^A01^ADT_A01", False)
    assert field(tree, "MSH", 10) == ("C77", False)
    assert field(tree, "PV1", 2) == ("I", False)
    assert field(tree, "PV1", 3) == (MASK, True)  # a room and bed point at one person
    assert field(tree, "OBX", 3) == ("RPT^Report", False)
    assert field(tree, "OBR", 25) == ("F", False)
    assert field(tree, "PID", 5) == (MASK, True)
    assert field(tree, "PV1", 19) == (MASK, True) and field(tree, "PV1", 8) == (MASK, True)
    assert field(tree, "ORC", 2) == (MASK, True)  # an accession number identifies
    assert field(tree, "ZPI", 1) == (MASK, True)  # a site's own segment: masked whole
    pid3 = next(f for f in tree.segments[2].fields if f.number == 3)
    assert pid3.length == len("MRN4471^^^MAIN^MR~SSN123^^^SS") and pid3.components == ()
    msh9 = next(f for f in tree.segments[0].fields if f.number == 9)
    assert msh9.components == ("ADT", "A01", "ADT_A01")


@pytest.mark.parametrize(
    ("segment", "number"),
    [
        ("MSA|AE|X1|Patient 123456 DOE JOHN unknown", 3),  # free text in an answer
        ("ERR|||207|E||||Patient DOE^JOHN MRN 123456 not found", 8),
        ("PID|1~123456^^^H^MR||X", 1),  # a set ID that is not one
        ("OBX|1|TX|CODE^" + "DOE " * 12 + "||x", 3),  # text where a code belongs
        ("OBX|1|TX|A~DOE^JOHN||x", 3),  # a code repeated: not a code
        # A misbuilt EVN or PV1 whose fields moved: names where times and codes belong.
        ("EVN|A01|DOE^JOHN|DOE JOHN 1970|||JONES^MARY", 2),
        ("EVN|A01|DOE^JOHN|DOE JOHN 1970|||JONES^MARY", 3),
        ("EVN|A01|DOE^JOHN|DOE JOHN 1970|||JONES^MARY", 6),
        ("PV1|1|DOE^JOHN^MRS|x|DOE JOHN", 2),
        ("PV1|1|DOE^JOHN^MRS|x|DOE JOHN", 4),
        ("ORC|DOE JOHN", 1),
        ("OBX|1|TX|CODE^DOE^L^^^^^^DOE JOHN 123456||x", 3),  # a coded element's original text
        ("OBX|1|TX|DOE JOHN^Hemoglobin||x", 3),  # a code with a space is no code
        ("MSA|AA|DOE JOHN 123456", 2),
        ("ERR|DOE JOHN|PID 123456|207", 2),
    ],
)
def test_text_where_a_code_belongs_is_masked(segment: str, number: int) -> None:
    tree = segment_tree(f"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\r{segment}".encode())
    assert field(tree, segment[:3], number) == (MASK, True)
    assert "DOE" not in texts(tree) and "123456" not in texts(tree)


@pytest.mark.parametrize(
    ("segment", "number", "shown"),
    [
        ("EVN|A01|20261202080000|202612020800+0100|||20261202075900.123", 2, "20261202080000"),
        ("EVN|A01|20261202080000|202612020800+0100|||20261202075900.123", 3, "202612020800+0100"),
        ("EVN|A01|20261202080000|202612020800+0100", 1, "A01"),
        ("PV1|1|I||R", 2, "I"),
        ("OBR|1|||71020^CHEST X-RAY 2 VIEWS^CPT4", 4, "71020^CHEST X-RAY 2 VIEWS^CPT4"),
        ("OBX|1|NM|718-7^Hemoglobin^LN|1.a|13.2|g/dL^grams per deciliter^UCUM", 4, "1.a"),
        (
            "OBX|1|NM|718-7^Hemoglobin^LN|1|13.2|g/dL^grams per deciliter^UCUM",
            6,
            "g/dL^grams per deciliter^UCUM",
        ),
        ("MSA|AE|HIS0000029", 2, "HIS0000029"),
        ("ERR||MSH^1^12|203^Unsupported version id^HL70357|E", 2, "MSH^1^12"),
        (
            "ERR||MSH^1^12|203^Unsupported version id^HL70357|E",
            3,
            "203^Unsupported version id^HL70357",
        ),
        ("SCH|" + "|" * 24 + "Booked^Booked^HL70278", 25, "Booked^Booked^HL70278"),
    ],
)
def test_codes_times_and_coded_elements_that_look_right_are_shown(
    segment: str, number: int, shown: str
) -> None:
    tree = segment_tree(f"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\r{segment}".encode())
    assert field(tree, segment[:3], number) == (shown, False)


def test_separators_encodings_and_escapes() -> None:
    lf = segment_tree(ADT.replace("\r", "\n").encode("latin-1"))
    crlf = segment_tree(ADT.replace("\r", "\r\n").encode("latin-1"))
    assert lf == crlf == segment_tree(ADT.encode("latin-1"))
    accented = "MSH|^~\\&|HÔPITAL|MAIN|RIS|RAD|2026||ADT^A08|C1|P|2.5\rPID|1||X||DÉSIRÉ"
    for data in (accented.encode("latin-1"), accented.encode("utf-8")):
        tree = segment_tree(data)
        assert field(tree, "MSH", 3) == ("HÔPITAL", False)
        assert "DÉSIRÉ" not in texts(tree)
    odd = segment_tree(b"MSH#$%*@|HIS#MAIN#RIS#RAD#2026##ADT$A01#C2#P#2.3\rPID#1##X##NAME")
    assert [s.name for s in odd.segments] == ["MSH", "PID"] and "NAME" not in texts(odd)


def test_a_huge_message_shows_its_start_and_says_so() -> None:
    obx = "\r".join(f"OBX|{n}|NM|GLU||{n}|mmol/l|||||F" for n in range(MAX_SEGMENTS + 300))
    tree = segment_tree(f"MSH|^~\\&|LAB|L|RIS|R|2026||ORU^R01|C3|P|2.5\r{obx}".encode())
    assert len(tree.segments) == MAX_SEGMENTS
    assert f"first {MAX_SEGMENTS:,} of {MAX_SEGMENTS + 301:,} segments" in tree.problem


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r",
        b"PID|1||X||NAME",
        b"\x00\xff\xfe",
        b"MSH",
        b"MSH|",
        "MSH|^~\\&|\u202e".encode(),
    ],
)
def test_anything_gives_a_tree_or_words(data: bytes) -> None:
    tree = segment_tree(data)
    assert tree.segments or tree.problem
    assert "NAME" not in texts(tree)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.text(alphabet="MSHPID|^~\\&\r\n01AZ ", max_size=300))
def test_no_input_makes_the_tree_raise_or_grow(data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    tree = segment_tree(raw)
    assert len(tree.segments) <= MAX_SEGMENTS
    for segment in tree.segments:
        assert len(segment.name) == 3
        for f in segment.fields:
            assert f.masked or segment.name in ("MSH", "MSA", "PID")  # the shown ones here
            assert not f.masked or (f.text == MASK and not f.components)


def test_the_recent_messages_are_bounded_and_found_by_time_and_control_id() -> None:
    recent = RecentMessages(keep=3, keep_bytes=100)
    for n in range(5):
        recent.add(1000.0 + n, f"C{n}", b"x" * 10)
    assert len(recent) == 3 and recent.find(1000.0, "C0") is None
    assert recent.find(1004.001, "C4") == (b"x" * 10, "")  # the history keeps milliseconds
    assert recent.find(1004.0, "C3") is None
    recent.add(2000.0, "big", b"y" * 60)
    recent.add(2001.0, "big2", b"y" * 60)
    assert len(recent) == 1  # 100 bytes at most
    recent.add(3000.0, "huge", b"z" * (KEEP_ONE_AT_MOST + 1))
    assert recent.find(3000.0, "huge") is None
    # Two messages with no header (no control ID) 0.3 ms apart: each is found by its time.
    recent.add(4000.0, "", b"PID|1||99\rPV1|1|I")
    recent.add(4000.0003, "", b"")
    assert recent.find(4000.0, "") == (b"PID|1||99\rPV1|1|I", "")
    assert recent.find(4000.0003, "") == (b"", "")


def test_the_tree_crosses_the_wire_whole_and_a_bad_one_is_refused() -> None:
    tree = segment_tree(ADT.encode("latin-1"))
    assert wire.tree_in(wire.decode(wire.encode(wire.tree_out(tree)))) == tree
    good = wire.tree_out(tree)
    bad_frames: list[object] = [
        [],
        {"segments": [["PID"]], "problem": ""},
        {"segments": [["PID", [[1, "x", "no", [], 1]]]], "problem": ""},
        {"segments": [["PID", [[1, "x", False, [2], 1]]]], "problem": ""},
        {"segments": good["segments"]},
    ]
    for bad in bad_frames:
        with pytest.raises(wire.WireError):
            wire.tree_in(bad)
