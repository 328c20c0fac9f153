"""Write a commented starter config with tomlkit, so comments survive later edits by the program."""

from __future__ import annotations

import os
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Table


def starter_document(site_name: str = "My Hospital") -> tomlkit.TOMLDocument:
    """A valid config with one example DICOM node and every key explained."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("pacs-tui configuration. Check it with: pacs-tui config check"))
    doc.add(tomlkit.comment("Durations: 500ms, 30s, 5m, 1h, 2d. Unknown keys are errors."))
    doc.add(tomlkit.nl())

    site = tomlkit.table()
    site.add("name", site_name)
    site["name"].comment("shown in the header and in status --json")
    site.add("timezone", "UTC")
    site["timezone"].comment("IANA zone used to show times")
    doc.add("site", site)

    history = tomlkit.table()
    history.add(
        tomlkit.comment('path = "/var/lib/pacs-tui/history.sqlite"  # default: XDG state dir')
    )
    history.add("raw_retention", "48h")
    history.add("minute_retention", "30d")
    history.add("hour_retention", "2y")
    history.add("event_retention", "90d")
    doc.add("history", history)

    dicom = tomlkit.table()
    dicom.add("calling_aet", "PACSTUI")
    dicom["calling_aet"].comment("our AE title; add it to the nodes' allowed callers")
    dicom.add("interval", "30s")
    dicom["interval"].comment("default time between C-ECHOs of a node")
    dicom.add("timeout", "5s")
    dicom["timeout"].comment("default limit for connect + associate + echo + release")
    dicom.add("warn_latency", "500ms")
    dicom["warn_latency"].comment("echo slower than this is WARN")
    dicom.add("max_workers", 8)
    dicom["max_workers"].comment("parallel DICOM associations")

    node = tomlkit.table()
    node.add("id", "archive-main")
    node["id"].comment("stable id used in history, alerts and metrics")
    node.add("aet", "ARCHIVE")
    node["aet"].comment("the node's (called) AE title")
    node.add("host", "127.0.0.1")
    node.add("port", 104)
    node.add("role", "archive")
    node["role"].comment("archive | modality | viewer | ris | his | mirror | other")
    node.add("description", "Main archive")
    node.add(tomlkit.comment("Optional, per node (defaults from [dicom] and [site]):"))
    for line in ('site = "main"', 'interval = "30s"', 'timeout = "5s"', 'warn_latency = "1s"'):
        node.add(tomlkit.comment(line))
    nodes = AoT([node])
    dicom_table: Table = dicom
    dicom_table.append("node", nodes)
    doc.add("dicom", dicom)
    return doc


def write_starter(path: Path, *, force: bool = False) -> Path:
    """Write the starter config to ``path`` (0600, parents 0700); refuse to overwrite."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = tomlkit.dumps(starter_document())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
