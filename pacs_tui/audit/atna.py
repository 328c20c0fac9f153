"""The audit record in a syslog message's body: DICOM PS3.15 A.5 (``csd-code``) or RFC 3881
(``code``) audit XML, read through defusedxml into an :class:`AuditEvent` free of patient data.

A patient's ID leaves :func:`parse_audit` only as the caller's reference to it, and the parts
that carry patient data in clear (ParticipantObjectName, ParticipantObjectQuery,
ParticipantObjectDetail) are never read. An :class:`AuditParseError` says what was wrong and
where, never what the message said. Strings are kept as sent (cut to 256 characters): whoever
shows them passes them through :func:`pacs_tui.visible.visible`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import errors as expat_errors

import defusedxml
from defusedxml import ElementTree as safe_etree

#: Largest audit XML read; a larger message is refused before it is parsed.
MAX_BYTES = 1_048_576
#: ActiveParticipant elements looked at, and as many ParticipantObjectIdentification ones.
MAX_PARTS = 1000
#: RoleIDCode elements looked at in one ActiveParticipant.
MAX_ROLES = 32
#: Every string of an :class:`AuditEvent` is cut to this many characters.
TEXT_LIMIT = 256
#: ParticipantObjectIDTypeCode of a study's object (DCM 110180, Study Instance UID).
STUDY_INSTANCE_UID = "110180"

#: DICOM PS3.16 CID 400, Audit Event ID.
DCM_EVENTS: dict[str, str] = {
    "110100": "Application Activity",
    "110101": "Audit Log Used",
    "110102": "Begin Transferring DICOM Instances",
    "110103": "DICOM Instances Accessed",
    "110104": "DICOM Instances Transferred",
    "110105": "DICOM Study Deleted",
    "110106": "Export",
    "110107": "Import",
    "110108": "Network Entry",
    "110109": "Order Record",
    "110110": "Patient Record",
    "110111": "Procedure Record",
    "110112": "Query",
    "110113": "Security Alert",
    "110114": "User Authentication",
}

#: DICOM PS3.16 CID 401, Audit Event Type Code (the codes the receiver uses).
DCM_EVENT_TYPES: dict[str, str] = {
    "110120": "Application Start",
    "110121": "Application Stop",
    "110122": "Login",
    "110123": "Logout",
    "110124": "Attach",
    "110125": "Detach",
    "110126": "Node Authentication",
    "110127": "Emergency Override Started",
    "110128": "Network Configuration",
    "110129": "Security Configuration",
    "110130": "Hardware Configuration",
    "110131": "Software Configuration",
    "110132": "Use of Restricted Function",
    "110135": "Object Security Attributes Changed",
    "110136": "Security Roles Changed",
    "110137": "User Security Attributes Changed",
    "110138": "Emergency Override Stopped",
}

_DCM_SYSTEMS = ("", "DCM", "1.2.840.10008.2.16.4")
_OUTCOMES = frozenset({0, 4, 8, 12})
_PATIENT_TYPE, _PATIENT_ROLE = "1", "1"  # Person, Patient (ParticipantObjectTypeCode/…Role)
_TRUE = ("true", "1")
# Expat's errors for input that ended before its document did.
_TRUNCATED = frozenset(
    expat_errors.codes[message]
    for message in (
        expat_errors.XML_ERROR_NO_ELEMENTS,
        expat_errors.XML_ERROR_UNCLOSED_TOKEN,
        expat_errors.XML_ERROR_PARTIAL_CHAR,
        expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    )
)
_BOM = b"\xef\xbb\xbf"
_XML_STARTS = (b"<?xml", b"<AuditMessage")


class AuditParseError(ValueError):
    """Audit XML that cannot be read; ``words`` say what was wrong and where, not the content."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit message: what happened, to what outcome, done by whom from where, about which
    studies and (as references, never IDs) which patients. ``user_*`` is the operator: the
    requesting ActiveParticipant, else the first. ``outcome`` is -1 when missing or not one of
    0, 4, 8, 12; ``style`` "dicom" (``csd-code``) or "rfc3881" (``code``)."""

    event_id: str
    event_name: str
    type_code: str
    type_name: str
    action: str
    outcome: int
    when: str
    user_id: str
    user_name: str
    user_roles: tuple[str, ...]
    user_host: str
    source_id: str
    studies: tuple[str, ...]
    patients: tuple[str, ...]
    object_count: int
    style: str


def extract_xml(body: bytes) -> bytes:
    """The XML part of a syslog body: from ``<?xml`` or ``<AuditMessage`` when a sender puts text
    or a BOM before it; the body itself when it starts with ``<`` (or has neither)."""
    if body.startswith(b"<"):
        return body
    starts = [at for at in (body.find(start) for start in _XML_STARTS) if at >= 0]
    if starts:
        return body[min(starts) :]
    stripped = body.removeprefix(_BOM).lstrip()
    return stripped if stripped.startswith(b"<") else body


def parse_audit(
    xml: bytes, patient_ref: Callable[[str], str], *, max_bytes: int = MAX_BYTES
) -> AuditEvent:
    """The :class:`AuditEvent` in ``xml``, patients' IDs turned into ``patient_ref(id)``.
    Raises :class:`AuditParseError` for anything that is not a readable audit message."""
    root = _root(xml, max_bytes)
    parts = _Parts(root)
    if parts.event is None:
        raise AuditParseError("no EventIdentification in the AuditMessage")
    event = parts.event
    event_id = _first(event, "EventID")
    code, name, style = _coded(event_id, DCM_EVENTS)
    if not code:
        raise AuditParseError("no EventID code in EventIdentification")
    type_code, type_name, _ = _coded(_first(event, "EventTypeCode"), DCM_EVENT_TYPES)
    attrs = _attrs(event)
    user = _user(parts.participants)
    user_attrs = _attrs(user) if user is not None else {}
    return AuditEvent(
        event_id=code,
        event_name=name,
        type_code=type_code,
        type_name=type_name,
        action=_get(attrs, "EventActionCode"),
        outcome=_outcome(_get(attrs, "EventOutcomeIndicator")),
        when=_get(attrs, "EventDateTime"),
        user_id=_get(user_attrs, "UserID"),
        user_name=_get(user_attrs, "UserName") or _get(user_attrs, "AlternativeUserID"),
        user_roles=_roles(user),
        user_host=_get(user_attrs, "NetworkAccessPointID"),
        source_id=_source_id(parts.source),
        studies=_studies(parts.objects),
        patients=_patients(parts.objects, patient_ref),
        object_count=len(parts.objects),
        style=style,
    )


def _root(xml: bytes, max_bytes: int) -> Element:
    """The parsed AuditMessage: no DTD, no entity, nothing fetched, nothing over ``max_bytes``."""
    if len(xml) > max_bytes:
        raise AuditParseError(f"{len(xml):,} bytes of audit XML, over the {max_bytes:,}-byte limit")
    if not xml.removeprefix(_BOM).lstrip().startswith(b"<"):
        raise AuditParseError("not XML: the message does not start with '<'")
    try:
        root = safe_etree.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise AuditParseError("a DTD (DOCTYPE) in the audit XML: refused") from None
    except defusedxml.EntitiesForbidden:
        raise AuditParseError("an entity declaration in the audit XML: refused") from None
    except defusedxml.DefusedXmlException:
        raise AuditParseError("an external reference in the audit XML: refused") from None
    except ParseError as exc:
        raise AuditParseError(_parse_error_words(exc)) from None
    except (LookupError, ValueError):
        # LookupError: an encoding Python does not know; its text would quote the message.
        raise AuditParseError("audit XML in an unknown or invalid encoding") from None
    if _local(root.tag) != "AuditMessage":
        raise AuditParseError("the XML is not an AuditMessage (another root element)")
    return root


def _parse_error_words(exc: ParseError) -> str:
    """Expat's own description of the error (fixed words) and where it is, never the text."""
    line, column = exc.position
    what = expat_errors.messages.get(exc.code, "not well-formed")
    kind = "truncated XML" if exc.code in _TRUNCATED else "not well-formed XML"
    return f"{kind} ({what}) at line {line}, column {column}"


