"""The Sessions screen: the audit receivers' table, then who is using the PACS — its active
sessions (user, role, host, since, last activity, studies touched; idle past the policy said
in words), the failed logins and alerts — and the audit trail's newest records, followed live
with a ``/`` filter (an event code, a user, a patient's ``#`` reference). ``/`` filters the
audit trail wherever the focus is on this screen (the receivers are few: they need none).

The trail's columns have fixed widths fitted to the screen (:func:`audit_columns`): the
outcome takes what the others leave, and on a narrow screen the least needed columns go first.
The sessions' and the OS sessions' columns leave out their least needed ones the same way
(:func:`~pacs_tui.widgets.columns.leave_out`), rather than cut the last header.

Everything here came from the PACS's audit messages: shown through
:func:`~pacs_tui.visible.visible`, never as markup. Patients appear only as references.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from rich.console import JustifyMethod
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, Label
from textual.widgets.data_table import ColumnKey

from pacs_tui.model import LoggedMessage, Status, TargetKind, TargetState
from pacs_tui.screens import UiContext
from pacs_tui.screens.message_log import MessageFilter, MessageLog, filter_problems
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.source import Source
from pacs_tui.ui_format import when
from pacs_tui.units import size
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets import LightTable
from pacs_tui.widgets.columns import Column, leave_out
from pacs_tui.widgets.light_table import PADDING
from pacs_tui.widgets.status_table import plain

#: The panels are redrawn at most this often (receivers report every few seconds).
PANEL_SECONDS = 1.0
#: The kinds whose results the panels show: the receivers' sessions, the hosts' OS sessions.
PANEL_KINDS = (TargetKind.AUDIT_SOURCE, TargetKind.HOST)
_EVENT_CODE = re.compile(r"\d{1,6}")
_OUTCOME = re.compile(r"outcome (\d+) \(([^()]*)\)")
ACTIVE, IDLE = "● active", "◌ idle"

#: The audit trail's columns in their order, ``(label, key, width)``: the outcome takes the
#: rest. Time is 8 wide ("03:11:00"), 12 when a row shown is of another day ("Mar 03 14:03").
AUDIT_COLUMNS: tuple[Column, ...] = (
    ("Time", "time", 8),
    ("Event", "type", 35),  # "110114 User Authentication / Logout"
    ("User", "user", 12),
    ("Role", "role", 19),  # "referring physician"
    ("Host", "host", 15),  # an IPv4 address
    ("Outcome", "outcome", None),
    ("Patient", "patient", 17),  # "#" and 16 hex digits
    ("Size", "size", 8),  # "1023 KiB"
    ("Audit source", "source", 12),
    ("Receiver", "link", 12),
)
#: Left out, in this order, while the outcome would be narrower than :data:`OUTCOME_WIDTH`.
LEFT_OUT_FIRST = ("link", "source", "size", "role", "patient")
#: The outcome's width kept at least ("▲ 12 major failure"); the event narrows for it, to
#: :data:`EVENT_WIDTH` at least, once every column that may go is gone.
OUTCOME_WIDTH, EVENT_WIDTH = 18, 20


#: The active sessions' columns, ``(label, key, width)``: every width holds its header whole.
SESSION_COLUMNS: tuple[Column, ...] = (
    ("State", "state", 9),
    ("User", "user", 16),
    ("Role", "role", 19),
    ("Last activity", "last", 13),
    ("Host", "host", 16),
    ("Since", "since", 11),
    ("Studies", "studies", 7),
    ("Events", "events", 7),
    ("Exports", "exports", 7),
)
#: Left out, in this order, while the sessions' columns do not fit, so that every header
#: shown is whole: at 100 columns the counts of events and exports and the login time go, at
#: 80 the role too (it follows from the user, by the role map; the host does not).
SESSIONS_LEFT_OUT_FIRST = ("exports", "events", "since", "role", "host", "studies")
#: The servers' OS sessions: ``(label, key, width)``, and which go first on a narrow screen.
OS_COLUMNS: tuple[Column, ...] = (
    ("Server", "server", 16),
    ("User", "user", 16),
    ("Terminal", "tty", 10),
    ("From", "from", 20),
    ("Since", "since", 13),
)
OS_LEFT_OUT_FIRST = ("tty", "since", "from")


def audit_columns(width: int, time_width: int = 8, padding: int = 1) -> tuple[Column, ...]:
    """The trail's columns for a table ``width`` wide whose cells have ``padding`` on each
    side (2 kept for the scrollbar, as :func:`~pacs_tui.widgets.columns.fit_layout` does)."""
    columns = [(label, key, time_width if key == "time" else w) for label, key, w in AUDIT_COLUMNS]

    def rest() -> int:
        return width - sum(w or 0 for _, _, w in columns) - 2 * padding * len(columns) - 2

    for key in LEFT_OUT_FIRST:
        if rest() >= OUTCOME_WIDTH:
            break
        columns = [c for c in columns if c[1] != key]
    short = OUTCOME_WIDTH - rest()
    if short > 0:
        event = max(EVENT_WIDTH, 35 - short)
        columns = [(label, key, event if key == "type" else w) for label, key, w in columns]
    return tuple(columns)


def event_words(kind: str, width: int) -> str:
    """The Event cell: ``110114 User Authentication / Login`` whole when it fits in ``width``,
    else its code and its type (``110114 Login``): a login and a logout cut to their common
    start ("110114 User Authent…") read the same."""
    if len(kind) <= width or " / " not in kind:
        return kind
    code, _, rest = kind.partition(" ")
    return f"{code} {rest.rpartition(' / ')[2]}"


def outcome_words(detail: str) -> str:
    """An outcome under the "Outcome" header: ``outcome 4 (minor failure); 1 study`` reads
    ``4 minor failure; 1 study``; anything else (an unparsed message's error) as it is."""
    return _OUTCOME.sub(r"\1 \2", detail, count=1) if detail.startswith("outcome ") else detail


def _cell(text: str, style: str | Style = "", justify: JustifyMethod | None = None) -> Text:
    """One line, cut with "…" at the column's width."""
    return Text(text, style=style, justify=justify, no_wrap=True, overflow="ellipsis", end="")


#: What each of the audit trail's ``/`` keys takes.
AUDIT_FILTER_EXAMPLES = {"type": "type:110114", "user": "user:rad-martin",
                         "patient": "patient:ID or patient:#ref"}  # fmt: skip


class AuditLog(MessageLog):
    """The audit receivers' rows of the message log, in audit terms, in columns fitted to the
    screen's width."""

    TITLE = "Audit trail"
    #: What the field accepts, short enough to be read whole in it (at most 60 wide).
    PLACEHOLDER = "an event code (110114), user:ID, patient:ID or #ref"
    COLUMNS = ()  # fitted to the width instead: :meth:`fit`

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "filter",
            "Filter audit",
            id="log.filter",
            tooltip="Filter the audit trail: an event code, user:ID, patient:ID or #ref",
        ),
    ]

    def on_mount(self) -> None:
        self.fit()

    def fit(self, rows: list[LoggedMessage] | None = None) -> None:
        """Fit the columns to the screen's width and the times of ``rows`` (default: those
        shown). Rows shown are drawn again when the columns change, the cursor where it was."""
        now = self.now()
        times = [when(m.ts, now, self.tz) for m in (self.rows if rows is None else rows)]
        table = self.table
        width = self.app.size.width
        columns = audit_columns(width, max(map(len, times), default=8), table.cell_padding)
        cursor = table.cursor_row
        with self.prevent(DataTable.RowHighlighted):  # the same row: following is unchanged
            if table.fit_columns(columns, width) and self.rows:
                for index, message in enumerate(self.rows):
                    table.add_row(*self.cells(message, now), key=str(index))
                table.move_cursor(row=cursor, scroll=False)

    def _fill(self, rows: list[LoggedMessage]) -> None:
        self.fit(rows)  # a row of another day widens the time column first
        super()._fill(rows)

    def parse(self, text: str) -> MessageFilter:
        """``110114`` (an event code, the start of one), ``user:ID`` or a bare word (a user),
        ``patient:ID`` or a ``#`` reference (a patient)."""
        type_prefix = sender = patient = ""
        for word in text.split():
            key, sep, value = word.partition(":")
            kind = key.lower() if sep and key.lower() in ("type", "user", "patient") else ""
            value = value if kind else word
            if kind == "type" or (not kind and _EVENT_CODE.fullmatch(value)):
                type_prefix = value
            elif kind == "patient" or (not kind and value.startswith("#")):
                patient = value.lower() if value.startswith("#") else value
            else:
                sender = value
        return MessageFilter(type_prefix=type_prefix, patient=patient, sender=sender)

    def filter_problems(self, text: str) -> list[str]:
        return filter_problems(text, AUDIT_FILTER_EXAMPLES, acks=False)

    def cells(self, m: LoggedMessage, now: float) -> list[Text]:
        """The row's cells, for the columns the table has now."""
        failed = m.detail.startswith("outcome ") and not m.detail.startswith("outcome 0 ")
        outcome = outcome_words(visible(m.detail, TEXT_LIMIT))
        style = self.table.status_style(Status.WARN) if failed else "dim"
        event = self.table.columns.get(ColumnKey("type"))
        kind = visible(m.type, VALUE_LIMIT)
        by_key = {
            "time": _cell(when(m.ts, now, self.tz)),
            "type": _cell((event_words(kind, event.width) if event else kind) or "—"),
            "user": _cell(visible(m.sender, VALUE_LIMIT)),
            "role": _cell(visible(m.receiver_facility, VALUE_LIMIT)),
            "host": _cell(visible(m.sender_facility, VALUE_LIMIT)),
            "outcome": _cell(("▲ " if failed else "") + outcome, style=style),
            "patient": _cell(visible(m.patient, VALUE_LIMIT)),
            "size": _cell(size(m.size), justify="right"),
            "source": _cell(visible(m.receiver, VALUE_LIMIT)),
            "link": _cell(visible(m.link, VALUE_LIMIT)),
        }
        return [by_key[str(key.value)] for key in self.table.columns]


