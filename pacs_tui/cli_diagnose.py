"""``pacs-tui diagnose hl7|dicom HOST:PORT``: the steps as they run, then the verdict (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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
    said: list[Step] = []

    def document(verdict: Status, reason: str, aim: _Aim | None = None) -> str:
        """The JSON document of a run that never ran its own (a mistake, Ctrl-C): every key
        the kind's document has, none of them learned."""
        learned: dict[str, object] = {"entry": aim.entry or None if aim else None}
        if dicom:
            learned["called_aet"] = aim.called if aim else None
            learned["calling_aet"] = aim.calling if aim else None
            learned |= {"peer": None, "contexts": [], "echo_status": None}
            if args.find:
                learned["find"] = None
        else:
            learned["ack"] = None
        target = host_port_text(aim.host, aim.port) if aim and aim.host else args.address
        found = Diagnosis(visible(target, 100), verdict, reason, list(said), learned)
        return json.dumps(found.document(), indent=2)

    def mistake(reason: str) -> int:
        """A usage mistake: UNKNOWN (exit 3, as ``status``), in JSON too with ``--json``."""
        if args.json:
            print(document(Status.UNKNOWN, reason))
        _err(f"pacs-tui diagnose: {reason}")
        return Status.UNKNOWN.exit_code

    if dicom and args.send is not None:
        return mistake("--send is for hl7 (a DICOM node is tested with a C-ECHO)")
    if not dicom and (args.called_aet is not None or args.calling_aet is not None):
        option = "--called-aet" if args.called_aet is not None else "--calling-aet"
        return mistake(f"{option} is for dicom (an HL7 receiver has no AE title)")
    if not dicom and args.find:
        return mistake("--find is for dicom (a C-FIND; --send tests an HL7 receiver)")

    aim = _Aim()
    config = None
    try:
        aim.host, aim.port = host_port(args.address)
    except ValueError:
        if ":" in args.address or not ID_RE.match(args.address):
            return mistake(_address_problem(args.address))
        # An id: the config's entry of that id, tested with its settings.
        shown = f"'{visible(args.address, 64)}'"
        try:
            config = load_config(args.config)
        except ConfigNotFound as exc:
            if exc.explicit is not None:
                why = f"the config file {exc.explicit} (from {exc.via}) does not exist"
            else:
                where = ", ".join(str(path) for path in exc.searched)
                why = f"no config was found (looked in {where})"
            return mistake(f"{_address_problem(args.address)}; or a configured id, but {why}")
        except ConfigError as exc:
            _print_config_error(exc)
            return mistake(
                f"{shown} is not HOST:PORT, and the config has the problems above: fix them "
                f"first, or test by address ('pacs-tui diagnose {args.kind} HOST:PORT', "
                "with its options)"
            )
        found_aim = _configured(config, args.address, dicom)
        if isinstance(found_aim, str):
            return mistake(found_aim)
        aim = found_aim
    if args.called_aet is not None:
        aim.called, aim.called_from = args.called_aet, ""
    if args.calling_aet is not None:
        aim.calling, aim.calling_from = args.calling_aet, ""
    if args.send is not None:
        aim.send = args.send
    if dicom:
        from pacs_tui.probes.dicom import aet_problem

        for option, value in (("--called-aet", aim.called), ("--calling-aet", aim.calling)):
            problem = aet_problem(value)
            if problem is not None:
                return mistake(f"{option} '{visible(value, 40)}' is not an AE title: {problem}")
    if args.timeout is not None:
        try:
            aim.timeout = parse_duration(args.timeout)
        except ValueError as exc:
            return mistake(f"--timeout: {exc}")
        if not 0.1 <= aim.timeout <= 600:
            shown_timeout = visible(args.timeout, 20)
            return mistake(f"--timeout {shown_timeout}: expected from 100ms to 10m")
    if config is not None and not args.json:
        print(_aim_line(aim, dicom, visible(str(config.source))))

    def say(step: Step) -> None:
        said.append(step)
        if not args.json:
            mark = "✔" if step.ok else "✖"
            took = step.seconds * 1000
            print(f"{mark} {step.name:<18} {took:9,.1f} ms  {visible(step.detail)}")
            for line in step.lines:
                print(f"    {visible(line)}")
            sys.stdout.flush()

    if dicom:
        from pacs_tui.probes.dicom_diagnose import diagnose_node

        run = diagnose_node(
            aim.host,
            aim.port,
            aim.called,
            aim.calling,
            aim.timeout,
            say,
            aim.warn,
            (
                aim.called_from or "--called-aet sets it",
                aim.calling_from or "--calling-aet sets it",
            ),
            find=args.find,
        )
    else:
        from pacs_tui.hl7.diagnose import diagnose_link

        run = diagnose_link(aim.host, aim.port, aim.send, aim.timeout, say, aim.warn)

    def interrupted(signum: int, frame: object) -> None:
        """Ctrl-C: said, and the process ends now, as a shell says a process ended by SIGINT
        (130). Not through asyncio's own handling, which cancels the run: Python 3.11's
        ``wait_for`` can swallow that cancel (then the run went on to its timeout, seen in
        CI), and pynetdicom's threads of an association under way are not daemons."""
        if args.json:
            print(document(Status.UNKNOWN, "interrupted (Ctrl-C)", aim))
        else:
            print("interrupted (Ctrl-C)")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, interrupted)
    found = asyncio.run(run)
    found.learned["entry"] = aim.entry or None
    if args.json:
        print(json.dumps(found.document(), indent=2))
    else:
        print(f"verdict: {found.verdict.label} — {visible(found.reason)}")
    return found.verdict.exit_code


