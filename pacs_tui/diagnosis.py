"""What ``pacs-tui diagnose`` finds, whatever it tests: the steps (each timed, said as it ends),
the verdict, and what the test learned about the peer; the steps every test starts with (the
name looked up, the TCP connection). The HL7 and DICOM tests build on it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pacs_tui.model import Status
from pacs_tui.visible import visible

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str
    lines: tuple[str, ...] = ()
    """More to say under the step's line (the text output only: JSON has it structured)."""


@dataclass
class Diagnosis:
    target: str
    verdict: Status = Status.UNKNOWN
    reason: str = ""
    steps: list[Step] = field(default_factory=list)
    learned: dict[str, Any] = field(default_factory=dict)
    """What the test learned about the peer, as the JSON document's own keys."""

    def document(self) -> dict[str, Any]:
        """The ``--json`` document (ARCHITECTURE's diagnose contract)."""
        return {
            "target": self.target,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "steps": [
                {"name": s.name, "ok": s.ok, "seconds": round(s.seconds, 6), "detail": s.detail}
                for s in self.steps
            ],
            **self.learned,
        }


class Steps:
    """Records a diagnosis as it runs: each step into ``found`` and to ``on_step`` at once."""

    def __init__(self, found: Diagnosis, on_step: Callable[[Step], None]) -> None:
        self.found = found
        self._on_step = on_step

    def step(
        self, name: str, ok: bool, started: float, detail: str, lines: tuple[str, ...] = ()
    ) -> bool:
        """A step that began at ``started`` (``time.monotonic()``) ends now."""
        return self.took(name, ok, time.monotonic() - started, detail, lines)

    def took(
        self, name: str, ok: bool, seconds: float, detail: str, lines: tuple[str, ...] = ()
    ) -> bool:
        """A step that took ``seconds`` (timed elsewhere) is said."""
        done = Step(name, ok, seconds, detail, lines)
        self.found.steps.append(done)
        self._on_step(done)
        return ok

    def verdict(self, status: Status, reason: str) -> Diagnosis:
        self.found.verdict, self.found.reason = status, reason
        return self.found


async def in_thread(call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread of its own. Not the loop's executor, which
    ``asyncio.run`` waits for at its end: Ctrl-C would wait out a name lookup the resolver
    holds or an association's whole timeout (``pacs-tui``'s exit leaves such threads)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if done.done():  # cancelled meanwhile: nobody waits any more
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value = call()
        except BaseException as exc:  # handed to the awaiting task, raised there
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, name="diagnose", daemon=True).start()
    return await done


async def look_up(host: str, port: int, timeout: float, steps: Steps) -> bool:
    """The "resolve" step: ``host``'s addresses (the verdict DOWN when it has none)."""
    started = time.monotonic()
    try:
        infos = await asyncio.wait_for(
            in_thread(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)), timeout
        )
    except (TimeoutError, OSError, UnicodeError) as exc:
        words = "no answer from the resolver" if isinstance(exc, TimeoutError) else "not found"
        steps.step("resolve", False, started, f"{visible(host, 100)}: {words}")
        steps.verdict(Status.DOWN, f"host not found: {visible(host, 100)}")
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    return steps.step("resolve", True, started, ", ".join(addresses[:4]))


async def connect(
    host: str,
    port: int,
    timeout: float,
    steps: Steps,
    failed: Callable[[OSError], str],
    done: Callable[[asyncio.StreamWriter], str],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """The "connect" step: the connection, or ``None`` with the verdict DOWN and the words
    ``failed`` has for why (a timeout is a :class:`TimeoutError`, an ``OSError``)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        words = failed(exc)
        steps.step("connect", False, started, words)
        steps.verdict(Status.DOWN, words)
        return None
    steps.step("connect", True, started, done(writer))
    return reader, writer


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close a connection without waiting long for the peer to agree."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 0.5)