class _Parts:
    """The AuditMessage's children that are read: the first EventIdentification and
    AuditSourceIdentification, up to :data:`MAX_PARTS` ActiveParticipant and objects."""

    def __init__(self, root: Element) -> None:
        self.event: Element | None = None
        self.source: Element | None = None
        self.participants: list[Element] = []
        self.objects: list[Element] = []
        for child in root:
            self._take(_local(child.tag), child)

    def _take(self, name: str, child: Element) -> None:
        if name == "EventIdentification" and self.event is None:
            self.event = child
        elif name == "AuditSourceIdentification" and self.source is None:
            self.source = child
        elif name == "ActiveParticipant" and len(self.participants) < MAX_PARTS:
            self.participants.append(child)
        elif name == "ParticipantObjectIdentification" and len(self.objects) < MAX_PARTS:
            self.objects.append(child)


def _local(tag: object) -> str:
    """An element's or attribute's name without its ``{namespace}``."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _attrs(element: Element) -> dict[str, str]:
    """The element's attributes by local name: its own dict when none has a namespace (the
    usual case: no copy, on the hot path)."""
    attrib = element.attrib
    for name in attrib:
        if name[:1] == "{":
            return {_local(key): value for key, value in attrib.items()}
    return attrib


def _get(attrs: dict[str, str], name: str) -> str:
    return attrs.get(name, "").strip()[:TEXT_LIMIT]


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _local(child.tag) == name)


def _first(element: Element, name: str) -> Element | None:
    return next(_children(element, name), None)


def _code(element: Element) -> str:
    attrs = _attrs(element)
    return _get(attrs, "csd-code") or _get(attrs, "code")


def _coded(element: Element | None, table: dict[str, str]) -> tuple[str, str, str]:
    """A coded value's code, its meaning (as sent, else from ``table`` for a DCM code) and its
    style: "dicom" for ``csd-code``, "rfc3881" for ``code``."""
    if element is None:
        return "", "", "rfc3881"
    attrs = _attrs(element)
    style = "dicom" if _get(attrs, "csd-code") else "rfc3881"
    code = _code(element)
    name = _get(attrs, "originalText") or _get(attrs, "displayName")
    system = _get(attrs, "codeSystemName") or _get(attrs, "codeSystem")
    if not name and system in _DCM_SYSTEMS:
        name = table.get(code, "")
    return code, name, style


def _outcome(text: str) -> int:
    try:
        outcome = int(text)
    except ValueError:
        return -1
    return outcome if outcome in _OUTCOMES else -1


def _user(participants: list[Element]) -> Element | None:
    """The requesting participant (UserIsRequestor true), else the first one."""
    for participant in participants:
        if _get(_attrs(participant), "UserIsRequestor").lower() in _TRUE:
            return participant
    return participants[0] if participants else None


def _roles(user: Element | None) -> tuple[str, ...]:
    if user is None:
        return ()
    roles = (_code(role) for role in islice(_children(user, "RoleIDCode"), MAX_ROLES))
    return tuple(role for role in roles if role)


def _source_id(source: Element | None) -> str:
    if source is None:
        return ""
    attrs = _attrs(source)
    return _get(attrs, "AuditSourceID") or _get(attrs, "SourceID")


def _studies(objects: list[Element]) -> tuple[str, ...]:
    """The Study Instance UIDs among the objects, each once, in order."""
    studies: dict[str, None] = {}
    for item in objects:
        id_type = _first(item, "ParticipantObjectIDTypeCode")
        if id_type is not None and _code(id_type) == STUDY_INSTANCE_UID:
            uid = _get(_attrs(item), "ParticipantObjectID")
            if uid:
                studies[uid] = None
    return tuple(studies)


def _patients(objects: list[Element], patient_ref: Callable[[str], str]) -> tuple[str, ...]:
    """``patient_ref`` of each patient object's ID (Person, role Patient), each once, in order.
    The ID is read here and handed on: it is kept nowhere."""
    refs: dict[str, None] = {}
    for item in objects:
        attrs = _attrs(item)
        is_patient = (
            attrs.get("ParticipantObjectTypeCode", "").strip() == _PATIENT_TYPE
            and attrs.get("ParticipantObjectTypeCodeRole", "").strip() == _PATIENT_ROLE
        )
        # IHE asks for the HL7 CX form, "12345^^^HOSP&1.2.3&ISO": the ID is its first component,
        # the part the HL7 log's reference is made of (PID-3's), so one patient has one.
        patient_id = attrs.get("ParticipantObjectID", "").split("^", 1)[0].strip()
        if is_patient and patient_id:
            refs[patient_ref(patient_id)[:TEXT_LIMIT]] = None
    return tuple(refs)
