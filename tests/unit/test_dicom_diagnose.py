"""``diagnose dicom`` against in-process pynetdicom nodes on loopback: each step said as it ends,
which SOP classes the node accepts, and the verdict a node's C-ECHO check would give."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from pacs_tui.diagnosis import Step
from pacs_tui.model import Status
from pacs_tui.probes.dicom import VERIFICATION_SOP_CLASS
from pacs_tui.probes.dicom_diagnose import FIND_LIMIT, PROPOSED, diagnose_node

from .test_dicom_probe import HOST, SCP_AET, free_port, serve

CT = str(CTImageStorage)
MR = "1.2.840.10008.5.1.4.1.1.4"


def names(steps: list[Step]) -> list[tuple[str, bool]]:
    return [(step.name, step.ok) for step in steps]


async def test_a_node_that_answers_is_ok_and_says_what_it_accepts() -> None:
    heard: list[Step] = []
    with serve() as port:
        ae_ct = AE()  # only to build the CT context the node also takes
        ae_ct.add_supported_context(CTImageStorage)
        with serve(supported_contexts=ae_ct.supported_contexts) as ct_port:
            found = await diagnose_node(HOST, ct_port, SCP_AET, "PACSTUI", 3.0, heard.append)
        plain = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0)
    assert found.verdict is Status.OK
    assert found.reason.startswith("C-ECHO answered in ") and found.reason.endswith(" ms")
    expected = [("resolve", True), ("connect", True), ("associate", True)]
    assert names(heard) == [*expected, ("C-ECHO", True), ("release", True)]
    assert heard == found.steps  # said as they ended, in order
    document = found.document()
    by_uid = {c["sop_class"]: c for c in document["contexts"]}
    assert [c["sop_class"] for c in document["contexts"]] == [uid for uid, _ in PROPOSED]
    assert {uid for uid, c in by_uid.items() if c["accepted"]} == {VERIFICATION_SOP_CLASS, CT}
    assert by_uid[MR] == {
        "sop_class": MR,
        "name": "MR Image Storage",
        "accepted": False,
        "transfer_syntax": None,
        "refusal": "SOP class not supported",
    }
    assert by_uid[CT]["transfer_syntax"] == "1.2.840.10008.1.2"  # pynetdicom's first choice
    assert document["echo_status"] == 0
    assert document["peer"]["max_pdu"] == 16382  # pynetdicom's default
    assert document["peer"]["implementation_class_uid"]
    associate = found.steps[2]
    assert associate.detail == (
        f"accepted when called '{SCP_AET}', 2 of the {len(PROPOSED)} SOP classes asked for"
    )
    assert associate.lines[0].startswith("the peer: PYNETDICOM_")
    assert any(
        line.startswith("✔ CT Image Storage ") and "Implicit VR Little Endian" in line
        for line in associate.lines
    )
    assert any(
        line.startswith("✖ MR Image Storage ") and line.endswith("SOP class not supported")
        for line in associate.lines
    )
    assert plain.verdict is Status.OK
    assert [c["name"] for c in plain.document()["contexts"] if c["accepted"]] == [
        "Verification (C-ECHO)"
    ]


async def test_a_wrong_called_ae_title_is_down_and_says_the_option() -> None:
    with serve() as port:
        found = await diagnose_node(HOST, port, "ANY-SCP", "PACSTUI", 3.0)
    assert found.verdict is Status.DOWN
    assert found.reason == (
        "association rejected: called AE title not recognised (permanent); "
        "'ANY-SCP' was asked for (--called-aet sets it)"
    )
    assert names(found.steps) == [("resolve", True), ("connect", True), ("associate", False)]
    document = found.document()
    assert document["peer"] is None and document["contexts"] == []
    assert document["echo_status"] is None


async def test_a_node_that_refuses_the_caller_says_calling_aet() -> None:
    with serve(require_calling_aet=["MODALITY1"]) as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0)
    assert found.verdict is Status.DOWN
    assert found.reason.endswith("; the call came from 'PACSTUI' (--calling-aet sets it)")
    assert "calling AE title not recognised" in found.reason


async def test_a_node_without_verification_is_down_though_it_associates() -> None:
    node = AE(ae_title=SCP_AET)  # a storage-only node: no Verification
    node.add_supported_context(CTImageStorage)
    server = node.start_server((HOST, 0), block=False)
    assert server is not None
    try:
        found = await diagnose_node(HOST, server.server_address[1], SCP_AET, "PACSTUI", 3.0)
    finally:
        server.shutdown()
    assert found.verdict is Status.DOWN
    assert found.reason == (
        "the peer accepted the association but not the Verification SOP Class: "
        "it does not answer C-ECHO"
    )
    assert names(found.steps) == [
        ("resolve", True),
        ("connect", True),
        ("associate", True),
        ("C-ECHO", False),
    ]
    accepted = [c["name"] for c in found.document()["contexts"] if c["accepted"]]
    assert accepted == ["CT Image Storage"]


async def test_a_failure_status_is_down_with_its_words() -> None:
    def refuse(event: Any) -> int:
        return 0x0122

    with serve(handlers=[(evt.EVT_C_ECHO, refuse)]) as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0)
    assert found.verdict is Status.DOWN
    assert found.reason == "C-ECHO failed with status 0x0122"
    assert found.steps[3] == Step(
        "C-ECHO", False, found.steps[3].seconds, "status 0x0122 (SOP class not supported)"
    )
    assert found.document()["echo_status"] == 0x0122


async def test_a_closed_port_stops_at_connect() -> None:
    port = free_port()
    found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0)
    assert found.verdict is Status.DOWN
    assert found.reason == (
        f"connection refused by {HOST}:{port}; nothing listens there: is the DICOM service "
        "running, on this port?"
    )
    assert names(found.steps) == [("resolve", True), ("connect", False)]


async def test_an_unknown_host_stops_at_resolve() -> None:
    found = await diagnose_node("no-such-host.invalid", 104, SCP_AET, "PACSTUI", 3.0)
    assert found.verdict is Status.DOWN
    assert found.reason == "host not found: no-such-host.invalid"
    assert names(found.steps) == [("resolve", False)]


CLI = (sys.executable, "-m", "pacs_tui", "diagnose")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``pacs-tui diagnose ARGS`` where no config is found unless ``--config`` names one."""
    env = {k: v for k, v in os.environ.items() if k != "PACS_TUI_CONFIG"}
    home = cwd or Path("/nonexistent")
    env |= {"XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home)}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd or "/"
    )


