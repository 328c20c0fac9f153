"""Command line: ``pacs-tui [run|demo|status|collect|history|config]``.

Heavy imports (Textual, pynetdicom, aiosqlite) happen inside the command that needs them, so
``--help`` and ``status`` start fast and the headless commands never load Textual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pacs_tui import __version__
from pacs_tui.config import (
    Config,
    ConfigError,
    ConfigNotFound,
    default_config_path,
    default_log_dir,
    find_config,
    load_config,
    load_file,
)
from pacs_tui.durations import parse_duration
from pacs_tui.logs import LEVELS, setup_logging
from pacs_tui.model import EventKind, Status
from pacs_tui.visible import visible, visible_lines

if TYPE_CHECKING:
    from pacs_tui.demo.dicom_nodes import DemoDicomSite
    from pacs_tui.engine import Engine

log = logging.getLogger("pacs_tui")

EXIT_USAGE = 2  # bad arguments or an unusable config, as argparse exits


class _Parser(argparse.ArgumentParser):
    """argparse that exits with a one-line hint instead of a usage dump on a user mistake."""

    usage_exit = EXIT_USAGE

    def error(self, message: str) -> None:  # type: ignore[override]
        # The message quotes what was typed: made visible, as every error line is.
        text = visible_lines(f"{self.prog}: {message}\nTry '{self.prog} --help'.")
        self.exit(self.usage_exit, text + "\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        """An unknown command or choice names the closest known one (``stauts``: did you mean
        'status'?); the exit code stays this parser's usage code."""
        choices = action.choices
        if choices is None or value in choices:
            return
        known = [str(choice) for choice in choices]
        close = difflib.get_close_matches(str(value), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
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
        description="Open the UI on the configured site. The engine runs inside the UI: it "
        "checks every target and records the history until you quit (q).",
    )
    _common(p)
    _ui_options(p)

    p = sub.add_parser(
        "demo",
        help="start a simulated hospital on loopback and open the UI on it (no config)",
        description="Start seven simulated DICOM nodes (real pynetdicom servers on 127.0.0.1, "
        "free ports) and open the UI on them. Needs no config and no network.",
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
        help="run every check once and print a table (or --json); exit code = worst status",
        description="Exit code: 0 OK, 1 WARN, 2 CRIT or DOWN, 3 UNKNOWN or unusable config.",
    )
    _common(p)
    # A monitoring system reads the exit code: a mistyped option is UNKNOWN, never CRITICAL.
    p.usage_exit = Status.UNKNOWN.exit_code
    p.add_argument("--json", action="store_true", help="print the JSON status document")

    p = sub.add_parser(
        "collect",
        help="run the engine headless with history (for systemd); stops on SIGTERM/SIGINT",
        description="Run the engine without a UI: check every target, record the history, log "
        "status changes to stderr. SIGTERM or SIGINT stop it with the history flushed.",
    )
    _common(p)

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
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="samples and events as JSON")
    fmt.add_argument("--csv", action="store_true", help="samples as CSV")

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
    return parser


