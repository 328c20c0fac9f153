"""What a DICOM peer may send a requestor, PDU by PDU: sizes, order and the fields pynetdicom
3.0 would choke on. Pure logic, no sockets; :mod:`pacs_tui.probes.dicom_transport` asks it about
every PDU header and body before pynetdicom sees them.

Each check returns ``None`` or the words for what the peer did wrong. The reasons to check
rather than trust pynetdicom (measured against hostile loopback peers, ``tests/hostile``):

* lengths are read in full as announced (up to 4 GiB) and P-DATA fragments are appended until
  one is marked last, so a peer can grow our memory without bound at legal PDU sizes;
* PDUs out of order (a second A-ASSOCIATE-AC, an A-RELEASE-RP nobody asked for, a P-DATA-TF
  before our request) either raise ``InvalidEventError`` in pynetdicom's reactor thread or leave
  the caller waiting for its full timeout with no word of what happened;
* an A-ASSOCIATE-RJ with out-of-range fields, a DIMSE command field no service has, or a
  maximum PDU length below 8 raise in the reactor thread (``ValueError``, ``KeyError``,
  ``ZeroDivisionError``) and leave threads behind;
* user information fields it refuses (a version name with control characters or over 16
  bytes) are only logged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pacs_tui.visible import visible

PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}

# Largest length field we accept per PDU type (PS3.8 9.3). An A-ASSOCIATE-AC answering our
# one presentation context is a few hundred bytes; 128 contexts and a 64 kB user identity
# response stay well under 256 kB. The fixed-size PDUs are always 4 bytes long.
ASSOCIATE_CAP = 256 * 1024
FIXED_LENGTH = {0x03: 4, 0x05: 4, 0x06: 4, 0x07: 4}

# The smallest maximum PDU length we accept from a peer. PS3.8 sets no floor, but pynetdicom
# cannot fragment below 8 bytes of PDV (it divides by zero), DCMTK refuses anything under
# 4096, and no real implementation announces less than a few kB.
MIN_PEER_MAX_PDU = 256

# PS3.8 9.3.8: A-ABORT source 0 (service-user) or 2 (service-provider, with these reasons).
_ABORT_REASONS = {0, 1, 2, 4, 5, 6}

# PS3.8 9.3.4: Result 1-2, Source 1-3, and the reasons each source may give.
_RJ_REASONS = {1: {1, 2, 3, 7}, 2: {1, 2}, 3: {1, 2}}

# User information sub-items pynetdicom refuses when too long: (max bytes, name).
_USER_FIELDS = {0x52: (64, "Implementation Class UID"), 0x55: (16, "Implementation Version Name")}

# PS3.7 Annex E: every DIMSE command field (requests, responses, C-CANCEL).
DIMSE_COMMANDS = {
    0x0001: "C-STORE-RQ",
    0x8001: "C-STORE-RSP",
    0x0010: "C-GET-RQ",
    0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ",
    0x8020: "C-FIND-RSP",
    0x0021: "C-MOVE-RQ",
    0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ",
    0x8030: "C-ECHO-RSP",
    0x0100: "N-EVENT-REPORT-RQ",
    0x8100: "N-EVENT-REPORT-RSP",
    0x0110: "N-GET-RQ",
    0x8110: "N-GET-RSP",
    0x0120: "N-SET-RQ",
    0x8120: "N-SET-RSP",
    0x0130: "N-ACTION-RQ",
    0x8130: "N-ACTION-RSP",
    0x0140: "N-CREATE-RQ",
    0x8140: "N-CREATE-RSP",
    0x0150: "N-DELETE-RQ",
    0x8150: "N-DELETE-RSP",
    0x0FFF: "C-CANCEL-RQ",
}


#: What a service on a port that is not DICOM's first sends, by its first bytes.
_OTHER_SERVICES = (
    (b"HTTP/", "an HTTP server: the wrong port?"),
    (b"SSH-", "an SSH server: the wrong port?"),
    (b"\x15\x03", "TLS: does the node want DICOM over TLS?"),
    (b"\x0b", "an HL7 MLLP service: the wrong port?"),
)


def not_dicom(first: bytes) -> str:
    """What the first bytes a peer sent in place of a PDU were, for the words after "not a
    DICOM PDU": shown (visible) when they read as text, else in hex; what they look like."""
    if sum(32 <= b < 127 for b in first) * 2 > len(first):
        shown = f"'{visible(first.decode('latin-1'))}'"
    else:
        shown = " ".join(f"{b:02X}" for b in first)
    guess = (words for start, words in _OTHER_SERVICES if first.startswith(start))
    return f": {shown} ({next(guess, 'the wrong port?')})"


