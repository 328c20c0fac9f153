"""A real Orthanc with its REST API on a free loopback port: after a few instances are stored
(POST /instances), an [[storage.archive]] reads its /statistics as the archive's counts; with
authentication on, the password from an environment variable, a wrong one said in words."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from pacs_tui.model import Status
from pacs_tui.probes.storage_source import ArchiveCheck, ArchiveConfig
from tests.peers import ORTHANC, free_port

from .conftest import require_peer

USER, PASSWORD = "pacs-tui", "s3cret-for-the-test"


@pytest.fixture
def orthanc_rest(tmp_path: Path) -> Iterator[str]:
    binary = require_peer(ORTHANC, "orthanc")
    http = free_port()
    config = {
        "Name": "pacs-tui-rest",
        "StorageDirectory": str(tmp_path / "storage"),
        "IndexDirectory": str(tmp_path / "storage"),
        "HttpServerEnabled": True,
        "HttpPort": http,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [],
    }
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("wb")
    process = subprocess.Popen([binary, str(tmp_path / "orthanc.json")], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 30
    while True:
        try:
            call(url, "/system")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise AssertionError((tmp_path / "orthanc.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def call(url: str, path: str, data: bytes | None = None) -> bytes:
    request = urllib.request.Request(url + path, data=data)
    password = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    password.add_password(None, url, USER, PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(password))
    with opener.open(request, timeout=5) as answer:
        return bytes(answer.read())


def instance(study: str, patient: str) -> bytes:
    ds = Dataset()
    ds.PatientName, ds.PatientID = "TEST^STATS", patient
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.SOPInstanceUID, ds.SOPClassUID = generate_uid(), SecondaryCaptureImageStorage
    ds.Modality = "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


async def test_an_archives_counts_come_from_its_statistics(
    orthanc_rest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    studies = [generate_uid(), generate_uid()]
    for n in range(3):  # two studies of one patient: 1 patient, 2 studies, 3 instances
        call(orthanc_rest, "/instances", instance(studies[n % 2], "STATS-1"))
    monkeypatch.setenv("ORTHANC_PASSWORD", PASSWORD)
    entry = ArchiveConfig("orthanc", orthanc_rest, USER, "ORTHANC_PASSWORD", timeout=5)
    result = await ArchiveCheck(entry).check()
    assert result.status is Status.OK, result.reason
    metrics = result.metrics
    assert (metrics["archive_patients"], metrics["archive_studies"]) == (1, 2)
    assert (metrics["archive_series"], metrics["archive_instances"]) == (3, 3)
    assert metrics["archive_disk_bytes"] > 0
    assert result.reason.startswith("2 studies, 3 series, 3 instances, ")
    assert "STATS" not in repr(result)

    monkeypatch.setenv("ORTHANC_PASSWORD", "wrong")
    result = await ArchiveCheck(entry).check()
    assert result.status is Status.DOWN
    assert result.reason == "HTTP 401 Unauthorized (username or password wrong?)"
    monkeypatch.delenv("ORTHANC_PASSWORD")
    result = await ArchiveCheck(entry).check()
    assert (result.status, result.reason) == (
        Status.UNKNOWN, "$ORTHANC_PASSWORD is not set (the password)",
    )  # fmt: skip
