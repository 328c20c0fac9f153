"""DICOM C-ECHO check: is a node's DICOM service up, and how fast does it answer?

:func:`echo` is blocking (pynetdicom is thread-based). It resolves the host, opens an
association, sends one C-ECHO and releases, timing the association, the C-ECHO and the release
separately, and says in words what went wrong ("connection refused", "association rejected:
called AE title not recognised (permanent)", "timed out after 2.0s waiting for A-ASSOCIATE
response", ...). It never raises for a failure of the peer.

:class:`DicomEchoCheck` is the periodic :class:`~pacs_tui.probes.base.Check`: it runs
:func:`echo` in the engine's bounded thread pool (``[dicom] max_workers``) so the asyncio loop never
blocks, and turns the outcome into a :class:`~pacs_tui.model.Result`.

Two fixes over stock pynetdicom 3.0, both through its own extension points (no monkeypatching):

* **Delayed-ACK stall.** DCMTK-based peers (Orthanc, dcmqrscp, storescp and most PACS built on
  DCMTK) write each reply PDU in two pieces with Nagle's algorithm on (DCMTK's default unless
  the peer runs with ``TCP_NODELAY=1`` in its environment): the second piece waits until the
  first is acknowledged, and the client kernel delays that ACK by ~40 ms (Linux delayed ACK,
  "pingpong" mode after we sent a request). Stock pynetdicom loses ~43 ms per C-ECHO to this.
  We set TCP_QUICKACK before every read: setting it while an ACK is pending sends the ACK at
  once, and the option is not sticky, so it must be set again before each ``recv``. That alone
  removes the stall for C-ECHO (measured: bench/README.md). We also set TCP_NODELAY, so that our
  own requests made of two small writes (a C-FIND's command and identifier) are not held back
  by the same mechanism on the peer's side. pynetdicom has no socket-option setting; the client
  socket is built by ``ApplicationEntity._create_socket`` → ``AssociationSocket._create_socket``,
  which we subclass (:class:`~pacs_tui.probes.dicom_transport.ProbeAE`,
  :class:`~pacs_tui.probes.dicom_transport.ProbeAssociationSocket`). The same socket guards
  every read against hostile peers (deadlines, PDU checks): see that module.
* **Release poll.** After the A-RELEASE-RP arrives, pynetdicom's ``Association.kill()`` polls
  every 10 ms until the DUL thread has reached state Sta1; the requesting thread usually wakes
  before the DUL thread gets there, so a release costs ~11 ms instead of ~1.5 ms. An
  ``EVT_RELEASED`` handler, bound only around our own ``release()``, joins the DUL thread
  (which has already been told to stop by then) so that ``kill()`` finds it finished. The
  protocol exchange is unchanged: A-RELEASE-RQ, wait for A-RELEASE-RP, close.

A pynetdicom 3.0 race is worked around too: when a peer closes the connection right after its
A-ASSOCIATE-RJ or A-ABORT (``storescp --refuse`` does, about one time in ten), pynetdicom may
notice the closed socket before it reads the reply, abort on its own and leave the reply queued;
:func:`echo` reads it from the queue so the reason is still the peer's.

Timeouts: pynetdicom's defaults are no connect timeout, ACSE 30 s, DIMSE 30 s, network 60 s, so
all are set explicitly. ``timeout`` is the budget for the whole exchange: the TCP connect, the
wait for the A-ASSOCIATE response, the C-ECHO response and the A-RELEASE response each get what
is left of it (at least a tenth of it each). A peer that accepts TCP and never answers makes
:func:`echo` return after ``timeout`` plus pynetdicom's fixed 0.1 s abort delay, within the
scheduler's ``timeout + 1 s``.

pynetdicom logs on the ``pynetdicom`` logger (it installs a NullHandler); logging configuration
is left to the application. Nothing here prints. This module does not import Textual.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pydicom.config
from pynetdicom import evt
from pynetdicom.pdu_primitives import A_ABORT, A_ASSOCIATE, A_P_ABORT

from pacs_tui.model import Result, Status, Target
from pacs_tui.probes.dicom_conduct import DIMSE_COMMANDS
from pacs_tui.probes.dicom_source import ECHO_SECONDS
from pacs_tui.probes.dicom_transport import Budget, ProbeAE, seconds_text
from pacs_tui.source import over_threshold
from pacs_tui.visible import host_port, visible

__all__ = [
    "ContextAnswer",
    "DicomEchoCheck",
    "EchoOutcome",
    "aet_problem",
    "echo",
    "echo_result",
    "make_executor",
    "reject_reason",
]

LOGGER = logging.getLogger(__name__)

# What a peer may send back in P-DATA for one C-ECHO: the response is about 100 bytes.
ECHO_PDATA_LIMIT = 64 * 1024

# pydicom validates every UID pynetdicom decodes and, for a peer's non-conformant
# Implementation Class UID, logs a warning and raises a UserWarning on every check (~4 lines
# each time). The probe validates nothing through pydicom, so reading validation is off.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
# pydicom also warns (UserWarning) about what a peer's datasets hold, such as a character set it
# does not know; the probe says what the peer did in its own words, and a warning would put
# pydicom's file and line on the command line and in the log.
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
"""Verification SOP Class UID (PS3.4 Annex A), the only context an echo asks for."""

# PS3.8 Table 9-21, A-ASSOCIATE-RJ PDU fields: Result, and Reason/Diag. by Source (1: DICOM UL
# service-user, 2: service-provider ACSE related, 3: service-provider presentation related).
_REJECT_RESULT = {1: "permanent", 2: "transient"}
_REJECT_DIAGNOSTIC: dict[int, dict[int, str]] = {
    1: {
        1: "no reason given",
        2: "application context name not supported",
        3: "calling AE title not recognised",
        7: "called AE title not recognised",
    },
    2: {1: "no reason given", 2: "protocol version not supported"},
    3: {1: "temporary congestion", 2: "local limit exceeded"},
}

# PS3.8 Table 9-18, the Result/Reason of a presentation context in an A-ASSOCIATE-AC.
_CONTEXT_REFUSAL = {
    1: "rejected by the peer (user rejection)",
    2: "rejected, no reason given",
    3: "SOP class not supported",
    4: "none of the transfer syntaxes supported",
}

# PS3.8 Table 9-26, A-ABORT PDU: reason/diag. when the source is the service-provider.
_ABORT_REASON = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


def reject_reason(result: int | None, source: int | None, diagnostic: int | None) -> str:
    """The words for an A-ASSOCIATE-RJ, e.g. ``"called AE title not recognised (permanent)"``.

    ``result``, ``source`` and ``diagnostic`` are the PDU's Result, Source and Reason/Diag.
    fields (PS3.8 9.3.4); unknown or reserved values are shown as numbers.
    """
    words = _REJECT_DIAGNOSTIC.get(source or 0, {}).get(diagnostic or 0)
    if words is None:
        words = f"reason {diagnostic} from source {source}"
    kind = _REJECT_RESULT.get(result or 0, f"result {result}")
    return f"{words} ({kind})"


@dataclass(frozen=True, slots=True)
class ContextAnswer:
    """The peer's answer to one presentation context we proposed."""

    abstract_syntax: str
    accepted: bool
    transfer_syntax: str | None = None
    """The transfer syntax it chose (as the peer wrote it), when accepted."""
    refusal: str = ""
    """Why not, in words, when not accepted."""