def named(pdu_type: int) -> str:
    """``an A-ASSOCIATE-AC``, ``a P-DATA-TF``, ``a PDU`` for an unknown type."""
    name = PDU_NAMES.get(pdu_type)
    if name is None:
        return "a PDU"
    return f"an {name}" if name[0] in "AE" else f"a {name}"


@dataclass(slots=True)
class PeerConduct:
    """What one association's peer has sent so far, judged PDU by PDU.

    ``max_pdu`` is the Maximum Length Received we announced; ``pdata_limit`` bounds the P-DATA
    bytes the peer may send in all (for a C-ECHO the response is ~100 bytes), and ``expecting``
    names what they should carry ("a C-ECHO response").
    """

    max_pdu: int
    pdata_limit: int
    expecting: str
    sent: set[int] = field(default_factory=set)
    accepted: bool = False
    contexts: set[int] = field(default_factory=set)
    """Presentation context IDs the peer accepted."""
    answered: bool = False
    """A P-DATA-TF came back after our request."""
    pdus: int = 0
    pdata_bytes: int = 0

    def we_sent(self, pdu_type: int) -> None:
        self.sent.add(pdu_type)

    def header_problem(self, pdu_type: int, length: int, header: bytes = b"") -> str | None:
        """Judge a PDU by its 6-byte header (``header``, when given, is said for a header
        that is no DICOM PDU's), before its body is read."""
        name = PDU_NAMES.get(pdu_type)
        if name is None:
            return (
                f"peer sent bytes that are not a DICOM PDU{not_dicom(header or bytes([pdu_type]))}"
            )
        fixed = FIXED_LENGTH.get(pdu_type)
        if fixed is not None and length != fixed:
            return f"peer sent {named(pdu_type)} of {length:,} bytes (it is always {fixed})"
        limit = self.max_pdu if pdu_type == 0x04 else ASSOCIATE_CAP
        if fixed is None and length > limit:
            over = (
                f"the maximum PDU of {limit:,} bytes we announced"
                if pdu_type == 0x04
                else f"the {limit // 1024} kB limit"
            )
            return f"peer announced {named(pdu_type)} of {length:,} bytes, over {over}"
        return self._order_problem(pdu_type, length)

    def _order_problem(self, pdu_type: int, length: int) -> str | None:
        if pdu_type == 0x01:
            if self.accepted:
                return "peer sent an A-ASSOCIATE-RQ in the middle of the association"
            return "peer answered with an A-ASSOCIATE-RQ of its own instead of an AC or RJ"
        if pdu_type in (0x02, 0x03) and (self.accepted or self.pdus):
            return f"peer sent {named(pdu_type)} after the association was accepted"
        if pdu_type == 0x07:
            return None  # an abort is always allowed
        if not self.accepted and pdu_type != 0x02 and pdu_type != 0x03:
            return f"peer sent {named(pdu_type)} before accepting the association"
        if pdu_type == 0x04:
            if 0x04 not in self.sent:
                return "peer sent a P-DATA-TF before we sent a request"
            if self.pdata_bytes + length > self.pdata_limit:
                return (
                    f"peer sent over {self.pdata_limit:,} bytes of P-DATA where "
                    f"{self.expecting} takes a few hundred bytes ({self.pdus} PDUs so far)"
                )
            self.pdata_bytes += length
        if pdu_type == 0x06 and 0x05 not in self.sent:
            return "peer sent an A-RELEASE-RP before we asked to release"
        if pdu_type == 0x05 and 0x05 not in self.sent:
            # PS3.8 lets the acceptor ask, but pynetdicom cannot take it while its own request
            # is under way, and a node that hangs up on a check is not answering it.
            if 0x04 in self.sent and not self.answered:
                return f"peer asked to release the association instead of sending {self.expecting}"
            return "peer asked to release the association before we were done"
        return None

    def body_problem(self, pdu_type: int, body: bytes | bytearray) -> str | None:
        """Judge a PDU's body (after its header) once it has been read in full."""
        self.pdus += 1
        if pdu_type == 0x03:
            result, source, reason = body[1], body[2], body[3]
            if result not in (1, 2) or reason not in _RJ_REASONS.get(source, set()):
                return (
                    "association rejected with out-of-range fields "
                    f"(result {result}, source {source}, reason {reason})"
                )
        if pdu_type == 0x02:
            problem = accept_problem(body) or user_info_problem(body)
            if problem is None:
                self.accepted = True
                self.contexts = accepted_contexts(body)
            return problem
        if pdu_type == 0x04:
            self.answered = True
            return pdata_problem(body, self.contexts)
        if pdu_type == 0x07:
            source, reason = body[2], body[3]
            if source not in (0, 2) or (source == 2 and reason not in _ABORT_REASONS):
                return f"peer aborted with out-of-range fields (source {source}, reason {reason})"
        return None


