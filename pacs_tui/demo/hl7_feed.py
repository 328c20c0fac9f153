"""The demo's HL7 traffic: an HIS that sends ADT, ORM and ORU messages a few times a second to
the tap, and the RIS behind it, which acknowledges (AA mostly, AE now and then, AR for what it
does not take) and stalls for a few seconds now and then. All on loopback, in a thread with its
own event loop, so the feed goes on whatever the UI does. The patients are made up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import threading
import time

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import Problem, build_ack
from pacs_tui.hl7.header import HeaderError, read_header

#: Messages the HIS sends a second, on average.
RATE = 3.0
#: The RIS stalls (answers nothing) this long, about once every STALL_EVERY seconds.
STALL_SECONDS = 8.0
STALL_EVERY = 90.0

_NAMES = ("MARTIN^CLAIRE", "BERNARD^LUC", "PETIT^ANNE", "DURAND^PAUL", "LEROY^EMMA")
_TYPES = (
    ("ADT^A01^ADT_A01", "EVN|A01|{now}\rPID|1||{pid}^^^HOSP^MR||{name}||19700101|F\rPV1|1|I|W3^12"),
    ("ADT^A08^ADT_A01", "EVN|A08|{now}\rPID|1||{pid}^^^HOSP^MR||{name}||19700101|F\rPV1|1|I|W3^12"),
    ("ORM^O01^ORM_O01", "PID|1||{pid}^^^HOSP^MR||{name}\rORC|NW|{n}\rOBR|1|{n}||CT^CT HEAD"),
    ("ORU^R01^ORU_R01", "PID|1||{pid}^^^HOSP^MR||{name}\rOBR|1|{n}||CT^CT HEAD\rOBX|1|TX|||normal"),
    ("QRY^A19^QRY_A19", "QRD|{now}|R|I|{n}"),  # a type the RIS does not take: AR
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DemoHl7Feed:
    """Start with :meth:`start` (the RIS's port, and the port the HIS sends to: the tap's),
    stop with :meth:`stop`."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._stalled_until = 0.0
        self.ris_port = 0
        self.tap_port = free_port()
        self.sent = 0

    def start(self) -> tuple[int, int]:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._main(ready))
            loop.close()

        self._thread = threading.Thread(target=run, name="demo-hl7", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.ris_port, self.tap_port

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(5)

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._ris, "127.0.0.1", 0)
        self.ris_port = int(server.sockets[0].getsockname()[1])
        ready.set()
        his = asyncio.create_task(self._his())
        await self._stopping.wait()
        his.cancel()
        server.close()
        await asyncio.gather(his, return_exceptions=True)

    async def _ris(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            async for item in mllp.frames(reader, max_frame=1 << 20, frame_timeout=30):
                if not isinstance(item, mllp.Frame):
                    continue
                try:
                    header = read_header(item.data)
                except HeaderError:
                    continue
                now = time.monotonic()
                if now > self._stalled_until and self._random.random() < 1 / (STALL_EVERY * RATE):
                    self._stalled_until = now + STALL_SECONDS
                if now < self._stalled_until:
                    await asyncio.sleep(self._stalled_until - now)  # late: the tap says no ACK
                code, problem = "AA", None
                if header.message_type.startswith("QRY"):
                    code, problem = "AR", Problem(200, "QRY^A19 is not taken here")
                elif self._random.random() < 0.015:  # with the AR, ~3.5 %: under error_warn
                    words = "PV1-3: a ward the RIS does not know"  # 103: table value not found
                    code, problem = "AE", Problem(103, words, "PV1", 3)
                writer.write(b"\x0b" + build_ack(header, code, problem) + mllp.END)
                await writer.drain()
        writer.close()

    async def _his(self) -> None:
        numbers = itertools.count(1)
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.tap_port)
            except OSError:
                await asyncio.sleep(1.0)  # the tap is not listening yet
                continue
            try:
                while True:
                    writer.write(b"\x0b" + self._message(next(numbers)) + mllp.END)
                    await writer.drain()
                    self.sent += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.readuntil(mllp.END), 15)
                    await asyncio.sleep(self._random.expovariate(RATE))
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                writer.close()
                await asyncio.sleep(1.0)

    def _message(self, n: int) -> bytes:
        weights = (3, 3, 2, 2, 0.2)
        kind, body = self._random.choices(_TYPES, weights)[0]
        now = time.strftime("%Y%m%d%H%M%S")
        fields = {
            "now": now,
            "n": n,
            "pid": 900000 + self._random.randrange(500),
            "name": self._random.choice(_NAMES),
        }
        head = f"MSH|^~\\&|HIS|MAIN|RIS|RAD|{now}||{kind}|HIS{n:07d}|P|2.5"
        return (head + "\r" + body.format(**fields) + "\r").encode()
