"""The audit receiver inside a real ``pacs-tui collect``, fed by util-linux ``logger`` (RFC 5424
over TCP with octet counting, RFC 3164 over UDP) carrying DICOM audit XML: each record is a row
of the message log, read back with ``history --messages --json``; the patient's ID and name
never reach the history; a sender outside ``allow`` is dropped and counted; ``audit verify``
reads the operator trail and names a line deleted from it."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacs_tui.demo.audit_feed import audit_xml

from ..peers import HOST, free_port
from .conftest import require_peer

pytestmark = pytest.mark.interop

PACS_TUI = (sys.executable, "-m", "pacs_tui")


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Collector:
    def __init__(self, folder: Path) -> None:
        self.tcp, self.udp = free_port(), udp_port()
        self.history = folder / "h.sqlite"
        self.config = folder / "site.toml"
        self.config.write_text(
            f'[site]\nname = "Audit ward"\n[history]\npath = "{self.history}"\n'
            "[audit]\nfailed_login_burst = 3\n"
            '[audit.roles]\nradiologist = ["rad-*"]\n'
            f'[[audit.syslog]]\nid = "pacs-tcp"\nprotocol = "tcp"\nbind = "{HOST}:{self.tcp}"\n'
            f'[[audit.syslog]]\nid = "pacs-udp"\nprotocol = "udp"\nbind = "{HOST}:{self.udp}"\n'
            'allow = ["10.0.0.0/8"]\n'  # loopback is not in it: dropped
        )
        self.process = subprocess.Popen(
            [*PACS_TUI, "collect", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            with socket.socket() as probe:
                if probe.connect_ex((HOST, self.tcp)) == 0:
                    return
            assert time.monotonic() < deadline, "the receiver never listened"
            time.sleep(0.05)

    def rows(self) -> list[tuple[str, str, str, str]]:
        with contextlib.closing(sqlite3.connect(self.history)) as db:
            sql = "SELECT link, type, sender, receiver_facility FROM messages ORDER BY ts, rowid"
            return list(db.execute(sql))

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err.decode(errors="replace")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    running = Collector(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def logger(*args: str) -> None:
    binary = require_peer("/usr/bin/logger", "util-linux's logger (apt-get install bsdutils)")
    done = subprocess.run([binary, *args], capture_output=True, timeout=20)
    assert done.returncode == 0, done.stderr


def wait_rows(collector: Collector, count: int) -> list[tuple[str, str, str, str]]:
    deadline = time.monotonic() + 15
    while len(rows := collector.rows()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def test_logger_records_reach_the_message_log_without_the_patient(
    collector: Collector, tmp_path: Path
) -> None:
    access = audit_xml(
        "110103", "rad-martin", "10.1.20.11", action="R", study="1.2.840.99.1", patient="PAT-77"
    ).decode()
    access = access.replace("DEMO^PATIENT", "ZEBEDEE^JOHN")  # a name in the record
    login = audit_xml("110114", "rad-martin", "10.1.20.11", type_code="110122").decode()
    for xml in (login, access):
        logger(
            "--rfc5424", "--octet-count", "-T", "--size", "65536",
            "-n", HOST, "-P", str(collector.tcp), "-t", "PACS", xml,
        )  # fmt: skip
    rows = wait_rows(collector, 2)
    assert rows == [
        ("pacs-tcp", "110114 User Authentication / Login", "rad-martin", "radiologist"),
        ("pacs-tcp", "110103 DICOM Instances Accessed", "rad-martin", "radiologist"),
    ]
    shown = subprocess.run(
        [*PACS_TUI, "history", "--messages", "--json", "--config", str(collector.config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    messages = json.loads(shown.stdout)["messages"]
    assert messages[1]["errors"] == "outcome 0 (success); 1 study"
    assert messages[1]["sending_facility"] == "10.1.20.11"
    assert messages[1]["patient"].startswith("#") and len(messages[1]["patient"]) == 17
    collector.stop()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("h.sqlite"))
    assert b"PAT-77" not in stored and b"ZEBEDEE" not in stored


def test_udp_from_outside_allow_is_dropped_and_counted(collector: Collector) -> None:
    xml = audit_xml("110114", "x", "10.9.9.9", type_code="110122", outcome=4).decode()
    logger("--rfc3164", "-d", "-n", HOST, "-P", str(collector.udp), "-t", "PACS", xml)
    # The receiver reports its counters every few seconds: the dropped one reaches the history.
    deadline = time.monotonic() + 20
    refused = 0.0
    while time.monotonic() < deadline and not refused:
        shown = subprocess.run(
            [*PACS_TUI, "status", "--json", "--config", str(collector.config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        target = next(t for t in json.loads(shown.stdout)["targets"] if t["id"] == "pacs-udp")
        refused = target["metrics"].get("audit_refused_total", 0.0)
        time.sleep(0.2)
    assert refused == 1
    assert not [r for r in collector.rows() if r[0] == "pacs-udp"]
    assert "not in allow: dropped" in collector.stop()


def test_audit_verify_reads_the_trail_beside_the_history_and_names_a_deleted_line(
    tmp_path: Path,
) -> None:
    running = Collector(tmp_path)  # its config names the history the trail sits beside
    running.stop()
    trail = tmp_path / "h.sqlite.operator-trail"
    from pacs_tui.operator_trail import OperatorTrail

    writer = OperatorTrail(trail)
    for n in range(3):
        writer.append(user="alice", uid=1001, role="admin", action="probe-now", target=f"t{n}")
    writer.close()
    verify = [*PACS_TUI, "audit", "verify", "--config", str(running.config)]
    intact = subprocess.run(verify, capture_output=True, text=True, timeout=60)
    assert intact.returncode == 0 and "3 lines, chain intact" in intact.stdout
    lines = trail.read_text().splitlines()
    trail.write_text("\n".join([lines[0], lines[2]]) + "\n")  # the second line deleted
    broken = subprocess.run(verify, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert "the chain is BROKEN" in broken.stdout
    assert "line 2 (#3, " in broken.stdout and "1 line deleted before it (#2)" in broken.stdout
