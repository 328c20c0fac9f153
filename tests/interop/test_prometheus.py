"""A real Prometheus (Debian's ``prometheus``) scrapes a real ``pacs-tui collect``; the values
are read back through Prometheus' HTTP API. ``promtool`` checks the examples."""

from __future__ import annotations

import json
import re
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
#: Sources whose series the command-only test site does not export.
ABSENT_HERE = ("echo", "backup", "mirror", "drill")
#: The exporter's labels as Prometheus keeps them (an empty role is no label at all).
LABELS = 'kind="{kind}",site="Ward",target="{target}"'


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
            for target in panel.get("targets", ()):  # a row has none
                found = query(web_port, target["expr"].replace("$site", ".*"))
                # This site has command checks only: no echo, backup, mirror or drill series
                # (their names are checked against the exporter's below).
                if not any(f"pacs_tui_{s}_" in target["expr"] for s in ABSENT_HERE):
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


def exported_names() -> set[str]:
    """Every name the exporter can give a declared metric, and its own fixed series."""
    from pacs_tui.exporter import PREFIX, metric_name
    from pacs_tui.probes import SOURCES

    names = {PREFIX + n for n in ("target_up", "target_status", "viewers")}
    names.add(PREFIX + "target_last_check_timestamp_seconds")
    return names | {metric_name(m.name) for source in SOURCES for m in source.metrics}


def test_the_examples_use_only_series_the_exporter_exports() -> None:
    rules = (EXAMPLES / "prometheus-rules.yml").read_text()
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs = [line.split("expr:", 1)[1] for line in rules.splitlines() if "expr:" in line]
    # Read line by line (no YAML parser here): an expression must sit on its ``expr:`` line,
    # not in a block scalar whose names this would miss.
    assert all(e.strip() and e.strip()[0] not in "|>" for e in exprs), exprs
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    used = {name for expr in exprs for name in re.findall(r"\bpacs_tui_[a-z0-9_]+", expr)}
    assert {"pacs_tui_backup_rpo_ratio", "pacs_tui_drill_rto_ratio"} <= used
    assert used - exported_names() == set()


def series(kind: str, target: str, metric: str, values: str) -> dict[str, str]:
    labels = LABELS.format(kind=kind, target=target)
    return {"series": f"pacs_tui_{metric}{{{labels}}}", "values": values}


def fired(alert: str, at: str, *targets: tuple[str, str, str, str]) -> dict[str, Any]:
    """``alert`` firing at ``at`` for each (kind, target, severity, summary), or for none."""
    expected = []
    for kind, target, severity, summary in targets:
        labels = {"kind": kind, "site": "Ward", "target": target, "severity": severity}
        expected.append({"exp_labels": labels, "exp_annotations": {"summary": summary}})
    return {"eval_time": at, "alertname": alert, "exp_alerts": expected}


def test_the_recovery_alert_rules_fire_on_what_they_name(tmp_path: Path) -> None:
    """promtool's rule unit tests: each backup, mirror and drill rule fires for the series past
    its threshold (after its ``for``), and not for the healthy one beside it."""
    promtool = require_peer("/usr/bin/promtool", PACKAGE)
    late = "late: the newest good backup is older than its RPO (150% of it)"
    lost = "lost: the newest good backup is older than its RPO (250% of it)"
    tests = {
        "rule_files": [str(EXAMPLES / "prometheus-rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    series("backup", "late", "backup_rpo_ratio", "1.5x40"),
                    series("backup", "lost", "backup_rpo_ratio", "2.5x40"),
                    series("backup", "fine", "backup_rpo_ratio", "0.5x40"),
                    series("backup", "late", "backup_check_ok", "1x40"),
                    series("backup", "broken", "backup_check_ok", "0x40"),
                    series("mirror", "pair", "mirror_rpo_ratio", "1.5x120"),
                    series("mirror", "pair", "mirror_missing_studies", "2x120"),
                    series("mirror", "calm", "mirror_rpo_ratio", "0.1x120"),
                    # One study in flight at one round, there at the next: no page.
                    series("mirror", "calm", "mirror_missing_studies", "1x60 0x60"),
                    series("drill", "drill", "drill_rto_ratio", "1.2x40"),
                    series("drill", "quick", "drill_rto_ratio", "0.1x40"),
                ],
                "alert_rule_test": [
                    fired("PacsBackupPastRpo", "10m"),  # not yet: for 15m
                    fired("PacsBackupPastRpo", "20m", ("backup", "late", "warning", late),
                          ("backup", "lost", "warning", lost)),
                    fired("PacsBackupFarPastRpo", "20m", ("backup", "lost", "critical",
                          "lost: the newest good backup is more than twice its RPO old")),
                    fired("PacsBackupCheckFailed", "5m", ("backup", "broken", "critical",
                          "broken: the last integrity check of the repository failed")),
                    fired("PacsMirrorLagPastRpo", "5m", ("mirror", "pair", "warning",
                          "pair: the mirror lags its primary by more than the RPO")),
                    fired("PacsMirrorMissingStudies", "60m"),
                    fired("PacsMirrorMissingStudies", "100m", ("mirror", "pair", "warning",
                          "pair: 2 studies missing on the mirror")),
                    fired("PacsDrillOverRto", "5m", ("drill", "drill", "warning",
                          "drill: the last failover drill took longer than the RTO target")),
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "recovery-tests.yml"
    path.write_text(json.dumps(tests))  # YAML is a superset of JSON
    done = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
