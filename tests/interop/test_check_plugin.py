"""``pacs-tui check`` as Nagios, Icinga or Zabbix run it: against a real collector (its state,
not a second round of probes), without one (the checks run once), and wrapped by the Monitoring
Plugins' own ``negate``, which reads a plugin's exit code and rewrites its status word."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pacs_tui.probes.perfdata import parse_output

from .conftest import require_peer
from .test_attach import Site

pytestmark = pytest.mark.interop


def check(site: Site, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pacs_tui", "check", "--config", str(site.config), *args]
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60)


def until_checked(site: Site) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 15
    while (done := check(site)).returncode == 3:  # "not checked yet" at the start
        assert time.monotonic() < deadline, done.stdout
        time.sleep(0.1)
    return done


def test_check_reads_the_collector_and_follows_the_plugin_contract(tmp_path: Path) -> None:
    site = Site(tmp_path)
    try:
        site.start()
        done = until_checked(site)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("PACS-TUI OK - 2 targets: 2 OK | ")
        assert done.stdout.count("\n") == 1 and done.stderr == ""
        parsed = parse_output(done.stdout)
        assert parsed.problems == ()
        assert {p.label for p in parsed.perfdata} == {"flappy run", "counted run"}
        assert all(p.unit == "s" and p.minimum == 0 for p in parsed.perfdata)
        runs = site.runs.read_text().count("run")
        one = check(site, "--target", "counted")
        assert one.stdout.startswith("PACS-TUI OK - counted OK: counted | 'counted run'=")
        assert site.runs.read_text().count("run") == runs  # the collector's state, not a probe
        site.flag.touch()
        deadline = time.monotonic() + 15
        while (crit := check(site, "--kind", "command")).returncode != 2:
            assert time.monotonic() < deadline, crit.stdout
            time.sleep(0.1)
        assert crit.stdout.startswith(
            "PACS-TUI CRITICAL - 2 targets: 1 CRIT, 1 OK; flappy CRIT: BAD: flag set | "
        )
        # A threshold on the headline value (the plugin's run time, in seconds).
        slow = check(site, "--target", "counted", "--warn", "0:0.000001")
        assert slow.returncode == 1, slow.stdout
        assert "counted WARN: run " in slow.stdout and "outside 0:0.000001" in slow.stdout
        assert ";0:0.000001;" in slow.stdout  # and in its perfdata
        # The Monitoring Plugins' negate: it reads the exit code and swaps the words (-s).
        negate = require_peer("/usr/lib/nagios/plugins/negate", "monitoring-plugins-basic")
        swapped = check(site, "--target", "flappy", prefix=(negate, "-s", "-t", "50"))
        assert swapped.returncode == 0, swapped.stdout
        assert swapped.stdout.startswith("PACS-TUI OK - flappy CRIT: BAD: flag set")
        assert site.stop() == 0
        # No collector: every check runs once (counted runs again).
        alone = check(site, "--target", "counted")
        assert alone.returncode == 0 and alone.stdout.startswith("PACS-TUI OK - counted OK")
        assert site.runs.read_text().count("run") == runs + 1
    finally:
        site.kill()


def test_its_own_failures_are_unknown_on_one_line(tmp_path: Path) -> None:
    site = Site(tmp_path)
    for args, words in (
        (("--target", "flapy"), "PACS-TUI UNKNOWN - no target 'flapy' (did you mean 'flappy'?)"),
        (("--crit", "ten"), "PACS-TUI UNKNOWN - --crit 'ten': expected a Nagios range"),
        (("--timeout", "soon"), "PACS-TUI UNKNOWN - --timeout 'soon':"),
        (("--timeout", "0s"), "PACS-TUI UNKNOWN - --timeout '0s': expected from 100ms to 10m"),
        (("--frobnicate",), "PACS-TUI UNKNOWN - unrecognized arguments: --frobnicate"),
        (("--target", "a", "--kind", "b"), "PACS-TUI UNKNOWN - argument --kind: not allowed"),
    ):
        done = check(site, *args)
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert done.stdout.startswith(words), (args, done.stdout)
        assert done.stdout.count("\n") == 1
    site.config.write_text("[site]\nname = 5\n")
    broken = check(site)
    assert broken.returncode == 3
    assert broken.stdout.startswith(f"PACS-TUI UNKNOWN - config {site.config}: site.name = 5")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_zabbix_user_parameters_work_as_the_agent_runs_them(tmp_path: Path) -> None:
    site = Site(tmp_path)
    commands = {}
    for line in (EXAMPLES / "zabbix-pacs-tui.conf").read_text().splitlines():
        if line.startswith("UserParameter="):
            key, _, command = line.removeprefix("UserParameter=").partition(",")
            commands[key] = command.replace(
                "/opt/pacs-tui/bin/pacs-tui", f"{sys.executable} -m pacs_tui"
            ).replace("/etc/pacs-tui/config.toml", str(site.config))
    assert set(commands) == {"pacs-tui.status[*]", "pacs-tui.line[*]"}

    def agent(key: str, parameter: str) -> str:
        # The agent puts the item's parameter in place of $1 and runs the line with sh -c.
        done = subprocess.run(
            ["sh", "-c", commands[key].replace("$1", parameter)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout.strip()

    try:
        site.start()
        until_checked(site)
        assert agent("pacs-tui.status[*]", "counted") == "0"
        assert agent("pacs-tui.status[*]", "") == "0"
        assert agent("pacs-tui.line[*]", "counted").startswith("PACS-TUI OK - counted OK")
        site.flag.touch()
        deadline = time.monotonic() + 15
        while agent("pacs-tui.status[*]", "flappy") != "2":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert agent("pacs-tui.status[*]", "no-such") == "3"
        assert site.stop() == 0
    finally:
        site.kill()


def test_every_nagios_service_of_the_example_runs_as_a_check(tmp_path: Path) -> None:
    """Each ``check_command`` of the Nagios example, run as Nagios would (its arguments after
    ``!``) against a collector: one line of the plugin contract; a kind this command-only site
    lacks is named as a kind that exists elsewhere, never as an unknown one."""
    text = (EXAMPLES / "nagios-pacs-tui.cfg").read_text()
    commands = [
        line.split(None, 1)[1].strip()
        for line in text.splitlines()
        if line.strip().startswith("check_command")
    ]
    kinds = [c.split("--kind ", 1)[1].split()[0] for c in commands if "--kind " in c]
    assert {"dicom-node", "backup", "mirror", "drill"} <= set(kinds)
    site = Site(tmp_path)
    try:
        site.start()
        until_checked(site)
        for command in commands:
            name, _, args = command.partition("!")
            assert name == "check_pacs_tui"
            done = check(site, *args.split())
            assert done.stdout.startswith("PACS-TUI ") and done.stdout.count("\n") == 1, command
            assert done.returncode in (0, 1, 2, 3), command
            if "--kind " in args:
                kind = args.split("--kind ", 1)[1].split()[0]
                assert done.stdout.startswith(
                    f"PACS-TUI UNKNOWN - this site has no target of kind {kind!r}"
                ), (command, done.stdout)
            elif "--target " in args:
                assert "no target 'archive-main'" in done.stdout, (command, done.stdout)
            else:
                assert done.returncode == 0, (command, done.stdout)
    finally:
        site.kill()
