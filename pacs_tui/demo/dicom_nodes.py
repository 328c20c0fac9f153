"""The DICOM half of ``pacs-tui demo``: real pynetdicom SCPs on 127.0.0.1 playing a hospital.

An archive and its mirror (Verification, Storage, Study Root FIND/MOVE/GET), two modalities, two
viewers (one slow to answer C-ECHO) and an ultrasound that goes down and comes back on its port.
The mirror lags behind: it misses two of the archive's studies and has one short of an instance,
for the mirror reconciliation to find; C-GET sends tiny made-up images (for the drill).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fnmatch
import functools
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.events import EventHandlerType
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from pacs_tui.demo.images import tiny_image

__all__ = ["DemoDicomSite", "DemoNode", "drill_study_uid"]

LOG = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: A presentation context ID is an odd number 1..255, so an association carries at most 128.
_MAX_CONTEXTS = 128
#: Timeouts of the simulated SCPs: a half-open or idle peer is dropped quickly.
_ACSE_TIMEOUT = 5.0
_DIMSE_TIMEOUT = 10.0
_NETWORK_TIMEOUT = 10.0

_SUCCESS = 0x0000
_PENDING = 0xFF00
_IDENTIFIER_DOES_NOT_MATCH = 0xA900
_CANCELLED = 0xFE00
#: Query keys that say how to answer rather than what to match.
_NOT_MATCHED = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"})


@dataclass(frozen=True)
class DemoNode:
    """One simulated DICOM node, as the rest of the app needs to configure a probe for it."""

    id: str
    aet: str
    host: str
    port: int
    role: str
    site: str
    description: str


# --------------------------------------------------------------------------- fake studies


@dataclass(frozen=True)
class _Study:
    """A synthetic study: no real patient data, every value obviously made up."""

    patient_name: str
    patient_id: str
    study_date: str
    study_time: str
    accession: str
    description: str
    modalities: tuple[str, ...]
    uid: str
    series: int
    instances: int

    def series_uid(self, index: int) -> str:
        return generate_uid(entropy_srcs=["pacs-tui-demo-series", self.uid, str(index)])

    def value(self, keyword: str) -> str | int | list[str] | None:
        values: dict[str, str | int | list[str]] = {
            "PatientName": self.patient_name,
            "PatientID": self.patient_id,
            "PatientBirthDate": "19000101",
            "PatientSex": "O",
            "StudyDate": self.study_date,
            "StudyTime": self.study_time,
            "AccessionNumber": self.accession,
            "StudyDescription": self.description,
            "ModalitiesInStudy": list(self.modalities),
            "StudyInstanceUID": self.uid,
            "StudyID": self.accession[-4:],
            "ReferringPhysicianName": "DEMO^REFERRER",
            "NumberOfStudyRelatedSeries": self.series,
            "NumberOfStudyRelatedInstances": self.instances,
            "InstitutionName": "DEMO HOSPITAL",
        }
        return values.get(keyword)


_STUDY_PLAN: tuple[tuple[int, str, str, tuple[str, ...], int, int], ...] = (
    # days ago, time, description, modalities, series, instances
    (0, "081500", "DEMO CT HEAD", ("CT",), 2, 240),
    (0, "093000", "DEMO MR KNEE", ("MR",), 4, 180),
    (0, "101200", "DEMO CHEST X-RAY", ("CR",), 1, 2),
    (1, "141000", "DEMO ABDOMEN US", ("US",), 1, 24),
    (1, "160500", "DEMO CT CHEST", ("CT", "SR"), 3, 410),
    (2, "112000", "DEMO HAND X-RAY", ("DX",), 1, 3),
)


#: Studies of the plan (1-based) the mirror has not received yet, and one it has short of an
#: instance.
MIRROR_MISSING = (2, 5)
MIRROR_SHORT = 4
#: The study the demo's failover drill retrieves from the mirror (a two-image chest X-ray).
DRILL_STUDY = 3


def drill_study_uid() -> str:
    return generate_uid(entropy_srcs=["pacs-tui-demo-study", str(DRILL_STUDY)])


def _mirror_studies(studies: list[_Study]) -> list[_Study]:
    """What the demo mirror holds: the archive's studies but :data:`MIRROR_MISSING`, and
    :data:`MIRROR_SHORT` one instance short."""
    kept = []
    for n, study in enumerate(studies, start=1):
        if n in MIRROR_MISSING:
            continue
        if n == MIRROR_SHORT:
            study = dataclasses.replace(study, instances=study.instances - 1)
        kept.append(study)
    return kept


def _fake_studies(today: _dt.date) -> list[_Study]:
    studies: list[_Study] = []
    for n, (days_ago, time_, description, modalities, series, instances) in enumerate(
        _STUDY_PLAN, start=1
    ):
        day = today - _dt.timedelta(days=days_ago)
        studies.append(
            _Study(
                patient_name=f"DEMO^PATIENT^{n:03d}",
                patient_id=f"DEMO{n:03d}",
                study_date=day.strftime("%Y%m%d"),
                study_time=time_,
                accession=f"DEMOACC{n:04d}",
                description=description,
                modalities=modalities,
                uid=generate_uid(entropy_srcs=["pacs-tui-demo-study", str(n)]),
                series=series,
                instances=instances,
            )
        )
    return studies


def _matches(study: _Study, keyword: str, query: Any) -> bool:
    """DICOM-ish matching of one key: universal, wildcard, range, list and single value."""
    if query is None or query == "" or (isinstance(query, Sequence) and len(query) == 0):
        return True  # universal matching
    have = study.value(keyword)
    if have is None:
        return True  # a key this archive does not know is not used for matching
    if isinstance(query, str | bytes) or not isinstance(query, Sequence):
        wanted = [str(query)]
    else:
        wanted = [str(v) for v in query]
    if keyword == "ModalitiesInStudy":
        return any(m in study.modalities for m in wanted)
    have_s = str(have)
    if keyword in ("StudyDate", "StudyTime") and "-" in wanted[0]:
        low, _, high = wanted[0].partition("-")
        return (not low or have_s >= low) and (not high or have_s[: len(high)] <= high)
    if keyword in ("PatientName", "ReferringPhysicianName"):
        have_s = have_s.upper()
        wanted = [w.upper() for w in wanted]
    return any(fnmatch.fnmatchcase(have_s, w) for w in wanted)


# --------------------------------------------------------------------------- event handlers


class _Handlers:
    """The event handlers of one node; ``stopping`` cuts a slow answer short on shutdown."""

    def __init__(
        self, aet: str, stopping: threading.Event, echo_delay: float, studies: list[_Study]
    ) -> None:
        self.aet = aet
        self.stopping = stopping
        self.echo_delay = echo_delay
        self.studies = studies

    def on_echo(self, event: evt.Event) -> int:
        if self.echo_delay > 0:
            self.stopping.wait(self.echo_delay)
        return _SUCCESS

    def on_store(self, event: evt.Event) -> int:
        return _SUCCESS  # accepted and discarded, never decoded

    @staticmethod
    def on_conn_close(event: evt.Event) -> None:
        """Let an acceptor whose peer hung up before asking for an association end now.

        pynetdicom's acceptor waits for the A-ASSOCIATE-RQ for the whole ACSE timeout even when
        the peer closed the connection first (a plain TCP-connect probe), spinning its reactor
        and counting against ``maximum_associations`` until then. The DUL is still in Sta2
        (awaiting the request) when it reports that close; an empty item on the user queue
        is what the acceptor takes for its timeout, so it cleans up at once.
        """
        assoc = event.assoc
        if assoc.is_acceptor and assoc.dul.state_machine.current_state == "Sta2":
            assoc.dul.to_user_queue.put(None)

    def on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        query: Dataset = event.identifier
        level = str(query.get("QueryRetrieveLevel", ""))
        if level not in ("STUDY", "SERIES", "IMAGE"):
            yield _IDENTIFIER_DOES_NOT_MATCH, None
            return
        keys = [
            e.keyword for e in query if e.keyword and e.VR != "SQ" and e.keyword not in _NOT_MATCHED
        ]
        for study in self.studies:
            if event.is_cancelled:
                yield _CANCELLED, None
                return
            if not all(_matches(study, k, query.get(k)) for k in keys):
                continue
            if level == "STUDY":
                yield _PENDING, self._answer(study, query, keys, level)
            elif level == "SERIES":
                for index in range(study.series):
                    answer = self._answer(study, query, keys, level)
                    modality = study.modalities[min(index, len(study.modalities) - 1)]
                    for keyword, value in (
                        ("SeriesInstanceUID", study.series_uid(index)),
                        ("SeriesNumber", str(index + 1)),
                        ("Modality", modality),
                    ):
                        if keyword in keys:
                            setattr(answer, keyword, value)
                    yield _PENDING, answer
            # IMAGE level: this demo archive keeps no instances, so no matches.

    def _answer(self, study: _Study, query: Dataset, keys: list[str], level: str) -> Dataset:
        answer = Dataset()
        answer.QueryRetrieveLevel = level
        answer.RetrieveAETitle = self.aet
        if "SpecificCharacterSet" in query:
            answer.SpecificCharacterSet = "ISO_IR 100"
        for keyword in keys:
            value = study.value(keyword)
            setattr(answer, keyword, "" if value is None else value)
        return answer

    def on_move(self, event: evt.Event) -> Iterator[Any]:
        # Any destination: nothing to send, so no sub-association is opened; success.
        yield HOST, 0
        yield 0

    def on_get(self, event: evt.Event) -> Iterator[Any]:
        """A study's instances as tiny made-up images (at most :data:`_GET_MAX` of them)."""
        uid = str(event.identifier.get("StudyInstanceUID", ""))
        study = next((s for s in self.studies if s.uid == uid), None)
        count = min(study.instances, _GET_MAX) if study is not None else 0
        yield count
        for index in range(count):
            if event.is_cancelled or self.stopping.is_set():
                yield _CANCELLED, None
                return
            assert study is not None
            yield _PENDING, _image(study, index)


