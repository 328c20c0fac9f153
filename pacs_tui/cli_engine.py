"""The engine's commands: ``status`` (every check once), ``collect`` (the headless engine) and
``history`` (read what was recorded)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pacs_tui.cli_common import EXIT_USAGE, _err, _load, log
from pacs_tui.config import Config, ConfigError, load_file
from pacs_tui.config_reader import closest, some_of
from pacs_tui.durations import parse_duration
from pacs_tui.gc_pauses import freeze_startup_objects
from pacs_tui.logs import setup_logging
from pacs_tui.model import (
    Event,
    LoggedMessage,
    MessageQuery,
    Sample,
    Status,
    Target,
    TargetState,
    never_drilled,
)

if TYPE_CHECKING:
    from pacs_tui.engine import Engine
    from pacs_tui.store import Store


def cmd_status(args: argparse.Namespace) -> int:
    setup_logging(args.log_level if args.log_level != "info" else "warning")
    config = _load(args)
    if config is None:
        return Status.UNKNOWN.exit_code
    from pacs_tui.engine import Engine
    from pacs_tui.report import status_json, status_table

    async def once() -> int:
        stopped: list[str] = []
        unreadable: list[str] = []
        followed = await _collector_states(config, stopped, unreadable)
        states = None if args.fresh else followed
        if states is None:
            history = await open_history_readonly(config)
            try:
                engine = Engine(config, history=history)
                engine.remember(await history.last_statuses() if history is not None else {})
                try:
                    states = await engine.run_once(
                        stopped[0] if stopped else "", unreadable[0] if unreadable else ""
                    )
                finally:
                    await engine.stop()
            finally:
                if history is not None:
                    await history.close()
        if followed is not None and args.fresh:
            states = _followed_by_collector(states, followed)
        checked = time.time()
        if args.json:
            print(status_json(config.site.name, checked, states))
        else:
            print(status_table(config.site.name, states))
        return Status.worst(s.status for s in states if not never_drilled(s)).exit_code

    return asyncio.run(once())


async def _collector_states(
    config: Config, stopped: list[str], unreadable: list[str]
) -> list[TargetState] | None:
    """The running collector's states (worst first), or None when none answers (then
    ``status`` checks every target itself). A collector that answers but refuses is said, and
    its words go in ``unreadable``; one that was killed (its socket left) is said, and its
    words go in ``stopped``."""
    from pacs_tui.collector_client import AttachError, CollectorStopped, collector_states

    try:
        found = await collector_states(config.socket_path)
    except CollectorStopped as exc:  # an error, as check says it: its listeners and taps are down
        log.error("status: %s; checking every target here", exc)
        stopped.append(str(exc))
        return None
    except AttachError as exc:
        log.warning("status: not reading the collector (checking every target here): %s", exc)
        unreadable.append(str(exc))
        return None
    return found[0] if found is not None else None


def _followed_by_collector(
    states: list[TargetState], followed: list[TargetState]
) -> list[TargetState]:
    """``--fresh`` beside a running collector: what only it follows (a listener, a receiver,
    a log tail) is its state, not the words that a collector is needed."""
    from pacs_tui.engine import ONCE_IS_NOT_ENOUGH

    by_id = {s.id: s for s in followed}
    return [by_id.get(s.id, s) if s.reason == ONCE_IS_NOT_ENOUGH else s for s in states]


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


async def open_history_readonly(config: Config, who: str = "status") -> Store | None:
    """The history, read-only, when one exists (a collector's, say): ``status`` says since
    when a node has been DOWN rather than "since this check", and a volume's forecast comes
    from its recorded points rather than from one. The caller closes it.

    No history is no warning; anything at the history's path that the store refuses (a link,
    a FIFO, a folder, a device, another program's file) is one warning, and the checks run."""
    from pacs_tui.store import Store, StoreError

    try:
        if not _history_there(config.history.path):
            return None
    except PermissionError as exc:
        log.warning("%s: not reading the history: %s", who, exc)
        return None
    try:
        return await Store.open(config.history.path, readonly=True)
    except StoreError as exc:
        log.warning("%s: not reading the history: %s", who, exc)
        return None


_T = TypeVar("_T")


def cmd_collect(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    from pacs_tui.engine import engine_with_history

    return run_collector(serve_collector(config, engine_with_history), args.event_loop)


def run_collector(main: Coroutine[Any, Any, _T], event_loop: str = "uvloop") -> _T:
    """Run the collector's ``main`` on ``event_loop``: uvloop unless asked for asyncio's own.
    The collector is a service whose hot paths (an HL7 listener answering each message, the
    viewers' socket) are mostly the event loop's work; libuv's loop does that part in C
    (bench/hl7_listener.py measures both). The UIs stay on asyncio's loop, which Textual is
    made and tested for."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        log.debug("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(main)


async def serve_collector(config: Config, make_engine: Callable[[Config], Engine]) -> int:
    """Run ``make_engine(config)`` with its socket for viewers (and its Prometheus exporter when
    configured) until SIGTERM or SIGINT; SIGHUP reloads the config file. ``collect`` runs it
    with the configured checks, ``bench/attach.py`` with simulated ones."""
    from pacs_tui.collector_server import CollectorServer
    from pacs_tui.collector_socket import SocketPathError
    from pacs_tui.store import StoreError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(config)
    try:
        await engine.start()
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        await engine.stop()
        return 1
    # After the history's lock: a second collector stops there, before touching the socket.
    server = CollectorServer(engine, config.socket_path, config.collector.group)
    try:
        await server.start()
    except (SocketPathError, OSError) as exc:
        log.error("cannot serve viewers: %s", exc)
        await engine.stop()
        return 1
    metrics = None
    if config.exporters.prometheus is not None:
        from pacs_tui.exporter import MetricsServer

        host, port = config.exporters.prometheus
        metrics = MetricsServer(engine, host, port, lambda: server.viewers)
        try:
            await metrics.start()
        except OSError as exc:
            log.error(
                "cannot serve Prometheus metrics on %s ([exporters.prometheus] bind): %s",
                metrics.address,
                exc.strerror or exc,
            )
            await server.stop()
            await engine.stop()
            return 1
    log.info(
        "collecting: site %r, %d targets, history %s, viewers on %s",
        config.site.name,
        len(engine.targets),
        config.history.path,
        config.socket_path,
    )
    freeze_startup_objects()
    asked = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, asked.set)
    reloading = asyncio.create_task(_reload_on_sighup(engine, config, asked))
    await stop.wait()
    reloading.cancel()
    if metrics is not None:
        await metrics.stop()
    await server.stop()
    log.info("stopping: flushing history")
    try:
        await engine.stop()
    except StoreError as exc:
        log.error("stopped, but the history could not be flushed: %s", exc)
        return 1
    log.info("stopped")
    return 0


#: What a reload cannot change while running: (what, how it is read from a config).
RESTART_ONLY: tuple[tuple[str, Callable[[Config], object]], ...] = (
    ("[history]", lambda c: c.history),
    ("[collector]", lambda c: (c.socket_path, c.collector.group)),
    ("[exporters]", lambda c: c.exporters),
    # The trail's forwarder is made once, when the trail is opened.
    ("[operators] forward", lambda c: c.operators.forward),
)


async def _reload_on_sighup(engine: Engine, first: Config, asked: asyncio.Event) -> None:
    """``systemctl reload`` (SIGHUP): read the same config file again and run it; a config with
    problems is refused in the log and the running one goes on."""
    path = first.source
    while True:
        await asked.wait()
        asked.clear()
        if path is None:
            log.warning("SIGHUP: no config file to read again")
            continue
        log.info("SIGHUP: reading %s again", path)
        try:
            config = load_file(path)
        except ConfigError as exc:
            log.error(
                "reload refused, still running the previous config: %s has %d problem(s)",
                path,
                len(exc.problems),
            )
            for problem in exc.problems:
                # A line of its own for each line (a syntax error shows its TOML line under
                # it): one record would show the line breaks as ␊.
                first_line, *more = str(problem).splitlines()
                log.error("  - %s", first_line)
                for line in more:
                    log.error("    %s", line.strip())
            continue
        for what, part in RESTART_ONLY:
            if part(config) != part(engine.config):
                log.warning("%s changed: it takes effect at the next restart", what)
        try:
            await engine.reload(config)
        except Exception:
            log.exception("reload failed; the checks that were running go on")


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
    from pacs_tui.report import history_csv, history_json_text, history_table
    from pacs_tui.store import StoreError

    if getattr(args, "messages", False):
        return _print_messages(config, args, time.time() - window)

    async def query() -> int:
        since = time.time() - window
        try:
            found = await _history_read(config, args, since)
        except (StoreError, PermissionError, FileNotFoundError) as exc:
            _err(f"pacs-tui: {exc}")
            return 1
        except LookupError as exc:  # no such target or kind: a mistyped value
            _err(f"pacs-tui: {exc.args[0]}")
            return EXIT_USAGE
        samples, events = found
        if args.json:
            print(history_json_text(samples, events))
        elif args.csv:
            sys.stdout.write(history_csv(samples))
        else:
            print(history_table(samples, events))
        return 0

    return asyncio.run(query())


async def _history_read(
    config: Config, args: argparse.Namespace, since: float
) -> tuple[list[Sample], list[Event]]:
    """The samples and events asked for: from the history file (read-only, beside a running
    collector too); when this user may not read it, through the collector's socket (a member
    of its group, say). ``LookupError`` in words for an unknown target or kind."""
    from pacs_tui.store import StoreError

    path = config.history.path
    try:
        store = await _open_history(path)
    except (PermissionError, StoreError) as exc:
        remote = await _history_via_collector(config, args, since)
        if remote is None:
            raise exc from None
        return remote
    try:
        _known(path, args, await store.targets())
        if args.metric is not None and not args.event:
            _known_metric(path, args.metric, await store.metric_names())
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
    finally:
        await store.close()
    return samples, events


async def _history_via_collector(
    config: Config, args: argparse.Namespace, since: float
) -> tuple[list[Sample], list[Event]] | None:
    """The history through the running collector; None when none answers."""
    from pacs_tui.collector_client import AttachError, RemoteView

    try:
        view = await RemoteView.attach(config.socket_path)
    except AttachError:
        return None
    try:
        _known(config.socket_path, args, await view.recorded_targets())
        samples: list[Sample] = []
        if not args.event:
            samples, cut = await view.samples(args.target, args.metric, since, args.kind)
            if cut:
                _err(f"pacs-tui: only the newest {len(samples):,} samples (narrow --since)")
        events = await view.events(args.target, kind=args.event, since=since, target_kind=args.kind)
    except AttachError as exc:
        raise PermissionError(f"reading the history through the collector: {exc}") from None
    finally:
        await view.close()
    return samples, events


#: ``history --messages`` prints at most this many rows (the newest; it says so when cut).
MESSAGES_SHOWN = 10_000


def _print_messages(config: Config, args: argparse.Namespace, since: float) -> int:
    """``history --messages``: the message log of the window, oldest first."""
    from pacs_tui.report import messages_json_text, messages_table
    from pacs_tui.store import StoreError

    if args.csv or args.event or args.metric or args.kind:
        _err("pacs-tui: --messages goes with --target, --since and --json only")
        return EXIT_USAGE

    async def read() -> int:
        try:
            found = await _messages_read(config, args, since)
        except LookupError as exc:  # no such target: a mistyped value
            _err(f"pacs-tui: {exc.args[0]}")
            return EXIT_USAGE
        except (StoreError, PermissionError, FileNotFoundError) as exc:
            _err(f"pacs-tui: {exc}")
            return 1
        if len(found) >= MESSAGES_SHOWN:
            _err(f"pacs-tui: only the newest {len(found):,} messages (narrow --since)")
        found.reverse()
        print(messages_json_text(found) if args.json else messages_table(found))
        return 0

    return asyncio.run(read())


async def _open_history(path: Path) -> Store:
    """The history file, read-only; ``FileNotFoundError`` in words when there is none yet."""
    from pacs_tui.store import Store

    if not _history_there(path):
        raise FileNotFoundError(f"no history yet at {path} (run `pacs-tui collect` or the UI)")
    return await Store.open(path, readonly=True)


async def _messages_read(
    config: Config, args: argparse.Namespace, since: float
) -> list[LoggedMessage]:
    """The message log from the history file, or through the collector when this user may
    not read the file; newest first. ``LookupError`` in words for a --target the history
    does not know (a typo would otherwise read as a quiet link)."""
    from pacs_tui.collector_client import AttachError, RemoteView
    from pacs_tui.store import StoreError

    path = config.history.path
    link = args.target
    try:
        store = await _open_history(path)
    except (PermissionError, StoreError) as exc:
        try:
            view = await RemoteView.attach(config.socket_path)
        except AttachError:
            raise exc from None
        try:
            _known(config.socket_path, args, await view.recorded_targets())
            return await view.messages(MessageQuery(link, since=since, limit=MESSAGES_SHOWN))
        except AttachError as err:
            raise PermissionError(f"reading the history through the collector: {err}") from None
        finally:
            await view.close()
    try:
        _known(path, args, await store.targets())
        return await store.messages(link, since=since, limit=MESSAGES_SHOWN)
    finally:
        await store.close()


def _known_metric(where: Path, metric: str, known: list[str]) -> None:
    """``LookupError`` (with the closest name) for a --metric the history has no series of."""
    if metric in known:
        return
    # "echo" for "echo_seconds": a name typed without its unit's suffix is the likely slip.
    close = next((k for k in known if k.startswith(metric)), None) or closest(metric, known)
    hint = f" (did you mean {close!r}?)" if close else ""
    shown = some_of(known, 30)
    raise LookupError(
        f"no metric {metric!r} in the history {where}{hint}; known: {shown or 'none yet'}"
    )


def _known(where: Path, args: argparse.Namespace, targets: list[Target]) -> None:
    """``LookupError`` (with the closest name) for a --kind or --target the history lacks."""
    for what, asked, known in (
        ("target of kind", args.kind, {str(t.kind) for t in targets}),
        ("target", args.target, {t.id for t in targets}),
    ):
        if asked is not None and asked not in known:
            close = closest(asked, known)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise LookupError(
                f"no {what} {asked!r} in the history {where}{hint}; "
                f"known: {', '.join(sorted(known)) or 'none yet'}"
            )
