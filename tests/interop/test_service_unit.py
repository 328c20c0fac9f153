"""The example systemd unit: ``systemd-analyze verify`` finds nothing to say about it, and its
offline security review rates it well exposed to no more than it needs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import require_peer

UNIT = Path(__file__).resolve().parents[2] / "examples" / "pacs-tui.service"


def test_the_service_unit_verifies_and_is_locked_down(tmp_path: Path) -> None:
    analyze = require_peer("/usr/bin/systemd-analyze", "systemd")
    # As installed: ExecStart pointing at a real pacs-tui (verify checks it is executable).
    pacs = Path(sys.executable).with_name("pacs-tui")
    text = UNIT.read_text().replace("/opt/pacs-tui/bin/pacs-tui", str(pacs))
    unit = tmp_path / "pacs-tui.service"
    unit.write_text(text)
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and verified.stdout + verified.stderr == "", verified.stderr
    for key in (
        "StateDirectory=pacs-tui",
        "RuntimeDirectory=pacs-tui",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
    ):
        assert key in text
    review = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for pacs-tui.service: ([0-9.]+)", review.stdout)
    assert found, review.stdout + review.stderr
    assert float(found.group(1)) <= 2.0, review.stdout