def test_a_configured_node_is_tested_by_its_id_with_its_settings(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    with serve() as port:
        config.write_text(
            '[site]\nname = "T"\n'
            f'[[dicom.node]]\nid = "archive"\naet = "{SCP_AET}"\nhost = "{HOST}"\nport = {port}\n'
            'calling_aet = "NOC1"\ntimeout = "2s"\n'
            f'[[dicom.node]]\nid = "ct-1"\naet = "CT1"\nhost = "{HOST}"\nport = {port}\n'
            f'[[hl7.link]]\nid = "ris"\nhost = "{HOST}"\nport = {port}\n'
            '[[hl7.listener]]\nid = "adt-copy"\nbind = "127.0.0.1:2575"\n'
        )
        shown = run_cli("dicom", "archive", "--config", str(config))
        as_json = run_cli("dicom", "archive", "--config", str(config), "--json")
        overridden = run_cli("dicom", "archive", "--config", str(config), "--called-aet", "X")
        wrong_in_config = run_cli("dicom", "ct-1", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    first, *_, last = shown.stdout.splitlines()
    assert first == (
        f"dicom.node archive at {HOST}:{port}, called '{SCP_AET}', calling 'NOC1' (from {config})"
    )
    assert last.startswith("verdict: ✔ OK — C-ECHO answered in ")
    document = json.loads(as_json.stdout)
    assert (document["called_aet"], document["calling_aet"]) == (SCP_AET, "NOC1")
    assert document["target"] == f"{HOST}:{port}" and document["verdict"] == "OK"
    assert document["entry"] == "dicom.node archive"
    # The option wins, and the first line says so; TESTSCP refuses X.
    assert overridden.returncode == 2
    assert overridden.stdout.splitlines()[0] == (
        f"dicom.node archive at {HOST}:{port}, called 'X', calling 'NOC1' "
        f"(from {config}; --called-aet given)"
    )
    assert "'X' was asked for (--called-aet sets it)" in overridden.stdout
    # The config's AE title was refused: the config is where to look.
    assert wrong_in_config.stdout.splitlines()[-1].endswith(
        "'CT1' was asked for (the node's aet in the config; --called-aet tries another)"
    )

    typo = run_cli("dicom", "archiv", "--config", str(config))
    assert typo.returncode == 3
    assert typo.stderr.strip() == (
        "pacs-tui diagnose: 'archiv' is neither HOST:PORT nor a [[dicom.node]] id in the "
        "config; did you mean 'archive'?"
    )
    other_kind = run_cli("hl7", "archive", "--config", str(config))
    assert other_kind.returncode == 3
    assert other_kind.stderr.strip() == (
        "pacs-tui diagnose: 'archive' is a [[dicom.node]]: pacs-tui diagnose dicom archive"
    )
    link = run_cli("dicom", "ris", "--config", str(config))
    assert link.stderr.strip().endswith("'ris' is an [[hl7.link]]: pacs-tui diagnose hl7 ris")
    listener = run_cli("hl7", "adt-copy", "--config", str(config))
    assert listener.stderr.strip().endswith(
        "'adt-copy' is an [[hl7.listener]], pacs-tui's own receiver on 127.0.0.1:2575: "
        "pacs-tui diagnose hl7 127.0.0.1:2575 tests it"
    )
    no_config = run_cli("dicom", "archive", cwd=tmp_path)
    assert no_config.returncode == 3
    assert "; or a configured id, but no config was found (looked in " in no_config.stderr
    missing = run_cli("dicom", "archive", "--config", str(tmp_path / "none.toml"))
    assert missing.stderr.strip().endswith(
        f"; or a configured id, but the config file {tmp_path / 'none.toml'} (from --config) "
        "does not exist"
    )
    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text() + "[dicom]\ntimeout = 'soon'\n")
    refused = run_cli("dicom", "archive", "--config", str(broken), "--json")
    assert refused.returncode == 3
    assert "dicom.timeout = 'soon'" in refused.stderr  # the config's problem, said first
    assert json.loads(refused.stdout)["reason"] == (
        "'archive' is not HOST:PORT, and the config has the problems above: fix them first, "
        "or test by address ('pacs-tui diagnose dicom HOST:PORT', with its options)"
    )


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("[::1]", "no port; expected [ADDRESS]:PORT, like [fd00::5]:104"),
        ("fd00::5", "an IPv6 address goes in brackets before its port, like [fd00::5]:104"),
        ("pacs:\uff10\uff14", "the port '\uff10\uff14' is not a number from 1 to 65535"),
        ("pacs:99999", "the port '99999' is not a number from 1 to 65535"),
        (":104", "no host before the port"),
        ("pàcs.example:104", "the host name is not ASCII (write an IDN in its xn-- form)"),
        ("a" * 70 + ".org:104", "a part of the host name is over 63 characters"),
        ("256.1.1.1:104", "'256.1.1.1' is not an IPv4 address (four numbers from 0 to 255"),
        ("10.0.5:104", "'10.0.5' is not an IPv4 address (four numbers from 0 to 255"),
        ("pacs", "expected HOST:PORT, like ris.example.org:2575 or pacs.example.org:104"),
    ],
)
def test_an_address_that_is_not_one_says_why(address: str, words: str) -> None:
    done = run_cli("dicom", address, "--json")
    assert done.returncode == 3
    assert words in done.stderr
    document = json.loads(done.stdout)
    assert document["verdict"] == "UNKNOWN" and document["steps"] == []
    assert set(document) >= {"called_aet", "calling_aet", "peer", "contexts", "echo_status"}