#: Instances a demo C-GET sends at most (the drill's study has two).
_GET_MAX = 8


def _image(study: _Study, index: int) -> Dataset:
    """One 4 by 4 pixel Secondary Capture image of a made-up study."""
    return tiny_image(
        study_uid=study.uid,
        series_uid=study.series_uid(0),
        sop_uid=generate_uid(entropy_srcs=["pacs-tui-demo-image", study.uid, str(index)]),
        number=index + 1,
        patient_name=study.patient_name,
        patient_id=study.patient_id,
        study_date=study.study_date,
        study_time=study.study_time,
    )


# --------------------------------------------------------------------------- one node's server


class _DemoServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server, made to cost nothing while idle.

    ``socketserver``'s loop wakes every ``poll_interval`` to look for a stop request, and
    pynetdicom's ``service_actions`` runs ``gc.collect()`` every 60 wake-ups (every 30 s per
    server, a few ms of GIL each time under a busy UI). This loop sleeps in ``select`` until a
    peer connects or ``shutdown()`` writes to a wake-up socket pair, so it also stops at once.
    """

    # Handler threads only start the association's own thread and return.
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop_requested = False
        self._stopped = threading.Event()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._wake_r.close()
            self._wake_w.close()
            raise

    def serve_forever(self, poll_interval: float | None = None) -> None:
        listener = self.socket
        try:
            if listener is None:
                return
            with selectors.DefaultSelector() as selector:
                selector.register(listener, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stop_requested:
                    for key, _ in selector.select():
                        if key.fileobj is listener and not self._stop_requested:
                            self._accept_one()
        finally:
            self._stopped.set()

    def _accept_one(self) -> None:
        """``BaseServer._handle_request_noblock``: accept one peer, hand it to a thread."""
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints the traceback on stderr, which would scribble over the UI.
        LOG.warning(
            "demo DICOM server %s: error serving %s", self.ae_title, client_address, exc_info=True
        )

    def shutdown(self) -> None:
        """Stop accepting and close the listening socket (open associations carry on).

        Not ``AssociationServer.shutdown``: that also unlists the server from ``ae._servers``,
        where this one (started by ``_NodeServer``, not ``AE.start_server``) never was.
        """
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._stopped.wait(timeout=2.0)
        self.server_close()
        self._wake_r.close()
        self._wake_w.close()


@dataclass(frozen=True)
class _Spec:
    id: str
    aet: str
    role: str
    description: str
    archive: bool = False
    max_associations: int = 4
    slow: bool = False
    flaky: bool = False


_SPECS: tuple[_Spec, ...] = (
    _Spec(
        "archive-main",
        "ARCHIVE",
        "archive",
        "Main PACS archive: storage, Study Root C-FIND, C-MOVE and C-GET",
        archive=True,
        max_associations=16,
    ),
    _Spec(
        "archive-mirror",
        "MIRROR",
        "mirror",
        "Mirror of the main archive (it lags: two studies missing, one short)",
        archive=True,
        max_associations=16,
    ),
    _Spec("ct-1", "CT01", "modality", "CT scanner, radiology room 1"),
    _Spec("mr-1", "MR01", "modality", "MR scanner, radiology room 2"),
    _Spec("viewer-1", "VIEWER01", "viewer", "Reading-room diagnostic viewer"),
    _Spec(
        "flaky-us",
        "US01",
        "modality",
        "Ultrasound on a flaky network drop: goes down and comes back",
        flaky=True,
    ),
    _Spec("slow-viewer", "VIEWER02", "viewer", "Ward viewer that answers C-ECHO slowly", slow=True),
)


@functools.cache
def _contexts(archive: bool) -> tuple[PresentationContext, ...]:
    """Verification (+ Study Root FIND/MOVE for an archive) + as much Storage as fits.

    Built once per process and handed to each server directly (the server deep-copies them for
    every association): going through ``AE.supported_contexts`` validates each UID again with
    pydicom's regexes, ~20 ms per AE, which was most of ``start()``.
    """
    uids: list[str] = [Verification]
    if archive:
        uids += [
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelMove,
            StudyRootQueryRetrieveInformationModelGet,
        ]
    uids += [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    contexts = tuple(build_context(uid) for uid in uids[:_MAX_CONTEXTS])
    if archive:
        # A C-GET's requester asks to be the storage SCP: the archive accepts either role.
        for cx in contexts:
            cx.scu_role = cx.scp_role = True
    return contexts


class _NodeServer:
    """One node's AE and listening server; it can go down and come back on the same port."""

    def __init__(self, spec: _Spec, handlers: _Handlers) -> None:
        self.spec = spec
        self.contexts = list(_contexts(spec.archive))
        ae = AE(ae_title=spec.aet)
        ae.require_called_aet = True
        ae.maximum_associations = spec.max_associations
        ae.acse_timeout = _ACSE_TIMEOUT
        ae.dimse_timeout = _DIMSE_TIMEOUT
        ae.network_timeout = _NETWORK_TIMEOUT
        self.ae = ae
        self.handlers: list[EventHandlerType] = [
            (evt.EVT_CONN_CLOSE, handlers.on_conn_close),
            (evt.EVT_C_ECHO, handlers.on_echo),
            (evt.EVT_C_STORE, handlers.on_store),
        ]
        if spec.archive:
            self.handlers += [
                (evt.EVT_C_FIND, handlers.on_find),
                (evt.EVT_C_MOVE, handlers.on_move),
                (evt.EVT_C_GET, handlers.on_get),
            ]
        self.port = 0
        self._server: _DemoServer | None = None
        self._reserved: socket.socket | None = None

    def up(self) -> int:
        """Listen (on a free port the first time, on the same port afterwards); return it."""
        if self._server is not None:
            return self.port
        server = cast(
            _DemoServer,
            self.ae.make_server(
                (HOST, self.port),
                contexts=self.contexts,
                evt_handlers=self.handlers,
                server_class=_DemoServer,
            ),
        )
        self._release_reservation()
        self.port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            name=f"demo-dicom-{self.spec.id}",
            daemon=True,
        )
        thread.start()
        self._server = server
        return self.port

    def down(self, *, keep_port: bool) -> None:
        """Stop listening and drop open associations; with ``keep_port`` hold the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            for assoc in server.active_associations:
                # Only established ones: pynetdicom's state machine raises (in the DUL thread,
                # printed on stderr) on an A-ABORT request while still awaiting the
                # A-ASSOCIATE-RQ; those end on their own (peer close or ACSE timeout).
                if assoc.is_established:
                    assoc.abort(block=False)
        if keep_port:
            self._reserve()
        else:
            self._release_reservation()

    def _reserve(self) -> None:
        """Bind (without listening) so probes are refused and nobody else takes the port.

        Both sockets carry SO_REUSEADDR and neither listens, so ``up()`` can bind beside it.
        """
        if self._reserved is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.port))
        except OSError as exc:
            sock.close()
            LOG.debug("demo node %s: could not hold port %d: %s", self.spec.id, self.port, exc)
            return
        self._reserved = sock

    def _release_reservation(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None


# --------------------------------------------------------------------------- the site


class DemoDicomSite:
    """Seven simulated DICOM nodes on 127.0.0.1 with a thread that flaps ``flaky-us``.

    ``start()`` and ``stop()`` are synchronous and quick; the servers run in their own threads.
    """

    def __init__(
        self,
        *,
        flap_up: float = 45.0,
        flap_down: float = 20.0,
        slow_delay: float = 0.8,
        site: str = "Demo Hospital",  # as the demo config's [site] name
    ) -> None:
        if flap_up <= 0 or flap_down <= 0:
            raise ValueError(f"flap_up and flap_down must be > 0 s, got {flap_up}, {flap_down}")
        if slow_delay < 0:
            raise ValueError(f"slow_delay must be >= 0 s, got {slow_delay}")
        self.flap_up = flap_up
        self.flap_down = flap_down
        self.slow_delay = slow_delay
        self.site = site
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: list[_NodeServer] = []
        self._nodes: list[DemoNode] = []
        self._flapper: threading.Thread | None = None

    @property
    def nodes(self) -> list[DemoNode]:
        """The running nodes (empty before ``start()``); ports stay the same while flapping."""
        return list(self._nodes)

    def start(self) -> list[DemoNode]:
        """Start every node's server and the flapper thread; return the nodes."""
        with self._lock:
            if self._servers:
                raise RuntimeError("demo DICOM site already started")
            self._stopping = threading.Event()
            studies = _fake_studies(_dt.date.today())
            try:
                for spec in _SPECS:
                    handlers = _Handlers(
                        spec.aet,
                        self._stopping,
                        self.slow_delay if spec.slow else 0.0,
                        (_mirror_studies(studies) if spec.role == "mirror" else studies)
                        if spec.archive
                        else [],
                    )
                    node = _NodeServer(spec, handlers)
                    self._servers.append(node)
                    node.up()
            except BaseException:
                self._stop_servers()
                raise
            self._nodes = [
                DemoNode(
                    s.spec.id, s.spec.aet, HOST, s.port, s.spec.role, self.site, s.spec.description
                )
                for s in self._servers
            ]
            flaky = [s for s in self._servers if s.spec.flaky]
            self._flapper = threading.Thread(
                target=self._flap, args=(flaky,), name="demo-dicom-flapper", daemon=True
            )
            self._flapper.start()
        LOG.info("demo DICOM site started: %d nodes", len(self._nodes))
        return self.nodes

    def stop(self) -> None:
        """Stop the flapper and every server; ports are closed when this returns."""
        self._stopping.set()
        flapper, self._flapper = self._flapper, None
        if flapper is not None:
            flapper.join(timeout=2.0)
        with self._lock:
            self._stop_servers()
            self._nodes = []

    def _stop_servers(self) -> None:
        """Take every server down; each returns as soon as its loop has seen the wake-up."""
        for server in self._servers:
            server.down(keep_port=False)
        self._servers = []

    def _flap(self, flaky: list[_NodeServer]) -> None:
        """Up for ``flap_up`` s, down (connection refused) for ``flap_down`` s, again and again."""
        stopping = self._stopping
        while flaky:
            if stopping.wait(self.flap_up):
                return
            self._each(flaky, stopping, lambda s: s.down(keep_port=True), "down")
            if stopping.wait(self.flap_down):
                return
            while not self._each(flaky, stopping, lambda s: s.up(), "back up"):
                if stopping.wait(1.0):
                    return

    def _each(
        self,
        servers: list[_NodeServer],
        stopping: threading.Event,
        action: Callable[[_NodeServer], object],
        what: str,
    ) -> bool:
        """Apply ``action`` to each server under the lock; False if one failed (retry later)."""
        ok = True
        with self._lock:
            if stopping.is_set():
                return True
            for server in servers:
                try:
                    action(server)
                    LOG.debug("demo node %s %s on port %d", server.spec.id, what, server.port)
                except OSError as exc:
                    ok = False
                    LOG.warning("demo node %s: could not come %s: %s", server.spec.id, what, exc)
        return ok
