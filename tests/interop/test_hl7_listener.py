"""The HL7 listener and tap inside a real ``pacs-tui collect``, fed by python-hl7's
``mllp_send``: each message is answered by HL7's rules only once its log row is in the history,
no patient field reaches the history, after ``kill -9`` every message that was ACKed is there
(once the history is opened again);
through the tap, python-hl7's own server answers and the sender gets its ACKs unchanged."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..peers import HOST, free_port
from .conftest import require_peer

pytestmark = pytest.mark.interop

VT, END = b"\x0b", b"\x1c\r"
PACS_TUI = (sys.executable, "-m", "pacs_tui")
#: What mllp_send prints of each ACK: its MSA segment's code and echoed control ID.
MSA = re.compile(rb"MSA\|(\w\w)\|([^|\r]*)")


def mllp_send() -> str:
    beside = Path(sys.executable).with_name("mllp_send")
    return require_peer(str(beside), "python-hl7 (pip: hl7)")


def message(control: str, version: str = "2.5", patient: int = 900001) -> bytes:
    return (
        f"MSH|^~\\&|HIS|WARD 3|RIS|RADIOLOGY|20261201120000||ADT^A01^ADT_A01|{control}|P|"
        f"{version}\rEVN|A01|20261201120000\r"
        f"PID|1||{patient}^^^HOSP^MR||ZEBEDEE^JOHN||19700101|M|||1 RUE DU PORT^^BREST\r"
        f"PV1|1|I|WARD3^12^1\r"
    ).encode()


def framed(*messages: bytes) -> bytes:
    return b"".join(VT + m + END for m in messages)


class Collector:
    def __init__(self, folder: Path, upstream: int | None = None) -> None:
        self.port = free_port()
        self.history = folder / "h.sqlite"
        self.config = config = folder / "site.toml"
        tap = f'mode = "tap"\nupstream = "{HOST}:{upstream}"\n' if upstream else ""
        config.write_text(
            f'[site]\nname = "HL7 ward"\n[history]\npath = "{self.history}"\n'
            f'[[hl7.listener]]\nid = "his-copy"\nbind = "{HOST}:{self.port}"\n{tap}'
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pacs_tui", "collect", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            with socket.socket() as probe:
                if probe.connect_ex((HOST, self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "the listener never listened"
            time.sleep(0.05)

    def rows(self, columns: str = "control_id, ack, type, sender, receiver") -> list[Any]:
        with contextlib.closing(sqlite3.connect(self.history)) as db:
            sql = f"SELECT {columns} FROM messages WHERE link = 'his-copy' ORDER BY ts, rowid"
            return list(db.execute(sql))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    running = Collector(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def status_of(collector: Collector, target: str) -> dict[str, Any]:
    shown = subprocess.run(
        [*PACS_TUI, "status", "--json", "--config", str(collector.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {row["id"]: row for row in json.loads(shown.stdout)["targets"]}
    return dict(rows[target])


def send(collector: Collector, folder: Path, data: bytes) -> list[tuple[str, str]]:
    batch = folder / "batch.hl7"
    batch.write_bytes(data)
    done = subprocess.run(
        [mllp_send(), "-p", str(collector.port), "-f", str(batch), HOST],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return [(code.decode(), control.decode()) for code, control in MSA.findall(done.stdout)]


def test_each_message_is_answered_by_the_rules_once_recorded(
    collector: Collector, tmp_path: Path
) -> None:
    good = [message(f"C{i:04d}", patient=900000 + i) for i in range(20)]
    wrong_version = message("V2.9", version="2.9")
    no_control_id = message("")
    acks = send(collector, tmp_path, framed(*good[:10], wrong_version, no_control_id, *good[10:]))

    expected = [("AA", f"C{i:04d}") for i in range(10)] + [("AR", "V2.9"), ("AE", "")]
    expected += [("AA", f"C{i:04d}") for i in range(10, 20)]
    assert acks == expected
    # 2 of 22 answered AE/AR is over the default error_warn (5 %): the listener is WARN and
    # says why, in the collector's status and the Nagios check, not "✔ OK" for an open port.
    deadline = time.monotonic() + 20
    while (row := status_of(collector, "his-copy"))["status"] != "WARN":
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
    assert row["reason"].startswith(
        "2 of 22 messages failed in the last 5 min (9.1 % > 5 %: AE 1, AR 1); listening on "
    )
    check = subprocess.run(
        [*PACS_TUI, "check", "--config", str(collector.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1, check.stdout
    assert "his-copy WARN: 2 of 22 messages failed" in check.stdout
    assert "'his-copy failed'=0.0909;0.05;0.25;0;1 " in check.stdout  # perfdata, with limits
    # Every row was durable before its ACK went (in the message journal); the table has them
    # after the collector's next flush, within a second.
    deadline = time.monotonic() + 10
    while len(rows := collector.rows()) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(ack, control) for control, ack, *_ in rows] == expected
    assert {(t, s, r) for _, _, t, s, r in rows} == {("ADT^A01", "HIS", "RIS")}
    # And as `history --messages --json` prints them.
    shown = subprocess.run(
        [*PACS_TUI, "history", "--messages", "--json", "--config", str(collector.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    messages = json.loads(shown.stdout)["messages"]
    assert [(m["ack"], m["control_id"]) for m in messages] == expected
    assert messages[0] == {
        "ts": messages[0]["ts"],
        "target": "his-copy",
        "direction": "in",
        "type": "ADT^A01",
        "control_id": "C0000",
        "version": "2.5",
        "ack": "AA",
        "latency_seconds": None,
        "size_bytes": len(good[0].strip(b"\r")),  # mllp_send strips the last CR
        "sending_app": "HIS",
        "sending_facility": "WARD 3",
        "receiving_app": "RIS",
        "receiving_facility": "RADIOLOGY",
        "errors": "",
        "patient": messages[0]["patient"],
    }
    # A --target the history does not know is said, with the closest name: not "no messages".
    typo = subprocess.run(
        [
            *PACS_TUI,
            "history",
            "--messages",
            "--target",
            "his-cpy",
            "--config",
            str(collector.config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert typo.returncode == 2 and typo.stdout == ""  # a mistyped value
    assert "no target 'his-cpy' in the history" in typo.stderr
    assert "did you mean 'his-copy'?" in typo.stderr and "Traceback" not in typo.stderr
    # The patient as a keyed hash: the same on each of that patient's messages, never the ID.
    assert re.fullmatch(r"#[0-9a-f]{16}", messages[0]["patient"])
    assert len({m["patient"] for m in messages[:10]}) == 10  # ten patients
    assert messages[0]["patient"] != messages[1]["patient"]
    assert "version 2.9 is not taken" in messages[10]["errors"]
    assert "MSH-10, the control ID, is empty" in messages[11]["errors"]
    # Nothing of the patients reached the history (its file and its write-ahead log).
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("h.sqlite"))
    assert b"ZEBEDEE" not in stored and b"900001" not in stored and b"BREST" not in stored


def test_a_message_sent_without_its_header_leaves_no_patient_field_in_the_log(
    collector: Collector, tmp_path: Path
) -> None:
    """``mllp_send --loose`` puts ``MSH|^~\\&|`` before a file's text: a message without its
    header arrives with a PID where MSH-3 to MSH-10 should be. It gets an AE, and none of the
    PID's fields reach the message log as applications, facilities or a type."""
    loose = tmp_path / "no-msh.hl7"
    loose.write_text("PID|1||999777^^^HOSP^MR||ZEBEDEE^JOHN^^^^^L|ADT^A01\n")
    done = subprocess.run(
        [mllp_send(), "--loose", "-p", str(collector.port), "-f", str(loose), HOST],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert [code for code, _ in MSA.findall(done.stdout)] == [b"AE"]
    # A sender's stray line end before MSH (CRLF split at the CR) is no reason to refuse.
    with socket.create_connection((HOST, collector.port), timeout=10) as sock:
        sock.sendall(VT + b"\n" + message("LF0001") + END)
        answer = b""
        while END not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    assert MSA.findall(answer) == [(b"AA", b"LF0001")]
    deadline = time.monotonic() + 10
    while len(rows := collector.rows("ack, type, sender, receiver, control_id")) < 2:
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    (ae, *garbled), (aa, *good) = rows
    assert ae == "AE" and aa == "AA"
    assert good == ["ADT^A01", "HIS", "RIS", "LF0001"]
    assert not any("999777" in str(f) or "ZEBEDEE" in str(f) for f in garbled), garbled
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("h.sqlite"))
    assert b"999777" not in stored and b"ZEBEDEE" not in stored


