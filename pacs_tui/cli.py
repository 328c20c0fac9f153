"""Command line: ``pacs-tui [run|demo|status|collect|history|config|secrets]``: the parser, the
entry point (bounded exit), and the config commands. The other commands live in
:mod:`pacs_tui.cli_engine` (status, collect, history), :mod:`pacs_tui.cli_ui` (run, demo) and
:mod:`pacs_tui.cli_secrets` (secrets).

Heavy imports (Textual, pynetdicom, aiosqlite) happen inside the command that needs them, so
``--help`` and ``status`` start fast and the headless commands never load Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pacs_tui import __version__
from pacs_tui.config import (
    ENV_CONFIG,
    Config,
    ConfigError,
    ConfigNotFound,
    default_config_path,
    find_config,
    load_file,
)
from pacs_tui.logs import LEVELS
from pacs_tui.model import EventKind, Status
from pacs_tui.visible import visible, visible_lines

if TYPE_CHECKING:
    pass

from pacs_tui.cli_common import EXIT_USAGE, _err, _print_config_error, _print_not_found, log
from pacs_tui.config_reader import did_you_mean


class _Parser(argparse.ArgumentParser):
    """argparse that exits with a one-line hint instead of a usage dump on a user mistake."""

    usage_exit = EXIT_USAGE
    #: A monitoring plugin (``check``) says a usage mistake as its one line on stdout.
    plugin_line = False

    def error(self, message: str) -> None:  # type: ignore[override]
        # The message quotes what was typed: made visible, as every error line is.
        if self.plugin_line:
            print(visible(f"PACS-TUI UNKNOWN - {message} (see {self.prog} --help)"))
            self.exit(self.usage_exit)
        text = visible_lines(f"{self.prog}: {message}\nTry '{self.prog} --help'.")
        self.exit(self.usage_exit, text + "\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        """An unknown command or choice names the closest known one (``stauts``: did you mean
        'status'?); the exit code stays this parser's usage code."""
        choices = action.choices
        if choices is None or value in choices:
            return
        known = [str(choice) for choice in choices]
        hint = did_you_mean(str(value), tuple(known))
        if isinstance(action, argparse._SubParsersAction):
            what = "command" if self.prog == "pacs-tui" else "action"
            message = f"unknown {what} {value!r}{hint} (known: {', '.join(known)})"
            raise argparse.ArgumentError(None, message)
        message = f"invalid choice: {value!r}{hint} (choose from {', '.join(known)})"
        raise argparse.ArgumentError(action, message)


