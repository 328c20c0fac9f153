"""Probe registry: each source contributes a function that builds its checks from the config.

Adding a source is one module in this package and one line in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pacs_tui.config import Config
from pacs_tui.model import Target, TargetKind
from pacs_tui.probes.base import Check

CheckFactory = Callable[[Config, ThreadPoolExecutor], list[Check]]


def dicom_checks(config: Config, executor: ThreadPoolExecutor) -> list[Check]:
    from pacs_tui.probes.dicom import DicomEchoCheck

    checks: list[Check] = []
    for node in config.dicom.nodes:
        target = Target(
            node.id,
            TargetKind.DICOM_NODE,
            {
                "aet": node.aet,
                "host": node.host,
                "port": str(node.port),
                "role": node.role,
                "site": node.site,
                "description": node.description,
            },
        )
        checks.append(
            DicomEchoCheck(
                target,
                host=node.host,
                port=node.port,
                called_aet=node.aet,
                calling_aet=node.calling_aet,
                interval=node.interval,
                timeout=node.timeout,
                warn_latency=node.warn_latency,
                executor=executor,
            )
        )
    return checks


SOURCES: list[CheckFactory] = [dicom_checks]


def build_checks(config: Config, executor: ThreadPoolExecutor) -> list[Check]:
    """Every configured check, in config order."""
    return [check for factory in SOURCES for check in factory(config, executor)]
