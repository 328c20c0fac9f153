"""The C-ECHO check against hostile loopback peers: each misbehaviour gets its status, its
reason in words and a time bound, leaves no thread behind and prints nothing."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pacs_tui.model import Result, Status, Target, TargetKind
from pacs_tui.probes.dicom import DicomEchoCheck, make_executor
from pacs_tui.scheduler import Scheduler
from tests import hostile_peers as hp

TIMEOUT = 1.0
AC_INVALID = r"^peer's A-ASSOCIATE-AC is invalid: "
FLOOD = r"^peer sent over 65,536 bytes of P-DATA where a C-ECHO response takes a few hundred bytes"
# The scheduler's limit for one run; a check must be back within it whatever the peer does.
BOUND = TIMEOUT + 1.0

# behaviour -> (status, pattern the reason must match)
EXPECTED: dict[str, tuple[Status, str]] = {
    "silent": (Status.DOWN, r"^timed out after 1 s waiting for A-ASSOCIATE response$"),
    "random_bytes": (
        Status.DOWN,
        r"^peer sent bytes that are not a DICOM PDU: ([0-9A-F]{2} ?){6} \(the wrong port\?\)$|"
        r"^peer sent bytes that are not a DICOM PDU: '.{6}' \(the wrong port\?\)$",
    ),
    "huge_header_silent": (
        Status.DOWN,
        r"^peer announced an A-ASSOCIATE-AC of 4,294,967,295 bytes, over the 256 kB limit$",
    ),
    "huge_header_stream": (
        Status.DOWN,
        r"^peer announced an A-ASSOCIATE-AC of 4,294,967,295 bytes",
    ),
    "ac_trickle": (
        Status.DOWN,
        r"^peer sent an A-ASSOCIATE-AC too slowly: \d bytes in .* \(about 1 byte a second\)$",
    ),
    "random_trickle": (Status.DOWN, r"too slowly: \d bytes in .*\(about 1 byte a second\)$"),
    "partial_ac_silent": (
        Status.DOWN,
        r"^peer sent 20 of \d+ bytes of an A-ASSOCIATE-AC then went silent$",
    ),
    "close_at_once": (Status.DOWN, r"the peer closed the connection"),
    "reset": (Status.DOWN, r"the peer closed the connection"),
    "abort": (Status.DOWN, r"^association aborted by the peer \(service-user\)$"),
    "rq_back": (Status.DOWN, r"^peer answered with an A-ASSOCIATE-RQ of its own"),
    "rj_out_of_range": (
        Status.DOWN,
        r"^association rejected with out-of-range fields \(result 9, source 9, reason 9\)$",
    ),
    "accept_no_echo": (Status.DOWN, r"^timed out after .* waiting for C-ECHO response$"),
    "no_release": (Status.WARN, r"^release failed: timed out after "),
    "escapes_in_fields": (Status.OK, r"^echo ok$"),
    "esc_in_version": (
        Status.DOWN,
        r"Implementation Version Name has control characters or a backslash$",
    ),
    "c1_in_version": (Status.DOWN, r"Implementation Version Name is not ASCII$"),
    "long_version_name": (
        Status.DOWN,
        r"Implementation Version Name is 60,000 bytes \(1 to 16 allowed\)$",
    ),
    "pdata_bomb": (
        Status.DOWN,
        r"^peer announced a P-DATA-TF of 2,147,483,647 bytes, over the maximum PDU of "
        r"16,382 bytes we announced$",
    ),
    "fragment_flood": (Status.DOWN, FLOOD),
    "small_pdata_flood": (Status.DOWN, FLOOD),
    "max_pdu_6": (
        Status.DOWN,
        r"^peer's A-ASSOCIATE-AC is invalid: it can receive PDUs of only 6 bytes "
        r"\(at least 256 needed\)$",
    ),
    "double_ac": (Status.DOWN, r"^peer sent an A-ASSOCIATE-AC after the association was accepted$"),
    "glued_ac_echo": (Status.DOWN, r"^peer sent a P-DATA-TF before we sent a request$"),
    "glued_ac_release_rp": (Status.DOWN, r"^peer sent an A-RELEASE-RP before we asked to release$"),
    # The C-ECHO is answered; whether the stray A-RELEASE-RP is read before the answer is
    # handed over depends on the threads, so DOWN or a WARN "release failed: …".
    "glued_echo_rp": (Status.DOWN, r"^(release failed: )?peer sent an A-RELEASE-RP before we"),
    "rsp_unknown_field": (
        Status.DOWN,
        r"^peer sent a DIMSE message with an unknown command field 0x9999$",
    ),
    "rsp_cfind_field": (Status.DOWN, r"^peer answered the C-ECHO with C-FIND-RSP$"),
    "rsp_wrong_message_id": (
        Status.DOWN,
        r"^peer answered message 999, not our C-ECHO \(message 1\)$",
    ),
    "rsp_wrong_sop": (
        Status.DOWN,
        r"^peer answered the C-ECHO for SOP class 1\.2\.3\.4, not Verification$",
    ),
    "rsp_trickle": (
        Status.DOWN,
        r"^peer sent a P-DATA-TF too slowly: \d+ of \d+ bytes in .* "
        r"\(about [3-5] bytes a second\)$",
    ),
    "rsp_charset_escape": (Status.DOWN, r"^C-ECHO failed with status 0xC001$"),
    "no_max_length": (Status.DOWN, AC_INVALID + r"it does not say the largest PDU it can receive$"),
    "odd_transfer_syntax": (
        Status.DOWN,
        AC_INVALID + r"the transfer syntax it accepts for presentation context 1 is not a UID$",
    ),
    "no_transfer_syntax": (
        Status.DOWN,
        AC_INVALID + r"it accepts presentation context 1 with no transfer syntax$",
    ),
    "even_context_id": (Status.DOWN, AC_INVALID + r"presentation context ID 2 is even"),
    "protocol_version_2": (
        Status.DOWN,
        AC_INVALID + r"it does not support DICOM UL protocol version 1$",
    ),
    "unknown_field_fragmented": (
        Status.DOWN,
        r"^pynetdicom could not go on with what the peer sent after a P-DATA-TF "
        r"\(KeyError: 39321\)$",
    ),
    "command_field_4_bytes": (
        Status.DOWN,
        r"^pynetdicom could not go on with what the peer sent after a P-DATA-TF \(TypeError",
    ),
    "abort_out_of_range": (
        Status.DOWN,
        r"^peer aborted with out-of-range fields \(source 3, reason 7\)$",
    ),
    "release_instead_of_answer": (
        Status.DOWN,
        r"^peer asked to release the association instead of sending a C-ECHO response$",
    ),
    # As glued_echo_rp: the echo is answered, the release request may be read before or after.
    "answer_then_release": (
        Status.DOWN,
        r"^(release failed: )?peer asked to release the association before we were done$",
    ),
    "answer_on_context_99": (
        Status.DOWN,
        r"^peer sent data on presentation context 99, which it never accepted$",
    ),
    "half_close_after_ac": (
        Status.DOWN,
        r"the peer closed the connection .*while waiting for C-ECHO response$",
    ),
}
# Either status is right for these (see the table).
ALSO: dict[str, Status] = {"glued_echo_rp": Status.WARN, "answer_then_release": Status.WARN}


def test_every_behaviour_has_an_expectation() -> None:
    assert set(EXPECTED) == set(hp.BEHAVIOURS)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = make_executor(2)
    yield pool
    pool.shutdown(wait=True)


def node(
    target_id: str, port: int, executor: ThreadPoolExecutor, **options: float
) -> DicomEchoCheck:
    return DicomEchoCheck(
        Target(target_id, TargetKind.DICOM_NODE, {}),
        host=hp.HOST,
        port=port,
        called_aet="PEER",
        calling_aet="PACSTUI",
        interval=options.get("interval", 30.0),
        timeout=options.get("timeout", TIMEOUT),
        warn_latency=2.0,
        executor=executor,
    )


def test_polite_peer_is_a_valid_scp(executor: ThreadPoolExecutor) -> None:
    """The control: the raw PDUs of the hostile peers make a correct Verification SCP."""
    with hp.running(hp.polite) as peer:
        result = asyncio.run(node("polite", peer.port, executor).check())
    assert (result.status, result.reason) == (Status.OK, "echo ok")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_peer(
    name: str, executor: ThreadPoolExecutor, capfd: pytest.CaptureFixture[str]
) -> None:
    status, pattern = EXPECTED[name]
    threads_before = threading.active_count()
    with hp.running(hp.BEHAVIOURS[name]) as peer:
        started = time.perf_counter()
        result = asyncio.run(node(name, peer.port, executor).check())
        elapsed = time.perf_counter() - started
        assert result.status in (status, ALSO.get(name, status)), result.reason
        assert re.search(pattern, result.reason), result.reason
        assert elapsed <= BOUND, f"{name} took {elapsed:.2f}s"
        # The association is over: the peer sees our side close (no lingering connection).
        assert hp.wait_for(lambda: all(c.closed_by_client for c in list(peer.conns)), 2.0)
        if name.endswith(("_stream", "_bomb", "_flood")):
            assert peer.bytes_sent < 64 << 20, "the client kept reading the stream"
    # pynetdicom's own threads (the association and its DUL reactor) are gone.
    assert hp.wait_for(lambda: threading.active_count() <= threads_before + 2, 2.0)
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Warning" not in err, err
    assert not out


def test_peer_strings_are_kept_verbatim_for_the_display_layer(executor: ThreadPoolExecutor) -> None:
    """Escapes in peer fields are kept as sent (the UI and text output make them visible)."""
    with hp.running(hp.escapes_in_fields) as peer:
        result = asyncio.run(node("esc", peer.port, executor).check())
    assert result.details["peer_implementation_class_uid"] == hp.ESC_UID
    assert result.details["peer_implementation_version_name"] == hp.ESC_VERSION


STALLERS = ("huge_header_silent", "ac_trickle", "partial_ac_silent", "accept_no_echo")


async def test_healthy_node_keeps_its_cadence_beside_stalling_peers() -> None:
    """Two workers, four stalling nodes checked every second: the healthy node beside them
    is still checked about every second, and every stalling node is DOWN with its reason."""
    interval = 1.0
    executor = make_executor(2)
    results: dict[str, list[tuple[float, Result]]] = {}
    with (
        hp.running(hp.polite) as good,
        hp.running(hp.huge_header_silent) as p1,
        hp.running(hp.ac_trickle) as p2,
        hp.running(hp.partial_ac_silent) as p3,
        hp.running(hp.accept_no_echo) as p4,
    ):
        checks = [node("good", good.port, executor, interval=interval, timeout=0.8)]
        checks += [
            node(name, peer.port, executor, interval=interval, timeout=0.8)
            for name, peer in zip(STALLERS, (p1, p2, p3, p4), strict=True)
        ]
        scheduler = Scheduler(
            checks,
            lambda target, result: results.setdefault(target.id, []).append(
                (time.monotonic(), result)
            ),
            pools={"dicom": 2},
            max_backoff=interval,  # keep the stallers coming back every second
        )
        scheduler.start()
        deadline = time.monotonic() + 20.0
        while len(results.get("good", [])) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stopping = time.monotonic()
        await scheduler.stop()
        stopped = time.monotonic() - stopping
    executor.shutdown(wait=False, cancel_futures=True)
    good_runs = results.get("good", [])
    assert all(r.status is Status.OK for _, r in good_runs)
    times = [t for t, _ in good_runs]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Every check waits its turn for one of two workers shared with four 0.8 s stalls, so a
    # gap may reach interval + two rounds of stalls; never the unbounded wait of a lost pool.
    assert len(good_runs) >= 6, gaps
    assert max(gaps) <= interval * 1.1 + 2 * (0.8 + 1.0), gaps
    for name in STALLERS:
        seen = results.get(name, [])
        assert seen and all(r.status is Status.DOWN for _, r in seen), name
        assert re.match(r"(peer |timed out after )", seen[-1][1].reason), seen[-1][1].reason
    assert stopped < 5.0


def test_diagnose_shows_what_a_hostile_peer_wrote_visibly() -> None:
    """``diagnose dicom`` prints what the peer wrote in its A-ASSOCIATE-AC (its implementation
    class UID, here with an escape sequence in it): made visible, never passed to the terminal;
    and a peer that accepts every SOP class asked for is listed as taking each."""
    from pacs_tui.diagnosis import Step
    from pacs_tui.probes.dicom_diagnose import PROPOSED, diagnose_node

    def odd_uid(conn: hp.Conn) -> None:
        conn.send(hp.associate_ac(conn.read_pdu(), implementation_uid=b"1.2\x1b[2J\x07.3"))
        hp.polite_after_ac(conn)

    heard: list[Step] = []
    with hp.running(odd_uid) as peer:
        run = diagnose_node(hp.HOST, peer.port, "ANY", "PACSTUI", TIMEOUT, heard.append)
        found = asyncio.run(run)
    assert found.verdict is Status.OK, found.reason
    said = "".join(f"{s.detail}\n" + "".join(f"{line}\n" for line in s.lines) for s in heard)
    assert "1.2␛[2J␇.3" in said
    assert not any(ord(ch) < 0x20 and ch != "\n" for ch in said), said
    document = found.document()
    assert document["peer"]["implementation_class_uid"] == "1.2␛[2J␇.3"
    assert [c["accepted"] for c in document["contexts"]] == [True] * len(PROPOSED)


def test_pydicoms_warnings_about_a_peers_bytes_stay_off_the_command_line() -> None:
    """A C-ECHO response naming a character set pydicom does not know (escape sequences in
    it): ``diagnose dicom`` says the status; pydicom's own warning (its file and line, logged
    through ``py.warnings``) is not printed."""
    import subprocess
    import sys

    with hp.running(hp.rsp_charset_escape) as peer:
        done = subprocess.run(
            [sys.executable, "-m", "pacs_tui", "diagnose", "dicom", f"{hp.HOST}:{peer.port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[-1] == "verdict: ▼ DOWN — C-ECHO failed with status 0xC001"
    assert done.stderr == ""
