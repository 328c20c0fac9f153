"""The Textual app: wires one :class:`~pacs_tui.engine.Engine` to the screens.

The app subscribes to the engine's view and turns its updates into Textual messages
(:mod:`pacs_tui.messages`), which it forwards to the screen that is showing. It starts the engine
after the first frame (so the UI appears at once) and stops it on the way out, which flushes the
history. SIGTERM and SIGHUP (``systemctl stop``, ``kill``, an SSH connection dropping) quit the
same way as ``q``: the engine is stopped and the history flushed, and the CLI's clean-up runs.
Screens are Textual *modes*, listed in :data:`SCREENS`: the Overview, then one target table per
registered source (:data:`pacs_tui.probes.SOURCES`); a number key, help row and palette command
follow from each. Screens see the engine only through an :class:`~pacs_tui.view.EngineView`:
a :class:`~pacs_tui.view.LocalView` over an engine the app runs, or a
:class:`~pacs_tui.collector_client.RemoteView` attached to the collector (the app then runs no
engine; the header says where the data come from, or since when the collector is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual._node_list import DuplicateIds  # no public name for it in Textual 8.2
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.theme import ThemeProvider
from textual.timer import Timer
from textual.widgets import Input, Label

from pacs_tui.collector_client import AttachError, RemoteView
from pacs_tui.commands import PacsCommandPalette, PacsCommands
from pacs_tui.durations import seconds_words
from pacs_tui.engine import Engine, EngineUpdate, EventUpdate, ReloadUpdate, StateUpdate
from pacs_tui.gc_pauses import freeze_startup_objects
from pacs_tui.logs import close_logs
from pacs_tui.messages import (
    CollectorLinkChanged,
    EngineEventRecorded,
    RecentEventsLoaded,
    TargetStatesChanged,
)
from pacs_tui.model import EventKind, Status, TargetState
from pacs_tui.operators import NotAllowed, user_name
from pacs_tui.probes import SOURCES
from pacs_tui.screens import (
    NOTIFY_SECONDS,
    RECENT_MAX,
    PacsScreen,
    StartingScreen,
    UiContext,
    collector_gone,
)
from pacs_tui.screens.backups import BackupScreen
from pacs_tui.screens.help import HelpScreen, KeyRow, KeySection, bindings_of, key_rows
from pacs_tui.screens.hl7_tracker import Hl7TrackerScreen
from pacs_tui.screens.lock import LockScreen, idle_words
from pacs_tui.screens.message_detail import MessageDetailScreen
from pacs_tui.screens.message_log import MessageLog, MessageTable
from pacs_tui.screens.overview import OverviewScreen
from pacs_tui.screens.sessions import SessionsScreen
from pacs_tui.screens.storage import StorageScreen
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.totp import Attempts
from pacs_tui.view import EngineView, LinkUpdate, LocalView
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible, visible_lines
from pacs_tui.wall import WallView
from pacs_tui.widgets import StatusHeader, StatusTable

log = logging.getLogger(__name__)

#: Events read from the history at start to find the recent status changes.
RECENT_FETCH = RECENT_MAX
#: Results that change no status reach the screen in batches at most this old (seconds): they
#: are drawn every couple of seconds anyway, and one message each was most of the UI's work.
RESULTS_BATCH = 0.25
#: The theme used for ``ansi=True``: the terminal's own 16 colours.
ANSI_THEME = "ansi-dark"
#: Signals that quit the app cleanly (as ``q`` does): a service manager's stop, a hang-up.
QUIT_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: The footer's entry for the number keys.
SCREENS_GROUP = Binding.Group("Screens")
#: Textual's own palette entries that ours replace ("Keys": our ``?`` list of keys).
HIDDEN_SYSTEM_COMMANDS = frozenset({"Quit", "Keys"})
#: The app's actions that still run while the screen is locked: leaving, and moving the focus
#: on the lock screen. Every other (screens, probes, the palette, the keys list) does nothing.
LOCKED_ACTIONS = frozenset({"quit", "focus_next", "focus_previous"})
#: With no idle lock configured (or while far from it), the idle clock looks again this often
#: (seconds): a reload may turn the lock on or shorten it.
IDLE_RECHECK = 30.0
#: The header's word in wall mode, so that a technician knows why the keys do nothing.
WALL_MARKER = "WALL"


@dataclass(frozen=True, slots=True)
class ScreenSpec:
    """A top-level screen: its mode name, number key, title, class and how to build it."""

    name: str
    key: str
    title: str
    screen: type[PacsScreen]
    build: Callable[[UiContext], PacsScreen]


#: Sources whose screen is more than their target table (the UI's choice: sources never import
#: Textual).
SOURCE_SCREENS: dict[str, type[TargetTableScreen]] = {
    "hl7": Hl7TrackerScreen,
    "storage": StorageScreen,
    "sessions": SessionsScreen,
    "backups": BackupScreen,
}


def _screen_specs() -> tuple[ScreenSpec, ...]:
    """The Overview, then each source's table in registry order (keys 2, 3, …)."""
    specs = [ScreenSpec("overview", "1", "Overview", OverviewScreen, OverviewScreen)]
    for source in SOURCES:
        if any(spec.name == source.screen for spec in specs):
            continue  # several sources on one screen (backups, mirrors, drills): built once
        screen = SOURCE_SCREENS.get(source.screen, TargetTableScreen)
        specs.append(
            ScreenSpec(
                source.screen,
                str(len(specs) + 1),
                source.screen_title,
                screen,
                partial(screen, source=source),
            )
        )
    return tuple(specs)


