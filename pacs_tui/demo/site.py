"""Turn the simulated hospital's running nodes into a Config the engine can watch."""

from __future__ import annotations

from pathlib import Path

from pacs_tui.config import Config, HistoryConfig, SiteConfig
from pacs_tui.demo.dicom_nodes import DemoDicomSite, DemoNode
from pacs_tui.probes.dicom_source import DicomConfig, DicomNodeConfig

DEMO_INTERVAL = 5.0
DEMO_TIMEOUT = 2.0
DEMO_WARN_LATENCY = 0.5


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
            "dicom": DicomConfig(
                calling_aet="PACSTUI",
                interval=DEMO_INTERVAL,
                timeout=DEMO_TIMEOUT,
                warn_latency=DEMO_WARN_LATENCY,
                nodes=dicom_nodes,
            )
        },
    )


__all__ = ["DemoDicomSite", "DemoNode", "demo_config"]
