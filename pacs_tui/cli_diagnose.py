"""``pacs-tui diagnose hl7 HOST:PORT``: the steps as they run, then the verdict (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from pacs_tui.cli_common import EXIT_USAGE, _err
from pacs_tui.durations import parse_duration
from pacs_tui.logs import setup_logging
from pacs_tui.visible import visible


def cmd_diagnose(args: argparse.Namespace) -> int:
    from pacs_tui.hl7.diagnose import Step, diagnose_link
    from pacs_tui.probes.hl7_source import host_port

    setup_logging(args.log_level if args.log_level != "info" else "warning")
    try:
        host, port = host_port(args.address)
    except ValueError:
        _err(f"pacs-tui diagnose: {visible(args.address, 100)!r}: expected HOST:PORT")
        return EXIT_USAGE
    try:
        timeout = parse_duration(args.timeout)
    except ValueError as exc:
        _err(f"pacs-tui diagnose: --timeout: {exc}")
        return EXIT_USAGE
    if not 0.1 <= timeout <= 600:
        _err("pacs-tui diagnose: --timeout: expected from 100ms to 10m")
        return EXIT_USAGE

    def say(step: Step) -> None:
        if not args.json:
            mark = "✔" if step.ok else "✖"
            print(f"{mark} {step.name:<18} {step.seconds * 1000:8.1f} ms  {visible(step.detail)}")
            sys.stdout.flush()

    found = asyncio.run(diagnose_link(host, port, args.send, timeout, say))
    if args.json:
        print(json.dumps(found.document(), indent=2))
    else:
        print(f"verdict: {found.verdict.label} — {visible(found.reason)}")
    return found.verdict.exit_code