def _common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # The options are accepted before and after the command. On the subcommands they default to
    # SUPPRESS so that an option given before the command is not overwritten by a None default.
    default: object = argparse.SUPPRESS
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=None if top else default,
        help="config file (default: $PACS_TUI_CONFIG, ./pacs-tui.toml, "
        f"{default_config_path()}, /etc/pacs-tui/config.toml)",
    )
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info" if top else default,
        help="log detail (default: info)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pacs-tui",
        description="Terminal supervisor for a hospital PACS/RIS: live status of DICOM nodes "
        "and Nagios-style plugin checks, with history. Without a command, opens the UI on the "
        "configured site.",
    )
    parser.add_argument("--version", action="version", version=f"pacs-tui {__version__}")
    _common(parser, top=True)
    _ui_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "run",
        help="open the UI on the configured site (the default)",
        description="Open the UI on the configured site. When the site's collector "
        "(`pacs-tui collect`) is running, the UI attaches to it over its socket "
        "([collector] socket; default: beside the history, history.collector.sock for "
        "history.sqlite) and shows what it "
        "sees; else the engine runs inside the UI: it checks every target and records the "
        "history until you quit (q).",
    )
    _common(p)
    _ui_options(p)
    p.add_argument(
        "--attach",
        metavar="PATH",
        type=Path,
        help="attach to the collector serving the socket at PATH (no config needed); never "
        "start an engine of its own",
    )

    p = sub.add_parser(
        "demo",
        help="start a simulated hospital on loopback and open the UI on it (no config)",
        description="Start a simulated hospital on 127.0.0.1 (free ports) and open the UI on "
        "it: seven DICOM nodes (real pynetdicom servers), an HIS and a RIS over HL7 behind a "
        "tap, a PACS's audit trail, filling storage and its log, backups, a lagging mirror and "
        "a failover drill. Needs no config and no network.",
    )
    _common(p)
    _ui_options(p)
    p.add_argument(
        "--history",
        metavar="FILE",
        type=Path,
        help="keep the demo's history in FILE (default: a temporary file, deleted on exit)",
    )

    p = sub.add_parser(
        "status",
        help="the status of every target (the running collector's, else every check run "
        "once): a table or --json; exit code = worst status",
        description="When the site's collector is running, print its state (no second round "
        "of probes against every node); else, or with --fresh, run every check once. "
        "Exit code: 0 OK, 1 WARN, 2 CRIT or DOWN, 3 UNKNOWN or unusable config.",
    )
    _common(p)
    # A monitoring system reads the exit code: a mistyped option is UNKNOWN, never CRITICAL.
    p.usage_exit = Status.UNKNOWN.exit_code
    p.add_argument("--json", action="store_true", help="print the JSON status document")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="run every check now even when a collector is running (default: read the "
        "collector's state, without probing every node a second time)",
    )

    p = sub.add_parser(
        "check",
        help="a Nagios / Zabbix / Icinga check: one line and exit 0 OK, 1 WARNING, 2 CRITICAL, "
        "3 UNKNOWN",
        description="The Monitoring Plugins contract: `PACS-TUI <STATUS> - summary | perfdata`, "
        "perfdata from every declared metric in base units. Reads the running collector's "
        "state (a target not checked for twice its interval is UNKNOWN, stale), else runs the "
        "checks once. --warn/--crit are Nagios ranges (10, 10:, ~:10, 10:20, @10:20) on each "
        "target's headline value in base units (seconds for an echo: 0.5 is 500 ms).",
    )
    _common(p)
    p.usage_exit = Status.UNKNOWN.exit_code
    p.plugin_line = True
    which = p.add_mutually_exclusive_group()
    which.add_argument("--target", metavar="ID", help="only this target")
    which.add_argument("--kind", metavar="KIND", help="only targets of this kind (dicom-node, …)")
    p.add_argument("--warn", metavar="RANGE", help="WARNING outside this range")
    p.add_argument("--crit", metavar="RANGE", help="CRITICAL outside this range")
    p.add_argument(
        "--timeout",
        metavar="DURATION",
        default="30s",
        help="UNKNOWN when there is no answer within this (30s)",
    )

    p = sub.add_parser(
        "collect",
        help="run the engine headless with history (for systemd); stops on SIGTERM/SIGINT",
        description="Run the engine without a UI: check every target, record the history, log "
        "status changes to stderr, and serve attached UIs (`pacs-tui run`) on a Unix socket: "
        "[collector] socket, default beside the history (history.collector.sock for "
        "history.sqlite); 0660 in a 0700 folder "
        "(0750 with [collector] group). SIGTERM or SIGINT stop it with the history flushed.",
    )
    _common(p)
    p.add_argument(
        "--event-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the event loop the collector runs on: uvloop (default; libuv's, about a fifth "
        "quicker per HL7 message) or Python's own asyncio loop",
    )

    p = sub.add_parser(
        "history",
        help="query or export the recorded history",
        description="Print the samples and events recorded in the history file of the config, "
        "as a table, JSON (--json) or CSV of the samples (--csv). Reads only; safe while "
        "`collect` or the UI writes.",
    )
    _common(p)
    p.add_argument("--target", metavar="ID", help="only this target")
    p.add_argument(
        "--kind",
        metavar="KIND",
        help="only targets of this kind, e.g. dicom-node (kinds of event: see --event)",
    )
    p.add_argument(
        "--event",
        metavar="EVENT",
        choices=[str(kind) for kind in EventKind],
        help="only events of this kind, and no samples: "
        + ", ".join(str(kind) for kind in EventKind),
    )
    p.add_argument(
        "--since", metavar="DURATION", default="1h", help="how far back, e.g. 15m, 1h, 2d (1h)"
    )
    p.add_argument("--metric", metavar="NAME", help="only this metric, e.g. echo_seconds")
    p.add_argument(
        "--messages",
        action="store_true",
        help="the message log instead (HL7 message headers and ACKs; --target: one listener)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="samples and events as JSON")
    fmt.add_argument("--csv", action="store_true", help="samples as CSV")

    p = sub.add_parser(
        "diagnose",
        help="test one HL7 receiver or DICOM node step by step",
        description="Test one HL7 receiver or DICOM node step by step, each step timed and said "
        "as it happens, then a verdict. hl7: the name looked up, the TCP connection, with "
        "--send a test message and its ACK. dicom: the name looked up, the TCP connection, an "
        "association (the peer's implementation, which common SOP classes it accepts), a "
        "C-ECHO, the release. Exit code: 0 OK, 1 WARN, 2 CRIT or DOWN, 3 UNKNOWN (a usage "
        "mistake too), 130 after Ctrl-C. No config needed for HOST:PORT.",
    )
    _common(p)
    # Its own usage mistakes are UNKNOWN (3), as its verdicts' codes say, never 2 (CRIT).
    p.usage_exit = Status.UNKNOWN.exit_code
    p.add_argument(
        "kind",
        metavar="hl7|dicom",
        type=str.lower,
        choices=["hl7", "dicom"],
        help="what to test: hl7 (a receiver over MLLP) or dicom (a DICOM node)",
    )
    p.add_argument(
        "address",
        metavar="HOST:PORT|ID",
        help="the receiver or node, e.g. ris.example.org:2575 or pacs.example.org:104; or the "
        "id of a configured [[hl7.link]] or [[dicom.node]], tested with its settings (its AE "
        "titles, timeout, test message, warning limit; an option given wins)",
    )
    p.add_argument(
        "--send",
        metavar="FILE",
        type=Path,
        help="hl7: a file holding one HL7 message to send (it is really sent: use a test message)",
    )
    p.add_argument(
        "--called-aet",
        metavar="AET",
        help="dicom: the node's AE title (default ANY-SCP; with an ID, the node's aet; many "
        "nodes refuse a wrong one)",
    )
    p.add_argument(
        "--calling-aet",
        metavar="AET",
        help="dicom: the AE title to call from (default PACSTUI; with an ID, the node's "
        "calling_aet)",
    )
    p.add_argument(
        "--find",
        action="store_true",
        help="dicom: also a study-level C-FIND (Study Root) for the studies dated today, on an "
        "association of its own: counted, up to 1,000 (only their UIDs are asked for: no "
        "patient data); a node that answers C-ECHO but fails the query is CRIT",
    )
    p.add_argument(
        "--timeout",
        metavar="DURATION",
        help="for each step, from 100ms to 10m (default 5s, or the configured entry's); "
        "dicom's association, C-ECHO and release share it, as a node's check does",
    )
    p.add_argument("--json", action="store_true", help="the steps and the verdict as JSON")

    p = sub.add_parser(
        "config",
        help="check the config or write a starter one",
        description="pacs-tui config check | init",
    )
    _common(p)
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser)
    c = csub.add_parser(
        "check",
        help="print every problem in the config at once; exit 1 if any",
        description="Print every problem in the config at once (key, value, what was expected); "
        "exit 1 if there is any.",
    )
    _common(c)
    c = csub.add_parser(
        "init",
        help="write a commented starter config",
        description="Write a commented starter config (mode 0600); refuses to overwrite.",
    )
    _common(c)
    c.add_argument(
        "--path",
        metavar="P",
        type=Path,
        help=f"where to write it (default: {default_config_path()})",
    )
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    _secrets_parser(sub)
    p = sub.add_parser(
        "audit",
        help="verify the operator audit trail's hash chain",
        description="pacs-tui audit verify: walk the operator audit trail beside the history "
        "(every action asked of the engine, done or refused, each line carrying the SHA-256 of "
        "the one before) and name any line changed, inserted or deleted. Exit 0 intact, 1 not.",
    )
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", parser_class=_Parser)
    a = asub.add_parser("verify", help="check the chain; name what broke it")
    _common(a)
    a.add_argument("--json", action="store_true", help="the verdict as JSON")
    _totp_parser(sub)
    return parser


