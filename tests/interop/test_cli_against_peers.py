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