class SessionsScreen(TargetTableScreen):
    """Receivers above; sessions, failed logins and alerts, then the audit trail."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "filter",
            "Filter audit",
            id="table.filter",  # the table screens' key: a keymap rebinds it here too
            tooltip="Filter the audit trail: an event code, user:ID, patient:ID or #ref",
        ),
    ]
    #: Under 22 rows the audit trail gives up two of its rows (app.tcss), so that down to 18
    #: rows the screen itself does not scroll, header and footer with it.
    #: From 36 rows the alerts get six lines of the panels, below it three (the newest alert
    #: and failed logins, scrolling for more), so that the open sessions stay in sight too.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (22, "-tall"), (36, "-roomy")]

    probes = False  # audit receivers report on their own

    def __init__(self, ctx: UiContext, source: Source, *, screen_id: str | None = None) -> None:
        super().__init__(ctx, source, screen_id=screen_id)
        self._panel_timer: Timer | None = None
        self._widths = -1
        #: The keys of the sessions' columns shown at this width (:data:`SESSION_COLUMNS`).
        self._session_keys: tuple[str, ...] = ()

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        # The panels scroll together in their share of the screen: taller than the screen (80x24
        # with sessions and alerts), they made the screen itself scroll, header and all.
        # What made the receiver WARN comes first: at 80x24 the alerts under five sessions
        # were below the panels' fold, the receiver WARN with no reason in sight.
        with VerticalScroll(id="sessions-panels"):
            yield Label("Failed logins and alerts", id="alerts-title", classes="section-title")
            yield LightTable(id="alerts-table")
            yield Label("Open sessions", id="sessions-title", classes="section-title")
            yield LightTable(id="sessions-table")
            yield Label("Logged in to the servers (OS)", id="os-title", classes="section-title")
            yield LightTable(id="os-table")
        yield AuditLog(
            self.ctx.view, self.ctx.now, self.ctx.tz, id="message-log", links=self.receiver_ids
        )

    def receiver_ids(self) -> tuple[str, ...]:
        return tuple(s.target.id for s in self._receivers())

    def _receivers(self) -> list[TargetState]:
        return [s for s in self.ctx.view.states() if s.target.kind == TargetKind.AUDIT_SOURCE]

    @on(DataTable.RowSelected, "#message-table")
    def _record_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.notify(
            "An audit record's XML is not kept (patient data may be in it): its facts are the "
            "row itself.",
            markup=False,
        )

    @property
    def log_view(self) -> AuditLog:
        return self.query_one("#message-log", AuditLog)

    def action_filter(self) -> None:
        """``/`` filters the audit trail here, from the receivers' table too."""
        self.log_view.action_filter()

    def action_clear_filter(self) -> None:
        """Escape shows the whole audit trail again."""
        self.log_view.action_clear_filter()

    @property
    def filtering(self) -> bool:
        """The audit trail's filter is this screen's (``/`` and escape are the trail's)."""
        return self.log_view.filtering

    def sync(self) -> None:
        super().sync()
        self._draw_panels()
        self.log_view.reload()

    def restyle(self) -> None:
        super().restyle()
        self._widths = -1
        self._draw_panels()
        self.log_view.redraw()

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        self._widths = -1
        self._draw_panels()
        self.log_view.fit()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        super().apply_state(state, previous)
        if state.target.kind in PANEL_KINDS and self._panel_timer is None:
            self._panel_timer = self.set_timer(PANEL_SECONDS, self._draw_panels)

    def _draw_panels(self) -> None:
        self._panel_timer = None
        receivers = self._receivers()
        now = self.ctx.now()
        sessions = sorted(
            (row for s in receivers for row in _rows(s.details, "sessions")),
            key=lambda r: _number(r.get("last")),
            reverse=True,
        )
        # The alerts first (a burst of failed logins is one line that says so), then the failed
        # logins, each newest first: on a short screen the box shows one or two lines.
        notes = sorted(
            (n for s in receivers for n in _notes(s.details)),
            key=lambda n: (n[1].startswith("⚠"), n[0]),
            reverse=True,
        )
        table = self.query_one("#sessions-table", LightTable)
        alerts = self.query_one("#alerts-table", LightTable)
        width = self.app.size.width
        if width != self._widths:
            self._widths = width
            columns = leave_out(SESSION_COLUMNS, width, PADDING, SESSIONS_LEFT_OUT_FIRST)
            self._session_keys = tuple(key for _, key, _ in columns)
            table.fit_columns(columns, width)
            alerts.fit_columns([("Time", "time", 9), ("What", "what", None)], width)
        table.set_rows(self._session_cells(table, row, now) for row in sessions)
        warn = alerts.status_style(Status.WARN)
        alerts.set_rows(
            [plain(when(ts, now, self.ctx.tz)), Text(visible(words, TEXT_LIMIT), style=warn)]
            for ts, words in notes[:50]
        )
        self.query_one("#alerts-title", Label).update(
            f"Failed logins and alerts: {len(notes)}" + (", newest first" if notes else "")
        )
        title = self.query_one("#sessions-title", Label)
        idle = sum(1 for row in sessions if row.get("idle"))
        count = f"Open sessions: {len(sessions)}"
        title.update(count + (f" ({idle} idle past the policy)" if idle else ""))
        if not sessions:
            table.set_rows([[plain(""), plain("no session seen yet")]])
        self._draw_os_sessions(now)

    def _draw_os_sessions(self, now: float) -> None:
        """Who is logged in to the servers pacs-tui watches locally ([[host]] local = true)."""
        rows = [
            (state.target.id, row)
            for state in self.ctx.view.states()
            if state.target.kind == TargetKind.HOST
            for row in _rows(state.details, "os_sessions")
        ]
        table, title = self.query_one("#os-table", LightTable), self.query_one("#os-title", Label)
        hosts = any(s.target.kind == TargetKind.HOST for s in self.ctx.view.states())
        table.display = title.display = hosts
        if not hosts:
            return
        width = self.app.size.width
        columns = leave_out(OS_COLUMNS, width, PADDING, OS_LEFT_OUT_FIRST)
        table.fit_columns(columns, width)
        keys = [key for _, key, _ in columns]
        table.set_rows(self._os_cells(server, row, now, keys) for server, row in rows)
        title.update(f"Logged in to the servers (OS): {len(rows)}")

    def _os_cells(
        self, server: str, row: Mapping[str, Any], now: float, keys: list[str]
    ) -> list[Text]:
        by_key = {
            "server": plain(visible(server, VALUE_LIMIT)),
            "user": plain(visible(str(row.get("user", "")), VALUE_LIMIT)),
            "tty": plain(visible(str(row.get("terminal", "")), VALUE_LIMIT)),
            "from": plain(visible(str(row.get("host", "")), VALUE_LIMIT) or "local console"),
            "since": plain(when(_number(row.get("since")), now, self.ctx.tz)),
        }
        return [by_key[key] for key in keys]

    def _session_cells(self, table: LightTable, row: Mapping[str, Any], now: float) -> list[Text]:
        idle = bool(row.get("idle"))
        style = table.status_style(Status.WARN) if idle else ""
        state = Text(IDLE if idle else ACTIVE, style=style)
        since = when(_number(row.get("since")), now, self.ctx.tz)
        if not row.get("login_seen"):
            since += " ?"  # no login seen: since its first activity
        by_key = {
            "state": state,
            "user": plain(visible(str(row.get("user", "")), VALUE_LIMIT)),
            "role": plain(visible(str(row.get("role", "")), VALUE_LIMIT)),
            "last": plain(when(_number(row.get("last")), now, self.ctx.tz)),
            "host": plain(visible(str(row.get("host", "")), VALUE_LIMIT)),
            "since": plain(since),
            "studies": plain(str(int(_number(row.get("studies"))))),
            "events": plain(str(int(_number(row.get("events"))))),
            "exports": plain(str(int(_number(row.get("exports"))))),
        }
        return [by_key[key] for key in self._session_keys]


def _rows(details: Mapping[str, Any], key: str) -> Iterable[Mapping[str, Any]]:
    value = details.get(key)
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _notes(details: Mapping[str, Any]) -> Iterable[tuple[float, str]]:
    """Failed logins and alerts as (time, words); an alert's words begin with "⚠"."""
    for row in _rows(details, "alerts"):
        yield _number(row.get("ts")), f"⚠ {row.get('words', '')}"
    for row in _rows(details, "failed_logins"):
        user = row.get("user") or "an unnamed user"
        host = row.get("host")
        outcome = row.get("outcome")
        words = f"failed login: {user}" + (f" from {host}" if host else "")
        yield _number(row.get("ts")), f"{words} (outcome {outcome})"


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