def accept_problem(body: bytes | bytearray) -> str | None:
    """What is wrong with an A-ASSOCIATE-AC's fixed fields and item layout, in words.

    pynetdicom refuses items that run past the PDU or an accepted presentation context with no
    transfer syntax only by aborting ("unexpected PDU parameter") or by crashing later in the
    caller (``IndexError``); an even context ID crashes its reactor thread.
    """
    prefix = "peer's A-ASSOCIATE-AC is invalid"
    if len(body) < 68:
        return f"{prefix}: it is {len(body)} bytes, shorter than its fixed fields (68)"
    if not body[1] & 0x01:  # protocol version: bit 0 is version 1, the only one there is
        return f"{prefix}: it does not support DICOM UL protocol version 1"
    items = _items(body, 68)
    if items is None:
        return f"{prefix}: an item's length runs past the end of the PDU"
    user = [value for item_type, value in items if item_type == 0x50]
    if len(user) != 1:
        return f"{prefix}: it has {len(user)} user information items (exactly 1 needed)"
    sub_items = _items(user[0], 0)
    if sub_items is None:
        return f"{prefix}: a user information sub-item runs past the end of its item"
    if not any(sub_type == 0x51 and len(value) == 4 for sub_type, value in sub_items):
        return f"{prefix}: it does not say the largest PDU it can receive"
    for item_type, value in items:
        if item_type != 0x21:
            continue
        if len(value) < 4:
            return f"{prefix}: a presentation context item is too short"
        context_id, result = value[0], value[2]
        if context_id % 2 == 0:
            return f"{prefix}: presentation context ID {context_id} is even (IDs are odd)"
        syntaxes = _items(value, 4)
        if syntaxes is None:
            return f"{prefix}: a transfer syntax runs past the end of its context item"
        chosen = [v.rstrip(b"\0 ") for t, v in syntaxes if t == 0x40]
        if result == 0 and not any(chosen):
            return f"{prefix}: it accepts presentation context {context_id} with no transfer syntax"
        if result == 0 and not all(_is_uid(uid) for uid in chosen):
            # pynetdicom aborts on a non-ASCII one ("unexpected PDU parameter") and shows
            # another as it came: a UID is digits and dots (PS3.5 9.1), nothing else.
            return (
                f"{prefix}: the transfer syntax it accepts for presentation context "
                f"{context_id} is not a UID"
            )
    return None


def _is_uid(value: bytes | bytearray) -> bool:
    """Digits and dots, 1 to 64 of them (PS3.5 9.1)."""
    return 0 < len(value) <= 64 and not bytes(value).strip(b"0123456789.")


def accepted_contexts(body: bytes | bytearray) -> set[int]:
    """The presentation context IDs an A-ASSOCIATE-AC accepts (result 0)."""
    items = _items(body, 68) or []
    return {v[0] for t, v in items if t == 0x21 and len(v) >= 4 and v[2] == 0}


