"""``pacs-tui diagnose dicom HOST:PORT``: one DICOM node tested step by step — the name looked
up, the TCP connection, the association (what the peer is, which of the common SOP classes it
accepts), a C-ECHO, the release — each timed, then a verdict: the status a node's C-ECHO check
would give with the default ``warn_latency``. The association, the C-ECHO and the release run
as the check runs them (:func:`~pacs_tui.probes.dicom.echo`, in a thread), sharing ``timeout``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from pydicom.uid import UID

from pacs_tui.diagnosis import (
    Diagnosis,
    Step,
    Steps,
    close_quietly,
    connect,
    in_thread,
    look_up,
)
from pacs_tui.mirror.node import Node
from pacs_tui.model import Status
from pacs_tui.probes.dicom import (
    VERIFICATION_SOP_CLASS,
    EchoOutcome,
    _connect_reason,
    echo,
    echo_result,
)
from pacs_tui.probes.dicom_source import DEFAULT_WARN_LATENCY
from pacs_tui.probes.dicom_transport import Budget
from pacs_tui.visible import host_port, visible

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
#: ``--find`` reads this many answers at most (a busy archive's day can hold thousands).
FIND_LIMIT = 1000

#: What the association asks for, to learn what the node does: the services a PACS, a RIS, a
#: modality or a viewer asks of an archive, and the common image and document classes.
PROPOSED: tuple[tuple[str, str], ...] = (
    (VERIFICATION_SOP_CLASS, "Verification (C-ECHO)"),
    (STUDY_ROOT_FIND, "Study Root query (C-FIND)"),
    ("1.2.840.10008.5.1.4.1.2.2.2", "Study Root retrieve (C-MOVE)"),
    ("1.2.840.10008.5.1.4.1.2.2.3", "Study Root retrieve (C-GET)"),
    ("1.2.840.10008.5.1.4.1.2.1.1", "Patient Root query (C-FIND)"),
    ("1.2.840.10008.5.1.4.31", "Modality Worklist (C-FIND)"),
    ("1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step"),
    ("1.2.840.10008.1.20.1", "Storage Commitment"),
    ("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.1", "CR Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.1.1", "DX Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.1.2", "Mammography Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.20", "NM Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.128", "PET Image Storage"),
    ("1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Storage"),
    ("1.2.840.10008.5.1.4.1.1.104.1", "Encapsulated PDF Storage"),
)
_NAMES = dict(PROPOSED)

#: The names the C-ECHO's Status may carry (PS3.7 9.1.5.1.4, C.4).
_ECHO_STATUS = {0x0000: "success", 0x0122: "SOP class not supported", 0x0210: "duplicate"}


async def diagnose_node(
    host: str,
    port: int,
    called_aet: str,
    calling_aet: str,
    timeout: float,
    on_step: Callable[[Step], None] = lambda step: None,
    warn_latency: float | None = None,
    aet_from: tuple[str, str] = ("--called-aet sets it", "--calling-aet sets it"),
    find: bool = False,
) -> Diagnosis:
    """Run the steps; ``on_step`` hears each as it ends; a whole exchange slower than
    ``warn_latency`` (default: a node's default) is WARN. ``aet_from``: where the called and
    the calling AE title came from, in words, said when a node rejects one of them. With
    ``find``, a study-level C-FIND for the studies dated today follows the echo, on an
    association of its own.

    The JSON document adds ``called_aet``, ``calling_aet``, ``peer`` (its implementation and
    largest PDU, null until it accepted), ``contexts`` (each SOP class asked for and the
    answer), ``echo_status`` and with ``find`` ``find`` (``{"studies", "cut_short",
    "seconds"}``, null when it failed)."""
    learned: dict[str, Any] = {
        "called_aet": called_aet,
        "calling_aet": calling_aet,
        "peer": None,
        "contexts": [],
        "echo_status": None,
    }
    if find:
        learned["find"] = None
    where = host_port(host, port)
    steps = Steps(Diagnosis(where, learned=learned), on_step)
    if not await look_up(host, port, timeout, steps):
        return steps.found

    connected = await connect(
        host,
        port,
        timeout,
        steps,
        lambda exc: _connect_reason(exc, where, timeout),
        lambda writer: "the port is open",
    )
    if connected is None:
        if steps.found.reason.startswith("connection refused"):
            steps.found.reason += (
                "; nothing listens there: is the DICOM service running, on this port?"
            )
        return steps.found
    await close_quietly(connected[1])

    call = functools.partial(
        echo, host, port, called_aet, calling_aet, timeout=timeout, propose=tuple(_NAMES)
    )
    outcome = await in_thread(call)
    _said(outcome, steps)
    warn = warn_latency if warn_latency is not None else DEFAULT_WARN_LATENCY
    result = echo_result(outcome, warn)
    reason = result.reason + _hint(outcome, aet_from)
    if outcome.ok and not outcome.reason and outcome.echo_seconds is not None:
        parts = (
            f"association {_ms(outcome.associate_seconds or 0.0)}, "
            f"C-ECHO {_ms(outcome.dimse_seconds or 0.0)}, "
            f"release {_ms(outcome.release_seconds or 0.0)}"
        )
        if result.status is Status.OK:
            reason = f"C-ECHO answered in {_ms(outcome.dimse_seconds or 0.0)}"
        else:  # slow: the whole exchange, which no one step shows
            reason = (
                f"the exchange took {_ms(outcome.echo_seconds)} ({parts}), over the "
                f"{_ms(warn)} warning limit"
            )
    if find and result.status is not Status.DOWN:
        failed = await _find(outcome, timeout, steps)
        if failed is not None:  # it answers C-ECHO, not the queries asked for
            return steps.verdict(Status.CRIT, failed)
        reason += f"; C-FIND: {steps.found.steps[-1].detail}"
    return steps.verdict(result.status, reason)


async def _find(outcome: EchoOutcome, timeout: float, steps: Steps) -> str | None:
    """The C-FIND step: the studies dated today, counted (only their UIDs asked for: no
    patient data). ``None`` when it passed, else the verdict's reason."""
    if not any(a.accepted and a.abstract_syntax == STUDY_ROOT_FIND for a in outcome.contexts):
        steps.took("C-FIND", False, 0.0, "not tried: the node takes no Study Root queries")
        return None
    started = time.monotonic()
    counted, words = await in_thread(
        functools.partial(
            _studies_today,
            Node("diagnose", outcome.host, outcome.port, outcome.called_aet, outcome.calling_aet),
            timeout,
        )
    )
    ok = counted is not None
    seconds = time.monotonic() - started
    steps.took("C-FIND", ok, seconds, f"{words} in {_ms(seconds)}" if ok else words)
    if ok:
        cut = words.startswith("over ")
        steps.found.learned["find"] = {"studies": counted, "cut_short": cut, "seconds": seconds}
        return None
    calling = visible(outcome.calling_aet)
    return (
        f"C-FIND failed: {words}; many archives answer queries only from callers they know: "
        f"is '{calling}' among the node's peers?"
    )


def _studies_today(node: Node, timeout: float) -> tuple[int | None, str]:
    """How many studies the node holds dated today (this machine's date), and that in words;
    ``None`` and why when the query failed. Blocking."""
    from pydicom.dataset import Dataset

    from pacs_tui.mirror.association import DicomFailure, NodeSession

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyDate = time.strftime("%Y%m%d")
    query.StudyInstanceUID = ""
    session = NodeSession(
        node,
        Budget.for_timeout(time.perf_counter(), timeout),
        request_timeout=timeout,
        pdata_limit=FIND_LIMIT * 2048 + 64 * 1024,
        expecting="study-level C-FIND answers",
    )
    try:
        rows = session.find(query, ("StudyInstanceUID",), FIND_LIMIT)
    except DicomFailure as exc:
        return None, str(exc)
    finally:
        session.close()
    if rows is None:
        return FIND_LIMIT, f"over {FIND_LIMIT:,} studies dated today (the rest not read)"
    return len(rows), f"{len(rows):,} stud{'y' if len(rows) == 1 else 'ies'} dated today"


def _said(outcome: EchoOutcome, steps: Steps) -> None:
    """The association's, the C-ECHO's and the release's steps, from what :func:`echo` found."""
    learned = steps.found.learned
    learned["contexts"] = [
        {
            "sop_class": answer.abstract_syntax,
            "name": _NAMES.get(answer.abstract_syntax, answer.abstract_syntax),
            "accepted": answer.accepted,
            "transfer_syntax": answer.transfer_syntax and visible(answer.transfer_syntax, 64),
            "refusal": answer.refusal or None,
        }
        for answer in outcome.contexts
    ]
    learned["echo_status"] = outcome.status
    associated = outcome.associate_seconds or outcome.elapsed_seconds
    if not outcome.accepted:
        steps.took("associate", False, associated, outcome.reason)
        return
    learned["peer"] = {
        "implementation_class_uid": _peer_text(outcome.peer_implementation_class_uid),
        "implementation_version_name": _peer_text(outcome.peer_implementation_version_name),
        "max_pdu": outcome.peer_max_pdu,
    }
    accepted = sum(answer.accepted for answer in outcome.contexts)
    detail = (
        f"accepted when called '{visible(outcome.called_aet)}', "
        f"{accepted} of the {len(outcome.contexts)} SOP classes asked for"
    )
    lines = (f"the peer: {_implementation(outcome)}", *_context_lines(learned["contexts"]))
    steps.took("associate", True, associated, detail, lines)
    if outcome.status is None:
        steps.took("C-ECHO", False, outcome.elapsed_seconds - associated, outcome.reason)
        return
    status = outcome.status
    words = f"status 0x{status:04X} ({_ECHO_STATUS.get(status, 'failure')})"
    steps.took("C-ECHO", status == 0, outcome.dimse_seconds or 0.0, words)
    if outcome.released:
        steps.took("release", True, outcome.release_seconds or 0.0, "released")
    elif status == 0:
        spent = outcome.elapsed_seconds - associated - (outcome.dimse_seconds or 0.0)
        steps.took("release", False, spent, outcome.reason)


def _hint(outcome: EchoOutcome, aet_from: tuple[str, str]) -> str:
    """What to look at after a rejection: the AE title a node named as its reason (and where
    it came from), the caller a node may not know, a busy node."""
    if not outcome.rejected:
        return ""
    if outcome.reject_result == 2:
        return "; the node is busy or at its limit: try again in a while"
    if outcome.reject_source != 1:
        return ""
    called, calling = visible(outcome.called_aet), visible(outcome.calling_aet)
    if outcome.reject_diagnostic == 7:
        return f"; '{called}' was asked for ({aet_from[0]})"
    if outcome.reject_diagnostic == 3:
        return f"; the call came from '{calling}' ({aet_from[1]})"
    return (
        f"; many nodes refuse a caller they do not know: is '{calling}' at this host's "
        f"address among the node's peers, and '{called}' its own AE title?"
    )


def _implementation(outcome: EchoOutcome) -> str:
    """The peer's implementation in words: its version name, its class UID, its largest PDU."""
    name = _peer_text(outcome.peer_implementation_version_name)
    uid = _peer_text(outcome.peer_implementation_class_uid) or "no implementation class UID"
    pdu = outcome.peer_max_pdu
    largest = "no PDU limit" if not pdu else f"PDUs up to {pdu:,} bytes"
    return f"{name} ({uid}), {largest}" if name else f"{uid}, {largest}"


def _context_lines(contexts: list[dict[str, Any]]) -> tuple[str, ...]:
    """A line for each SOP class asked for: accepted (with which transfer syntax) or why not."""
    width = max((len(c["name"]) for c in contexts), default=0)
    lines = []
    for c in contexts:
        if c["accepted"]:
            syntax = c["transfer_syntax"] or ""
            lines.append(f"✔ {c['name']:<{width}}  {_syntax_name(syntax)}")
        else:
            lines.append(f"✖ {c['name']:<{width}}  {c['refusal']}")
    return tuple(lines)


def _syntax_name(uid: str) -> str:
    """A transfer syntax's name when pydicom knows it, else its UID."""
    name = UID(uid).name if uid else ""
    return name if name and name != uid else uid


def _peer_text(value: str | None) -> str | None:
    return visible(value, 64) if value else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"