_SECRETS_ORDER = (
    'A secret is named in the config as "secret:NAME" (letters, digits, -, _, ., at most 64) '
    "and read, in this order, from the keyring ▸ $PACS_TUI_SECRET_<NAME> (upper case, - and . "
    "as _) ▸ the 0600 file secrets/secrets.toml in the config folder, in a 0700 folder "
    "($PACS_TUI_SECRETS_FILE to move it). A value is never printed."
)


def _secrets_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "secrets",
        help="store, delete, list the secrets the config names (keyring, else a 0600 file)",
        description=_SECRETS_ORDER,
    )
    ssub = p.add_subparsers(dest="secrets_command", metavar="ACTION", parser_class=_Parser)
    s = ssub.add_parser(
        "set",
        help="store a secret: its value typed (hidden) or one line on stdin, never an argument",
        description="Store the secret NAME: in the keyring when this machine has one, else (or "
        "with --file) in the secrets file. The value is typed twice without echo, or read as "
        "one line from stdin (printf '%s\\n' \"$PW\" | pacs-tui secrets set NAME); never "
        "from the command line, where `ps` shows it. " + _SECRETS_ORDER,
    )
    s.add_argument("name", metavar="NAME", help="the secret's name, e.g. orthanc-admin")
    s.add_argument(
        "--file", action="store_true", help="store it in the secrets file even with a keyring"
    )
    s = ssub.add_parser(
        "delete",
        help="delete a secret from the keyring and the secrets file",
        description="Delete the secret NAME from the keyring and the secrets file (an "
        "environment variable is left as it is). Exit 1 when it was in neither.",
    )
    s.add_argument("name", metavar="NAME", help="the secret's name")
    ssub.add_parser(
        "list",
        help="the secrets in the file and in $PACS_TUI_SECRET_*, and where each is",
        description="List the secrets in the secrets file and in $PACS_TUI_SECRET_* and where "
        "each is, never a value. A keyring cannot list its entries: see `secrets where NAME`.",
    )
    s = ssub.add_parser(
        "where",
        help="where a secret resolves from (or why it is not found)",
        description="Say which source the secret NAME resolves from, or what each source said "
        "when none has it; never the value. Exit 1 when it is not found. " + _SECRETS_ORDER,
    )
    s.add_argument("name", metavar="NAME", help="the secret's name")


