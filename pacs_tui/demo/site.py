"""Turn the simulated hospital's running nodes into a Config the engine can watch, with two
command checks beside them (plugins played by this Python, so the demo needs nothing else)."""

from __future__ import annotations

import sys
from pathlib import Path

from pacs_tui.config import Config, HistoryConfig, SiteConfig
from pacs_tui.demo.dicom_nodes import DemoDicomSite, DemoNode
from pacs_tui.probes.command_source import CommandConfig
from pacs_tui.probes.dicom_source import DicomConfig, DicomNodeConfig

DEMO_INTERVAL = 5.0
DEMO_TIMEOUT = 2.0
DEMO_WARN_LATENCY = 0.5

#: Command checks of the demo: id, description, the plugin's Python code. The archive disk's
#: use creeps up with the clock (WARN over 85 %), the RIS database answers in a few ms.
DEMO_COMMANDS = (
    (
        "archive-disk",
        "Archive volume (simulated check_disk)",
        "import time; u = 80 + (time.time() / 60) % 10; s = 1 if u > 85 else 0\n"
        "print(('DISK WARNING' if s else 'DISK OK') + f' - /srv/pacs {u:.1f}% used'"
        " + f' | /srv/pacs={u:.1f}%;85;95;0;100'); raise SystemExit(s)",
    ),
    (
        "ris-db",
        "RIS database (simulated check_pgsql)",
        "print('OK - database ris (0.004 sec.) | time=0.004s;1;5;0')",
    ),
)


def demo_config(
    nodes: list[DemoNode], history_path: Path, *, site_name: str = "Demo Hospital"
) -> Config:
    """A config probing every demo node every few seconds, with history in ``history_path``."""
    dicom_nodes = tuple(
        DicomNodeConfig(
            id=n.id,
            aet=n.aet,
            host=n.host,
            port=n.port,
            role=n.role,
            site=n.site,
            description=n.description,
            interval=DEMO_INTERVAL,
            timeout=DEMO_TIMEOUT,
            warn_latency=DEMO_WARN_LATENCY,
            calling_aet="PACSTUI",
        )
        for n in nodes
    )
    return Config(
        site=SiteConfig(name=site_name),
        history=HistoryConfig(path=history_path),
        sections={
            "command": tuple(
                CommandConfig(
                    check_id,
                    (sys.executable, "-c", code),
                    interval=DEMO_INTERVAL,
                    timeout=DEMO_TIMEOUT,
                    site=site_name,
                    description=description,
                )
                for check_id, description, code in DEMO_COMMANDS
            ),
            "dicom": DicomConfig(
                calling_aet="PACSTUI",
                interval=DEMO_INTERVAL,
                timeout=DEMO_TIMEOUT,
                warn_latency=DEMO_WARN_LATENCY,
                nodes=dicom_nodes,
            ),
        },
    )


__all__ = ["DemoDicomSite", "DemoNode", "demo_config"]