@dataclass(frozen=True, slots=True)
class EchoOutcome:
    """What one association + C-ECHO + release found.

    Timings are in seconds and ``None`` when that step was not reached: ``associate_seconds``
    (resolve + TCP connect + A-ASSOCIATE request/response, set as soon as a response, accept or
    reject, came back), ``dimse_seconds`` (C-ECHO request to response), ``release_seconds``
    (A-RELEASE request to response and close) and ``echo_seconds``, the total from the start
    (name lookup included) to the end of the release, set only when the whole exchange
    completed. ``elapsed_seconds`` is always set: how long
    :func:`echo` took to reach this outcome, success or not.
    """

    ok: bool
    reason: str
    host: str
    port: int
    called_aet: str
    calling_aet: str
    elapsed_seconds: float
    associate_seconds: float | None = None
    dimse_seconds: float | None = None
    release_seconds: float | None = None
    echo_seconds: float | None = None
    accepted: bool = False
    """The peer accepted the association (A-ASSOCIATE-AC)."""
    rejected: bool = False
    """The peer rejected the association (A-ASSOCIATE-RJ); see ``reject_*``."""
    released: bool = False
    """The association ended with an orderly release rather than an abort."""
    status: int | None = None
    """The C-ECHO response's Status (0x0000 is success)."""
    peer_implementation_class_uid: str | None = None
    peer_implementation_version_name: str | None = None
    peer_max_pdu: int | None = None
    """The peer's Maximum Length Received (0 means unlimited)."""
    reject_result: int | None = None
    reject_source: int | None = None
    reject_diagnostic: int | None = None
    address: str | None = None
    """The IP address the host name resolved to."""
    contexts: tuple[ContextAnswer, ...] = ()
    """The peer's answer to each presentation context proposed, once it accepted."""

    def metrics(self) -> dict[str, float]:
        """The timings that were measured, keyed by metric name (seconds)."""
        names = ("associate_seconds", "dimse_seconds", "release_seconds", "echo_seconds")
        values = {name: getattr(self, name) for name in names}
        return {name: float(value) for name, value in values.items() if value is not None}