#: Top-level screens in key order.
SCREENS: tuple[ScreenSpec, ...] = _screen_specs()
#: The kinds of target each source's screen lists (the Overview is not here: always shown).
SCREEN_KINDS: dict[str, tuple[str, ...]] = {
    spec.name: tuple(k for s in SOURCES if s.screen == spec.name for k in s.kinds)
    for spec in SCREENS[1:]
}

#: Screens reached from another one (not by a number key) and widgets with keys of their own,
#: listed in the keys screen: title, class, and the base whose keys are not theirs.
SUB_SCREENS: tuple[tuple[str, type, type], ...] = (
    ("Detail", TargetDetailScreen, Screen),
    ("HL7 message log and audit trail", MessageLog, Vertical),
    ("HL7 message log and audit trail", MessageTable, StatusTable),
    ("HL7 message", MessageDetailScreen, Screen),
)


def current_operator() -> str:
    """Who is at the keyboard: this process's user, by its uid (``$USER`` can say anything)."""
    return user_name(os.getuid())


EngineFactory = Callable[[], Awaitable[Engine | RemoteView]]


HANG_UP_GRACE = 10.0  # seconds to flush the history after a hang-up


def _detach_from_terminal() -> None:
    """After a hang-up the terminal is gone: send what Textual still writes on its way out
    (restoring the screen) to /dev/null, where a write can never block the shutdown."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except OSError:
        log.warning("could not detach from the terminal after a hang-up")


class PacsApp(App[None]):
    """The pacs-tui terminal UI.

    ``engine`` is either a ready :class:`Engine` or an async factory that builds one (the CLI's
    demo starts its simulated hospital there) or attaches to the collector (a
    :class:`RemoteView`, closed at quit), called after the first frame so that the UI shows at
    once. With ``start_engine`` the app starts the engine after the first frame and
    stops it on the way out (flushing the history); without, the caller owns its lifecycle.
    ``clock`` drives every "now" the UI shows (header clock, "3m ago"), so tests can fix it.

    Idle lock: with ``view.idle_lock`` seconds (``[operators] idle_lock``) without a key or a
    mouse event, or at once on ctrl+l, a :class:`~pacs_tui.screens.lock.LockScreen` covers
    everything until the operator's TOTP code is typed; meanwhile every app action but quitting
    is refused (:meth:`check_action`) and notifications are held back. ``wall`` (a NOC wall
    terminal): the view is a :class:`~pacs_tui.wall.WallView` (every action refused, no patient
    data), the header says WALL, and there is no idle lock.
    """

    TITLE = "pacs-tui"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses live elsewhere
    COMMANDS = App.COMMANDS | {PacsCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                spec.key,
                f"go('{spec.name}')",
                spec.title,
                id=f"screen.{spec.name}",
                tooltip=f"Show the {spec.title} screen",
                # One footer entry for every number key ("1 2 Screens"), so that the footer fits
                # 80 columns; the keys screen and the palette name each screen.
                group=SCREENS_GROUP,
            )
            for spec in SCREENS
        ),
        # Not in the footer (the keys screen and the palette list it): the footer keeps "? Keys"
        # and "q Quit" at 80 columns on a site with every kind of screen.
        Binding(
            "a",
            "probe_all",
            "Probe all",
            id="app.probe_all",
            tooltip="Check every target now",
            show=False,
        ),
        Binding("question_mark", "help", "Keys", id="app.help", tooltip="This list of keys"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            id="app.palette",
            show=False,
            priority=True,
            tooltip="Search every action (command palette)",
        ),
        # Only where the site has an idle lock ([operators] idle_lock), never in wall mode.
        Binding(
            "ctrl+l",
            "lock",
            "Lock",
            id="app.lock",
            show=False,
            tooltip="Lock the screen now (unlock with your TOTP code)",
        ),
        Binding(
            "q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit (the UI's own engine stops; a collector goes on)",
        ),
    ]

    def __init__(
        self,
        engine: Engine | EngineFactory,
        *,
        demo: bool = False,
        start_engine: bool = True,
        clock: Callable[[], float] = time.time,
        ansi: bool = False,
        keymap: Mapping[str, str] | None = None,
        wall: bool = False,
    ) -> None:
        # ansi_color must be known at construction: it picks the NO_COLOR filter (NoColor for
        # the terminal's palette, Monochrome otherwise; Monochrome on ansi colours is unreadable).
        super().__init__(ansi_color=True if ansi else None)
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._remote: RemoteView | None = None
        self._factory: EngineFactory | None = None if isinstance(engine, Engine) else engine
        self.demo = demo
        self.start_engine = start_engine
        self.clock = clock
        self.operator = current_operator()
        self.ctx: UiContext | None = None
        self.screen_specs = SCREENS
        self.first_frame_at: float | None = None
        self.ready_at: float | None = None
        self.keymap_overrides: dict[str, str] = {}
        self._unsubscribe: Callable[[], None] | None = None
        #: Results not yet sent to the screen, and the timer that sends them.
        self._results: list[tuple[TargetState, Status]] = []
        self._results_timer: asyncio.TimerHandle | None = None
        #: Kinds of target the site has: a screen's number key shows only if it has targets.
        self._kinds: set[str] = set()
        #: Signals whose handler this app installed on its loop, with the handler found before.
        self._signals: dict[signal.Signals, Any] = {}
        #: The quit signal received, if any (for the log and for tests).
        self.quit_signal: signal.Signals | None = None
        #: Why the engine did not start or the attach failed (on screen, and by the CLI).
        self.start_error: str | None = None
        #: What failed, for the CLI's message: starting an engine or attaching to a collector.
        self.start_what = "the engine did not start"
        #: Why stopping the engine failed at quit (the history not flushed), for the CLI.
        self.stop_error: str | None = None
        #: Run after a hang-up (SIGHUP), when the process leaves without returning from run().
        self.hang_up_cleanups: list[Callable[[], None]] = []
        self._hanging_up = False
        #: Wall mode: read-only, no patient data, no idle lock.
        self.wall = wall
        #: The wrong unlock codes in a row and the closing of the code field (kept across locks).
        self.unlock_attempts = Attempts()
        #: The lock screen while locked, else None.
        self._lock_screen: LockScreen | None = None
        #: When the last key or mouse event came (monotonic), and the timer that looks at it.
        self._last_input = time.monotonic()
        self._idle_timer: Timer | None = None
        if ansi:
            self.theme = ANSI_THEME
        if keymap:
            self.set_keymap(dict(keymap))

    @property
    def engine(self) -> Engine:
        """The engine; only valid once the app is ready (see :attr:`ctx`)."""
        if self._engine is None:
            raise RuntimeError("the engine is not built yet")
        return self._engine

    # -- lifecycle --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return StartingScreen(demo=self.demo, now=self.clock)

    def on_mount(self) -> None:
        self._install_signal_handlers()
        if self.wall:
            self.screen_change_signal.subscribe(self, self._screen_changed)
            self._screen_changed(self.screen)
        if self._engine is not None:
            self._install(self._engine)
        self.call_after_refresh(self._after_first_frame)

    def _install_signal_handlers(self) -> None:
        """Quit cleanly on SIGTERM/SIGHUP (only possible on the main thread, on Unix)."""
        loop = asyncio.get_running_loop()
        for sig in QUIT_SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self._quit_on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                # Windows, or not the main thread (e.g. the app run in a test's thread).
                log.debug("cannot handle %s here; it keeps its default action", sig.name)
                continue
            self._signals[sig] = previous

    def _remove_signal_handlers(self) -> None:
        """Give the signals back as they were (a test runner keeps its own SIGTERM handler)."""
        loop = asyncio.get_running_loop()
        for sig, previous in self._signals.items():
            loop.remove_signal_handler(sig)
            if previous is not None:
                try:
                    signal.signal(sig, previous)
                except (ValueError, TypeError, OSError):
                    log.debug("could not restore the handler of %s", sig.name)
        self._signals.clear()

    @property
    def _owns_engine(self) -> bool:
        """The app starts and stops the engine unless it was handed a running one."""
        return self.start_engine or self._factory is not None

    def _quit_on_signal(self, sig: signal.Signals) -> None:
        """Runs on the loop: quit as ``q`` does (on_unmount stops the engine)."""
        if self.quit_signal is None:
            log.info("%s received: quitting (stopping the engine)", sig.name)
        self.quit_signal = sig
        if sig is signal.SIGHUP:
            # The terminal is gone: Textual's own shutdown would try to restore a screen that
            # no longer exists and can block on it for good (seen in tmux kill-session tests).
            # Flush the history, release its lock, run the cleanups and leave at once.
            # One hang-up worker only: a real SSH drop brings SIGHUP twice (the shell's and
            # the tty's), and a second worker must not cancel the first mid-flush.
            if not self._hanging_up:
                self._hanging_up = True
                self.run_worker(self._hang_up(), group="hang-up")
            return
        self.exit()

    async def _hang_up(self) -> None:
        _detach_from_terminal()
        stopped = "engine stopped"
        try:
            if self._unsubscribe is not None:
                self._unsubscribe()
            if self._owns_engine and self._engine is not None:
                await asyncio.wait_for(self._engine.stop(), HANG_UP_GRACE)
            if self._remote is not None:
                await self._remote.close()
        except TimeoutError:
            grace = seconds_words(HANG_UP_GRACE)
            stopped = f"engine did not stop within {grace}; history may be incomplete"
        except Exception:
            log.exception("stopping the engine after a hang-up")
            stopped = "engine stop failed; history may be incomplete"
        for cleanup in self.hang_up_cleanups:
            try:
                cleanup()
            except Exception:
                log.exception("cleanup after a hang-up")
        log.info("hang-up: %s, exiting", stopped)
        close_logs()
        os._exit(0)

    def _install(self, source: Engine | RemoteView) -> None:
        """Register the screens for the view of ``source`` (an engine here, or the collector
        attached to), subscribe to it and show the first screen."""
        view: EngineView
        if isinstance(source, Engine):
            self._engine = source
            view = LocalView(source)  # this process's user, by its uid (not $USER)
            self.operator = view.operator
        else:
            self._remote = view = source
            self.operator = source.operator  # as the collector records it (SO_PEERCRED)
        if self.wall:  # every action refused, whatever the role; no patient data
            view = WallView(view)
        self.ctx = UiContext(view, self.clock, self.demo)
        self.sub_title = visible(self.ctx.site, VALUE_LIMIT)
        for spec in SCREENS:
            self.add_mode(spec.name, partial(spec.build, self.ctx))
        self._unsubscribe = view.subscribe(self._on_engine_update)
        self._kinds = {s.target.kind for s in view.states()}
        self.refresh_bindings()
        self.switch_mode(SCREENS[0].name)
        self.call_after_refresh(freeze_startup_objects)  # once the first screen is built
        if not self.wall:
            self._last_input = time.monotonic()
            self._arm_idle_timer(0.0)

    def _after_first_frame(self) -> None:
        self.first_frame_at = time.perf_counter()
        self._bring_up()

    @work(exclusive=True, group="engine-start")
    async def _bring_up(self) -> None:
        """Build (if needed) and start the engine, then read the recent history."""
        try:
            if self._engine is None and self._factory is not None:
                self._install(await self._factory())
            if self._owns_engine and self._engine is not None:
                await self.engine.start()
        except Exception as exc:
            from pacs_tui.store import StoreError  # loaded by now: the engine holds a Store

            if isinstance(exc, AttachError):
                self.start_what = "could not attach to the collector"
            if isinstance(exc, (StoreError, AttachError)):
                # Expected (a collector already writes this history, an unusable file, a
                # socket this user may not use): the words are the whole story, no traceback.
                log.error("%s: %s", self.start_what, exc)
                text = str(exc)
            else:
                log.exception("the engine did not start")
                text = f"{type(exc).__name__}: {exc}"
            self.start_error = text
            if not isinstance(self.screen, StartingScreen):
                # The screens are up but their engine is not: every node would read UNKNOWN
                # and every action do nothing. Cover them with the reason and what to do.
                await self.push_screen(
                    StartingScreen(demo=self.demo, now=self.clock, screen_id=None)
                )
            screen = self.screen
            if isinstance(screen, StartingScreen):
                screen.show_failure(text, attach=isinstance(exc, AttachError))
            return
        self.ready_at = time.perf_counter()
        await self._load_recent()

    async def on_unmount(self) -> None:
        try:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            if self._results_timer is not None:
                self._results_timer.cancel()
                self._results_timer = None
            if self._remote is not None:
                await self._remote.close()
            if self._owns_engine and self._engine is not None:
                try:
                    await self._engine.stop()
                except Exception as exc:
                    from pacs_tui.store import StoreError  # the store is imported lazily

                    if not isinstance(exc, StoreError):
                        raise
                    # A history that cannot be flushed (disk full, corrupt): said after exit.
                    log.error("the history was not flushed at quit: %s", exc)
                    self.stop_error = str(exc)
        finally:
            # Only now: a second SIGTERM while the history is flushed must not kill the process.
            self._remove_signal_handlers()

    # -- engine → messages ------------------------------------------------------------------

    def _on_engine_update(self, update: EngineUpdate | LinkUpdate) -> None:
        """View subscriber (called on the app's loop): post a message, never touch widgets."""
        if isinstance(update, StateUpdate):
            if update.state.target.kind not in self._kinds:  # a reload brought a new kind
                self._kinds.add(update.state.target.kind)
                self.refresh_bindings()
            # Results go to the screen that shows in batches (a Textual message per result was
            # most of an attached UI's own work at 200 results a second); a change of status
            # goes at once, with the results before it.
            self._results.append((update.state, update.previous))
            if update.changed:
                self._send_results()
            elif self._results_timer is None:
                loop = asyncio.get_running_loop()
                self._results_timer = loop.call_later(RESULTS_BATCH, self._send_results)
        elif isinstance(update, EventUpdate):
            self.post_message(EngineEventRecorded(update.event))
        elif isinstance(update, LinkUpdate):
            self._recount_kinds()  # a snapshot came: the collector may run another config
            self.post_message(CollectorLinkChanged(update.link))
        elif isinstance(update, ReloadUpdate):
            self._recount_kinds()

    def _recount_kinds(self) -> None:
        """The kinds the site has now; a screen's number key goes when its last one does."""
        kinds = {s.target.kind for s in self.ctx.view.states()} if self.ctx is not None else set()
        if kinds != self._kinds:
            self._kinds = kinds
            self.refresh_bindings()

    def on_collector_link_changed(self, message: CollectorLinkChanged) -> None:
        if message.link.connected:  # reattached: events may have been missed meanwhile
            self.run_worker(self._load_recent(), group="recent", exclusive=True)
        self._forward(message.copy())

    def on_engine_event_recorded(self, message: EngineEventRecorded) -> None:
        if self.ctx is not None and message.event.kind == EventKind.STATUS_CHANGE:
            self.ctx.add_recent(message.event)
        elif self.ctx is not None and message.event.kind == EventKind.PROBE:
            self.ctx.runs.append(message.event)
        self._forward(message.copy())

    def _send_results(self) -> None:
        if self._results_timer is not None:
            self._results_timer.cancel()
            self._results_timer = None
        results, self._results = self._results, []
        if results:
            self._forward(TargetStatesChanged(tuple(results)))

    def _forward(self, message: Message) -> None:
        """Hand a message to the screen that is showing; hidden screens catch up on resume.
        (None shows while the app quits: the collector's updates go on arriving until then.)"""
        stack = self.screen_stack
        if stack and isinstance(stack[-1], PacsScreen):
            stack[-1].post_message(message)

    async def _load_recent(self) -> None:
        """Read the last status changes from the history into the shared list."""
        ctx = self.ctx
        if ctx is None:
            return
        try:
            events = await ctx.view.events(kind=EventKind.STATUS_CHANGE, limit=RECENT_FETCH)
        except Exception as exc:  # the history closing, the collector gone: in words
            log.warning("could not read the recent events from the history: %s", exc)
            log.debug("the recent events' read", exc_info=True)
            return
        seen = {(e.ts, e.target, e.summary) for e in events}
        live = [e for e in ctx.recent if (e.ts, e.target, e.summary) not in seen]
        ctx.replace_recent((events + live)[-RECENT_MAX:])
        self._forward(RecentEventsLoaded())

    # -- idle lock ----------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # Any key or mouse event (a move too: someone is there) restarts the idle clock.
        if isinstance(event, events.Key | events.MouseEvent | events.Paste):
            self._last_input = time.monotonic()
        await super().on_event(event)

    @property
    def locked(self) -> bool:
        """The lock screen covers the app (until the operator's code is typed)."""
        return self._lock_screen is not None

    def lock_after(self) -> float:
        """Seconds without a key before the lock (0: no lock here, as in wall mode)."""
        if self.wall or self.ctx is None:
            return 0.0
        return max(0.0, self.ctx.view.idle_lock)

    def _arm_idle_timer(self, delay: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.stop()
        self._idle_timer = self.set_timer(max(delay, 0.01), self._idle_check, name="idle-lock")

    def _idle_check(self) -> None:
        """Lock after ``lock_after()`` seconds without input; else look again when that could
        be, at the latest in :data:`IDLE_RECHECK` (a reload may change the setting)."""
        self._idle_timer = None
        if self.locked:
            return  # armed again at the unlock
        limit = self.lock_after()
        idle = time.monotonic() - self._last_input
        if limit > 0 and idle >= limit:
            self.lock_now(idle=True)
            return
        self._arm_idle_timer(min(limit - idle, IDLE_RECHECK) if limit > 0 else IDLE_RECHECK)

    def lock_now(self, *, idle: bool = False) -> None:
        """Cover everything with the lock screen (``idle``: the idle time ran out; else the
        operator's lock key). Nothing happens without an idle lock here, or if locked already."""
        ctx = self.ctx
        limit = self.lock_after()
        if ctx is None or self.locked or limit <= 0:
            return
        if idle:
            why = f"Locked after {idle_words(limit)} without a key"
        else:
            key = self.key_for("app.lock")
            why = f"Locked at the operator's request ({key})" if key else "Locked on request"
        operator = ctx.view.operator
        screen = LockScreen(
            site=ctx.site,
            operator=operator,
            why=why,
            since=self.clock(),
            now=self.clock,
            tz=ctx.tz,
            attempts=self.unlock_attempts,
        )
        self._lock_screen = screen
        self.clear_notifications()  # a toast may name a target
        log.info("screen locked for %s: %s", operator, why[0].lower() + why[1:])
        self.push_screen(screen)
        self.refresh_bindings()

    def on_lock_screen_unlocked(self, message: LockScreen.Unlocked) -> None:
        lock = self._lock_screen
        if lock is None:
            return
        self._lock_screen = None
        log.info("screen unlocked by %s (TOTP code)", message.operator)
        if self.screen is lock:
            self.pop_screen()  # back to the screen that was showing, as it was
        self._last_input = time.monotonic()
        self.refresh_bindings()
        self._arm_idle_timer(0.0)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """As Textual's, except while locked: a notification shows over the lock screen, and
        may name a target or a patient's reference. It is left out (and logged, at debug)."""
        if self.locked:
            log.debug("notification held back while locked: %s", title or "(untitled)")
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- wall mode ----------------------------------------------------------------------------

    def _screen_changed(self, screen: Screen[Any]) -> None:
        # The new screen is composed by the time its queued callbacks run.
        screen.call_after_refresh(self._mark_wall, screen)

    def _mark_wall(self, screen: Screen[Any]) -> None:
        """Put WALL in ``screen``'s header, after the overall status (once)."""
        for header in screen.query(StatusHeader).results(StatusHeader):
            overall = header.query("#header-overall")
            if overall and not header.query("#header-wall"):
                marker = Label(WALL_MARKER, id="header-wall")
                marker.tooltip = "Wall mode: read-only, no patient data, no idle lock"
                header.mount(marker, after=overall.first())

    # -- keys -------------------------------------------------------------------------------

    def set_keymap(self, keymap: Mapping[str, str]) -> None:
        self.keymap_overrides = dict(keymap)
        super().set_keymap(dict(keymap))

    def update_keymap(self, keymap: Mapping[str, str]) -> None:
        self.keymap_overrides.update(keymap)
        super().update_keymap(dict(keymap))

    def key_for(self, binding_id: str) -> str:
        """The key(s) bound to ``binding_id`` now, as shown to the user (``""`` if none)."""
        for section in self.key_sections():
            for row in section.rows:
                if row.binding_id == binding_id:
                    return row.keys
        return ""

    def key_sections(self) -> list[KeySection]:
        """Every binding, grouped by where it works, with the keymap applied."""
        keymap = self.keymap_overrides
        display = self.get_key_display
        # The lock key only where there is an idle lock: elsewhere it does nothing.
        app_keys = [b for b in bindings_of(type(self)) if b.action != "lock" or self.lock_after()]
        everywhere = key_rows(app_keys, keymap, display)
        # Textual's own keys (a screen's and the lists', so not listed with ours, and not
        # rebound by a keymap): said once here.
        textual = (
            KeyRow(
                "tab",
                "Next list or field of the screen, shift+tab back (the HL7 links, their messages)",
                "(Textual's)",
            ),
            KeyRow(
                "↑ ↓ pgup pgdn",
                "Move in a list (home, end too); scroll the Overview to what is below it",
                "(Textual's)",
            ),
            KeyRow(
                "← →",
                "Move a wide list sideways a column (the message log); with shift, a page",
                "(Textual's)",
            ),
        )
        sections = [KeySection("Everywhere", (*everywhere, *textual))]
        # The target tables (the HL7 tracker is one too) share their keys: one section for all.
        titles: dict[type[Screen[None]], list[str]] = {}
        for spec in SCREENS:
            table = issubclass(spec.screen, TargetTableScreen)
            titles.setdefault(TargetTableScreen if table else spec.screen, []).append(spec.title)
        owners: Iterable[tuple[str, type, type]] = (
            *((", ".join(names), owner, Screen) for owner, names in titles.items()),
            # A table screen with keys of its own (Sessions: / filters the audit trail).
            *(
                (spec.title, spec.screen, TargetTableScreen)
                for spec in SCREENS
                if issubclass(spec.screen, TargetTableScreen)
                and spec.screen is not TargetTableScreen
            ),
            *SUB_SCREENS,
        )
        merged: dict[str, list[KeyRow]] = {}
        for title, owner, base in owners:
            merged.setdefault(title, []).extend(
                key_rows(bindings_of(owner, below=base), keymap, display)
            )
        sections += [KeySection(title, tuple(rows)) for title, rows in merged.items() if rows]
        return sections

    async def _on_key(self, event: events.Key) -> None:
        focused = self.focused
        if isinstance(focused, Input) and event.is_printable:
            # A field has the focus, yet a printable key bubbled up here: the field takes
            # every one it is sent, so this one was read before the focus moved to the field
            # and went to the widget that had it ("/" opening a filter, then the rest of a
            # paste or of a fast typist's word: "/ris" re-sorted the table). It is the field's.
            event.prevent_default()  # not App's own _on_key: no binding of the screen runs
            focused.post_message(events.Key(event.key, event.character))
            return
        self._say_absent_screen(event.key)

    def _say_absent_screen(self, key: str) -> None:
        """A number key of a screen this site has nothing for (hidden from the footer, so it
        did nothing): say why rather than nothing at all."""
        if self.locked or self.ctx is None:
            return
        for binding in self._bindings.key_to_bindings.get(key, ()):
            mode = binding.action.removeprefix("go('").removesuffix("')")
            if mode == binding.action or self.check_action("go", (mode,)) is not False:
                continue
            spec = next((s for s in SCREENS if s.name == mode), None)
            if spec is None:
                continue
            entries = ", ".join(src.entry for src in SOURCES if src.screen == mode and src.entry)
            self.notify(
                f"No {spec.title} screen: this site has nothing for it yet (it lists what "
                f"{entries} configure).",
                title=f"Key {key}",
                timeout=5,
                markup=False,
            )
            return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A screen's number key is hidden (and does nothing) while the site has no target
        of its kinds: the footer lists the screens this site has, and fits 80 columns.

        While locked, every app action but quitting (and moving the focus on the lock screen)
        does nothing: number keys, probe all, the palette, the keys list. The lock key shows
        only where there is an idle lock (not in wall mode)."""
        if self.locked:
            return action in LOCKED_ACTIONS
        if action == "lock":
            return self.lock_after() > 0
        if action == "go" and parameters and self.ctx is not None:
            kinds = SCREEN_KINDS.get(str(parameters[0]))
            if kinds is not None and self._kinds.isdisjoint(kinds):
                return False
        return True

    # -- actions ----------------------------------------------------------------------------

    async def action_go(self, mode: str) -> None:
        """Show a top-level screen; pressed again, go back to its list from a detail screen."""
        if self.locked:  # the palette's commands call it directly: refused here too
            return
        if self.ctx is None:
            if self.start_error is not None:
                self.notify(
                    visible_lines(self.start_error, TEXT_LIMIT),
                    title="Engine did not start",
                    markup=False,
                )
            else:
                self.notify("Still starting…", timeout=2)
            return
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()
        if self.current_mode == mode:
            while len(self.screen_stack) > 1:
                self.pop_screen()
        else:
            await self.switch_mode(mode)

    def action_probe_all(self) -> None:
        if self.ctx is None or self.locked:
            return
        gone = collector_gone(self.ctx.view)
        if gone:
            self.notify(gone, severity="warning", markup=False)
            return
        try:
            count = self.ctx.view.probe_all()
        except NotAllowed as exc:
            self.notify(visible(str(exc), TEXT_LIMIT), severity="warning", markup=False)
            return
        if count == 0:
            self.notify(
                "Nothing here can be probed now: listeners, taps, receivers and logs report "
                "on their own, and a drill runs from its own row.",
                timeout=NOTIFY_SECONDS * 2,
            )
            return
        noun = "target" if count == 1 else "targets"
        self.notify(f"Probing all {count} {noun} now…", timeout=NOTIFY_SECONDS)

    def action_lock(self) -> None:
        self.lock_now()

    def action_help(self) -> None:
        if not self.locked and not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_sections()))

    async def action_filter_table(self) -> None:
        """Filter the table showing, or the first one (DICOM nodes) from another screen."""
        if self.locked:
            return
        if not isinstance(self.screen, TargetTableScreen):
            await self.action_go(SCREENS[1].name)
        screen = self.screen
        if isinstance(screen, TargetTableScreen):
            screen.action_filter()

    # -- command palettes: ours guards three crashes of Textual 8.2.8 (see PacsCommandPalette) -
    # (App.search_commands, unused here, would still open Textual's own palette.)

    def action_command_palette(self) -> None:
        # As upstream's, with our palette; CommandPalette.is_open is typed for App[object].
        if self.locked:
            return
        if self.use_command_palette and not isinstance(self.screen, CommandPalette):
            # ctrl+p twice in one burst of keys: the first palette is registered but not yet
            # the screen (found by the random-keys test). One palette is enough.
            with contextlib.suppress(DuplicateIds):
                self.push_screen(PacsCommandPalette(id="--command-palette"))

    def search_themes(self) -> None:
        self.push_screen(
            PacsCommandPalette(providers=[ThemeProvider], placeholder="Search for themes…")
        )

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # "Quit" and "Keys" are our own palette commands already ("Quit", "Show keys").
        for command in super().get_system_commands(screen):
            if command.title not in HIDDEN_SYSTEM_COMMANDS:
                yield command
