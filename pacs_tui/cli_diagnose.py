"""``pacs-tui diagnose hl7|dicom HOST:PORT``: the steps as they run, then the verdict (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pacs_tui.cli_common import _err, _print_config_error
from pacs_tui.config import Config, ConfigError, ConfigNotFound, load_config
from pacs_tui.config_reader import ID_RE, did_you_mean, some_of
from pacs_tui.durations import parse_duration
from pacs_tui.logs import setup_logging
from pacs_tui.visible import host_port as host_port_text
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

    aim = _Aim()
    try:
        aim.host, aim.port = host_port(args.address)
    except ValueError:
        if ":" in args.address or not ID_RE.match(args.address):
            return mistake(_address_problem(args.address))
        # An id: the config's entry of that id, tested with its settings.
        try:
            config = load_config(args.config)
        except ConfigNotFound:
            return mistake(
                f"{_address_problem(args.address)}; or a configured id (no config found)"
            )
        except ConfigError as exc:
            _print_config_error(exc)
            return mistake(f"{args.address!r} is not HOST:PORT, and the config has problems")
        found_aim = _configured(config, args.address, dicom)
        if isinstance(found_aim, str):
            return mistake(found_aim)
        aim = found_aim
        if not args.json:
            where = f"{aim.called} at " if dicom else ""
            print(
                f"{aim.entry}: {where}{host_port_text(aim.host, aim.port)} (from {config.source})"
            )
    if args.called_aet is not None:
        aim.called = args.called_aet
    if args.calling_aet is not None:
        aim.calling = args.calling_aet
    if args.send is not None:
        aim.send = args.send
    if dicom:
        from pacs_tui.probes.dicom import aet_problem

        for option, value in (("--called-aet", aim.called), ("--calling-aet", aim.calling)):
            problem = aet_problem(value)
            if problem is not None:
                return mistake(f"{option} {visible(value, 40)!r}: {problem}")
    if args.timeout is not None:
        try:
            aim.timeout = parse_duration(args.timeout)
        except ValueError as exc:
            return mistake(f"--timeout: {exc}")
        if not 0.1 <= aim.timeout <= 600:
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

        run = diagnose_node(aim.host, aim.port, aim.called, aim.calling, aim.timeout, say, aim.warn)
    else:
        from pacs_tui.hl7.diagnose import diagnose_link

        run = diagnose_link(aim.host, aim.port, aim.send, aim.timeout, say, aim.warn)
    found = asyncio.run(run)
    if args.json:
        print(json.dumps(found.document(), indent=2))
    else:
        print(f"verdict: {found.verdict.label} — {visible(found.reason)}")
    return found.verdict.exit_code


@dataclass
class _Aim:
    """What to test and how: from the command line, or a configured entry's settings."""

    host: str = ""
    port: int = 0
    called: str = "ANY-SCP"
    calling: str = "PACSTUI"
    timeout: float = 5.0
    send: Path | None = None
    warn: float | None = None  # the entry's own warn_latency / ack_warn; None: the default
    entry: str = ""  # how the config's entry is named, when it came from there


def _configured(config: Config, entry_id: str, dicom: bool) -> _Aim | str:
    """The configured ``[[dicom.node]]`` (or ``[[hl7.link]]``) ``entry_id`` as an aim, or what
    is wrong, in words."""
    table = "dicom.node" if dicom else "hl7.link"
    section = config.section("dicom" if dicom else "hl7")
    entries = list(section.nodes if dicom else section.links) if section is not None else []
    by_id = {entry.id: entry for entry in entries}
    entry = by_id.get(entry_id)
    if entry is None:
        shown = repr(visible(entry_id, 64))
        if not by_id:
            return f"{shown} is not HOST:PORT, and the config has no [[{table}]]"
        hint = did_you_mean(entry_id, set(by_id)) or f" (known: {some_of(sorted(by_id), 6)})"
        return f"{shown} is neither HOST:PORT nor a [[{table}]] id in the config{hint}"
    named = f"{table} {entry_id}"
    if dicom:
        return _Aim(
            entry.host,
            entry.port,
            entry.aet,
            entry.calling_aet,
            entry.timeout,
            warn=entry.warn_latency,
            entry=named,
        )
    return _Aim(
        entry.host,
        entry.port,
        timeout=entry.timeout,
        send=entry.send,
        warn=entry.ack_warn,
        entry=named,
    )


def _address_problem(address: str) -> str:
    """What is wrong with a HOST:PORT, in words."""
    shown = repr(visible(address, 100))
    _, colon, port = address.rpartition(":")
    if not colon or not port:
        return f"{shown}: expected HOST:PORT, like ris.example.org:2575 or pacs.example.org:104"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{shown}: the port {visible(port, 20)!r} is not a number from 1 to 65535"
    return f"{shown}: expected HOST:PORT (a host name or an IP address, then a port)"
