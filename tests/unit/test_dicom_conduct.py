"""The PDU judge on its own: the edges of each rule (the hostile suite drives it end to end)."""

from __future__ import annotations

import struct

import pytest

from pacs_tui.probes.dicom_conduct import (
    PeerConduct,
    accept_problem,
    not_dicom,
    pdata_problem,
    user_info_problem,
)
from tests import hostile_peers as hp

RQ = bytes(74)  # an A-ASSOCIATE-RQ with no items: the AC then carries context 1


def ac_body(max_pdu: int) -> bytes:
    return hp.associate_ac(RQ, max_pdu=max_pdu)[6:]


def test_max_pdu_zero_means_unlimited_and_the_floor_is_256() -> None:
    assert user_info_problem(ac_body(0)) is None
    assert user_info_problem(ac_body(256)) is None
    problem = user_info_problem(ac_body(255))
    assert problem is not None and "only 255 bytes (at least 256 needed)" in problem


def accepted(limit: int = 1000) -> PeerConduct:
    conduct = PeerConduct(max_pdu=16382, pdata_limit=limit, expecting="a C-ECHO response")
    conduct.we_sent(0x01)
    assert conduct.header_problem(0x02, len(ac_body(16384))) is None
    assert conduct.body_problem(0x02, ac_body(16384)) is None
    conduct.we_sent(0x04)
    return conduct


def test_pdata_may_reach_the_limit_but_not_pass_it() -> None:
    conduct = accepted(limit=1000)
    assert conduct.header_problem(0x04, 600) is None
    assert conduct.header_problem(0x04, 400) is None  # exactly 1000 in all
    problem = conduct.header_problem(0x04, 1)
    assert problem is not None and problem.startswith("peer sent over 1,000 bytes of P-DATA")


def test_pdata_may_not_exceed_the_maximum_pdu_we_announced() -> None:
    conduct = accepted(limit=1 << 20)
    assert conduct.header_problem(0x04, 16382) is None
    assert "over the maximum PDU of 16,382 bytes" in (conduct.header_problem(0x04, 16383) or "")


def test_order_before_and_after_accepting() -> None:
    fresh = PeerConduct(max_pdu=16382, pdata_limit=1000, expecting="a C-ECHO response")
    assert "before accepting" in (fresh.header_problem(0x05, 4) or "")
    assert fresh.header_problem(0x07, 4) is None  # an abort is always allowed
    conduct = accepted()
    assert "before we asked to release" in (conduct.header_problem(0x06, 4) or "")
    conduct.we_sent(0x05)
    assert conduct.header_problem(0x06, 4) is None
    assert "after the association was accepted" in (conduct.header_problem(0x03, 4) or "")


def test_pdata_items_must_add_up_and_name_a_dimse_command() -> None:
    pdv = bytes([1, 0x03]) + b"\0\0\0\0" + struct.pack("<L", 2) + b"\0\0" + b"\0\0\x00\x01"
    good = struct.pack(">L", len(pdv)) + pdv
    assert pdata_problem(good) is None
    assert pdata_problem(good[:-1]) == "peer sent a P-DATA-TF whose items do not add up"
    field = hp._element((0, 0x0100), struct.pack("<H", 0x9999))
    command = hp._element((0, 0x0000), struct.pack("<L", len(field))) + field
    unknown = bytes([1, 0x03]) + command
    body = struct.pack(">L", len(unknown)) + unknown
    assert pdata_problem(body) == "peer sent a DIMSE message with an unknown command field 0x9999"


def test_an_accept_whose_items_run_past_its_end_is_refused_in_words() -> None:
    body = bytearray(ac_body(16384))
    body[68 + 2 : 68 + 4] = (0xFFFF).to_bytes(2, "big")  # the first item claims 64 kB
    assert accept_problem(bytes(body)) == (
        "peer's A-ASSOCIATE-AC is invalid: an item's length runs past the end of the PDU"
    )
    assert accept_problem(ac_body(16384)) is None


def test_aborts_must_carry_a_defined_source_and_reason() -> None:
    conduct = accepted()
    assert conduct.body_problem(0x07, bytes([0, 0, 0, 0])) is None
    assert conduct.body_problem(0x07, bytes([0, 0, 2, 6])) is None
    assert conduct.body_problem(0x07, bytes([0, 0, 1, 0])) == (
        "peer aborted with out-of-range fields (source 1, reason 0)"
    )
    assert "source 2, reason 3" in (conduct.body_problem(0x07, bytes([0, 0, 2, 3])) or "")


@pytest.mark.parametrize(
    ("first", "words"),
    [
        (b"HTTP/1", ": 'HTTP/1' (an HTTP server: the wrong port?)"),
        (b"SSH-2.", ": 'SSH-2.' (an SSH server: the wrong port?)"),
        (
            b"\x15\x03\x03\x00\x02\x02",
            ": 15 03 03 00 02 02 (TLS: does the node want DICOM over TLS?)",
        ),
        (b"\x1b[31mX", ": '␛[31mX' (the wrong port?)"),
        (b"\x9b\xff\x00\x01\x02\x03", ": 9B FF 00 01 02 03 (the wrong port?)"),
    ],
)
def test_bytes_that_are_no_pdu_are_said_with_what_they_look_like(first: bytes, words: str) -> None:
    assert not_dicom(first) == words
    said = PeerConduct(
        max_pdu=16382, pdata_limit=1000, expecting="a C-ECHO response"
    ).header_problem(first[0], 0, first)
    assert said == f"peer sent bytes that are not a DICOM PDU{words}"
