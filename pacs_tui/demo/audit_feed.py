"""The demo's audit trail: a PACS that sends IHE ATNA audit messages (DICOM PS3.15 A.5 XML in
RFC 5424 syslog, octet-counted over TCP, as RFC 5425 asks) to the demo's receiver: users log
in, query, open studies, export now and then, log out, and every few minutes someone guesses
passwords (a burst of failed logins). In a thread with its own event loop; made-up people."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import threading
from xml.sax.saxutils import quoteattr

from pacs_tui.demo.hl7_feed import free_port

#: Audit messages the PACS sends a second, on average.
RATE = 1.0
#: A burst of failed logins about this often (seconds), of this many tries.
BURST_EVERY = 180.0
BURST_TRIES = 6

#: The demo's users: (user ID, host) — their roles come from the demo's ``[audit.roles]``.
USERS = (
    ("rad-martin", "10.1.20.11"),
    ("rad-bernard", "10.1.20.12"),
    ("tech-leroy", "10.1.30.5"),
    ("gp-durand", "10.2.4.77"),
    ("pacsadmin", "10.1.1.2"),
)
#: The demo's role map (user ID patterns → role).
ROLES = {
    "radiologist": ("rad-*",),
    "technologist": ("tech-*",),
    "referring": ("gp-*",),
    "admin": ("pacsadmin",),
}
SOURCE_ID = "DEMO-PACS"

_EVENTS = {
    "110114": "User Authentication",
    "110103": "DICOM Instances Accessed",
    "110112": "Query",
    "110106": "Export",
    "110113": "Security Alert",
}
_TYPES = {"110122": "Login", "110123": "Logout"}


def audit_xml(
    event_id: str,
    user: str,
    host: str,
    *,
    type_code: str = "",
    outcome: int = 0,
    action: str = "E",
    when: dt.datetime | None = None,
    study: str = "",
    patient: str = "",
    source: str = SOURCE_ID,
) -> bytes:
    """One audit message (DICOM PS3.15 A.5 XML) as a PACS writes it."""
    stamp = (when or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
    type_xml = ""
    if type_code:
        name = _TYPES.get(type_code, "")
        type_xml = (
            f'<EventTypeCode csd-code="{type_code}" codeSystemName="DCM" originalText="{name}"/>'
        )
    objects = ""
    if study:
        objects += (
            f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(study)} "
            'ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">'
            '<ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM" '
            'originalText="Study Instance UID"/></ParticipantObjectIdentification>'
        )
    if patient:
        objects += (
            f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(patient)} "
            'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">'
            '<ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" '
            'originalText="Patient Number"/>'
            "<ParticipantObjectName>DEMO^PATIENT</ParticipantObjectName>"
            "</ParticipantObjectIdentification>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><AuditMessage>'
        f'<EventIdentification EventActionCode="{action}" EventDateTime="{stamp}" '
        f'EventOutcomeIndicator="{outcome}">'
        f'<EventID csd-code="{event_id}" codeSystemName="DCM" '
        f'originalText="{_EVENTS.get(event_id, "")}"/>{type_xml}</EventIdentification>'
        f'<ActiveParticipant UserID={quoteattr(user)} UserIsRequestor="true" '
        f'NetworkAccessPointID={quoteattr(host)} NetworkAccessPointTypeCode="2"/>'
        f"<AuditSourceIdentification AuditSourceID={quoteattr(source)}>"
        '<AuditSourceTypeCode csd-code="4"/></AuditSourceIdentification>'
        f"{objects}</AuditMessage>"
    )
    return xml.encode()


def syslog_frame(xml: bytes, *, host: str = "demo-pacs", app: str = "PACS") -> bytes:
    """``xml`` in an RFC 5424 message (facility authpriv, severity notice, MSGID
    IHE+RFC-3881 as the IHE profile has it), octet-counted (RFC 6587 / 5425)."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    message = f"<85>1 {stamp} {host} {app} - IHE+RFC-3881 - ".encode() + b"\xef\xbb\xbf" + xml
    return str(len(message)).encode() + b" " + message


class DemoAuditFeed:
    """Start with :meth:`start` (returns the receiver's port the feed sends to), stop with
    :meth:`stop`."""

    def __init__(self, *, seed: int | None = None, port: int | None = None) -> None:
        self._random = random.Random(seed)
        self.port = port or free_port()
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._logged_in: set[int] = set()
        self._next_burst = 30.0

    def start(self) -> int:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stopping = asyncio.Event()
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main())
            loop.close()

        self._thread = threading.Thread(target=run, name="demo-audit", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self.port

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _main(self) -> None:
        assert self._stopping is not None
        started = asyncio.get_running_loop().time()
        while not self._stopping.is_set():
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:  # the receiver is not up yet (or is restarting): try again
                if await self._wait(1.0):
                    return
                continue
            try:
                while not self._stopping.is_set():
                    elapsed = asyncio.get_running_loop().time() - started
                    for xml in self._next(elapsed):
                        writer.write(syslog_frame(xml))
                        self.sent += 1
                    await writer.drain()
                    if await self._wait(self._random.expovariate(RATE)):
                        break
            except OSError:
                pass
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; whether it was stopped."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    def _next(self, elapsed: float) -> list[bytes]:
        """What the PACS says next: a burst of failed logins when one is due, else one user's
        next step (log in, look, query, export, log out)."""
        rand = self._random
        if elapsed >= self._next_burst:
            self._next_burst = elapsed + BURST_EVERY
            host = f"10.9.{rand.randint(0, 255)}.{rand.randint(1, 254)}"
            return [
                audit_xml("110114", "admin", host, type_code="110122", outcome=4)
                for _ in range(BURST_TRIES)
            ]
        index = rand.randrange(len(USERS))
        user, host = USERS[index]
        if index not in self._logged_in:
            self._logged_in.add(index)
            return [audit_xml("110114", user, host, type_code="110122")]
        roll = rand.random()
        study = f"1.2.826.0.1.3680043.8.498.{rand.randint(10**9, 10**10)}"
        patient = f"DEMO{rand.randint(1, 40):04d}"
        if roll < 0.55:
            return [audit_xml("110103", user, host, action="R", study=study, patient=patient)]
        if roll < 0.8:
            return [audit_xml("110112", user, host)]
        if roll < 0.87:
            return [audit_xml("110106", user, host, action="R", study=study, patient=patient)]
        if roll < 0.89:
            return [audit_xml("110113", user, host, type_code="")]
        self._logged_in.discard(index)
        return [audit_xml("110114", user, host, type_code="110123")]