def _resolve(host: str, port: int) -> str:
    """The first IPv4 address of ``host`` (else IPv6), as pynetdicom would pick it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family:
                return str(info[4][0])
    raise socket.gaierror(socket.EAI_NONAME, "no IPv4 or IPv6 address")


def _connect_reason(exc: OSError, where: str, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {seconds_text(timeout)} connecting to {where}"
    if exc.errno == errno.EHOSTUNREACH:
        return f"host unreachable: {where}"
    if exc.errno == errno.ENETUNREACH:
        return f"network unreachable: {where}"
    return f"connection to {where} failed: {exc.strerror or exc}"


def _abort_reason(primitive: Any) -> str:
    """Words for an A-ABORT or A-P-ABORT primitive.

    pynetdicom turns an A-ABORT PDU from the service-user into ``A_ABORT`` and one from the
    service-provider into ``A_P_ABORT``. It also issues ``A_P_ABORT`` itself: reason 0 when the
    peer closes the TCP connection (indistinguishable from a provider abort with no reason) and
    reason 5 when it receives something that is not a valid PDU (e.g. a web server's reply).
    """
    if isinstance(primitive, A_ABORT):
        return "association aborted by the peer (service-user)"
    if isinstance(primitive, A_P_ABORT):
        reason = primitive.provider_reason or 0
        if reason:
            words = _ABORT_REASON.get(reason, f"reason {reason}")
            return f"association aborted: protocol error ({words})"
        return "association aborted: the peer closed the connection (or aborted, no reason)"
    return "association aborted"


def aet_problem(value: str) -> str | None:
    """Why ``value`` is not a valid AE title (PS3.5 AE: 1-16 characters, not all spaces, no
    backslash or control characters), or ``None``."""
    if not value.strip():
        return "empty"
    if len(value) > 16:
        return "longer than 16 characters"
    if any(ch == "\\" or not (" " <= ch <= "~") for ch in value):
        return "only printable ASCII without backslash is allowed"
    return None


def echo(
    host: str,
    port: int,
    called_aet: str,
    calling_aet: str,
    *,
    timeout: float,
    propose: Sequence[str] = (),
) -> EchoOutcome:
    """Open an association to ``called_aet`` at ``host:port``, send one C-ECHO, release.

    ``propose``: more SOP classes (UIDs) to ask presentation contexts for, beside Verification,
    to learn which the peer accepts (``contexts``); a peer that accepts the association but not
    Verification is then a failure, said in words.

    Blocking; run it in a thread pool. Every wait (name lookup excepted: the system resolver
    has its own timeouts) gets what is left of ``timeout`` seconds since the start, and at least
    ``timeout / 10``: the TCP connect, the A-ASSOCIATE response, the C-ECHO response, the
    A-RELEASE response. Never raises for a failure of the peer: ``ok`` is ``False`` and
    ``reason`` says what happened in words.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    start = time.perf_counter()
    budget = Budget.for_timeout(start, timeout)
    where = host_port(host, port)  # [::1]:104 for IPv6
    base: dict[str, Any] = {
        "host": host,
        "port": port,
        "called_aet": called_aet,
        "calling_aet": calling_aet,
    }

    def outcome(ok: bool, reason: str, **fields: Any) -> EchoOutcome:
        known = {k: v for k, v in base.items() if not k.startswith("_")}  # "_": our own marks
        return EchoOutcome(
            ok=ok, reason=reason, elapsed_seconds=time.perf_counter() - start, **known, **fields
        )

    for name, value in (("called", called_aet), ("calling", calling_aet)):
        problem = aet_problem(value)
        if problem is not None:
            return outcome(False, f"invalid {name} AE title {value!r}: {problem}")

    try:
        address = _resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        detail = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else exc
        return outcome(False, f"host not found: {host} ({detail})")
    base["address"] = address

    ae = ProbeAE(calling_aet, budget, pdata_limit=ECHO_PDATA_LIMIT, expecting="a C-ECHO response")
    try:
        result = _exchange(ae, base, where, budget, start, timeout, outcome, propose)
    except Exception as exc:  # pynetdicom failing on what a peer sent, in the caller's thread
        LOGGER.debug("C-ECHO of %s failed inside pynetdicom", where, exc_info=True)
        detail = visible(f"{type(exc).__name__}: {exc}", 160)
        result = outcome(False, f"pynetdicom could not go on with what the peer sent ({detail})")
    finally:
        # Whatever state pynetdicom was left in (a reactor thread that died on an invalid
        # event leaves its socket open; an exception in pynetdicom leaves the association
        # thread running), the connection and its threads end with the check.
        if ae.socket is not None:
            ae.socket.close_os_socket()
        for assoc in ae.active_associations:
            assoc.kill()
    sock = ae.socket
    if sock is None or sock.fault is None:
        return result
    # The guard's words say what the peer did; pynetdicom only saw a closed connection.
    echoed_at = base.get("_echoed_at")
    if not result.ok or echoed_at is None or (sock.fault_at or 0.0) < echoed_at:
        return dataclasses.replace(result, ok=False, reason=sock.fault)
    return dataclasses.replace(result, reason=f"release failed: {sock.fault}")


def _exchange(
    ae: ProbeAE,
    base: dict[str, Any],
    where: str,
    budget: Budget,
    start: float,
    timeout: float,
    outcome: Callable[..., EchoOutcome],
    propose: Sequence[str] = (),
) -> EchoOutcome:
    """Associate, C-ECHO and release on ``ae``; the body of :func:`echo`. What it learns goes
    into ``base``, which ``outcome`` reads."""
    ae.add_requested_context(VERIFICATION_SOP_CLASS)
    for uid in propose:
        if uid != VERIFICATION_SOP_CLASS:
            ae.add_requested_context(uid)
    # Never pynetdicom's defaults (no connect timeout, ACSE 30 s, DIMSE 30 s, network 60 s).
    connect_timeout = budget.left()
    ae.connection_timeout = connect_timeout
    ae.acse_timeout = timeout  # replaced by what is left once connected (_on_connected)
    ae.dimse_timeout = timeout  # replaced by what is left before the C-ECHO
    ae.network_timeout = timeout  # idle limit of the association and socket reads

    received: list[Any] = []
    reply_at: list[float] = []
    responses: list[Any] = []

    def on_dimse_recv(event: Any) -> None:
        responses.append(event.message.command_set)

    def on_acse_recv(event: Any) -> None:
        received.append(event.primitive)

    def on_pdu_recv(event: Any) -> None:
        if not reply_at:  # in the DUL thread, as the A-ASSOCIATE-AC/RJ is decoded
            reply_at.append(time.perf_counter())

    assoc = ae.associate(
        base["address"],
        base["port"],
        ae_title=base["called_aet"],
        evt_handlers=[
            (evt.EVT_ACSE_RECV, on_acse_recv),
            (evt.EVT_PDU_RECV, on_pdu_recv),
            (evt.EVT_DIMSE_RECV, on_dimse_recv),
        ],
    )
    associated = time.perf_counter()

    connect_error = ae.socket.connect_error if ae.socket is not None else None
    if connect_error is not None:
        return outcome(False, _connect_reason(connect_error, where, connect_timeout))

    # A race in pynetdicom 3.0: when the peer closes the connection right after its reply
    # (storescp --refuse sends A-ASSOCIATE-RJ and closes; a peer's A-ABORT), the DUL thread can
    # close our socket before the requesting thread reads the reply; pynetdicom then aborts
    # locally (with a fixed 0.1 s sleep) and the reply is left in the DUL's queue. Read it there.
    seen = received + list(assoc.dul.to_user_queue.queue)
    response = assoc.acceptor.primitive
    if response is None:
        response = next((p for p in seen if isinstance(p, A_ASSOCIATE)), None)
    if isinstance(response, A_ASSOCIATE) and response.result == 0:
        base["associate_seconds"] = associated - start
        base["accepted"] = True
        base["peer_implementation_class_uid"] = _text(assoc.acceptor.implementation_class_uid)
        base["peer_implementation_version_name"] = _text(assoc.acceptor.implementation_version_name)
        base["peer_max_pdu"] = assoc.acceptor.maximum_length
        base["contexts"] = _answers(assoc)

    if isinstance(response, A_ASSOCIATE) and response.result in (1, 2):
        base["associate_seconds"] = (reply_at[0] if reply_at else associated) - start
        base["rejected"] = True
        base["reject_result"] = response.result
        base["reject_source"] = response.result_source
        base["reject_diagnostic"] = response.diagnostic
        words = reject_reason(response.result, response.result_source, response.diagnostic)
        return outcome(False, f"association rejected: {words}")

    if not assoc.is_established:
        aborts = [p for p in seen if isinstance(p, (A_ABORT, A_P_ABORT))]
        if aborts:
            return outcome(False, _abort_reason(aborts[0]))
        if base.get("accepted"):
            # Accepted, but not our one presentation context: pynetdicom aborts.
            return outcome(
                False,
                "association aborted: the peer accepted no presentation context "
                "for the Verification SOP Class",
            )
        waited = assoc.acse_timeout or timeout
        if not seen and associated - start >= waited * 0.99:
            return outcome(
                False, f"timed out after {seconds_text(waited)} waiting for A-ASSOCIATE response"
            )
        return outcome(False, "association aborted: no valid reply to the A-ASSOCIATE request")

    if propose and not any(
        cx.abstract_syntax == VERIFICATION_SOP_CLASS for cx in assoc.accepted_contexts
    ):
        assoc.acse_timeout = budget.left()
        assoc.release()
        return outcome(
            False,
            "the peer accepted the association but not the Verification SOP Class: "
            "it does not answer C-ECHO",
        )

    dimse_timeout = budget.left()
    assoc.dimse_timeout = dimse_timeout
    echo_start = time.perf_counter()
    status_ds = assoc.send_c_echo()
    echo_end = time.perf_counter()
    status: int | None = getattr(status_ds, "Status", None)
    if status is None:
        # pynetdicom has already aborted (timeout, invalid response) or seen the peer's abort.
        aborts = [
            p
            for p in received + list(assoc.dul.to_user_queue.queue)
            if isinstance(p, (A_ABORT, A_P_ABORT))
        ]
        if echo_end - echo_start >= dimse_timeout * 0.99:
            reason = f"timed out after {seconds_text(dimse_timeout)} waiting for C-ECHO response"
        elif aborts:
            reason = f"{_abort_reason(aborts[0])} while waiting for C-ECHO response"
        else:
            reason = "association aborted while waiting for C-ECHO response"
        return outcome(False, reason)
    base["dimse_seconds"] = echo_end - echo_start
    base["status"] = int(status)
    base["_echoed_at"] = echo_end
    wrong = _wrong_response(responses)
    if wrong is not None:
        assoc.abort()
        return outcome(False, wrong)

    release_timeout = budget.left()
    assoc.acse_timeout = release_timeout

    def on_released(event: Any) -> None:
        # Once A-RELEASE-RP is handled the DUL thread has been told to stop; wait for it here
        # so that Association.kill() finds it finished instead of polling every 10 ms.
        event.assoc.dul.join(release_timeout)

    assoc.bind(evt.EVT_RELEASED, on_released)
    release_start = time.perf_counter()
    assoc.release()
    release_end = time.perf_counter()

    ok = status == 0x0000
    reason = "" if ok else f"C-ECHO failed with status 0x{status:04X}"
    if assoc.is_released:
        base["released"] = True
        base["release_seconds"] = release_end - release_start
        base["echo_seconds"] = release_end - start
    elif ok:
        aborts = [p for p in received if isinstance(p, (A_ABORT, A_P_ABORT))]
        if aborts:
            reason = f"release failed: {_abort_reason(aborts[0])}"
        else:
            reason = f"release failed: timed out after {seconds_text(release_timeout)}"
    return outcome(ok, reason)


def _answers(assoc: Any) -> tuple[ContextAnswer, ...]:
    """The peer's answer to each presentation context proposed, in the order proposed."""
    answers = []
    contexts = [*assoc.accepted_contexts, *assoc.rejected_contexts]
    for cx in sorted(contexts, key=lambda cx: cx.context_id or 0):
        if cx.result == 0:
            chosen = str(cx.transfer_syntax[0]) if cx.transfer_syntax else None
            answers.append(ContextAnswer(str(cx.abstract_syntax), True, chosen))
        else:
            words = _CONTEXT_REFUSAL.get(cx.result, f"not accepted (result {cx.result})")
            answers.append(ContextAnswer(str(cx.abstract_syntax), False, refusal=words))
    return tuple(answers)


def _wrong_response(commands: list[Any]) -> str | None:
    """Why the reply to our C-ECHO (message 1) is not its C-ECHO-RSP, in words, or ``None``.

    pynetdicom's ``send_c_echo`` returns the Status of whatever DIMSE message came first: a
    C-FIND-RSP, a response to another message or for another SOP class would pass as an echo.
    """
    if not commands:
        return None
    command = commands[0]
    field = command.get("CommandField")
    if field != 0x8030:
        what = DIMSE_COMMANDS.get(field, "a DIMSE message") if isinstance(field, int) else None
        return f"peer answered the C-ECHO with {what or 'a message without a command field'}"
    answered = command.get("MessageIDBeingRespondedTo")
    if answered != 1:
        return f"peer answered message {answered}, not our C-ECHO (message 1)"
    sop_class = command.get("AffectedSOPClassUID")
    if sop_class is not None and str(sop_class) != VERIFICATION_SOP_CLASS:
        return (
            f"peer answered the C-ECHO for SOP class {visible(str(sop_class), 64)}, "
            "not Verification"
        )
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def echo_result(outcome: EchoOutcome, warn_latency: float) -> Result:
    """Fold an :class:`EchoOutcome` into a :class:`Result`: DOWN when it failed, WARN when the
    release failed or the whole exchange took ``warn_latency`` or more, else OK."""
    details: dict[str, Any] = {
        "called_aet": outcome.called_aet,
        "calling_aet": outcome.calling_aet,
        "accepted": outcome.accepted,
        "peer_implementation_version_name": outcome.peer_implementation_version_name,
        "peer_implementation_class_uid": outcome.peer_implementation_class_uid,
        "peer_max_pdu": outcome.peer_max_pdu,
        "echo_status": outcome.status,
        "address": outcome.address,
    }
    metrics = outcome.metrics()
    if not outcome.ok:
        return Result(Status.DOWN, outcome.reason, metrics=metrics, details=details)
    if outcome.reason:  # echo answered, release did not go cleanly
        return Result(Status.WARN, outcome.reason, metrics=metrics, details=details)
    over = over_threshold(ECHO_SECONDS, outcome.echo_seconds, warn=warn_latency)
    if over is not None:
        return Result(over[0], over[1], metrics=metrics, details=details)
    return Result(Status.OK, "echo ok", metrics=metrics, details=details)


def make_executor(max_workers: int = 8) -> ThreadPoolExecutor:
    """The bounded thread pool that DICOM associations run in (threads named ``dicom_N``)."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dicom")


class DicomEchoCheck:
    """Periodic C-ECHO of one DICOM node: OK, WARN when slower than ``warn_latency``, DOWN.

    The association runs in ``executor`` (owned by the engine); the check never creates
    threads itself (pynetdicom starts its own two per association inside that worker).
    ``pool`` tells the scheduler to hold the check until a worker is free, so time spent
    waiting for one never counts against the node's timeout.
    """

    pool = "dicom"

    @property
    def settings(self) -> tuple[object, ...]:
        """What the check does besides its target, interval and timeout (a reload that leaves
        these alone keeps it running)."""
        return (self.host, self.port, self.called_aet, self.calling_aet, self.warn_latency)

    def __init__(
        self,
        target: Target,
        *,
        host: str,
        port: int,
        called_aet: str,
        calling_aet: str,
        interval: float,
        timeout: float,
        warn_latency: float,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.target = target
        self.host = host
        self.port = port
        self.called_aet = called_aet
        self.calling_aet = calling_aet
        self.interval = interval
        self.timeout = timeout
        self.warn_latency = warn_latency
        self._executor = executor

    def __repr__(self) -> str:
        return (
            f"DicomEchoCheck({self.target.id!r}, {self.calling_aet}->{self.called_aet}"
            f"@{host_port(self.host, self.port)})"
        )

    async def check(self) -> Result:
        loop = asyncio.get_running_loop()
        call = functools.partial(
            echo,
            self.host,
            self.port,
            self.called_aet,
            self.calling_aet,
            timeout=self.timeout,
        )
        try:
            outcome = await loop.run_in_executor(self._executor, call)
        except Exception as exc:  # a bug in the probe, not a fault of the node
            LOGGER.exception("C-ECHO probe of %s failed", self.target.id)
            return Result(Status.UNKNOWN, f"probe error: {type(exc).__name__}: {exc}")
        return self.result(outcome)

    def result(self, outcome: EchoOutcome) -> Result:
        """Fold an :class:`EchoOutcome` into a :class:`Result`."""
        return echo_result(outcome, self.warn_latency)

    async def close(self) -> None:
        """Nothing to close: every check opens and releases its own association."""
