"""``pacs-tui diagnose hl7 HOST:PORT``: the steps as they run, then the verdict (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from pacs_tui.cli_common import _err
from pacs_tui.durations import parse_duration
from pacs_tui.logs import setup_logging
from pacs_tui.visible import visible


def cmd_diagnose(args: argparse.Namespace) -> int:
    from pacs_tui.hl7.diagnose import Diagnosis, Step, diagnose_link
    from pacs_tui.model import Status
    from pacs_tui.probes.hl7_source import host_port

    setup_logging(args.log_level if args.log_level != "info" else "warning")

    def mistake(reason: str) -> int:
        """A usage mistake: UNKNOWN (exit 3, as ``status``), in JSON too with ``--json``."""
        if args.json:
            document = Diagnosis(visible(args.address, 100), Status.UNKNOWN, reason).document()
            print(json.dumps(document, indent=2))
        _err(f"pacs-tui diagnose: {reason}")
        return Status.UNKNOWN.exit_code

    try:
        host, port = host_port(args.address)
    except ValueError:
        return mistake(_address_problem(args.address))
    try:
        timeout = parse_duration(args.timeout)
    except ValueError as exc:
        return mistake(f"--timeout: {exc}")
    if not 0.1 <= timeout <= 600:
        return mistake("--timeout: expected from 100ms to 10m")

    def say(step: Step) -> None:
        if not args.json:
            mark = "✔" if step.ok else "✖"
            took = step.seconds * 1000
            print(f"{mark} {step.name:<18} {took:9,.1f} ms  {visible(step.detail)}")
            sys.stdout.flush()

    found = asyncio.run(diagnose_link(host, port, args.send, timeout, say))
    if args.json:
        print(json.dumps(found.document(), indent=2))
    else:
        print(f"verdict: {found.verdict.label} — {visible(found.reason)}")
    return found.verdict.exit_code


def _address_problem(address: str) -> str:
    """What is wrong with a HOST:PORT, in words."""
    shown = repr(visible(address, 100))
    _, colon, port = address.rpartition(":")
    if not colon or not port:
        return f"{shown}: expected HOST:PORT, like ris.example.org:2575"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{shown}: the port {visible(port, 20)!r} is not a number from 1 to 65535"
    return f"{shown}: expected HOST:PORT (a host name or an IP address, then a port)"
