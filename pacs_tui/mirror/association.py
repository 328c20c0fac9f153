"""One association to a DICOM node kept for several requests: C-FIND at study level, and C-GET
or C-MOVE of a study, blocking (run it in the DICOM thread pool), on the probe's guarded socket.

The reconciliation asks a node one C-FIND per day of its window; opening an association for
each would cost the archive an association setup per query, so :class:`NodeSession` keeps one
open and opens it again only after a failure. Every wait has a deadline: the whole session
shares one :class:`~pacs_tui.probes.dicom_transport.Budget` (its hard end bounds every socket
read, whatever the peer does) and each request gets ``request_timeout`` of it. What the peer may
send in all is bounded too (``pdata_limit``), and only the few keys asked for are read from an
answer: a node that returns patient names anyway has them dropped unread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydicom.dataset import Dataset
from pynetdicom import StoragePresentationContexts, build_role, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import A_ABORT, A_ASSOCIATE, A_P_ABORT
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from pacs_tui.mirror.node import Node
from pacs_tui.probes.dicom import (
    _abort_reason,
    _connect_reason,
    _resolve,
    aet_problem,
    reject_reason,
)
from pacs_tui.probes.dicom_transport import Budget, ProbeAE, seconds_text
from pacs_tui.visible import host_port, visible

__all__ = ["DicomFailure", "Node", "NodeSession", "Retrieved", "UnknownDestination"]

LOGGER = logging.getLogger(__name__)

_PENDING = (0xFF00, 0xFF01)
#: Final statuses of a search a node cut short by its own cap on answers: Cancel (we never
#: send C-CANCEL: Orthanc's LimitFindResults ends so) and Out of Resources (PS3.4 C.4.1.1.4).
_CUT_SHORT = (0xFE00, 0xA700)
_GET_PENDING = 0xFF00
#: C-GET and C-MOVE final statuses that still delivered what could be delivered (PS3.4
#: C.4.3.1.4, C.4.2.1.4).
_GET_WARNING = 0xB000
#: C-MOVE final statuses in words (PS3.4 C.4.2.1.4), for a failed drill.
_MOVE_FAILURES = {
    0xA701: "out of resources: unable to calculate the number of matches",
    0xA702: "out of resources: unable to perform the sub-operations",
    0xA900: "the identifier does not match the SOP class",
    0xFE00: "sub-operations cancelled",
}
#: Presentation contexts an association may carry (odd ids 1..255).
_MAX_CONTEXTS = 128


class DicomFailure(Exception):
    """A request that did not complete; the words say what the node did, for the screen."""


class UnknownDestination(DicomFailure):
    """A C-MOVE the node refused because it does not know the destination AE title."""


@dataclass(frozen=True, slots=True)
class Retrieved:
    """What a C-GET or C-MOVE brought back: instances stored to us (counted, never kept),
    their bytes, and the sub-operations the node said failed or warned."""

    instances: int
    size: int
    failed: int
    warning: int


class NodeSession:
    """Requests to one node over one association, opened on first use.

    ``retrieve="get"`` asks for C-GET with the storage contexts as SCP (the node sends the
    study back on the same association: nothing has to know our address, no port is opened
    here); ``retrieve="move"`` asks for C-MOVE (the node sends the study to a destination AE
    it knows: :class:`~pacs_tui.mirror.move_store.MoveStore` when the drill asks).
    """

    def __init__(
        self,
        node: Node,
        budget: Budget,
        *,
        request_timeout: float,
        pdata_limit: int,
        expecting: str,
        retrieve: Literal["", "get", "move"] = "",
    ) -> None:
        self.node = node
        self.budget = budget
        self.request_timeout = request_timeout
        self.pdata_limit = pdata_limit
        self.expecting = expecting
        self.retrieve = retrieve
        #: Associations opened and requests sent so far.
        self.associations = 0
        self.requests = 0
        #: Answers (C-FIND pending responses) received so far.
        self.answers = 0
        self._ae: ProbeAE | None = None
        self._assoc: Association | None = None
        self._message_id = 0
        self._stored: Callable[[Any], int] | None = None
        self._received: list[Any] = []

    # -- the association ------------------------------------------------------------------

    def _open(self) -> Association:
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        self._drop()
        node = self.node
        for name, value in (("called", node.aet), ("calling", node.calling_aet)):
            problem = aet_problem(value)
            if problem is not None:
                raise DicomFailure(f"invalid {name} AE title {value!r}: {problem}")
        where = host_port(node.host, node.port)
        try:
            address = _resolve(node.host, node.port)
        except (OSError, UnicodeError) as exc:
            raise DicomFailure(f"host not found: {visible(node.host, 80)} ({exc})") from None
        ae = ProbeAE(
            node.calling_aet, self.budget, pdata_limit=self.pdata_limit, expecting=self.expecting
        )
        if self.retrieve == "move":
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        if self.retrieve == "get":
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
            storage = [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
            roles = []
            for uid in storage[: _MAX_CONTEXTS - 2]:
                ae.add_requested_context(uid)
                roles.append(build_role(uid, scp_role=True))
            ext_neg: list[Any] = roles
        else:
            ext_neg = []
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        connect_timeout = self.budget.left()
        ae.connection_timeout = connect_timeout
        ae.acse_timeout = self.request_timeout
        ae.dimse_timeout = self.request_timeout
        ae.network_timeout = max(self.request_timeout, 1.0)
        self._ae = ae
        received = self._received = []
        handlers: list[Any] = [(evt.EVT_ACSE_RECV, lambda e: received.append(e.primitive))]
        if self.retrieve == "get":
            handlers.append((evt.EVT_C_STORE, self._on_store))
        self.associations += 1
        assoc = ae.associate(
            address, node.port, ae_title=node.aet, ext_neg=ext_neg or None, evt_handlers=handlers
        )
        sock = ae.socket
        if sock is not None and sock.connect_error is not None:
            self._drop()
            raise DicomFailure(_connect_reason(sock.connect_error, where, connect_timeout))
        if not assoc.is_established:
            seen = received + list(assoc.dul.to_user_queue.queue)
            fault = sock.fault if sock is not None else None
            self._drop()
            response = assoc.acceptor.primitive or next(
                (p for p in seen if isinstance(p, A_ASSOCIATE)), None
            )
            if fault:
                raise DicomFailure(fault)
            if isinstance(response, A_ASSOCIATE) and response.result in (1, 2):
                words = reject_reason(response.result, response.result_source, response.diagnostic)
                raise DicomFailure(f"association rejected: {words}")
            aborts = [p for p in seen if isinstance(p, (A_ABORT, A_P_ABORT))]
            if aborts:
                raise DicomFailure(_abort_reason(aborts[0]))
            if isinstance(response, A_ASSOCIATE) and response.result == 0:
                raise DicomFailure(
                    "association aborted: the node accepted no presentation context for "
                    "Study Root query/retrieve"
                )
            raise DicomFailure(
                f"no answer to the A-ASSOCIATE request within {seconds_text(self.request_timeout)}"
            )
        self._assoc = assoc
        return assoc

    def _drop(self) -> None:
        """Abort whatever is left of the association (after a failure)."""
        ae, assoc = self._ae, self._assoc
        self._ae = self._assoc = None
        sock = ae.socket if ae is not None else None
        if assoc is not None and assoc.is_established:
            # The A-ABORT straight on the socket, which is then shut down: pynetdicom's own
            # abort waits behind every PDU already read, so a node flooding answers would
            # hold it until the round's deadline.
            if sock is not None:
                sock.refuse("the association was aborted")
            assoc.abort()
        if ae is not None:
            if sock is not None:
                sock.close_os_socket()
            for active in ae.active_associations:
                active.kill()

    def close(self) -> None:
        """Release the association (abort it if the node does not answer the release)."""
        assoc = self._assoc
        if assoc is not None and assoc.is_established:
            assoc.acse_timeout = min(self.request_timeout, self.budget.left())
            try:
                assoc.release()
            except Exception:  # a failed release ends the session all the same
                LOGGER.debug("release of %s failed", self.node.where, exc_info=True)
        self._drop()

    def _failure(self, what: str, started: float) -> DicomFailure:
        """Why a request ended without its final response, in words (the association is gone)."""
        sock = self._ae.socket if self._ae is not None else None
        fault = sock.fault if sock is not None else None
        waited = time.perf_counter() - started
        self._drop()
        if fault:
            return DicomFailure(fault)
        if waited >= self.request_timeout * 0.99 or self.budget.hard_left() <= 0:
            return DicomFailure(f"no {what} response within {seconds_text(waited)}")
        aborts = [p for p in self._received if isinstance(p, (A_ABORT, A_P_ABORT))]
        if aborts:
            return DicomFailure(f"{_abort_reason(aborts[0])} instead of a {what} response")
        return DicomFailure(f"association aborted while waiting for the {what} response")

    def _timeout(self, assoc: Association) -> None:
        left = self.budget.hard_left()
        if left <= 0:
            self._drop()
            raise DicomFailure("out of time for this round (the check's timeout)")
        assoc.dimse_timeout = min(self.request_timeout, left)

    # -- C-FIND ---------------------------------------------------------------------------

    def find(
        self, query: Dataset, keys: tuple[str, ...], limit: int
    ) -> list[dict[str, Any]] | None:
        """The answers to one study-level C-FIND: of each, only ``keys`` (as strings, or None
        when absent). ``None`` when the answers may not be all of them: more than ``limit``
        came (the association is aborted: cheaper for the node than reading on), exactly
        ``limit`` came, or the node ended the search as one it cut short; the caller narrows
        the query."""
        assoc = self._open()
        self._timeout(assoc)
        self._message_id = self._message_id % 65535 + 1
        self.requests += 1
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        try:
            responses: Iterator[tuple[Dataset, Dataset | None]] = assoc.send_c_find(
                query, StudyRootQueryRetrieveInformationModelFind, msg_id=self._message_id
            )
            for status, identifier in responses:
                code = getattr(status, "Status", None)
                if code is None:
                    raise self._failure("C-FIND", started)
                if code in _PENDING:
                    self.answers += 1
                    if len(rows) >= limit:
                        self._drop()
                        return None
                    if identifier is not None:
                        rows.append({k: _text(identifier.get(k)) for k in keys})
                    continue
                if code == 0x0000:
                    # As many answers as the limit: perhaps a node's own cap that ends a cut
                    # search with success; the caller narrows the query to be sure.
                    return None if len(rows) >= limit else rows
                if code in _CUT_SHORT:
                    return None  # the node's own cap (Orthanc's LimitFindResults: Cancel)
                raise DicomFailure(f"C-FIND failed with status 0x{int(code):04X}")
        except DicomFailure:
            raise
        except Exception as exc:  # pynetdicom failing on what the node sent
            LOGGER.debug("C-FIND to %s failed inside pynetdicom", self.node.where, exc_info=True)
            self._drop()
            detail = visible(f"{type(exc).__name__}: {exc}", 160)
            raise DicomFailure(f"could not read the node's C-FIND answers ({detail})") from None
        raise self._failure("C-FIND", started)

    # -- C-GET ----------------------------------------------------------------------------

    def _on_store(self, event: Any) -> int:
        """A C-STORE of the study we asked for: counted, its bytes never decoded nor kept."""
        stored = self._stored
        return 0xA700 if stored is None else stored(event)

    def get_study(self, study_uid: str) -> Retrieved:
        """C-GET one study; what came back, counted."""
        counts = {"instances": 0, "size": 0}

        def stored(event: Any) -> int:
            counts["instances"] += 1
            counts["size"] += len(event.request.DataSet.getvalue())
            return 0x0000

        self._stored = stored
        try:
            final = self._retrieve(
                "C-GET",
                study_uid,
                lambda assoc, query, msg_id: assoc.send_c_get(
                    query, StudyRootQueryRetrieveInformationModelGet, msg_id=msg_id
                ),
            )
        finally:
            self._stored = None
        code, failed, warning = _suboperations(final)
        if code not in (0x0000, _GET_WARNING):
            raise DicomFailure(
                f"C-GET failed with status 0x{code:04X} after {counts['instances']} instances"
            )
        return Retrieved(counts["instances"], counts["size"], failed, warning)

    # -- C-MOVE ---------------------------------------------------------------------------

    def move_study(
        self, study_uid: str, destination: str, arrived: Callable[[], tuple[int, int]]
    ) -> Retrieved:
        """C-MOVE one study to ``destination``; ``arrived()`` says how many instances and bytes
        reached it (our store counts them: the node's own counts are only its word)."""
        final = self._retrieve(
            "C-MOVE",
            study_uid,
            lambda assoc, query, msg_id: assoc.send_c_move(
                query, destination, StudyRootQueryRetrieveInformationModelMove, msg_id=msg_id
            ),
        )
        instances, size = arrived()
        code, failed, warning = _suboperations(final)
        if code == 0xA801:
            raise UnknownDestination(
                f"the mirror does not know the move destination {visible(destination, 16)} "
                "(status 0xA801): its AE table needs that AE title with this host's address "
                "and the port of [dr] move_bind"
            )
        if code not in (0x0000, _GET_WARNING):
            words = _MOVE_FAILURES.get(code, "unable to process" if code >> 12 == 0xC else "failed")
            raise DicomFailure(
                f"C-MOVE failed with status 0x{code:04X} ({words}) after "
                f"{instances} instances arrived"
            )
        return Retrieved(instances, size, failed, warning)

    def _retrieve(
        self,
        verb: str,
        study_uid: str,
        send: Callable[[Association, Dataset, int], Iterator[tuple[Dataset, Any]]],
    ) -> Dataset:
        """Send a study-level C-GET or C-MOVE and wait out its pending responses: the final
        response (raises :class:`DicomFailure` in words when none came)."""
        assoc = self._open()
        self._timeout(assoc)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study_uid
        self._message_id = self._message_id % 65535 + 1
        self.requests += 1
        started = time.perf_counter()
        try:
            for status, _identifier in send(assoc, query, self._message_id):
                code = getattr(status, "Status", None)
                if code is None:
                    raise self._failure(verb, started)
                if code != _GET_PENDING:
                    return status
        except DicomFailure:
            raise
        except Exception as exc:
            LOGGER.debug(
                "%s from %s failed inside pynetdicom", verb, self.node.where, exc_info=True
            )
            self._drop()
            detail = visible(f"{type(exc).__name__}: {exc}", 160)
            raise DicomFailure(f"could not complete the {verb} ({detail})") from None
        raise self._failure(verb, started)


def _suboperations(final: Dataset) -> tuple[int, int, int]:
    """A retrieve's final status, and its failed and warning sub-operations."""
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    warning = int(final.get("NumberOfWarningSuboperations", 0) or 0)
    return int(final.Status), failed, warning


def _text(value: Any) -> str | None:
    if value is None:
        return None
    got = getattr(value, "value", value)
    if got is None or got == "":
        return None
    return str(got).strip()