def _ui_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    parser.add_argument(
        "--ansi",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="use the terminal's own colours (ansi theme)",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = args.command or "run"
    if extra:
        code = Status.UNKNOWN.exit_code if command == "status" else EXIT_USAGE
        _err(f"pacs-tui {command}: unrecognized arguments: {' '.join(extra)}")
        _err(f"Try 'pacs-tui {command} --help'.")
        return code
    try:
        if command == "run":
            return cmd_run(args)
        if command == "demo":
            return cmd_demo(args)
        if command == "status":
            return cmd_status(args)
        if command == "collect":
            return cmd_collect(args)
        if command == "history":
            return cmd_history(args)
        if command == "config":
            if args.config_command == "init":
                return cmd_config_init(args)
            if args.config_command == "check":
                return cmd_config_check(args)
            _err("pacs-tui config: say check or init (pacs-tui config --help)")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


# -- config helpers -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Config | None:
    """The config, or None after printing why it can't be had (never a traceback)."""
    try:
        return load_config(args.config)
    except ConfigNotFound as exc:
        _print_not_found(exc)
    except ConfigError as exc:
        _print_config_error(exc)
    return None


def _err(message: object) -> None:
    """Print to stderr with control characters made visible: error texts carry paths, config
    keys and peer or process strings that did not come from our own code."""
    print(visible_lines(message), file=sys.stderr)


def _print_not_found(exc: ConfigNotFound) -> None:
    if exc.explicit is not None:
        _err(f"pacs-tui: config file {exc.explicit} (from {exc.via}) does not exist.")
    else:
        _err("pacs-tui: no config file found. Looked in, in order:")
        for path in exc.searched:
            _err(f"  {path}")
    _err("\nTo start:")
    if exc.explicit is not None:
        # Write the starter config where it was looked for, not in the default place.
        _err(f"  pacs-tui config init --path {shlex.quote(str(exc.explicit))}")
        _err("                           write a commented starter config there, then edit it")
    else:
        _err("  pacs-tui config init     write a commented starter config, then edit it")
    _err("  pacs-tui demo            try it on a simulated hospital, no config needed")


def _print_config_error(exc: ConfigError) -> None:
    where = f" in {exc.source}" if exc.source else ""
    _err(f"pacs-tui: the config{where} has {len(exc.problems)} problem(s):")
    for problem in exc.problems:
        _err(f"  - {problem}")


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
    print(visible(f"{path}: OK — site {config.site.name!r}, {_watched(config)}"))
    print(visible(f"history: {config.history.path}"))
    return 0


def _watched(config: Config) -> str:
    """What the config watches, per source: "3 DICOM nodes, 1 command check"."""
    from pacs_tui.probes import SOURCES

    parts = []
    for source in SOURCES:
        section = config.section(source.name)
        count = len(source.targets(section)) if section is not None else 0
        if count:
            parts.append(f"{count} {source.noun}{'s' if count != 1 else ''}")
    return ", ".join(parts)


def cmd_config_init(args: argparse.Namespace) -> int:
    from pacs_tui.config_init import write_starter

    path: Path = args.path or default_config_path()
    try:
        write_starter(path, force=args.force)
    except FileExistsError as exc:
        _err(f"pacs-tui: {exc}")
        return 1
    except OSError as exc:
        _err(f"pacs-tui: cannot write {path}: {exc.strerror}")
        return 1
    print(visible(f"Wrote a starter config to {path}"))
    print(
        "Edit the examples (delete the sections you do not need), then run: pacs-tui config check"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    setup_logging(args.log_level if args.log_level != "info" else "warning")
    config = _load(args)
    if config is None:
        return Status.UNKNOWN.exit_code
    from pacs_tui.engine import Engine
    from pacs_tui.report import status_json, status_table

    async def once() -> int:
        engine = Engine(config)
        engine.remember(await _recorded_statuses(config))
        try:
            states = await engine.run_once()
        finally:
            await engine.stop()
        checked = time.time()
        if args.json:
            print(status_json(config.site.name, checked, states))
        else:
            print(status_table(config.site.name, states))
        return Status.worst(s.status for s in states).exit_code

    return asyncio.run(once())


def _history_there(path: Path) -> bool:
    """Is there anything at the history's path? ``PermissionError`` (in words) when a folder
    above it may not be entered, so no one mistakes that for "no history yet"."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise PermissionError(
            f"cannot reach the history {path}: permission denied on a folder above it "
            "(run this as the user that writes the history)"
        ) from None
    return True


async def _recorded_statuses(config: Config) -> dict[str, tuple[Status, str, float]]:
    """The last recorded status of each target, when a history exists (a collector's, say), so
    that ``status`` says since when a node has been DOWN rather than "since this check".

    No history is no warning; anything at the history's path that the store refuses (a link,
    a FIFO, a folder, a device, another program's file) is one warning, and the check runs."""
    from pacs_tui.store import Store, StoreError

    try:
        if not _history_there(config.history.path):
            return {}
    except PermissionError as exc:
        log.warning("status: not reading the history: %s", exc)
        return {}
    try:
        store = await Store.open(config.history.path, readonly=True)
        try:
            return await store.last_statuses()
        finally:
            await store.close()
    except StoreError as exc:
        log.warning("status: not reading the history: %s", exc)
        return {}


def cmd_collect(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    from pacs_tui.engine import engine_with_history
    from pacs_tui.store import StoreError

    async def collect() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = engine_with_history(config)
        try:
            await engine.start()
        except StoreError as exc:
            log.error("cannot start: %s", exc)
            await engine.stop()
            return 1
        log.info(
            "collecting: site %r, %d targets, history %s",
            config.site.name,
            len(engine.targets),
            config.history.path,
        )
        await stop.wait()
        log.info("stopping: flushing history")
        try:
            await engine.stop()
        except StoreError as exc:
            log.error("stopped, but the history could not be flushed: %s", exc)
            return 1
        log.info("stopped")
        return 0

    return asyncio.run(collect())


def cmd_history(args: argparse.Namespace) -> int:
    setup_logging(args.log_level if args.log_level != "info" else "warning")
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        _err(f"pacs-tui: --since: {exc}")
        return EXIT_USAGE
    path = config.history.path
    try:
        there = _history_there(path)
    except PermissionError as exc:
        _err(f"pacs-tui: {exc}")
        return 1
    if not there:
        _err(f"pacs-tui: no history yet at {path} (run `pacs-tui collect` or the UI)")
        return 1
    from pacs_tui.report import history_csv, history_json_text, history_table
    from pacs_tui.store import Store, StoreError

    async def query() -> int:
        try:
            store = await Store.open(path, readonly=True)
        except StoreError as exc:
            _err(f"pacs-tui: {exc}")
            return 1
        try:
            targets = await store.targets()
            for what, asked, known in (
                ("target of kind", args.kind, {str(t.kind) for t in targets}),
                ("target", args.target, {t.id for t in targets}),
            ):
                if asked is not None and asked not in known:
                    close = difflib.get_close_matches(asked, sorted(known), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    _err(
                        f"pacs-tui: no {what} {asked!r} in the history {path}{hint}; "
                        f"known: {', '.join(sorted(known)) or 'none yet'}"
                    )
                    return 1
            since = time.time() - window
            samples = (
                []
                if args.event
                else await store.samples(
                    target=args.target, metric=args.metric, since=since, kind=args.kind
                )
            )
            events = await store.events(
                target=args.target, kind=args.event, since=since, target_kind=args.kind
            )
        except StoreError as exc:
            _err(f"pacs-tui: {exc}")
            return 1
        finally:
            await store.close()
        if args.json:
            print(history_json_text(samples, events))
        elif args.csv:
            sys.stdout.write(history_csv(samples))
        else:
            print(history_table(samples, events))
        return 0

    return asyncio.run(query())


def _ui_log_file() -> Path:
    return default_log_dir() / "pacs-tui.log"


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    log_file = setup_logging(args.log_level, file=_ui_log_file())
    from pacs_tui.engine import engine_with_history

    async def build() -> Engine:
        return engine_with_history(config)

    return _run_app(build, demo=False, ansi=args.ansi, log_file=log_file)


def cmd_demo(args: argparse.Namespace) -> int:
    log_file = setup_logging(args.log_level, file=_ui_log_file())
    from pacs_tui.engine import engine_with_history

    sites: list[DemoDicomSite] = []
    with tempfile.TemporaryDirectory(prefix="pacs-tui-demo-") as tmp:
        history = args.history or Path(tmp) / "demo-history.sqlite"

        async def build() -> Engine:
            # Imported here, after the first frame: pynetdicom alone costs ~120 ms to import.
            from pacs_tui.demo.dicom_nodes import DemoDicomSite
            from pacs_tui.demo.site import demo_config

            site = DemoDicomSite()
            sites.append(site)
            nodes = await asyncio.to_thread(site.start)
            log.info("demo site started: %d DICOM nodes on loopback", len(nodes))
            return engine_with_history(demo_config(nodes, history))

        def cleanup() -> None:
            for site in sites:
                site.stop()
            shutil.rmtree(tmp, ignore_errors=True)

        try:
            return _run_app(build, demo=True, ansi=args.ansi, log_file=log_file, cleanup=cleanup)
        finally:
            for site in sites:
                site.stop()


def _run_app(
    build: Callable[[], Awaitable[Engine]],
    *,
    demo: bool,
    ansi: bool,
    log_file: Path | None,
    cleanup: Callable[[], None] | None = None,
) -> int:
    from pacs_tui.app import PacsApp

    app = PacsApp(build, demo=demo, ansi=ansi)
    if cleanup is not None:
        app.hang_up_cleanups.append(cleanup)
    app.run()
    if app.start_error is not None:
        _err(f"pacs-tui: the engine did not start: {app.start_error}")
        return 1
    if app.stop_error is not None:
        _err(f"pacs-tui: the history was not fully written at quit: {app.stop_error}")
        return 1
    if log_file is not None and app.return_code not in (0, None):
        _err(f"pacs-tui: the UI stopped with an error; see {log_file}")
    return app.return_code or 0
