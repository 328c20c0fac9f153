"""The engine side never imports Textual (ARCHITECTURE rule 1)."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "pacs_tui.engine",
    "pacs_tui.scheduler",
    "pacs_tui.probes",
    "pacs_tui.probes.dicom",
    "pacs_tui.store",
    "pacs_tui.config",
    "pacs_tui.config_init",
    "pacs_tui.model",
    "pacs_tui.report",
    "pacs_tui.demo.dicom_nodes",
    "pacs_tui.demo.site",
]


def test_engine_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"textual imported by the engine side: {out.stdout}"


def test_the_check_above_can_fail() -> None:
    code = "import pacs_tui.app, sys; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"