def test_an_underscore_host_name_is_tried() -> None:
    """Windows and Active Directory sites name hosts pacs_srv1: looked up, not refused."""
    done = run_cli("dicom", "no_such_host.invalid:104", "--timeout", "2s")
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[0].startswith("✖ resolve ")


def test_ctrl_c_stops_a_test_at_once_and_says_so() -> None:
    """A node that takes the connection and never answers: Ctrl-C during the association
    ends the run then (exit 130, as a shell says SIGINT), not after the timeout of 60 s."""
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(4)
        process = subprocess.Popen(
            [*CLI, "dicom", f"{HOST}:{silent.getsockname()[1]}", "--timeout", "60s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[1].startswith("✔ connect ")  # the association is under way now
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)  # well before the 60 s
    assert process.returncode == 130, err
    assert rest.splitlines()[-1] == "interrupted (Ctrl-C)"
    assert err == ""


def test_a_terminal_that_cannot_take_utf8_gets_question_marks_not_a_traceback() -> None:
    """``LANG=C`` on an old server, or ``PYTHONIOENCODING=ascii``: ✔ and ▼ cannot be written."""
    port = free_port()
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        [*CLI, "dicom", f"{HOST}:{port}"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[0].startswith("? resolve ")
    assert done.stdout.splitlines()[-1].startswith("verdict: ? DOWN ? connection refused by ")


def find_node(answers: int, final: int = 0x0000) -> Any:
    """A pynetdicom node taking Verification and Study Root C-FIND that answers ``answers``
    studies dated as asked, then ``final``; it notes each query's keys."""
    from pydicom.dataset import Dataset
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind,
    )

    asked: list[Dataset] = []

    def on_find(event: Any) -> Any:
        asked.append(event.identifier)
        for n in range(answers):
            found = Dataset()
            found.QueryRetrieveLevel = "STUDY"
            found.StudyInstanceUID = f"1.2.3.{n}"
            found.PatientName = "NOT^ASKED^FOR"  # sent anyway: never read
            yield 0xFF00, found
        yield final, None

    finder = AE()
    finder.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    server = serve(
        supported_contexts=finder.supported_contexts, handlers=[(evt.EVT_C_FIND, on_find)]
    )
    return server, asked


async def test_find_counts_the_studies_dated_today_without_patient_data() -> None:
    server, asked = find_node(3)
    with server as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0, find=True)
    assert found.verdict is Status.OK, found.reason
    step = found.steps[-1]
    assert (step.name, step.ok) == ("C-FIND", True)
    assert step.detail.startswith("3 studies dated today in ")
    assert found.reason.startswith("C-ECHO answered in ")
    assert "; C-FIND: 3 studies dated today in " in found.reason
    assert found.document()["find"]["studies"] == 3
    assert found.document()["find"]["cut_short"] is False
    (query,) = asked
    assert query.StudyDate == time.strftime("%Y%m%d")
    assert "PatientName" not in query and "PatientID" not in query
    assert "NOT^ASKED^FOR" not in repr(found.document())