def _totp_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "totp",
        help="set up or check your TOTP code, which unlocks the UI's idle lock",
        description="The UI's idle lock ([operators] idle_lock) is unlocked with a TOTP code "
        "(RFC 6238: 30 s, 6 digits) from an authenticator app. Its secret is the secret "
        "totp-<user> of the OS user running pacs-tui (keyring ▸ $PACS_TUI_SECRET_TOTP_<USER> "
        "▸ the 0600 secrets file).",
    )
    tsub = p.add_subparsers(dest="totp_command", metavar="ACTION", parser_class=_Parser)
    t = tsub.add_parser(
        "setup",
        help="make a new TOTP secret for you and print it for your authenticator app",
        description="Make a new random TOTP secret for the OS user running this (a previous "
        "one stops working), store it as the secret totp-<user> (in the keyring when this "
        "machine has one, else or with --file in the 0600 secrets file), and print its "
        "otpauth:// URI (for a QR code) and its base32 key (to type into the app).",
    )
    t.add_argument(
        "--file", action="store_true", help="store it in the secrets file even with a keyring"
    )
    tsub.add_parser(
        "check",
        help="check a code from your authenticator app (read from the terminal or stdin)",
        description="Read a 6-digit code (typed without echo, or one line of stdin; never an "
        "argument) and say whether it is valid now for you: exit 0 valid, 1 not valid.",
    )


