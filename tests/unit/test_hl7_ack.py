"""HL7 headers read without parsing the message, and ACKs by HL7's rules, checked by another
parser (python-hl7's ``hl7.parse``); a fuzzer finds no header that makes either raise."""

from __future__ import annotations

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacs_tui.hl7.ack import Problem, answers, build_ack, read_msa
from pacs_tui.hl7.header import HeaderError, read_header
from pacs_tui.hl7.validate import check_header, check_message

ADT = (
    "MSH|^~\\&|HIS|WARD 3|RIS|RADIOLOGY|20261201120000||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r"
    "EVN|A01|20261201120000\r"
    "PID|1||123456^^^HOSP^MR||DOE^JANE||19700101|F\r"
)


def header_of(text: str, sep: str = "\r") -> bytes:
    return text.replace("\r", sep).encode()


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_the_header_is_read_whatever_the_segment_separator(sep: str) -> None:
    header = read_header(header_of(ADT, sep))
    assert header.segment == "MSH"
    assert (header.sending_app, header.sending_facility) == ("HIS", "WARD 3")
    assert (header.receiving_app, header.receiving_facility) == ("RIS", "RADIOLOGY")
    assert header.message_type == "ADT^A01" and header.trigger == "A01"
    assert header.control_id == "MSG0001" and header.processing_id == "P"
    assert header.version == "2.5.1" and not header.enhanced
    assert check_header(header) is None


def test_odd_encoding_characters_are_the_message_own() -> None:
    text = "MSH#$%*!#HIS#WARD#RIS#RAD#20261201##ORM$O01#C7#P#2.3\rORC#NW\r"
    header = read_header(text.encode())
    assert (header.separator, header.encoding) == ("#", "$%*!")
    assert header.message_type == "ORM$O01" and header.trigger == "O01"
    ack = build_ack(header, "AA", now=0, control_id="A1").decode()
    assert ack.startswith("MSH#$%*!#RIS#RAD#HIS#WARD#19700101000000+0000##ACK$O01$ACK#A1#P#2.3\r")
    assert "\rMSA#AA#C7\r" in ack


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (b"", "an empty message"),
        (b"\r\n  \r", "an empty message"),
        (b"PID|1||123\r", "no MSH segment first"),
        (b"MSH|", "cut short"),
        (b"MSHA^~\\&|X", "not a separator"),
        (b"MSH|^|HIS|W", "encoding characters"),
        (b"MSH|^^\\&|HIS|W", "encoding characters"),
        (b"\x1b[2JMSH|^~\\&|", "no header segment first"),
    ],
)
def test_a_message_with_no_header_to_answer_says_why(message: bytes, words: str) -> None:
    with pytest.raises(HeaderError, match=words):
        read_header(message)


@pytest.mark.parametrize(
    ("fields", "code", "verdict"),
    [
        ({12: "2.9"}, 203, "AR"),
        ({12: "3.0"}, 203, "AR"),
        ({11: "X"}, 202, "AR"),
        ({10: ""}, 101, "AE"),
        ({9: ""}, 101, "AE"),
        ({12: ""}, 101, "AE"),
    ],
)
def test_original_mode_rejects_what_it_does_not_take_and_errs_on_structure(
    fields: dict[int, str], code: int, verdict: str
) -> None:
    parts = ADT.split("\r")[0].split("|")
    for number, value in fields.items():
        parts[number - 1] = value
    header = read_header("|".join(parts).encode() + b"\r")
    problem = check_header(header)
    assert problem is not None and problem.code == code
    assert answers(header, problem) == [verdict]
    ack = hl7.parse(build_ack(header, verdict, problem).decode())
    assert str(ack.segment("MSA")[1]) == verdict
    err = ack.segment("ERR")
    assert str(code) in str(err)


def test_an_ack_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    header = read_header(ADT.encode())
    ack = hl7.parse(build_ack(header, "AA", now=1_796_126_400, control_id="PT1").decode())
    msh = ack.segment("MSH")
    assert str(msh[3]) == "RIS" and str(msh[4]) == "RADIOLOGY"
    assert str(msh[5]) == "HIS" and str(msh[6]) == "WARD 3"
    assert str(msh[9]) == "ACK^A01^ACK" and str(msh[10]) == "PT1"
    assert str(msh[11]) == "P" and str(msh[12]) == "2.5.1"
    assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "MSG0001"
    with pytest.raises(KeyError):
        ack.segment("ERR")
    assert "DOE" not in str(ack) and "123456" not in str(ack)  # nothing of the patient


def test_an_error_text_is_escaped_in_the_message_own_delimiters() -> None:
    header = read_header(ADT.encode())
    problem = Problem(207, "disk full | try ^later~ & \\soon\x1b[31m")
    ack = build_ack(header, "AE", problem).decode()
    msa = next(s for s in ack.split("\r") if s.startswith("MSA"))
    assert msa == "MSA|AE|MSG0001|disk full \\F\\ try \\S\\later\\R\\ \\T\\ \\E\\soon [31m"


def test_older_versions_get_err_1_and_newer_ones_err_3() -> None:
    old = read_header(ADT.replace("2.5.1", "2.3").encode())
    new = read_header(ADT.encode())
    problem = Problem(101, "MSH-10, the control ID, is empty", "MSH", 10)
    err_old = build_ack(old, "AE", problem).decode().split("\r")[2]
    err_new = build_ack(new, "AE", problem).decode().split("\r")[2]
    assert err_old == "ERR|MSH^1^10^101&Required field missing&HL70357"
    assert err_new == "ERR||MSH^1^10|101^Required field missing^HL70357|E"