async def test_find_reads_no_more_than_its_limit() -> None:
    server, _ = find_node(FIND_LIMIT + 5)
    with server as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 5.0, find=True)
    assert found.verdict is Status.OK, found.reason
    assert found.steps[-1].detail.startswith("over 1,000 studies dated today (the rest not read)")
    assert found.document()["find"]["cut_short"] is True


async def test_a_failed_query_is_crit_with_what_to_look_at() -> None:
    server, _ = find_node(0, final=0xC000)
    with server as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0, find=True)
    assert found.verdict is Status.CRIT
    assert found.reason == (
        "C-FIND failed: C-FIND failed with status 0xC000; many archives answer queries only "
        "from callers they know: is 'PACSTUI' among the node's peers?"
    )
    assert found.document()["find"] is None


async def test_find_is_not_tried_on_a_node_that_takes_no_queries() -> None:
    with serve() as port:
        found = await diagnose_node(HOST, port, SCP_AET, "PACSTUI", 3.0, find=True)
    assert found.verdict is Status.OK
    assert found.steps[-1] == Step(
        "C-FIND", False, 0.0, "not tried: the node takes no Study Root queries"
    )
    assert found.reason.endswith("; C-FIND: not tried: the node takes no Study Root queries")


def test_find_is_for_dicom_only() -> None:
    done = run_cli("hl7", "127.0.0.1:2575", "--find")
    assert done.returncode == 3
    assert "--find is for dicom" in done.stderr