def _ui_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    parser.add_argument(
        "--ansi",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="use the terminal's own colours (ansi theme)",
    )
    parser.add_argument(
        "--wall",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="wall mode, for a NOC wall terminal: read-only (probe keys refused), no patient "
        "data on screen, no idle lock",
    )


# How long the process waits at exit for threads still running (an association past its
# deadline, a name lookup the resolver holds) before it leaves them behind.
EXIT_THREAD_GRACE = 2.0


def entry() -> NoReturn:
    """The ``pacs-tui`` command: :func:`main`, then leave within a bound whatever threads remain.

    Python's normal exit joins every non-daemon thread, and the thread pool's workers and
    pynetdicom's association threads are non-daemon: one blocked in a system call the deadline
    cannot reach (a name lookup) would keep ``status`` or ``collect`` alive after its work is
    done. So after :data:`EXIT_THREAD_GRACE` the process ends with ``os._exit``, streams flushed.
    """
    code = main()
    deadline = time.monotonic() + EXIT_THREAD_GRACE
    others = [
        t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon
    ]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in others if t.is_alive()]
    if left:
        log.warning("leaving threads still running at exit: %s", left)
        logging.shutdown()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _option_hint(parser: argparse.ArgumentParser, command: str, extra: Sequence[str]) -> str:
    """ "; did you mean '--json'?" for the first unknown option among ``extra`` (``--jsn``), from
    the options ``command`` takes; "" when there is none close."""
    typed = next((word.split("=", 1)[0] for word in extra if word.startswith("--")), None)
    if typed is None:
        return ""
    for action in parser._actions:  # argparse keeps its subparsers there, and only there
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            options = action.choices[command]._option_string_actions
            long = tuple(o for o in options if o.startswith("--"))
            # "--aet": the last word of "--called-aet" and "--calling-aet", too short a part
            # of either for difflib to call it close.
            ending = sorted(o for o in long if o.endswith("-" + typed.removeprefix("--")))
            if ending and len(typed) > 3:
                return f"; did you mean {' or '.join(repr(o) for o in ending)}?"
            return did_you_mean(typed, long)
    return ""


