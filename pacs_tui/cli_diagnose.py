"""``pacs-tui diagnose hl7|dicom HOST:PORT``: the steps as they run, then the verdict (or JSON)."""

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
    from pacs_tui.diagnosis import Diagnosis, Step
    from pacs_tui.model import Status
    from pacs_tui.probes.hl7_source import host_port

    setup_logging(args.log_level if args.log_level != "info" else "warning")
    dicom = args.kind == "dicom"

    def mistake(reason: str) -> int:
        """A usage mistake: UNKNOWN (exit 3, as ``status``), in JSON too with ``--json``."""
        if args.json:
            learned: dict[str, object] = {"ack": None} if not dicom else {}
            found = Diagnosis(visible(args.address, 100), Status.UNKNOWN, reason, learned=learned)
            print(json.dumps(found.document(), indent=2))
        _err(f"pacs-tui diagnose: {reason}")
        return Status.UNKNOWN.exit_code

    if dicom and args.send is not None:
        return mistake("--send is for hl7 (a DICOM node is tested with a C-ECHO)")
    if not dicom and (args.called_aet is not None or args.calling_aet is not None):
        option = "--called-aet" if args.called_aet is not None else "--calling-aet"
        return mistake(f"{option} is for dicom (an HL7 receiver has no AE title)")
    called = args.called_aet if args.called_aet is not None else "ANY-SCP"
    calling = args.calling_aet if args.calling_aet is not None else "PACSTUI"
    if dicom:
        from pacs_tui.probes.dicom import aet_problem

        for option, value in (("--called-aet", called), ("--calling-aet", calling)):
            problem = aet_problem(value)
            if problem is not None:
                return mistake(f"{option} {visible(value, 40)!r}: {problem}")

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
            for line in step.lines:
                print(f"    {visible(line)}")
            sys.stdout.flush()

    if dicom:
        from pacs_tui.probes.dicom_diagnose import diagnose_node

        run = diagnose_node(host, port, called, calling, timeout, say)
    else:
        from pacs_tui.hl7.diagnose import diagnose_link

        run = diagnose_link(host, port, args.send, timeout, say)
    found = asyncio.run(run)
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
        return f"{shown}: expected HOST:PORT, like ris.example.org:2575 or pacs.example.org:104"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{shown}: the port {visible(port, 20)!r} is not a number from 1 to 65535"
    return f"{shown}: expected HOST:PORT (a host name or an IP address, then a port)"
