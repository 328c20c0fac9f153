"""The demo hospital's DICOM nodes are real SCPs: echo, find, move, store, flap, slow, stop."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from pacs_tui.demo import DemoDicomSite, DemoNode

SLOW_DELAY = 0.5
EXPECTED = {
    "archive-main": ("ARCHIVE", "archive"),
    "archive-mirror": ("MIRROR", "mirror"),
    "ct-1": ("CT01", "modality"),
    "mr-1": ("MR01", "modality"),
    "viewer-1": ("VIEWER01", "viewer"),
    "flaky-us": ("US01", "modality"),
    "slow-viewer": ("VIEWER02", "viewer"),
}


@pytest.fixture
def site() -> Iterator[DemoDicomSite]:
    demo = DemoDicomSite(flap_up=600.0, flap_down=600.0, slow_delay=SLOW_DELAY, site="test-site")
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()


def _client() -> AE:
    ae = AE(ae_title="PACSTUI-TEST")
    ae.acse_timeout = 5
    ae.dimse_timeout = 5
    ae.network_timeout = 5
    ae.connection_timeout = 2
    for uid in (
        Verification,
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelMove,
        SecondaryCaptureImageStorage,
    ):
        ae.add_requested_context(uid)
    return ae


def _associate(node: DemoNode, aet: str | None = None) -> Association:
    assert node.host == "127.0.0.1"
    return _client().associate(node.host, node.port, ae_title=aet or node.aet)


def _echo(node: DemoNode) -> int | None:
    """The C-ECHO status, or None when no association could be made."""
    assoc = _associate(node)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def _refused(node: DemoNode) -> bool:
    try:
        with socket.create_connection((node.host, node.port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def _down(node: DemoNode) -> bool:
    """Refused, or reset when the listener closed while our connection sat in its backlog."""
    try:
        return _refused(node)
    except ConnectionResetError:
        return True


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _node(site: DemoDicomSite, node_id: str) -> DemoNode:
    return next(n for n in site.nodes if n.id == node_id)


def test_nodes_are_the_demo_hospital(site: DemoDicomSite) -> None:
    nodes = site.nodes
    assert {n.id: (n.aet, n.role) for n in nodes} == EXPECTED
    assert all(n.host == "127.0.0.1" and n.site == "test-site" and n.description for n in nodes)
    ports = [n.port for n in nodes]
    assert all(p > 0 for p in ports)
    assert len(set(ports)) == len(ports)


def test_every_node_answers_echo(site: DemoDicomSite) -> None:
    for node in site.nodes:
        assert _echo(node) == 0x0000, node.id


def test_slow_viewer_echo_takes_at_least_the_delay(site: DemoDicomSite) -> None:
    slow = _node(site, "slow-viewer")
    assoc = _associate(slow)
    assert assoc.is_established
    try:
        started = time.monotonic()
        status = assoc.send_c_echo()
        elapsed = time.monotonic() - started
    finally:
        assoc.release()
    assert status.Status == 0x0000
    assert elapsed >= SLOW_DELAY


def test_wrong_called_aet_is_rejected(site: DemoDicomSite) -> None:
    for node in (_node(site, "archive-main"), _node(site, "ct-1")):
        assoc = _associate(node, aet="NOT-" + node.aet)
        assert not assoc.is_established
        assert assoc.is_rejected


def test_archive_answers_study_root_find_with_synthetic_studies(site: DemoDicomSite) -> None:
    for archive_id in ("archive-main", "archive-mirror"):
        archive = _node(site, archive_id)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.PatientName = ""
        query.PatientID = ""
        query.StudyInstanceUID = ""
        query.StudyDate = ""
        query.ModalitiesInStudy = ""
        assoc = _associate(archive)
        assert assoc.is_established
        try:
            responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
        finally:
            assoc.release()
        matches = [ds for status, ds in responses if status.Status == 0xFF00 and ds is not None]
        assert responses[-1][0].Status == 0x0000
        assert len(matches) >= 1
        for ds in matches:
            assert str(ds.PatientName).startswith("DEMO^PATIENT^")
            assert ds.StudyInstanceUID
            assert ds.RetrieveAETitle == archive.aet


def test_find_filters_by_modality_and_wildcard(site: DemoDicomSite) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "demo^patient^00*"
    query.ModalitiesInStudy = "MR"
    query.StudyInstanceUID = ""
    assoc = _associate(_node(site, "archive-main"))
    assert assoc.is_established
    try:
        responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    matches = [ds for status, ds in responses if status.Status == 0xFF00 and ds is not None]
    assert matches
    assert all(ds.ModalitiesInStudy == "MR" for ds in matches)


def test_archive_move_succeeds_with_no_suboperations(site: DemoDicomSite) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = generate_uid()
    assoc = _associate(_node(site, "archive-main"))
    assert assoc.is_established
    try:
        responses = list(
            assoc.send_c_move(query, "VIEWER01", StudyRootQueryRetrieveInformationModelMove)
        )
    finally:
        assoc.release()
    assert [status.Status for status, _ in responses] == [0x0000]


def test_store_is_accepted_and_discarded(site: DemoDicomSite) -> None:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "DEMO^PATIENT^999"
    ds.PatientID = "DEMO999"
    ds.Modality = "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for node_id in ("archive-main", "ct-1", "viewer-1"):
        assoc = _associate(_node(site, node_id))
        assert assoc.is_established
        try:
            status = assoc.send_c_store(ds)
        finally:
            assoc.release()
        assert status.Status == 0x0000, node_id


# A node going down under a client is the point here, and pynetdicom's client leaves its socket
# to the garbage collector when refused or aborted; that warning is about the client, not us.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_flaky_node_goes_down_and_comes_back_on_the_same_port() -> None:
    demo = DemoDicomSite(flap_up=0.5, flap_down=0.5, slow_delay=0.0)
    nodes = demo.start()
    try:
        flaky = next(n for n in nodes if n.id == "flaky-us")
        assert _eventually(lambda: _down(flaky)), "flaky-us never went down"
        # Back up: listening again, on the same port, and answering C-ECHO. (Check for a
        # listener first: pynetdicom's client leaks its socket when the connection is refused.)
        assert _eventually(lambda: not _down(flaky) and _echo(flaky) == 0x0000), (
            "flaky-us never came back"
        )
        assert _node(demo, "flaky-us").port == flaky.port
        assert _eventually(lambda: _down(flaky)), "flaky-us never went down again"
        # The other nodes do not flap.
        assert _echo(next(n for n in nodes if n.id == "ct-1")) == 0x0000
    finally:
        demo.stop()
        gc.collect()  # any leaked client socket is reported here, under the filters above


def test_stop_closes_every_port_and_is_idempotent() -> None:
    demo = DemoDicomSite(flap_up=0.2, flap_down=0.2)
    nodes = demo.start()
    with pytest.raises(RuntimeError):
        demo.start()
    demo.stop()
    assert demo.nodes == []
    for node in nodes:
        assert _refused(node), node.id
    demo.stop()
    # A stopped site can be started again (on new ports).
    again = demo.start()
    try:
        assert _echo(again[0]) == 0x0000
    finally:
        demo.stop()


def test_nothing_is_written_to_stdout_or_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    demo = DemoDicomSite(flap_up=0.2, flap_down=0.2, slow_delay=0.1)
    nodes = demo.start()
    try:
        for node in nodes:
            if node.id != "flaky-us":  # pynetdicom's client leaks its socket when refused
                _echo(node)
        _associate(nodes[0], aet="WRONG").release()
        time.sleep(0.5)  # one flap down and up
    finally:
        demo.stop()
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="flap_up"):
        DemoDicomSite(flap_up=0)
    with pytest.raises(ValueError, match="slow_delay"):
        DemoDicomSite(slow_delay=-1)


def test_demo_dicom_nodes_do_not_import_textual() -> None:
    code = "import sys, pacs_tui.demo.dicom_nodes; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