def _tolerant_streams() -> None:
    """A terminal or pipe that cannot take UTF-8 (``LANG=C`` on an old server,
    ``PYTHONIOENCODING=ascii``) gets "?" for a glyph such as ✔: never a traceback."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            with contextlib.suppress(Exception):
                reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = args.command or "run"
    if extra:
        plugin_like = command in ("status", "check", "diagnose")  # 2 would read as CRIT
        code = Status.UNKNOWN.exit_code if plugin_like else EXIT_USAGE
        hint = _option_hint(parser, command, extra)
        if command == "check":  # a plugin's one line, on stdout
            print(visible(f"PACS-TUI UNKNOWN - unrecognized arguments: {' '.join(extra)}{hint}"))
            return code
        if command == "secrets":  # the extra word may be a value typed there: not echoed
            _err("pacs-tui secrets: too many arguments (a value is read from the terminal or")
            _err("stdin, never given on the command line). Try 'pacs-tui secrets --help'.")
            return code
        if command == "totp":  # the extra word may be a code: not echoed
            _err("pacs-tui totp: too many arguments (a code is read from the terminal or")
            _err("stdin, never given on the command line). Try 'pacs-tui totp --help'.")
            return code
        _err(f"pacs-tui {command}: unrecognized arguments: {' '.join(extra)}{hint}")
        _err(f"Try 'pacs-tui {command} --help'.")
        return code
    # The commands' modules are imported for the command that runs (start-up stays light).
    try:
        if command in ("run", "demo"):
            from pacs_tui import cli_ui

            return cli_ui.cmd_run(args) if command == "run" else cli_ui.cmd_demo(args)
        if command == "check":
            from pacs_tui.cli_check import cmd_check

            return cmd_check(args)
        if command == "diagnose":
            from pacs_tui.cli_diagnose import cmd_diagnose

            return cmd_diagnose(args)
        if command in ("status", "collect", "history"):
            from pacs_tui import cli_engine

            run: dict[str, Callable[[argparse.Namespace], int]] = {
                "status": cli_engine.cmd_status,
                "collect": cli_engine.cmd_collect,
                "history": cli_engine.cmd_history,
            }
            return run[command](args)
        if command == "secrets":
            from pacs_tui.cli_secrets import cmd_secrets

            return cmd_secrets(args)
        if command == "totp":
            from pacs_tui.cli_totp import cmd_totp

            return cmd_totp(args)
        if command == "audit":
            if getattr(args, "audit_command", None) != "verify":
                _err("pacs-tui audit: say what to do: pacs-tui audit verify")
                return EXIT_USAGE
            from pacs_tui.cli_audit import cmd_audit

            return cmd_audit(args)
        if command == "config":
            if args.config_command == "init":
                return cmd_config_init(args)
            if args.config_command == "check":
                return cmd_config_check(args)
            _err("pacs-tui config: say check or init (pacs-tui config --help)")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pacs-tui history … | head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# -- config helpers -------------------------------------------------------------------------


# -- commands -------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        path = find_config(args.config)
    except ConfigNotFound as exc:
        _print_not_found(exc)
        return 1
    try:
        # Also checks that the history could be created there (read-only: creates nothing).
        config = load_file(path, check_paths=True)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    from pacs_tui.cli_secrets import config_secret_lines

    # The secrets first: the verdict line says OK only when they resolve too.
    lines, missing = config_secret_lines(path)
    verdict = "OK" if not missing else f"valid, but {missing} secret(s) not found"
    print(visible(f"{path}: {verdict} — site {config.site.name!r}, {_watched(config)}"))
    print(visible(f"history: {config.history.path}"))
    return _said_secrets(lines, missing)


def _said_secrets(lines: list[str], missing: int) -> int:
    """A line per secret the config names, where it resolves from (never its value); 1 when
    one is not found."""
    for line in lines:
        print(visible(line))
    if missing:
        _err(
            f"pacs-tui: {missing} secret(s) not found: store each with "
            "pacs-tui secrets set NAME (or set $PACS_TUI_SECRET_<NAME>)"
        )
        return 1
    return 0


def _watched(config: Config) -> str:
    """What the config watches, per source: "3 DICOM nodes, 1 command check"."""
    from pacs_tui.probes import SOURCES
    from pacs_tui.source import counted

    parts = []
    for source in SOURCES:
        section = config.section(source.name)
        found = source.targets(section) if section is not None else []
        parts.extend(counted(source, [t.kind for t in found], each=True))
    return ", ".join(parts)


def cmd_config_init(args: argparse.Namespace) -> int:
    from pacs_tui.config_init import write_starter

    # Where the other commands would look first: --path, else --config, else $PACS_TUI_CONFIG.
    env = os.environ.get(ENV_CONFIG)
    path: Path = args.path or args.config or (Path(env) if env else None) or default_config_path()
    try:
        write_starter(path, force=args.force)
    except FileExistsError as exc:
        _err(f"pacs-tui: {exc}")
        return 1
    except OSError as exc:
        _err(f"pacs-tui: cannot write {path}: {exc.strerror}")
        return 1
    print(visible(f"Wrote a starter config to {path}"))
    # The check command as it finds this file: without --config only at the default place.
    found_there = path == default_config_path() or (env and path == Path(env))
    check = "pacs-tui config check" if found_there else f"pacs-tui --config {path} config check"
    print(visible(f"Edit the examples (delete the sections you do not need), then run: {check}"))
    return 0
