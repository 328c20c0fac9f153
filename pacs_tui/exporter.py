"""The Prometheus exporter of ``collect`` (``[exporters.prometheus] bind``): the engine's state
as metrics. A scrape reads the states the engine holds; it never triggers a probe.

Families (labels ``target``, ``kind``, ``site``, ``role``: ids from the config, never a patient
or a user):

- ``pacs_tui_target_up``: 1 when the last check reached the target (OK, WARN, CRIT), 0 when it
  is DOWN or UNKNOWN;
- ``pacs_tui_target_status``: one series per status word (label ``status``), 1 for the
  target's status and 0 for the others, so that alert rules and Grafana can select a word;
- ``pacs_tui_target_last_check_timestamp_seconds``: when its last result came (stale data);
- ``pacs_tui_<metric>``: every declared metric, base units (``pacs_tui_echo_seconds``,
  ``pacs_tui_run_seconds``, ``pacs_tui_perf_time_seconds``), ``_total`` for counters;
- ``pacs_tui_viewers``: UIs attached to the collector.

The exposition text is prometheus-client's (a custom collector, ``generate_latest``). It is
served by a small asyncio responder rather than prometheus-client's ``start_http_server``:
that one runs a thread per connection with no read deadline, so a client that connects and
says nothing would hold a thread of the collector for ever; here a request has 5 s and 8 KiB,
at most 16 are served at once, and only ``GET /metrics`` (and ``/``) is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pacs_tui.model import Status
from pacs_tui.probes import metric_spec
from pacs_tui.visible import host_port

if TYPE_CHECKING:
    from pacs_tui.engine import Engine

log = logging.getLogger(__name__)

PREFIX = "pacs_tui_"
LABELS = ("target", "kind", "site", "role")
#: A request's head: its size and the seconds it may take to arrive.
REQUEST_LIMIT = 8192
REQUEST_SECONDS = 5.0
#: Seconds to hand over an answer to a client that reads slowly.
ANSWER_SECONDS = 10.0
#: Requests served at once; more are closed unanswered.
MAX_CLIENTS = 16
#: Statuses that mean the check reached the target.
REACHED = (Status.OK, Status.WARN, Status.CRIT)

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """A declared metric's name as a Prometheus one: ``perf.time_seconds`` →
    ``pacs_tui_perf_time_seconds``."""
    return PREFIX + (_INVALID.sub("_", name).strip("_") or "value")


class EngineCollector(Collector):
    """prometheus-client collector over an engine's states (read on the engine's loop)."""

    def __init__(self, engine: Engine, viewers: Callable[[], int] = lambda: 0) -> None:
        self.engine = engine
        self.viewers = viewers

    def collect(self) -> Iterator[Metric]:
        states = list(self.engine.states.values())
        up = GaugeMetricFamily(
            PREFIX + "target_up", "1 when the last check reached the target, else 0", labels=LABELS
        )
        status = GaugeMetricFamily(
            PREFIX + "target_status",
            "1 for the target's status word, 0 for the others",
            labels=(*LABELS, "status"),
        )
        checked = GaugeMetricFamily(
            PREFIX + "target_last_check_timestamp_seconds",
            "Unix time of the target's last result",
            labels=LABELS,
        )
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for state in states:
            target = state.target
            labels = [
                target.id,
                str(target.kind),
                target.labels.get("site", ""),
                target.labels.get("role", ""),
            ]
            up.add_metric(labels, 1.0 if state.status in REACHED else 0.0)
            for word in Status:
                status.add_metric([*labels, word.value], 1.0 if state.status is word else 0.0)
            if state.checked is not None:
                checked.add_metric(labels, state.checked)
            for name, value in sorted(state.metrics.items()):
                spec = metric_spec(target.kind, name)
                family = families.get(spec.name)
                if family is None:
                    doc = spec.description or spec.label
                    full = metric_name(spec.name)
                    if spec.kind == "counter":  # the family adds "_total" to the samples
                        full = full.removesuffix("_total")
                        family = CounterMetricFamily(full, doc, labels=LABELS)
                    else:
                        family = GaugeMetricFamily(full, doc, labels=LABELS)
                    families[spec.name] = family
                family.add_metric(labels, value)
        yield up
        yield status
        yield checked
        yield from families.values()
        viewers = GaugeMetricFamily(PREFIX + "viewers", "UIs attached to the collector")
        viewers.add_metric([], float(self.viewers()))
        yield viewers


class MetricsServer:
    """``GET /metrics`` on ``host:port`` with the engine's metrics."""

    def __init__(
        self, engine: Engine, host: str, port: int, viewers: Callable[[], int] = lambda: 0
    ) -> None:
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(EngineCollector(engine, viewers))
        self._server: asyncio.AbstractServer | None = None
        self._clients = 0

    @property
    def address(self) -> str:
        return host_port(self.host, self.port)

    async def start(self) -> None:
        """Listen; ``OSError`` (in use, not an address of this machine) for the caller."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=REQUEST_LIMIT
        )
        sockets = self._server.sockets
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("Prometheus metrics on http://%s/metrics", self.address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._clients >= MAX_CLIENTS:
            writer.close()
            return
        self._clients += 1
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            answer = self._answer(head)
            writer.write(answer)
            async with asyncio.timeout(ANSWER_SECONDS):
                await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a silent, slow, oversized or vanished client: closed, nothing else
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, head: bytes) -> bytes:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return _response(400, "text/plain", b"a HTTP request, please\n")
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return _response(405, "text/plain", b"GET only\n")
        if target == b"/metrics":
            body = generate_latest(self.registry)
        elif target == b"/":
            body = b'pacs-tui collector: metrics at <a href="/metrics">/metrics</a>\n'
            return _response(200, "text/html; charset=utf-8", body)
        else:
            return _response(404, "text/plain", b"not found; metrics at /metrics\n")
        response = _response(200, CONTENT_TYPE_LATEST, body)
        return response if method == b"GET" else response[: response.index(b"\r\n\r\n") + 4]


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _response(code: int, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