@pytest.mark.parametrize(
    ("accept", "app", "ok", "bad"),
    [
        ("AL", "", ["CA"], ["CE"]),
        ("", "", ["AA"], ["AE"]),  # both empty: original mode
        ("NE", "", [], []),
        ("ER", "", [], ["CE"]),
        ("SU", "", ["CA"], []),
        ("AL", "AL", ["CA", "AA"], ["CE", "AE"]),
        ("NE", "AL", ["AA"], ["AE"]),
        ("AL", "ER", ["CA"], ["CE", "AE"]),
        ("", "AL", ["CA", "AA"], ["CE", "AE"]),  # MSH-15 empty in enhanced mode: AL
    ],
)
def test_enhanced_mode_answers_as_msh_15_and_16_ask(
    accept: str, app: str, ok: list[str], bad: list[str]
) -> None:
    first = ADT.split("\r")[0] + f"|||{accept}|{app}"
    header = read_header(first.encode())
    assert answers(header, None) == ok
    assert answers(header, Problem(101, "x")) == bad


def test_a_batch_is_rejected_with_its_own_control_id() -> None:
    header = read_header(b"BHS|^~\\&|HIS|WARD|RIS|RAD|20261201||||B0001\rMSH|^~\\&|HIS\r")
    problem = check_header(header)
    assert problem is not None and answers(header, problem) == ["AR"]
    assert header.control_id == "B0001"
    assert "MSA|AR|B0001|" in build_ack(header, "AR", problem).decode()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["AA", "AE", "AR", "CA", "CE", "CR"]))
def test_no_header_makes_the_reader_or_the_ack_builder_raise(data: bytes, code: str) -> None:
    for message in (data, b"MSH" + data):
        try:
            header = read_header(message)
        except HeaderError:
            continue
        problem = check_header(header)
        ack = build_ack(header, code, problem or Problem(207, "x"))
        assert ack.startswith(b"MSH") and ack.endswith(b"\r")
        assert b"\x0b" not in ack and b"\x1c" not in ack


@pytest.mark.parametrize(
    ("segments", "problem"),
    [
        ("EVN|A01\rPID|1\rPV1|1", None),
        ("EVN|A01\rPID|1", "ADT^A01 without its required PV1 segment"),
        ("PID|1\rPV1|1", "ADT^A01 without its required EVN segment"),
        ("EVN|A01\nPID|1\nPV1|1\n", None),  # LF between segments
    ],
)
def test_an_adt_must_have_its_required_segments(segments: str, problem: str | None) -> None:
    message = f"{ADT.split(chr(13))[0]}\r{segments}".encode()
    found = check_message(read_header(message), message)
    assert (found.words if found else None) == problem
    if found is not None:
        assert (found.code, found.segment) == (100, problem.split()[-2] if problem else "")
        assert answers(read_header(message), found) == ["AE"]


@pytest.mark.parametrize(
    ("kind", "body", "missing"),
    [
        ("ORU^R01", "PID|1\rOBX|1", "OBR"),
        ("ORM^O01", "PID|1", "ORC"),
        ("SIU^S12", "SCH|1", "RGS"),
        ("MDM^T02", "EVN|T02\rPID|1\rPV1|1\rTXA|1", "OBX"),
        ("ACK^A01", "ERR|x", "MSA"),
        ("ZZZ^Z01", "ZZ1|x", None),  # a type with no rule here: only its header is checked
    ],
)
def test_common_types_need_their_segments(kind: str, body: str, missing: str | None) -> None:
    message = f"MSH|^~\\&|A|B|C|D|2026||{kind}|X1|P|2.5\r{body}\r".encode()
    found = check_message(read_header(message), message)
    assert (found.segment if found else None) == missing


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (  # 2.5 and later: ERR-3's text and code, ERR-2's place, ERR-8's words
            "ERR||MSH^1^12|203^Unsupported version id^HL70357|E||||version 2.9 not taken",
            "Unsupported version id (203) at MSH-12: version 2.9 not taken",
        ),
        (
            "ERR||PID^1^3|101^Required field missing^HL70357|E|||PID-3 empty",
            "Required field missing (101) at PID-3: PID-3 empty",
        ),
        ("ERR|||207|E", "error 207"),
        ("ERR||||E|||only a diagnosis", "only a diagnosis"),
        # Before 2.5: ERR-1, segment^sequence^field^code&text&table
        ("ERR|PID^1^3^101&Required field missing&HL70357", "Required field missing (101) at PID-3"),
        ("ERR|the database is down", "the database is down"),  # free text, as it came
        ("ERR||MSH^1^12|no such version, sorry|E", "error at MSH-12: no such version, sorry"),
    ],
)
def test_an_error_segment_is_read_as_people_read_it(err: str, words: str) -> None:
    answer = f"MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|P|2.5\rMSA|AE|C1\r{err}".encode()
    assert read_msa(answer) == ("AE", "C1", words)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="|^~\\&ERMSHA0123PID x\r", max_size=30), min_size=1, max_size=6).map(
        lambda fields: "|".join(fields)
    ),
)
def test_no_error_segment_makes_the_answer_reader_raise(err: str) -> None:
    answer = f"MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|P|2.5\rMSA|AE|C1\rERR|{err}".encode()
    found = read_msa(answer)
    assert found is not None and found[0] == "AE" and len(found[2]) <= 300