def test_every_acked_message_survives_kill_9(collector: Collector, tmp_path: Path) -> None:
    batch = tmp_path / "many.hl7"
    batch.write_bytes(framed(*(message(f"K{i:05d}") for i in range(5000))))
    sender = subprocess.Popen(
        [mllp_send(), "-p", str(collector.port), "-f", str(batch), HOST],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert sender.stdout is not None
    seen = b""
    while len(MSA.findall(seen)) < 300:  # well into the ingest
        chunk = os.read(sender.stdout.fileno(), 65536)
        assert chunk, "mllp_send ended before 300 ACKs"
        seen += chunk
    os.kill(collector.process.pid, signal.SIGKILL)
    collector.process.wait(10)
    rest, _ = sender.communicate(timeout=30)  # it fails on the lost connection
    acked = {control.decode() for code, control in MSA.findall(seen + rest) if code == b"AA"}
    assert len(acked) >= 300
    # The collector comes back (systemd restarts it): the history, opened, has every row that
    # was acknowledged, those the killed one had not yet flushed from its journal too.
    again = Collector(tmp_path)
    try:
        recorded = {control for control, *_ in again.rows()}
    finally:
        again.stop()
    assert acked <= recorded
    assert not [p for p in tmp_path.iterdir() if ".messages-" in p.name]  # all in the table


def test_through_the_tap_the_receiver_answers_and_each_answer_is_recorded(
    tmp_path: Path,
) -> None:
    receiver_script = Path(__file__).resolve().parent.parent / "plugins" / "hl7_receiver.py"
    receiver = subprocess.Popen(
        [sys.executable, str(receiver_script)], stdout=subprocess.PIPE, text=True
    )
    collector = None
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        # What the receiver answers when spoken to directly...
        direct = send_to(port, tmp_path / "direct.hl7", framed(message("D0001")))
        collector = Collector(tmp_path, upstream=port)
        batch = [message(f"P{i:04d}") for i in range(50)]
        through = send_to(collector.port, tmp_path / "tapped.hl7", framed(*batch))
    finally:
        if collector is not None:
            collector.stop()
        receiver.kill()
        receiver.wait()
    # ... is what the sender gets through the tap: python-hl7's own ACK, not one of ours.
    assert MSA.findall(direct) == [(b"AA", b"D0001")]
    assert MSA.findall(through) == [(b"AA", f"P{i:04d}".encode()) for i in range(50)]
    assert through.count(b"MSH|^~\\&|RIS|RADIOLOGY|HIS|WARD 3|") == 50
    assert not re.search(rb"\|PT\d{17}\|", through)  # no control ID of our own ACKs
    rows = collector.rows("control_id, ack, latency, size")
    assert [(c, a) for c, a, *_ in rows] == [(f"P{i:04d}", "AA") for i in range(50)]
    assert all(0 < latency < 5 and size > 100 for *_, latency, size in rows)


def send_to(port: int, file: Path, data: bytes) -> bytes:
    file.write_bytes(data)
    done = subprocess.run(
        [mllp_send(), "-p", str(port), "-f", str(file), HOST], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_diagnose_says_each_step_and_the_verdict(tmp_path: Path) -> None:
    receiver_script = Path(__file__).resolve().parent.parent / "plugins" / "hl7_receiver.py"
    receiver = subprocess.Popen(
        [sys.executable, str(receiver_script)], stdout=subprocess.PIPE, text=True
    )
    test = tmp_path / "a08.hl7"
    test.write_text("MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\nEVN|A08\nPID|1\nPV1|1\n")
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        args = ["diagnose", "hl7", f"localhost:{port}", "--send", str(test)]
        shown = subprocess.run([*PACS_TUI, *args], capture_output=True, text=True, timeout=60)
        as_json = subprocess.run(
            [*PACS_TUI, *args, "--json"], capture_output=True, text=True, timeout=60
        )
    finally:
        receiver.kill()
        receiver.wait()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["read", "resolve", "connect", "send", "ACK"]
    assert lines[-1].startswith("verdict: ✔ OK — AA in ")
    document = json.loads(as_json.stdout)
    assert (document["target"], document["verdict"]) == (f"localhost:{port}", "OK")
    assert document["ack"]["code"] == "AA"
    assert all(step["ok"] and step["seconds"] >= 0 for step in document["steps"])
    # Nothing listens there any more: DOWN, exit 2, the failed step named.
    refused = subprocess.run(
        [*PACS_TUI, "diagnose", "hl7", f"{HOST}:{port}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    down = json.loads(refused.stdout)
    assert (down["verdict"], down["reason"]) == (
        "DOWN",
        f"connection refused by {HOST}:{port}; nothing listens there: is the receiver running?",
    )
    assert [(s["name"], s["ok"]) for s in down["steps"]] == [("resolve", True), ("connect", False)]
    # A usage mistake is UNKNOWN (3, as status says it), never DOWN's 2; in JSON with --json.
    bad = subprocess.run([*PACS_TUI, "diagnose", "hl7", "nowhere"], capture_output=True, text=True)
    assert bad.returncode == 3 and "expected HOST:PORT" in bad.stderr
    out_of_range = subprocess.run(
        [*PACS_TUI, "diagnose", "hl7", f"{HOST}:99999", "--json"], capture_output=True, text=True
    )
    assert out_of_range.returncode == 3
    said = json.loads(out_of_range.stdout)
    assert said["verdict"] == "UNKNOWN" and said["steps"] == []
    assert "the port '99999' is not a number from 1 to 65535" in said["reason"]
    for argv in (["smtp", f"{HOST}:{port}"], ["hl7", f"{HOST}:{port}", "--bogus"]):
        mistaken = subprocess.run([*PACS_TUI, "diagnose", *argv], capture_output=True, text=True)
        assert mistaken.returncode == 3, (argv, mistaken.stderr)  # argparse's own are too


def test_behind_the_tap_hl7apys_one_message_a_connection_receiver(tmp_path: Path) -> None:
    """hl7apy's server answers one message a connection, then closes it: each sender that
    sends one gets hl7apy's ACK unchanged; a second message on that connection gets none
    (the tap invents none) and is recorded as unanswered, with why."""
    script = Path(__file__).resolve().parent.parent / "plugins" / "hl7apy_receiver.py"
    receiver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    collector = None
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        collector = Collector(tmp_path, upstream=port)
        singles = [
            send_to(collector.port, tmp_path / f"one{i}.hl7", framed(message(f"Y{i}")))
            for i in range(3)
        ]
        with socket.create_connection((HOST, collector.port), timeout=10) as conn:
            conn.sendall(framed(message("Z0"), message("Z1")))
            answered = b""
            while chunk := conn.recv(65536):  # until the tap closes it: the upstream did
                answered += chunk
    finally:
        if collector is not None:
            collector.stop()
        receiver.kill()
        receiver.wait()
    for i, got in enumerate(singles):
        assert MSA.findall(got) == [(b"AA", f"Y{i}".encode())]
        assert f"|HL7APYY{i}|".encode() in got  # hl7apy's own control ID: its ACK, not ours
    assert MSA.findall(answered) == [(b"AA", b"Z0")]
    rows = {c: (a, d) for c, a, d in collector.rows("control_id, ack, detail")}
    assert {c: a for c, (a, _) in rows.items()} == {
        "Y0": "AA",
        "Y1": "AA",
        "Y2": "AA",
        "Z0": "AA",
        "Z1": None,
    }
    assert re.search(r"no ACK: the upstream (closed|reset) the connection", rows["Z1"][1])
