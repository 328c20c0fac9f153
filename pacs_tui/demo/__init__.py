"""The embedded simulated hospital behind ``pacs-tui demo`` (needs no config and no peers).

``DemoDicomSite`` and ``DemoNode`` are imported lazily so other demo parts load without pynetdicom.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pacs_tui.demo.dicom_nodes import DemoDicomSite, DemoNode

__all__ = ["DemoDicomSite", "DemoNode"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("pacs_tui.demo.dicom_nodes"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
