"""The engine side never imports Textual (ARCHITECTURE rule 1).

The engine side is every module of the package except the UI's, found by walking the package:
a new engine-side module is checked without anyone adding it to a list.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pacs_tui

# The UI side: these modules (and packages) are Textual's to import.
UI_SIDE = (
    "pacs_tui.app",
    "pacs_tui.screens",
    "pacs_tui.widgets",
    "pacs_tui.messages",
    "pacs_tui.commands",
)
# Runs the program when imported.
NOT_IMPORTABLE = ("pacs_tui.__main__",)


def engine_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(pacs_tui.__path__, "pacs_tui.")]
    return sorted(
        name
        for name in names
        if not any(name == ui or name.startswith(ui + ".") for ui in UI_SIDE + NOT_IMPORTABLE)
    )


def test_the_engine_side_is_found_by_walking_the_package() -> None:
    modules = engine_modules()
    for expected in ("pacs_tui.engine", "pacs_tui.probes.dicom_conduct", "pacs_tui.cli"):
        assert expected in modules
    assert not any(m.startswith("pacs_tui.screens") for m in modules)


def test_engine_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {engine_modules()!r}:\n"
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
