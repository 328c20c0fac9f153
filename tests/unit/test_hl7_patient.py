"""The message log's patient reference: PID-3's ID read from the PID segment alone, kept as a
keyed hash (the key a private file of the history's) unless ``store_phi`` is on."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from pacs_tui.hl7.header import read_header
from pacs_tui.hl7.listener import Listener, ListenerConfig
from pacs_tui.hl7.patient import patient_id
from pacs_tui.patient_key import PatientKey
from pacs_tui.probes.hl7_source import listener_target

from .test_hl7_listener import END, VT, Recorder, exchange


def pid3(message: str) -> str:
    data = message.encode("latin-1")
    return patient_id(data, read_header(data))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||4471^^^H^MR~99^^^SS||X^Y", "4471"),
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\nEVN|A01\nPID|1||  4471  ||X", "4471"),
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r\nPID|1|OLD|4471", "4471"),
        ("MSH#$%*@#A#B#C#D#1##ADT$A01#1#P#2.5\rPID#1##4471$$$H%99##X", "4471"),
        ("MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBR|1\rOBX|1|TX|PID|4471", ""),  # no PID
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1", ""),
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPIDX|1||4471", ""),
        ("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||" + "9" * 500, "9" * 64),
    ],
)
def test_pid3_is_read_from_the_pid_segment_alone(message: str, expected: str) -> None:
    assert pid3(message) == expected


def test_an_id_with_accents_reads_the_same_in_utf_8_and_latin_1() -> None:
    text = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||HÉL1^^^H"
    for encoding in ("utf-8", "latin-1"):
        data = text.encode(encoding)
        assert patient_id(data, read_header(data)) == "HÉL1"


def test_the_key_is_made_once_private_and_refused_when_others_can_read_it(
    tmp_path: Path,
) -> None:
    history = tmp_path / "h.sqlite"
    first, again = PatientKey(), PatientKey()
    unloaded = first.reference("4471")
    first.load(history)
    again.load(history)
    key_file = tmp_path / "h.sqlite.patient-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first.reference("4471") == again.reference("4471") != unloaded
    assert re.fullmatch(r"#[0-9a-f]{16}", first.reference("4471"))
    assert first.reference("4471") != first.reference("4472")
    assert first.reference("4471", store_phi=True) == "4471" and first.reference("") == ""
    key_file.chmod(0o644)
    with pytest.raises(OSError, match="can be read by other users"):
        PatientKey().load(history)
    key_file.unlink()
    os.symlink(tmp_path / "elsewhere", key_file)
    with pytest.raises(OSError, match="symbolic link"):
        PatientKey().load(history)
    key_file.unlink()
    key_file.write_bytes(b"short")
    key_file.chmod(0o600)
    with pytest.raises(OSError, match="not a patient key"):
        PatientKey().load(history)


@pytest.mark.parametrize("store_phi", [False, True])
async def test_the_listener_logs_the_patient_as_a_hash_unless_told(store_phi: bool) -> None:
    entry = ListenerConfig("copy", "127.0.0.1", 0, store_phi=store_phi)
    key = PatientKey()
    listener = Listener(entry, listener_target(entry), key)
    recorder = Recorder()
    task = asyncio.create_task(listener.serve(recorder))
    try:
        while not recorder.results:
            await asyncio.sleep(0.01)
        port = int(listener.address.rsplit(":", 1)[1])
        body = "MSH|^~\\&|HIS|W|RIS|R|2026||ORU^R01|P1|P|2.5\rPID|1||4471^^^H^MR||DOE\rOBR|1"
        await exchange(port, VT + body.encode() + END, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (row,) = recorder.rows
    assert row.patient == ("4471" if store_phi else key.reference("4471"))
    if not store_phi:
        assert "4471" not in repr(row)
