"""Hosts: the config's words, this server's real figures through psutil (a process by name
up or not running), node_exporter's text parsed, and hostile scrapes (junk, too big, slow,
HTTP errors) DOWN in words."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest

from pacs_tui.model import Status, TargetState
from pacs_tui.probes import host_source
from pacs_tui.probes.host_source import (
    HostCheck,
    HostConfig,
    ScrapeError,
    host_target,
    parse_node_exporter,
)
from pacs_tui.report import status_table
from tests.unit.config_problems import problems


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('id = "a"\nlocal = true\nurl = "http://db:9100/metrics"', "expected no url with local"),
        ('id = "a"', "expected local = true, or url = a node_exporter's /metrics"),
        ('id = "a"\nurl = "ftp://db/metrics"', "expected an http:// or https:// URL"),
        (
            'id = "a"\nurl = "http://db:9100/metrics"\nprocesses = ["java"]',
            "processes only with local",
        ),
        ('id = "a"\nlocal = true\ncpu_warn = "0.9"', "expected a percentage"),
    ],
)
def test_a_bad_host_names_the_key_and_what_was_expected(entry: str, expected: str) -> None:
    found = problems(f"[[host]]\n{entry}\n")
    assert any(expected in p for p in found), found


def test_a_host_url_with_a_password_is_refused_without_showing_it() -> None:
    found = problems('[[host]]\nid = "db"\nurl = "http://u:secret@db1:9100/metrics"\n')
    assert len(found) == 1 and "secret" not in found[0]
    assert "'http://•••@db1:9100/metrics'" in found[0] and "no user or password" in found[0]


async def test_this_server_read_through_psutil() -> None:
    mine = psutil.Process().name()
    entry = HostConfig("here", local=True, processes=(mine, "no-such-daemon"), timeout=5)
    check = HostCheck(entry)
    first = await check.check()
    assert first.status is Status.CRIT and first.reason == "not running: no-such-daemon"
    assert first.metrics["memory_total_bytes"] == psutil.virtual_memory().total
    assert 0 < first.metrics["memory_used_ratio"] < 1
    assert first.metrics["processes_down"] == 1
    assert "cpu_ratio" not in first.metrics  # a rate needs two readings
    lines = first.details["processes"]
    assert lines[1] == "no-such-daemon: not running" and lines[0].startswith(f"{mine}: ")
    sum(i * i for i in range(200_000))  # some CPU between the readings
    second = await check.check()
    assert 0 <= second.metrics["cpu_ratio"] <= 1
    assert "CPU" in second.details["processes"][0] and "of a core" in second.details["processes"][0]


async def test_a_quiet_server_is_ok_with_its_figures() -> None:
    check = HostCheck(HostConfig("here", local=True, cpu_warn=1.0, cpu_crit=1.0,
                                 memory_warn=1.0, memory_crit=1.0, timeout=5))  # fmt: skip
    await check.check()
    result = await check.check()
    if result.status is Status.CRIT:  # a machine busy to its last cycle (CI) meets 100 %
        assert result.reason == "CPU 100 % busy ≥ 100 %"
        return
    assert result.status is Status.OK
    assert result.reason.startswith("CPU ") and " of " in result.reason and "load " in result.reason


NODE_TEXT = """\
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 900
node_cpu_seconds_total{cpu="0",mode="iowait"} 20
node_cpu_seconds_total{cpu="0",mode="user"} 60
node_cpu_seconds_total{cpu="0",mode="system"} 20
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8.589934592e+09
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 2.147483648e+09
# TYPE node_load1 gauge
node_load1 0.75
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} 1000
node_network_receive_bytes_total{device="lo"} 5e9
"""


def test_node_exporters_text_gives_the_figures() -> None:
    reading = parse_node_exporter(NODE_TEXT)
    assert reading.memory_total == 8 * 2**30 and reading.memory_available == 2 * 2**30
    assert (reading.cpu_busy, reading.cpu_total, reading.load1) == (80, 1000, 0.75)
    assert reading.net_rx == 1000  # lo left out


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<html><body>login</body></html>", "not a Prometheus text page"),
        ("some_metric 1\n", "no node_memory_MemTotal_bytes: not a node_exporter's page"),
    ],
)
def test_what_is_not_node_exporters_page_is_said(text: str, words: str) -> None:
    with pytest.raises(ScrapeError, match=words):
        parse_node_exporter(text)


class Peer(BaseHTTPRequestHandler):
    """A hostile /metrics: by path, junk, a huge page, a slow one, an error."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(3)
        body = {
            "/junk": b"\x00\x01 not metrics {{{",
            "/huge": b"node_load1 1\n" * 200_000,
            "/ok": NODE_TEXT.encode(),
        }.get(self.path, b"")
        if self.path == "/error":
            self.send_error(503, "Service Unavailable")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/junk", "not a Prometheus text page"),
        ("/huge", "its answer is over 1 MiB: not read"),
        ("/slow", "no answer within 1 s"),
        ("/error", "HTTP 503 Service Unavailable"),
    ],
)
async def test_a_hostile_scrape_is_down_in_words(
    hostile: str, path: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_source, "SCRAPE_LIMIT", 2**20)
    check = HostCheck(HostConfig("db", url=hostile + path, timeout=1))
    result = await asyncio.wait_for(check.check(), 5)
    assert result.status is Status.DOWN
    assert words in result.reason, result.reason


async def test_a_closed_port_is_down_in_words() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await HostCheck(HostConfig("db", url=f"http://127.0.0.1:{port}/metrics")).check()
    assert result.status is Status.DOWN and result.reason.startswith("cannot reach it: ")
    assert "refused" in result.reason.lower()


def test_load_is_this_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    reading = host_source.read_local(())
    assert reading.load1 == pytest.approx(os.getloadavg()[0], abs=2)


async def test_this_servers_os_sessions_are_read_and_said_in_words() -> None:
    """psutil's users (utmp) reach the result: counted, listed, and read in words."""
    from pacs_tui.probes.host_source import Reading, detail_text

    result = await HostCheck(HostConfig("here", local=True)).check()
    assert result.metrics["os_sessions"] == len(psutil.users())
    assert [u["user"] for u in result.details["os_sessions"]] == [u.name for u in psutil.users()]

    check = HostCheck(HostConfig("here", local=True))
    reading = Reading(8e9, 4e9, users=[("alice", "pts/0", "10.1.1.2", 1_700_000_000.0)])
    judged = check.judge(reading, None)
    assert judged.metrics["os_sessions"] == 1
    words = detail_text("os_sessions", judged.details["os_sessions"])
    assert words is not None and words.startswith("alice on pts/0 from 10.1.1.2 since ")
    assert detail_text("os_sessions", []) == "nobody" and detail_text("where", "x") is None


def test_status_says_where_a_host_is_watched_from() -> None:
    local = host_target(HostConfig("here", local=True))
    remote = host_target(HostConfig("pacs-db", local=False, url="http://127.0.0.1:9100/metrics"))
    text = status_table("site", [TargetState(local), TargetState(remote)])
    here_row = next(line for line in text.splitlines() if " here " in line)
    db_row = next(line for line in text.splitlines() if " pacs-db " in line)
    assert "this server" in here_row and "127.0.0.1:9100" in db_row