def _aim_line(aim: _Aim, dicom: bool, source: str) -> str:
    """What a configured entry's test runs with, said before its steps: the AE titles (and
    which an option replaced) or the test message."""
    where = host_port_text(aim.host, aim.port)
    if dicom:
        given = [
            name
            for name, came in (
                ("--called-aet", aim.called_from),
                ("--calling-aet", aim.calling_from),
            )
            if not came
        ]
        extra = f"; {' and '.join(given)} given" if given else ""
        return (
            f"{aim.entry} at {where}, called '{visible(aim.called)}', calling "
            f"'{visible(aim.calling)}' (from {source}{extra})"
        )
    sending = f", sending {visible(str(aim.send))}" if aim.send else ", no test message"
    return f"{aim.entry} at {where}{sending} (from {source})"


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
    # Where the config's AE titles are set, said when a node rejects one ("" when an option
    # set it, or without a config).
    called_from: str = ""
    calling_from: str = ""


def _configured(config: Config, entry_id: str, dicom: bool) -> _Aim | str:
    """The configured ``[[dicom.node]]`` (or ``[[hl7.link]]``) ``entry_id`` as an aim, or what
    is wrong, in words."""
    table = "dicom.node" if dicom else "hl7.link"
    section = config.section("dicom" if dicom else "hl7")
    entries = list(section.nodes if dicom else section.links) if section is not None else []
    by_id = {entry.id: entry for entry in entries}
    entry = by_id.get(entry_id)
    if entry is None:
        shown = f"'{visible(entry_id, 64)}'"
        elsewhere = _other_kind(config, entry_id, dicom)
        if elsewhere:
            return f"{shown} is {elsewhere}"
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
            called_from="the node's aet in the config; --called-aet tries another",
            calling_from="its calling_aet, or [dicom] calling_aet; --calling-aet tries another",
        )
    return _Aim(
        entry.host,
        entry.port,
        timeout=entry.timeout,
        send=entry.send,
        warn=entry.ack_warn,
        entry=named,
    )


def _other_kind(config: Config, entry_id: str, dicom: bool) -> str:
    """What ``entry_id`` is in the config when it is not of the kind asked for, and the
    command that tests it; "" when it is neither."""
    hl7 = config.section("hl7")
    if dicom and hl7 is not None and any(link.id == entry_id for link in hl7.links):
        return f"an [[hl7.link]]: pacs-tui diagnose hl7 {entry_id}"
    node_section = config.section("dicom")
    nodes = node_section.nodes if node_section is not None else ()
    if not dicom and any(node.id == entry_id for node in nodes):
        return f"a [[dicom.node]]: pacs-tui diagnose dicom {entry_id}"
    listeners = hl7.listeners if hl7 is not None else ()
    for listener in listeners:
        if listener.id == entry_id:
            where = host_port_text(listener.host, listener.port)
            return (
                f"an [[hl7.listener]], pacs-tui's own receiver on {where}: "
                f"pacs-tui diagnose hl7 {where} tests it"
            )
    return ""


def _address_problem(address: str) -> str:
    """What is wrong with a HOST:PORT, in words."""
    shown = f"'{visible(address, 100)}'"
    if address.startswith("[") and address.endswith("]"):
        return f"{shown}: no port; expected [ADDRESS]:PORT, like [fd00::5]:104"
    name, colon, port = address.rpartition(":")
    if ":" in name and not name.startswith("["):
        return f"{shown}: an IPv6 address goes in brackets before its port, like [fd00::5]:104"
    if not colon or not port:
        return f"{shown}: expected HOST:PORT, like ris.example.org:2575 or pacs.example.org:104"
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return f"{shown}: the port '{visible(port, 20)}' is not a number from 1 to 65535"
    if not name:
        return f"{shown}: no host before the port"
    if not name.isascii():
        return f"{shown}: the host name is not ASCII (write an IDN in its xn-- form)"
    if any(len(label) > 63 for label in name.split(".")):
        return f"{shown}: a part of the host name is over 63 characters"
    if name.rstrip(".").rpartition(".")[2].isdigit():
        return (
            f"{shown}: '{visible(name, 60)}' is not an IPv4 address "
            "(four numbers from 0 to 255, like 10.0.0.5)"
        )
    return f"{shown}: expected HOST:PORT (a host name or an IP address, then a port)"
