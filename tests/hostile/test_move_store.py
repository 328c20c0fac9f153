"""The drill's C-MOVE store against the peers that reach it: the mirror's C-STOREs are counted,
anyone else is turned away before a byte is read, and a peer that floods, stalls or lies about
a PDU's size is cut off in words, within the drill's time, leaving no thread behind."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from pydicom.dataset import Dataset

from pacs_tui.mirror.move_store import MoveStore, MoveTo
from pacs_tui.probes.dicom_transport import Budget
from tests.peers import HOST, free_port
from tests.synthetic_studies import instances, store, studies

AET = "PACSTUI"


@contextmanager
def running(
    *,
    mirror: tuple[str, ...] = (HOST,),
    networks: tuple[str, ...] = (),
    timeout: float = 10.0,
    idle: float = 5.0,
    max_bytes: int = 2**30,
) -> Iterator[MoveStore]:
    move = MoveTo(AET, (HOST, free_port()), tuple(ipaddress.ip_network(n) for n in networks))
    budget = Budget.for_timeout(time.perf_counter(), timeout)
    moved = MoveStore(move, mirror, budget, idle=idle, max_bytes=max_bytes)
    moved.start()
    try:
        yield moved
    finally:
        moved.stop()
    assert not [t for t in threading.enumerate() if t.name == "drill-move-store"]


def port_of(moved: MoveStore) -> int:
    return moved.move.bind[1]


def wait_for(condition: object, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the other end closed ``sock`` within ``timeout`` (reading what it sends)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def associate_rq_header(length: int) -> bytes:
    return struct.pack(">BBL", 0x01, 0, length)


def images(count: int) -> list[Dataset]:
    study = studies(1, 1, dt.date.today(), seed="move")[0]
    return instances(replace(study, instances=count))


def test_the_mirrors_c_stores_are_counted_not_kept() -> None:
    sent = images(3)
    with running() as moved:
        assert store(HOST, port_of(moved), AET, sent) == len(sent)
        assert moved.instances == len(sent)
        assert moved.size > 300 * len(sent)
        port = port_of(moved)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=5).close()


def test_a_peer_that_is_not_the_mirror_is_turned_away() -> None:
    sent = images(1)
    with running(mirror=("192.0.2.7",)) as moved:
        with pytest.raises(RuntimeError, match="refused the association"):
            store(HOST, port_of(moved), AET, sent)
        assert moved.instances == 0
        refused = f"refused a connection from {HOST}: not the mirror's address"
        assert moved.refused_words() == refused
    # The networks of [dr] move_from let it in (a mirror sending from another address).
    with running(mirror=("192.0.2.7",), networks=("127.0.0.0/8",)) as moved:
        assert store(HOST, port_of(moved), AET, sent) == 1


def test_another_called_ae_title_is_rejected() -> None:
    sent = images(1)
    with running() as moved:
        with pytest.raises(RuntimeError, match="refused the association"):
            store(HOST, port_of(moved), "SOMEONE", sent)
        assert moved.instances == 0


def test_no_connection_at_all_is_said_with_its_likely_cause() -> None:
    with running() as moved:
        words = moved.refused_words()
    assert words == (
        f"saw no connection at {HOST}:{port_of(moved)}: does the mirror's AE table have "
        "PACSTUI at this host's address and that port?"
    )


def test_a_pdu_announced_over_the_limit_is_refused_before_it_is_read() -> None:
    with running() as moved, socket.create_connection((HOST, port_of(moved))) as sock:
        sock.sendall(associate_rq_header(0xFFFFFFFF) + b"\0" * 1024)
        assert closed_by_peer(sock, 5.0)
        wait_for(lambda: "A-ASSOCIATE-RQ" in moved.refused_words())
        assert moved.refused_words() == (
            f"closed the connection of {HOST} announced an A-ASSOCIATE-RQ of 4,294,967,295 "
            "bytes, over the 256 kB limit"
        )


def test_bytes_that_are_not_dicom_are_refused() -> None:
    with running() as moved, socket.create_connection((HOST, port_of(moved))) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_by_peer(sock, 5.0)
        wait_for(lambda: "not a DICOM PDU" in moved.refused_words())
        assert "not a DICOM PDU: 'GET / ' (the wrong port?)" in moved.refused_words()


def test_a_peer_silent_part_way_through_a_pdu_is_cut_off_after_the_idle_time() -> None:
    with running(idle=0.5) as moved, socket.create_connection((HOST, port_of(moved))) as sock:
        started = time.monotonic()
        sock.sendall(associate_rq_header(200) + b"\0" * 10)
        assert closed_by_peer(sock, 5.0)
        assert time.monotonic() - started < 3.0
        wait_for(lambda: "went silent" in moved.refused_words())
        assert moved.refused_words().endswith("went silent for 500 ms part way through a PDU")


def test_a_trickling_peer_is_cut_off_when_the_drills_time_runs_out() -> None:
    stop = threading.Event()
    with (
        running(timeout=1.0, idle=5.0) as moved,
        socket.create_connection((HOST, port_of(moved))) as sock,
    ):
        started = time.monotonic()

        def trickle() -> None:
            data = associate_rq_header(10_000) + b"\0" * 10_000
            for byte in data:
                if stop.wait(0.05):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        sender = threading.Thread(target=trickle)
        sender.start()
        try:
            assert closed_by_peer(sock, 5.0)
            assert time.monotonic() - started < 3.0
        finally:
            stop.set()
            sender.join()
        wait_for(lambda: "time ran out" in moved.refused_words())


def test_a_flood_over_the_drills_byte_limit_is_cut_off() -> None:
    sent = images(30)
    with running(max_bytes=4096) as moved:
        # Cut off part way: the sender's association is gone before its next C-STORE.
        with pytest.raises(RuntimeError, match="must be established"):
            # (a short timeout: pynetdicom's sender waits it out once its peer is gone)
            store(HOST, port_of(moved), AET, sent, timeout=3)
        wait_for(lambda: "limit" in moved.refused_words())
        assert "sent over 4.0 KiB in all (the drill's limit)" in moved.refused_words()
        assert moved.instances < len(sent)
