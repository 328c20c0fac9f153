"""Command lines for the real DICOM peers (Orthanc, DCMTK storescp and dcmqrscp) on a free
loopback port, shared by the interop tests and the benchmarks. No pytest here."""

from __future__ import annotations

import json
import socket
from pathlib import Path

HOST = "127.0.0.1"
ORTHANC = "/usr/sbin/Orthanc"
STORESCP = "/usr/bin/storescp"
DCMQRSCP = "/usr/bin/dcmqrscp"


def free_port() -> int:
    """A loopback port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def orthanc_args(binary: str, workdir: Path, aet: str, port: int, **settings: object) -> list[str]:
    """Orthanc with a throwaway config and storage in ``workdir`` (it listens on all
    interfaces: connect to 127.0.0.1 only). Unknown callers may ECHO, FIND, STORE and GET.
    ``settings`` adds to (or replaces) its configuration: ``LimitFindResults=5``."""
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "pacs-tui-peer",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpServerEnabled": False,
        "DicomPort": port,
        "DicomAet": aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowGet": True,
        "DicomModalities": {},
        "SaveJobs": False,
        "Plugins": [],
        **settings,
    }
    path = workdir / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    return [binary, str(path)]


def storescp_args(binary: str, workdir: Path, aet: str, port: int, *options: str) -> list[str]:
    out = workdir / "incoming"
    out.mkdir(parents=True, exist_ok=True)
    return [binary, "-aet", aet, *options, "--output-directory", str(out), str(port)]


def dcmqrscp_args(
    binary: str,
    workdir: Path,
    aet: str,
    port: int,
    max_associations: int = 16,
    hosts: dict[str, tuple[str, str, int]] | None = None,
) -> list[str]:
    """dcmqrscp with one read-write AE; it forks a child per association. ``hosts`` are its
    HostTable: C-MOVE destinations by symbolic name, ``{"pacstui": ("PACSTUI", HOST, port)}``."""
    table = "".join(
        f"{name} = ({dest_aet}, {host}, {dest_port})\n"
        for name, (dest_aet, host, dest_port) in (hosts or {}).items()
    )
    db = workdir / "db"
    db.mkdir(parents=True, exist_ok=True)
    config = workdir / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort  = {port}\n"
        "MaxPDUSize      = 16384\n"
        f"MaxAssociations = {max_associations}\n"
        "\n"
        "HostTable BEGIN\n"
        f"{table}"
        "HostTable END\n"
        "\n"
        "VendorTable BEGIN\n"
        "VendorTable END\n"
        "\n"
        "AETable BEGIN\n"
        f"{aet}  {db}  RW (200, 1024mb) ANY\n"
        "AETable END\n"
    )
    return [binary, "-c", str(config), str(port)]
