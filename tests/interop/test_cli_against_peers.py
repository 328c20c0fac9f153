"""`pacs-tui status` end to end against real peers: config → engine → probe → JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..peers import HOST
from .conftest import Peer

pytestmark = pytest.mark.interop


def test_status_json_against_orthanc_and_dcmqrscp(
    tmp_path: Path, orthanc: Peer, dcmqrscp: Peer
) -> None:
    config = tmp_path / "site.toml"
    nodes = [
        ("archive", orthanc.aet, orthanc.port),
        ("qr", dcmqrscp.aet, dcmqrscp.port),
        ("wrong-aet", "NOT_ORTHANC", orthanc.port),
    ]
    text = '[site]\nname = "Interop"\n[dicom]\ntimeout = "3s"\nwarn_latency = "2s"\n'
    for node_id, aet, port in nodes:
        text += f'[[dicom.node]]\nid = "{node_id}"\naet = "{aet}"\nhost = "{HOST}"\nport = {port}\n'
    config.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "pacs_tui", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr  # one node DOWN
    by_id = {t["id"]: t for t in json.loads(out.stdout)["targets"]}
    assert by_id["archive"]["status"] == "OK"
    assert by_id["qr"]["status"] == "OK"
    assert 0 < by_id["archive"]["metrics"]["echo_seconds"] < 2
    assert by_id["wrong-aet"]["status"] == "DOWN"
    assert by_id["wrong-aet"]["reason"].startswith(
        "association rejected: called AE title not recognised"
    )


def diagnose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pacs_tui", "diagnose", "dicom", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


#: What each peer is known to take: storescp stores, dcmqrscp answers queries, Orthanc both.
TAKES = {
    "storescp": ({"CT Image Storage"}, {"Study Root query (C-FIND)"}),
    "dcmqrscp": ({"Study Root query (C-FIND)", "CT Image Storage"}, {"Modality Worklist (C-FIND)"}),
    "orthanc": (
        {"Study Root query (C-FIND)", "Study Root retrieve (C-MOVE)", "CT Image Storage"},
        {"Modality Performed Procedure Step"},
    ),
}


def test_diagnose_dicom_against_each_peer(peer: Peer) -> None:
    """Each step as it ran, the node's implementation, which SOP classes it takes, the verdict."""
    address = f"{HOST}:{peer.port}"
    shown = diagnose(address, "--called-aet", peer.aet)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    steps = [line.split()[1] for line in lines if line[:1] in "✔✖"]
    assert steps == ["resolve", "connect", "associate", "C-ECHO", "release"]
    assert "    the peer: OFFIS_DCMTK_" in shown.stdout  # all three are built on DCMTK
    assert lines[-1].startswith("verdict: ✔ OK — C-ECHO answered in ")
    document = json.loads(diagnose(address, "--called-aet", peer.aet, "--json").stdout)
    assert (document["verdict"], document["echo_status"]) == ("OK", 0)
    accepted = {c["name"] for c in document["contexts"] if c["accepted"]}
    refused = {c["name"] for c in document["contexts"] if not c["accepted"]}
    takes, refuses = TAKES[peer.name]
    assert "Verification (C-ECHO)" in accepted
    assert takes <= accepted and refuses <= refused, (accepted, refused)
    assert document["peer"]["implementation_version_name"].startswith("OFFIS_DCMTK_")


def test_diagnose_dicom_says_which_ae_title_a_node_refused(orthanc: Peer) -> None:
    refused = diagnose(f"{HOST}:{orthanc.port}")  # ANY-SCP: Orthanc checks the called AE title
    assert refused.returncode == 2
    assert refused.stdout.splitlines()[-1] == (
        "verdict: ▼ DOWN — association rejected: called AE title not recognised (permanent); "
        "'ANY-SCP' was asked for (--called-aet sets it)"
    )


def test_diagnose_dicom_find_counts_todays_studies_on_orthanc(tmp_path: Path) -> None:
    """A real archive holding two studies dated today and one of yesterday: --find counts the
    two; an archive that answers C-FIND only to callers it knows is CRIT, and says so."""
    import datetime as dt

    from tests.synthetic_studies import instances, store, studies

    from .conftest import orthanc_command, start_peer

    for folder in ("a", "s"):
        (tmp_path / folder).mkdir()
    today = dt.date.today()
    made = studies(3, 2, today, seed="diagnose-find")  # days: today, yesterday, today
    every = [ds for study in made for ds in instances(study)]
    archive = start_peer(
        "orthanc", "FINDME", tmp_path / "a", orthanc_command(tmp_path / "a", "FINDME")
    )
    strict = start_peer(
        "orthanc",
        "STRICT",
        tmp_path / "s",
        orthanc_command(tmp_path / "s", "STRICT", DicomAlwaysAllowFind=False),
    )
    try:
        assert store(HOST, archive.port, archive.aet, every) == len(every)
        found = diagnose(f"{HOST}:{archive.port}", "--called-aet", "FINDME", "--find", "--json")
        refused = diagnose(f"{HOST}:{strict.port}", "--called-aet", "STRICT", "--find")
    finally:
        archive.stop()
        strict.stop()
    document = json.loads(found.stdout)
    assert found.returncode == 0, found.stderr
    assert document["find"]["studies"] == 2
    assert document["reason"].startswith("C-ECHO answered in ")
    assert "; C-FIND: 2 studies dated today in " in document["reason"]
    assert "SYNTHETIC" not in found.stdout  # the patient is never asked for
    assert refused.returncode == 2  # CRIT
    last = refused.stdout.splitlines()[-1]
    assert last.startswith("verdict: ✖ CRIT — C-FIND failed: ")
    assert last.endswith("is 'PACSTUI' among the node's peers?")
