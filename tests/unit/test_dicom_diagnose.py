"""``diagnose dicom`` against in-process pynetdicom nodes on loopback: each step said as it ends,
which SOP classes the node accepts, and the verdict a node's C-ECHO check would give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from pacs_tui.diagnosis import Step
from pacs_tui.model import Status
from pacs_tui.probes.dicom import VERIFICATION_SOP_CLASS
from pacs_tui.probes.dicom_diagnose import PROPOSED, diagnose_node

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


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pacs_tui", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PACS_TUI_CONFIG": "/nonexistent/pacs-tui.toml"},
    )


def test_a_configured_node_is_tested_by_its_id_with_its_settings(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    with serve() as port:
        config.write_text(
            '[site]\nname = "T"\n'
            f'[[dicom.node]]\nid = "archive"\naet = "{SCP_AET}"\nhost = "{HOST}"\nport = {port}\n'
            'calling_aet = "NOC1"\ntimeout = "2s"\n'
            f'[[dicom.node]]\nid = "ct-1"\naet = "CT1"\nhost = "{HOST}"\nport = {port}\n'
        )
        shown = run_cli("dicom", "archive", "--config", str(config))
        as_json = run_cli("dicom", "archive", "--config", str(config), "--json")
        overridden = run_cli("dicom", "archive", "--config", str(config), "--called-aet", "X")
    assert shown.returncode == 0, shown.stderr
    first, *_, last = shown.stdout.splitlines()
    assert first == f"dicom.node archive: {SCP_AET} at {HOST}:{port} (from {config})"
    assert last.startswith("verdict: ✔ OK — C-ECHO answered in ")
    document = json.loads(as_json.stdout)
    assert (document["called_aet"], document["calling_aet"]) == (SCP_AET, "NOC1")
    assert document["target"] == f"{HOST}:{port}" and document["verdict"] == "OK"
    assert overridden.returncode == 2  # the option wins: TESTSCP refuses X
    assert "'X' was asked for (--called-aet sets it)" in overridden.stdout

    typo = run_cli("dicom", "archiv", "--config", str(config))
    assert typo.returncode == 3
    assert typo.stderr.strip() == (
        "pacs-tui diagnose: 'archiv' is neither HOST:PORT nor a [[dicom.node]] id in the "
        "config; did you mean 'archive'?"
    )
    other_kind = run_cli("hl7", "archive", "--config", str(config))
    assert other_kind.returncode == 3
    assert "'archive' is not HOST:PORT, and the config has no [[hl7.link]]" in other_kind.stderr
    no_config = run_cli("dicom", "archive")
    assert no_config.returncode == 3
    assert "; or a configured id (no config found)" in no_config.stderr
