"""The audit receiver's parsing layer: syslog headers and RFC 6587 framing, and the ATNA audit XML
in both styles, from good senders (the bytes util-linux ``logger`` sends) and hostile ones.

The ``logger-*.bin`` fixtures are what ``logger`` 2.38.1 sent to a Python socket (see
``capture_tcp``/``capture_udp`` below, which the live tests run again); the XML fixtures are
made up, with made-up patients ("PAT-TEST-0001") and operators.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacs_tui.audit.atna import (
    DCM_EVENT_TYPES,
    DCM_EVENTS,
    AuditEvent,
    AuditParseError,
    extract_xml,
    parse_audit,
)
from pacs_tui.audit.syslog import FrameProblem, SyslogFramer, SyslogMessage, parse_syslog

from ..interop.conftest import require_peer

DATA = Path(__file__).resolve().parent.parent / "data" / "audit"
AUTHPRIV, NOTICE = 10, 5


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def ref(patient_id: str) -> str:
    return "#" + hashlib.sha256(patient_id.encode()).hexdigest()[:16]


def parse(name: str) -> AuditEvent:
    return parse_audit(fixture(name), ref)


def refused(xml: bytes, **kwargs: int) -> str:
    with pytest.raises(AuditParseError) as caught:
        parse_audit(xml, ref, **kwargs)
    return caught.value.words


def one_line(xml: bytes) -> str:
    return " ".join(xml.decode().split())


# --- the audit XML, DICOM PS3.15 A.5 style and RFC 3881 style


def test_a_dicom_login_is_read_whole() -> None:
    event = parse("dicom-login.xml")
    assert event == AuditEvent(
        event_id="110114",
        event_name="User Authentication",
        type_code="110122",
        type_name="Login",
        action="E",
        outcome=0,
        when="2026-12-01T08:02:11.512+01:00",
        user_id="rad.test01",  # the requestor, not the first participant
        user_name="Test Radiologist One",
        user_roles=("110150", "RADIOLOGIST"),
        user_host="10.20.30.41",
        source_id="PACS-TEST-1",
        studies=(),
        patients=(),
        object_count=0,
        style="dicom",
    )


def test_a_failed_login_has_outcome_4() -> None:
    event = parse("dicom-login-failed.xml")
    assert (event.event_id, event.type_name, event.outcome) == ("110114", "Login", 4)
    assert event.when == "2026-12-01T08:01:58.004+01:00"


def test_a_logout() -> None:
    event = parse("dicom-logout.xml")
    assert (event.type_code, event.type_name, event.user_id) == ("110123", "Logout", "rad.test01")


def test_instances_accessed_names_the_study_and_only_a_reference_to_the_patient() -> None:
    seen: list[str] = []

    def recording_ref(patient_id: str) -> str:
        seen.append(patient_id)
        return ref(patient_id)

    event = parse_audit(fixture("dicom-instances-accessed.xml"), recording_ref)
    assert (event.event_id, event.event_name, event.action) == (
        "110103",
        "DICOM Instances Accessed",
        "R",
    )
    assert event.studies == ("1.2.826.0.1.3680043.8.498.10000000001",)
    assert event.patients == (ref("PAT-TEST-0001"),)
    assert seen == ["PAT-TEST-0001"]
    assert event.object_count == 2
    assert (event.type_code, event.type_name) == ("", "")
    for secret in ("PAT-TEST-0001", "TESTPATIENT", "ALPHA", "MTk3MDAxMDE=", "ACC-TEST-0001"):
        assert secret not in repr(event)


def test_a_query_in_a_namespace_keeps_nothing_of_the_query() -> None:
    event = parse("dicom-query.xml")
    assert (event.event_id, event.event_name, event.action) == ("110112", "Query", "E")
    assert event.user_id == "WS-TEST-07"
    assert event.user_name == "AETITLE=WSTEST07"  # AlternativeUserID when there is no UserName
    assert event.user_roles == ("110153",)
    assert event.source_id == "PACS-TEST-1"
    assert (event.studies, event.patients, event.object_count) == ((), (), 1)
    query = re.search(rb"<ParticipantObjectQuery>([^<]+)<", fixture("dicom-query.xml"))
    assert query is not None
    assert b"TESTPATIENT^QUERY" in base64.b64decode(query.group(1))  # the fixture is what it says
    assert "TESTPATIENT" not in repr(event)
    assert query.group(1).decode() not in repr(event)


def test_an_export_names_its_studies_and_patient() -> None:
    event = parse("dicom-export.xml")
    assert (event.event_id, event.event_name, event.user_id) == ("110106", "Export", "tech.test02")
    assert event.studies == (
        "1.2.826.0.1.3680043.8.498.10000000002",
        "1.2.826.0.1.3680043.8.498.10000000003",
    )
    assert event.patients == (ref("PAT-TEST-0002"),)
    assert event.object_count == 3
    assert "PAT-TEST-0002" not in repr(event)
    assert "BRAVO" not in repr(event)


def test_a_security_alert() -> None:
    event = parse("dicom-security-alert.xml")
    assert (event.event_id, event.event_name) == ("110113", "Security Alert")
    assert (event.type_code, event.type_name, event.outcome) == ("110126", "Node Authentication", 8)
    assert (event.user_id, event.user_host) == ("unknown", "192.0.2.66")
    assert event.patients == () and event.studies == ()


def test_an_rfc3881_login() -> None:
    event = parse("rfc3881-login.xml")
    assert event.style == "rfc3881"
    assert (event.event_id, event.event_name) == ("110114", "User Authentication")
    assert (event.type_code, event.type_name, event.outcome) == ("110122", "Login", 0)
    assert (event.user_id, event.user_name) == ("ris.test03", "ris.test03@TEST.EXAMPLE")
    assert event.user_roles == ("REPORTER",)
    assert (event.source_id, event.when) == ("RIS-TEST-1", "2026-12-01T07:59:30Z")


def audit(event: str = "", *parts: str, attrs: str = 'EventOutcomeIndicator="0"') -> bytes:
    """A small AuditMessage: ``event`` the children of EventIdentification."""
    identification = f"<EventIdentification {attrs}>{event}</EventIdentification>"
    return f"<AuditMessage>{identification}{''.join(parts)}</AuditMessage>".encode()


def test_names_come_from_the_dcm_tables_when_the_sender_gives_none() -> None:
    xml = audit(
        '<EventID csd-code="110106" codeSystemName="DCM"/><EventTypeCode csd-code="110137"/>'
    )
    event = parse_audit(xml, ref)
    assert (event.event_name, event.type_name) == ("Export", "User Security Attributes Changed")
    other = parse_audit(audit('<EventID code="110106" codeSystemName="99LOCAL"/>'), ref)
    assert other.event_name == "" and other.style == "rfc3881"


def test_the_dcm_tables_hold_the_standards_names() -> None:
    assert len(DCM_EVENTS) == 15 and len(DCM_EVENT_TYPES) == 17
    assert DCM_EVENTS["110102"] == "Begin Transferring DICOM Instances"
    assert DCM_EVENT_TYPES["110138"] == "Emergency Override Stopped"
    assert DCM_EVENT_TYPES["110132"] == "Use of Restricted Function"


@pytest.mark.parametrize(
    ("attrs", "outcome"),
    [
        ('EventOutcomeIndicator="12"', 12),
        ('EventOutcomeIndicator=" 8 "', 8),
        ('EventOutcomeIndicator="5"', -1),
        ('EventOutcomeIndicator="failed"', -1),
        ('EventOutcomeIndicator=""', -1),
        ('EventActionCode="E"', -1),
    ],
)
def test_an_outcome_missing_or_junk_is_minus_one(attrs: str, outcome: int) -> None:
    assert parse_audit(audit('<EventID csd-code="110100"/>', attrs=attrs), ref).outcome == outcome


def test_without_a_requestor_the_user_is_the_first_participant() -> None:
    xml = audit(
        '<EventID csd-code="110100"/>',
        '<ActiveParticipant UserID="first" UserIsRequestor="false"/>',
        '<ActiveParticipant UserID="second"/>',
    )
    assert parse_audit(xml, ref).user_id == "first"
    none = parse_audit(audit('<EventID csd-code="110100"/>'), ref)
    assert (none.user_id, none.user_name, none.user_roles, none.user_host) == ("", "", (), "")


def test_an_older_source_id_and_namespaced_attributes_are_read() -> None:
    xml = (
        b'<a:AuditMessage xmlns:a="urn:x" xmlns:b="urn:y"><a:EventIdentification>'
        b'<a:EventID b:csd-code="110108"/></a:EventIdentification>'
        b'<a:AuditSourceIdentification SourceID="OLD-SOURCE"/></a:AuditMessage>'
    )
    event = parse_audit(xml, ref)
    assert (event.event_id, event.event_name, event.source_id) == (
        "110108",
        "Network Entry",
        "OLD-SOURCE",
    )


def test_a_patient_id_in_hl7s_cx_form_is_referred_to_by_its_id_alone() -> None:
    """IHE asks for "ID^^^AUTHORITY&OID&ISO": the reference is the ID's, the one the HL7 log
    makes of PID-3 for the same patient, so a search by patient finds both."""
    from pacs_tui.hl7.header import read_header
    from pacs_tui.hl7.patient import patient_id

    def patient(pid: str) -> str:
        return (
            f'<ParticipantObjectIdentification ParticipantObjectID="{pid}" '
            'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/>'
        )

    accessed = '<EventID csd-code="110110"/>'
    cx = parse_audit(audit(accessed, patient("PAT-TEST-0009^^^HOSP&amp;1.2.3&amp;ISO")), ref)
    bare = parse_audit(audit(accessed, patient("PAT-TEST-0009")), ref)
    assert cx.patients == bare.patients == (ref("PAT-TEST-0009"),)
    hl7 = b"MSH|^~\\&|HIS|H|RIS|R|2026||ADT^A08|C1|P|2.5\rPID|1||PAT-TEST-0009^^^HOSP^MR\r"
    assert patient_id(hl7, read_header(hl7)) == "PAT-TEST-0009"


def test_strings_are_cut_and_participants_bounded() -> None:
    long = "U" * 5000
    patients = "".join(
        f'<ParticipantObjectIdentification ParticipantObjectID="PAT-TEST-{i:05}" '
        'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/>'
        for i in range(1500)
    )
    xml = audit('<EventID csd-code="110110"/>', f'<ActiveParticipant UserID="{long}"/>', patients)
    calls: list[str] = []

    def recording_ref(patient_id: str) -> str:
        calls.append(patient_id)
        return ref(patient_id)

    event = parse_audit(xml, recording_ref)
    assert event.user_id == "U" * 256
    assert event.object_count == 1000
    assert len(event.patients) == 1000 and len(calls) == 1000


def test_extract_xml_finds_the_xml_in_a_body() -> None:
    xml = fixture("dicom-login.xml")
    assert extract_xml(xml) is xml
    assert extract_xml(b"ATNA audit: " + xml) == xml
    assert extract_xml(b"\xef\xbb\xbf<AuditMessage/>") == b"<AuditMessage/>"
    assert extract_xml(b"note <x> <AuditMessage/>") == b"<AuditMessage/>"
    assert extract_xml(b"no xml here") == b"no xml here"


# --- hostile XML: nothing expanded, nothing read or fetched, nothing of the body in the words


def test_billion_laughs_is_refused_at_its_dtd_quickly() -> None:
    start = time.perf_counter()
    words = refused(fixture("billion-laughs.xml"))
    assert "DTD" in words
    assert time.perf_counter() - start < 1.0
    assert "lol" not in words


def test_an_external_file_entity_is_refused_unread() -> None:
    start = time.perf_counter()
    words = refused(fixture("xxe-file.xml"))
    assert "DTD" in words and "refused" in words
    assert "passwd" not in words and "root" not in words
    assert time.perf_counter() - start < 1.0


def test_an_external_http_entity_is_refused_unfetched() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        xml = fixture("xxe-http.xml").replace(b"127.0.0.1:1/", f"127.0.0.1:{port}/".encode())
        assert f":{port}/x".encode() in xml
        words = refused(xml)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert "DTD" in words and "127.0.0.1" not in words


def test_a_doctype_alone_is_refused() -> None:
    assert "DTD" in refused(fixture("doctype-only.xml"))
    assert "DTD" in refused(b"<!DOCTYPE AuditMessage><AuditMessage/>")


def test_truncated_xml_says_where() -> None:
    xml = fixture("dicom-login.xml")
    for cut in (len(xml) // 2, len(xml) - 3, 60):
        words = refused(xml[:cut])
        assert words.startswith("truncated XML"), words
        assert re.search(r"line \d+, column \d+", words)


@pytest.mark.parametrize(
    ("xml", "start"),
    [
        (b"", "not XML"),
        (b"   ", "not XML"),
        (b"hello SECRET-PAT-9", "not XML"),
        (b"<AuditMessage></SECRET-PAT-9>", "not well-formed XML"),
        (b"<AuditMessage/>SECRET-PAT-9", "not well-formed XML"),
        (
            b'<?xml version="1.0" encoding="SECRET-PAT-9"?><AuditMessage/>',
            "audit XML in an unknown",
        ),
        (b"<SECRET-PAT-9/>", "the XML is not an AuditMessage"),
        (b"<AuditMessage><SECRET-PAT-9/></AuditMessage>", "no EventIdentification"),
        (audit('<EventID codeSystemName="SECRET-PAT-9"/>'), "no EventID code"),
        (audit("<EventTypeCode csd-code='110122'/>"), "no EventID code"),
    ],
)
def test_what_is_not_an_audit_message_is_refused_in_words_without_its_content(
    xml: bytes, start: str
) -> None:
    words = refused(xml)
    assert words.startswith(start), words
    assert "SECRET" not in words


def test_a_message_over_max_bytes_is_refused_without_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr("defusedxml.ElementTree.fromstring", no_parse)
    big = fixture("dicom-login.xml") + b" " * (10 * 1024 * 1024)
    assert "over the 1,048,576-byte limit" in refused(big)
    assert "limit" in refused(fixture("dicom-login.xml"), max_bytes=100)


def test_deep_nesting_is_parsed_or_refused_never_a_crash() -> None:
    depth = 100_000
    nest = "<x>" * depth + "</x>" * depth
    event = parse_audit(audit('<EventID csd-code="110100"/>', nest), ref)
    assert event.event_id == "110100"
    assert refused(audit('<EventID csd-code="110100"/>', "<x>" * depth)).startswith(
        "not well-formed XML"
    )
    assert refused(("<AuditMessage>" + "<x>" * depth).encode()).startswith("truncated XML")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_an_event_or_an_audit_parse_error(data: bytes) -> None:
    with contextlib.suppress(AuditParseError):
        parse_audit(data, ref)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=8))
def test_a_mangled_audit_message_is_an_event_or_an_audit_parse_error(at: int, junk: bytes) -> None:
    xml = fixture("dicom-instances-accessed.xml")
    at %= len(xml)
    try:
        event = parse_audit(xml[:at] + junk + xml[at + len(junk) :], ref)
    except AuditParseError as exc:
        assert "PAT-TEST" not in exc.words
    else:
        assert "PAT-TEST-0001" not in repr(event)


# --- syslog headers


def test_logger_rfc5424_over_udp() -> None:
    message = parse_syslog(fixture("logger-rfc5424-udp.bin"))
    assert message.format == "rfc5424"
    assert (message.facility, message.severity) == (AUTHPRIV, NOTICE)
    assert message.timestamp == "2026-12-02T10:58:41.246294+00:00"
    assert (message.host, message.app, message.procid, message.msgid) == (
        "vm",
        "pacs-audit",
        "",
        "IHE+RFC-3881",
    )
    assert message.body.startswith(b'<?xml version="1.0"')
    assert parse_audit(extract_xml(message.body), ref).type_name == "Login"


def test_logger_rfc3164_over_udp() -> None:
    message = parse_syslog(fixture("logger-rfc3164-udp.bin"))
    assert message.format == "rfc3164"
    assert (message.facility, message.severity) == (AUTHPRIV, NOTICE)
    assert (message.timestamp, message.host, message.app, message.procid) == (
        "Dec  2 10:58:41",
        "vm",
        "pacs-audit",
        "",
    )
    assert message.body.startswith(b"<?xml")
    assert parse_audit(extract_xml(message.body), ref).event_id == "110114"


@pytest.mark.parametrize(
    ("name", "framing"),
    [
        ("logger-rfc5424-tcp-octet-count.bin", "octet-counting"),
        ("logger-rfc5424-tcp-newline.bin", "newline"),
        ("logger-rfc3164-tcp-newline.bin", "newline"),
    ],
)
def test_logger_over_tcp_is_one_frame_and_one_audit_event(name: str, framing: str) -> None:
    data = fixture(name)
    for chosen in (framing, "auto"):
        framer = SyslogFramer(max_size=4096, framing=chosen)
        frames = framer.feed(data)
        assert framer.eof() == []
        assert len(frames) == 1 and isinstance(frames[0], bytes)
        message = parse_syslog(frames[0])
        assert (message.facility, message.severity, message.app) == (AUTHPRIV, NOTICE, "pacs-audit")
        assert parse_audit(extract_xml(message.body), ref).user_id == "rad.test01"
    if "3164" in name:
        assert message.procid.isdigit()  # logger -i


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"<13>1 - - root - - - hello",
            SyslogMessage(1, 5, "", "", "root", "", "", "rfc5424", b"hello"),
        ),
        (b"<13>1 - - root", SyslogMessage(1, 5, "", "", "root", "", "", "rfc5424", b"")),
        (
            b'<165>1 2026-12-01T08:00:00Z h a 42 ID [x@1 k="a\\]b\\"c" j="]"][y@2] \xef\xbb\xbfmsg',
            SyslogMessage(20, 5, "2026-12-01T08:00:00Z", "h", "a", "42", "ID", "rfc5424", b"msg"),
        ),
        (  # a sender that leaves STRUCTURED-DATA out: all of it is the body
            b"<13>1 2026-12-01T08:00:00Z h a - - <AuditMessage/>",
            SyslogMessage(
                1, 5, "2026-12-01T08:00:00Z", "h", "a", "", "", "rfc5424", b"<AuditMessage/>"
            ),
        ),
        (
            b"<13>1 t h a p m [never closed",
            SyslogMessage(1, 5, "t", "h", "a", "p", "m", "rfc5424", b"[never closed"),
        ),
        (
            b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed",
            SyslogMessage(
                4,
                2,
                "Oct 11 22:14:15",
                "mymachine",
                "su",
                "230",
                "",
                "rfc3164",
                b"'su root' failed",
            ),
        ),
        (
            b"<13>Dec  2 10:53:01 atna: no host",
            SyslogMessage(1, 5, "Dec  2 10:53:01", "", "atna", "", "", "rfc3164", b"no host"),
        ),
        (
            b"<13>2026-12-02T10:53:01Z relay atna:x",
            SyslogMessage(1, 5, "2026-12-02T10:53:01Z", "relay", "atna", "", "", "rfc3164", b"x"),
        ),
        (
            b"<13>Dec  2 10:53:01 host no tag here",
            SyslogMessage(1, 5, "Dec  2 10:53:01", "host", "", "", "", "rfc3164", b"no tag here"),
        ),
        (b"<13>no timestamp", SyslogMessage(1, 5, "", "", "", "", "", "rfc3164", b"no timestamp")),
        (b"<0>", SyslogMessage(0, 0, "", "", "", "", "", "rfc3164", b"")),
        (
            b"<192>1 - - - - - - x",
            SyslogMessage(None, None, "", "", "", "", "", "none", b"<192>1 - - - - - - x"),
        ),
        (b"<1x>y", SyslogMessage(None, None, "", "", "", "", "", "none", b"<1x>y")),
        (b"junk", SyslogMessage(None, None, "", "", "", "", "", "none", b"junk")),
        (b"", SyslogMessage(None, None, "", "", "", "", "", "none", b"")),
    ],
)
def test_syslog_headers(data: bytes, expected: SyslogMessage) -> None:
    assert parse_syslog(data) == expected


def test_header_text_is_decoded_with_replacement_and_cut() -> None:
    message = parse_syslog(b"<13>1 - h\xff\xfe " + b"a" * 300 + b" - - - x")
    assert message.host == "h\ufffd\ufffd"
    assert message.app == "a" * 256
    assert message.body == b"x"


def test_a_header_not_over_within_2_kib_leaves_the_rest_to_the_body() -> None:
    data = b"<13>1 " + b"T" * 5000 + b" h a - - - x"
    message = parse_syslog(data)
    assert message.format == "rfc5424"
    assert (message.timestamp, message.host) == ("", "")
    assert message.body == data[6:]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(lambda tail: b"<13>1 " + tail, st.binary(max_size=300)),
        st.builds(lambda tail: b"<13>Dec  2 10:53:01 " + tail, st.binary(max_size=300)),
    )
)
def test_parse_syslog_never_raises_and_its_body_is_the_end_of_the_data(data: bytes) -> None:
    message = parse_syslog(data)
    assert message.format in ("rfc5424", "rfc3164", "none")
    assert data.endswith(message.body)


# --- TCP framing (RFC 6587)


def feed_all(framer: SyslogFramer, data: bytes, size: int) -> list[bytes | FrameProblem]:
    out: list[bytes | FrameProblem] = []
    for i in range(0, len(data), size):
        out += framer.feed(data[i : i + size])
        assert framer.buffered <= framer.max_size + 16
    return out + list(framer.eof())


MSG_A = b"<13>1 - h a - - - first\nwith a newline"
MSG_B = b"<14>Dec  2 10:53:01 h tag: second"


def octets(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


@pytest.mark.parametrize("size", [1, 2, 7, 10_000])
def test_octet_counting_whatever_the_reads(size: int) -> None:
    data = octets(MSG_A) + octets(MSG_B) + octets(MSG_A)
    framer = SyslogFramer(max_size=1024, framing="octet-counting")
    assert feed_all(framer, data, size) == [MSG_A, MSG_B, MSG_A]


@pytest.mark.parametrize("size", [1, 3, 10_000])
def test_newline_framing_whatever_the_reads(size: int) -> None:
    data = MSG_B + b"\n" + MSG_B + b"\r\n\n" + MSG_B + b"\x00"
    framer = SyslogFramer(max_size=1024, framing="newline")
    assert feed_all(framer, data, size) == [MSG_B, MSG_B, MSG_B]


@pytest.mark.parametrize("size", [1, 5, 10_000])
def test_auto_decides_each_frame(size: int) -> None:
    data = octets(MSG_A) + MSG_B + b"\n" + octets(MSG_B) + octets(MSG_A) + MSG_B + b"\n"
    framer = SyslogFramer(max_size=1024)
    assert feed_all(framer, data, size) == [MSG_A, MSG_B, MSG_B, MSG_A, MSG_B]


def test_an_oversized_octet_count_ends_the_stream() -> None:
    framer = SyslogFramer(max_size=100)
    out = framer.feed(octets(MSG_B) + b"101 " + b"x" * 101 + octets(MSG_B))
    assert out[0] == MSG_B
    assert out[1] == FrameProblem(
        "too_large", "an octet count of 101 bytes, over the 100-byte limit", fatal=True
    )
    assert len(out) == 2
    assert framer.done and framer.buffered == 0
    assert framer.feed(octets(MSG_B)) == [] and framer.eof() == []


@pytest.mark.parametrize("data", [b"12a <13>x", b"1\n", b"12345678901 <13>x"])
def test_a_length_that_is_not_a_number_ends_the_stream(data: bytes) -> None:
    for size in (1, len(data)):
        framer = SyslogFramer(max_size=1024, framing="octet-counting")
        out = feed_all(framer, data, size)
        assert len(out) == 1 and isinstance(out[0], FrameProblem)
        assert (out[0].kind, out[0].fatal) == ("bad_length", True)


def test_eleven_digits_are_refused_before_any_space_comes() -> None:
    framer = SyslogFramer(max_size=1024)
    assert framer.feed(b"1234567890") == []
    out = framer.feed(b"1")
    assert out == [FrameProblem("bad_length", "an octet count of over 10 digits", fatal=True)]


def test_an_oversized_newline_message_is_skipped_counted_and_the_next_kept() -> None:
    data = MSG_B + b"\n" + b"<13>" + b"x" * 500 + b"\n" + MSG_B + b"\n"
    for size in (1, 64, len(data)):
        framer = SyslogFramer(max_size=100, framing="newline")
        out = feed_all(framer, data, size)
        assert out[0] == MSG_B and out[2] == MSG_B and len(out) == 3
        assert isinstance(out[1], FrameProblem)
        assert (out[1].kind, out[1].fatal) == ("too_large", False)
        assert framer.skipped == 1


def test_a_message_of_exactly_max_size_is_kept() -> None:
    message = b"<" + b"m" * 99
    for framing, data in (("newline", message + b"\r\n"), ("octet-counting", octets(message))):
        framer = SyslogFramer(max_size=100, framing=framing)
        assert feed_all(framer, data, 1) == [message]


@pytest.mark.parametrize(
    ("framing", "data"),
    [("octet-counting", MSG_B + b"\n"), ("newline", octets(MSG_B))],
)
def test_a_framing_not_allowed_ends_the_stream(framing: str, data: bytes) -> None:
    out = SyslogFramer(max_size=1024, framing=framing).feed(data)
    assert len(out) == 1 and isinstance(out[0], FrameProblem)
    assert (out[0].kind, out[0].fatal) == ("framing", True)


@pytest.mark.parametrize("data", [octets(MSG_A)[:-5], b"57 ", MSG_B, b"12"])
def test_a_frame_cut_short_at_eof_is_truncated(data: bytes) -> None:
    framer = SyslogFramer(max_size=1024)
    assert framer.feed(data) == []
    problems = framer.eof()
    assert [p.kind for p in problems] == ["truncated"]
    assert f"{len(data):,} bytes" in problems[0].words


def test_junk_on_an_auto_link_is_newline_framed_and_bounded() -> None:
    framer = SyslogFramer(max_size=100)
    out = feed_all(framer, b"\xff\xfejunk\nmore junk\n" + b"\x80" * 1000, 13)
    assert out[:2] == [b"\xff\xfejunk", b"more junk"]
    assert [p.kind for p in out[2:] if isinstance(p, FrameProblem)] == ["too_large"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        SyslogFramer(max_size=100, framing="lines")
    with pytest.raises(ValueError):
        SyslogFramer(max_size=0)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def run(framing: str, chunks: list[bytes], max_size: int = 64) -> list[bytes | FrameProblem]:
    framer = SyslogFramer(max_size=max_size, framing=framing)
    out: list[bytes | FrameProblem] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + list(framer.eof())


# A line that newline framing keeps as it is: no trailer in it, no CR to end it, no digit first.
_line = st.binary(max_size=80).map(
    lambda m: b"<" + m.replace(b"\n", b"").replace(b"\0", b"").rstrip(b"\r")
)
_frame = st.one_of(
    st.builds(octets, st.binary(min_size=1, max_size=80)), st.builds(lambda m: m + b"\n", _line)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_frame, max_size=8), st.lists(st.integers(min_value=0), max_size=12))
def test_the_frames_are_the_same_whatever_the_chunking(
    frames: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(frames)
    expected = [f[f.index(b" ") + 1 :] if f[:1].isdigit() else f[:-1] for f in frames]
    assert run("auto", [data], max_size=128) == expected
    assert run("auto", chunked(data, cuts), max_size=128) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["auto", "octet-counting", "newline"]),
    st.binary(max_size=300),
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_any_stream_gives_the_same_items_whatever_the_chunking(
    framing: str, data: bytes, cuts: list[int]
) -> None:
    assert run(framing, chunked(data, cuts), max_size=16) == run(framing, [data], max_size=16)


# --- the live sender: util-linux logger on this machine


def logger_path() -> str:
    return require_peer("logger", "util-linux's logger (apt-get install bsdutils)")


def capture_tcp(args: list[str], message: str) -> bytes:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        port = str(server.getsockname()[1])
        proc = subprocess.Popen([logger_path(), *args, "-n", "127.0.0.1", "-P", port, message])
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
        finally:
            assert proc.wait(timeout=10) == 0
    return data


def capture_udp(args: list[str], message: str) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        port = str(server.getsockname()[1])
        proc = subprocess.Popen([logger_path(), *args, "-n", "127.0.0.1", "-P", port, message])
        try:
            data = server.recv(65536)
        finally:
            assert proc.wait(timeout=10) == 0
    return data


LOGGER_ARGS = ["-t", "pacs-audit", "-p", "authpriv.notice", "--size", "65536"]


def test_live_logger_rfc5424_tcp_octet_counting() -> None:
    xml = one_line(fixture("dicom-login.xml"))
    data = capture_tcp(
        ["--rfc5424", "--octet-count", "-T", "--msgid", "IHE+RFC-3881", *LOGGER_ARGS], xml
    )
    length, _, rest = data.partition(b" ")
    assert int(length) == len(rest)
    assert rest.startswith(b"<85>1 ")
    framer = SyslogFramer(max_size=65536, framing="octet-counting")
    (frame,) = framer.feed(data)
    assert isinstance(frame, bytes)
    message = parse_syslog(frame)
    assert (message.format, message.app, message.msgid) == ("rfc5424", "pacs-audit", "IHE+RFC-3881")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d", message.timestamp)
    assert message.body == xml.encode()
    assert parse_audit(extract_xml(message.body), ref).type_name == "Login"


def test_live_logger_rfc5424_tcp_newline() -> None:
    xml = one_line(fixture("dicom-logout.xml"))
    data = capture_tcp(["--rfc5424", "-T", *LOGGER_ARGS], xml)
    assert data.startswith(b"<85>1 ") and data.endswith(b"\n") and data.count(b"\n") == 1
    (frame,) = SyslogFramer(max_size=65536, framing="newline").feed(data)
    assert isinstance(frame, bytes)
    assert parse_audit(extract_xml(parse_syslog(frame).body), ref).type_name == "Logout"


def test_live_logger_rfc3164_udp() -> None:
    xml = one_line(fixture("dicom-login-failed.xml"))
    data = capture_udp(["--rfc3164", "-d", "-i", *LOGGER_ARGS], xml)
    assert re.match(rb"<85>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ pacs-audit\[\d+\]: <", data)
    message = parse_syslog(data)
    assert (message.format, message.app) == ("rfc3164", "pacs-audit")
    assert message.procid.isdigit()
    assert message.body == xml.encode()
    assert parse_audit(extract_xml(message.body), ref).outcome == 4


def test_live_logger_rfc5424_udp() -> None:
    data = capture_udp(["--rfc5424", "-d", *LOGGER_ARGS], "plain text, no audit")
    message = parse_syslog(data)
    assert (message.format, message.facility, message.severity) == ("rfc5424", AUTHPRIV, NOTICE)
    assert message.body == b"plain text, no audit"
    assert refused(extract_xml(message.body)).startswith("not XML")