def user_info_problem(body: bytes | bytearray) -> str | None:
    """What in an A-ASSOCIATE-AC's user information pynetdicom would choke on, in words.

    ``body`` is the PDU after its 6-byte header: 68 fixed bytes, then items (type, reserved,
    2-byte length, value); the user information item (0x50) holds sub-items the same way.
    """
    for item_type, value in _items(body, 68) or []:
        if item_type != 0x50:
            continue
        for sub_type, field_value in _items(value, 0) or []:
            if sub_type == 0x51 and len(field_value) == 4:
                (max_pdu,) = struct.unpack(">L", field_value)
                if 0 < max_pdu < MIN_PEER_MAX_PDU:
                    return (
                        f"peer's A-ASSOCIATE-AC is invalid: it can receive PDUs of only "
                        f"{max_pdu} byte{'s' if max_pdu != 1 else ''} "
                        f"(at least {MIN_PEER_MAX_PDU} needed)"
                    )
            limit, name = _USER_FIELDS.get(sub_type, (0, ""))
            if not limit:
                continue
            if not 0 < len(field_value) <= limit:
                return (
                    f"peer's A-ASSOCIATE-AC is invalid: its {name} is {len(field_value):,} "
                    f"bytes (1 to {limit} allowed)"
                )
            if not field_value.isascii():
                return f"peer's A-ASSOCIATE-AC is invalid: its {name} is not ASCII"
            # pynetdicom checks the version name as an AE title: no controls, no backslash.
            if sub_type == 0x55 and any(b < 0x20 or b in (0x5C, 0x7F) for b in field_value):
                return (
                    f"peer's A-ASSOCIATE-AC is invalid: its {name} has control characters "
                    "or a backslash"
                )
    return None


def pdata_problem(body: bytes | bytearray, contexts: set[int] | None = None) -> str | None:
    """A P-DATA-TF whose PDV items do not add up, that uses a presentation context the peer did
    not accept (when ``contexts`` is given), or whose command names no DIMSE service.

    Only the first fragment of a command set is read for its Command Field (it starts with
    the Command Group Length, (0000,0000)); the command set is Implicit VR Little Endian.
    """
    offset = 0
    while offset < len(body):
        if offset + 6 > len(body):
            return "peer sent a P-DATA-TF whose items do not add up"
        (length,) = struct.unpack(">L", body[offset : offset + 4])
        if length < 2 or offset + 4 + length > len(body):
            return "peer sent a P-DATA-TF whose items do not add up"
        context_id, header = body[offset + 4], body[offset + 5]
        if contexts is not None and context_id not in contexts:
            return f"peer sent data on presentation context {context_id}, which it never accepted"
        data = body[offset + 6 : offset + 4 + length]
        if header & 0x01 and data[:4] == b"\0\0\0\0":
            command = _command_field(data)
            if command is not None and command not in DIMSE_COMMANDS:
                return f"peer sent a DIMSE message with an unknown command field 0x{command:04X}"
        offset += 4 + length
    return None


def _command_field(data: bytes | bytearray) -> int | None:
    offset = 0
    while offset + 8 <= len(data):
        group, element, length = struct.unpack("<HHL", data[offset : offset + 8])
        if group != 0:
            return None
        if element == 0x0100 and length == 2 and offset + 10 <= len(data):
            return int(struct.unpack("<H", data[offset + 8 : offset + 10])[0])
        offset += 8 + length
    return None


def _items(data: bytes | bytearray, offset: int) -> list[tuple[int, bytes | bytearray]] | None:
    """(type, value) of each item from ``offset`` (type, reserved, 2-byte length, value), or
    ``None`` when the items do not exactly fill the data (one runs past its end)."""
    items = []
    while offset < len(data):
        if offset + 4 > len(data):
            return None
        item_type, _, length = struct.unpack(">BBH", data[offset : offset + 4])
        if offset + 4 + length > len(data):
            return None
        items.append((item_type, data[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    return items
