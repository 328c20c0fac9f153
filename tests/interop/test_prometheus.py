"""A real Prometheus (Debian's ``prometheus``) scrapes a real ``pacs-tui collect``; the values
are read back through Prometheus' HTTP API. ``promtool`` checks the examples."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..peers import HOST, free_port
from .conftest import require_peer
from .test_attach import Site

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKAGE = "prometheus"


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://{HOST}:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as answer:
        found = json.load(answer)
    assert found["status"] == "success", found
    return list(found["data"]["result"])


def until_value(port: int, expr: str, want: float, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = query(port, expr)
        except OSError:
            found = []  # Prometheus still starting
        if found and all(float(r["value"][1]) == want for r in found):
            return found
        assert time.monotonic() < deadline, f"{expr}: {found}"
        time.sleep(0.2)


def test_prometheus_scrapes_the_collector(tmp_path: Path) -> None:
    prometheus = require_peer("/usr/bin/prometheus", PACKAGE)
    exporter_port = free_port()
    site = Site(tmp_path, f'[exporters.prometheus]\nbind = "{HOST}:{exporter_port}"\n')
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pacs-tui\n    static_configs:\n"
        f'      - targets: ["{HOST}:{exporter_port}"]\n'
    )
    web_port = free_port()
    server = None
    try:
        site.start()
        with (tmp_path / "prometheus.log").open("wb") as log:
            server = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address={HOST}:{web_port}",
                ],
                stdout=log,
                stderr=log,
            )
        found = until_value(web_port, 'pacs_tui_target_up{target="counted"}', 1)
        (series,) = found
        assert series["metric"]["job"] == "pacs-tui"
        assert series["metric"]["kind"] == "command" and series["metric"]["site"] == "Attach ward"
        until_value(web_port, 'pacs_tui_target_status{target="flappy",status="OK"}', 1)
        runs = query(web_port, "pacs_tui_run_seconds")
        assert {r["metric"]["target"] for r in runs} == {"flappy", "counted"}
        assert all(0 < float(r["value"][1]) < 5 for r in runs)
        assert query(web_port, "pacs_tui_viewers")[0]["value"][1] == "0"
        # Every query of the example dashboard is valid PromQL over these series.
        dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found = query(web_port, target["expr"].replace("$site", ".*"))
                if "echo" not in target["expr"]:  # a command-only site has no echo
                    assert found, (panel["title"], target["expr"])
        # A change reaches Prometheus at its next scrape.
        site.flag.touch()
        until_value(web_port, 'pacs_tui_target_status{target="flappy",status="CRIT"}', 1)
        until_value(web_port, 'pacs_tui_target_status{target="flappy",status="OK"}', 0)
        assert site.stop() == 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        site.kill()


def test_the_prometheus_examples_pass_promtool(tmp_path: Path) -> None:
    promtool = require_peer("/usr/bin/promtool", PACKAGE)
    for what, name in (("config", "prometheus-scrape.yml"), ("rules", "prometheus-rules.yml")):
        done = subprocess.run(
            [promtool, "check", what, str(EXAMPLES / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
