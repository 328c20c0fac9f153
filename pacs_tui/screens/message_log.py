"""The HL7 tracker's message log: the newest messages from the history, followed live, with a
``/`` filter (type, ACK code or control ID) and paging back through the history.

The log reads the history through the view (``view.messages``), so an attached UI reads the
collector's: every :data:`POLL_SECONDS` while it shows and follows, the newest
:data:`PAGE` rows that match, newest first. A row is recorded when its answer came (the tap's
once the upstream answered), so a newer poll may bring a row older than one shown: the page is
re-read whole, not appended to. Moving the cursor off the newest row stops the following (the
rows stay put under the reader); back on it (Home) they follow again. ``[`` shows the page
before the oldest row, ``]`` the one after (back to following at the newest page). Every text
in a row came from a sender: shown :func:`~pacs_tui.visible.visible`, never as markup.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label

from pacs_tui.model import LATE_ACK, NO_ACK, LoggedMessage, MessageQuery, Status
from pacs_tui.operators import NotAllowed
from pacs_tui.ui_format import when
from pacs_tui.units import NONE_TEXT, ms, size
from pacs_tui.view import EngineView
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.wall import NO_MESSAGE_BODY, NO_PATIENT_SEARCH
from pacs_tui.widgets import StatusTable
from pacs_tui.widgets.filter_input import FilterInput

log = logging.getLogger(__name__)

#: Rows a page holds, and how often the newest page is read again while followed (seconds).
PAGE = 200
POLL_SECONDS = 1.0
ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
#: An ACK code's glyph, so the answer never reads by colour alone.
ACK_GLYPH = {"AA": "✓", "CA": "✓", "AE": "▲", "CE": "▲", "AR": "✖", "CR": "✖"}
#: The status colour an answer is drawn in.
ACK_STATUS = {
    "AA": Status.OK,
    "CA": Status.OK,
    "AE": Status.WARN,
    "CE": Status.WARN,
    "AR": Status.CRIT,
    "CR": Status.CRIT,
}
_TYPE = re.compile(r"[A-Z][A-Z0-9]{2}(\^.*)?")
REFERENCE = re.compile(r"#[0-9a-fA-F]{16}")


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What the ``/`` field asked for: a type prefix, an ACK code (or :data:`NO_ACK`), a
    control ID. Empty: everything."""

    type_prefix: str = ""
    ack: str = ""
    control_id: str = ""
    patient: str = ""
    sender: str = ""

    def describe(self) -> str:
        parts = [
            f"type {self.type_prefix}" if self.type_prefix else "",
            f"user {self.sender}" if self.sender else "",
            ("no ACK" if self.ack == NO_ACK else f"ACK {self.ack}") if self.ack else "",
            f"control ID {self.control_id}" if self.control_id else "",
            "one patient" if self.patient else "",  # never the ID typed: someone may look on
        ]
        return ", ".join(visible(p, VALUE_LIMIT) for p in parts if p)


def parse_filter(text: str) -> MessageFilter:
    """Words of the ``/`` field: ``type:ADT^A01``, ``ack:AE``, ``id:MSG0001``, ``patient:ID``
    (PID-3's ID, or a ``#`` reference) say what they are; a bare ACK code (AA, AE, …, or
    ``none``) is an ACK, a word like ``ADT`` or ``ORU^R01`` a type, a ``#`` reference a patient,
    anything else a control ID. The last word of each kind wins; an ``ack:`` that is no ACK code
    filters nothing (:func:`filter_problems` says so)."""
    type_prefix = ack = control_id = patient = ""
    for word in text.split():
        key, sep, value = word.partition(":")
        kind = key.lower() if sep and key.lower() in ("type", "ack", "id", "patient") else ""
        value = value if kind else word
        if kind == "ack" and not _is_ack(value):
            continue
        if kind == "ack" or (not kind and _is_ack(value)):
            ack = NO_ACK if value.lower() in (NO_ACK, "noack") else value.upper()
        elif kind == "type" or (not kind and _TYPE.fullmatch(value)):
            type_prefix = value.upper() if not kind else value
        elif kind == "patient" or (not kind and REFERENCE.fullmatch(value)):
            patient = value.lower() if REFERENCE.fullmatch(value) else value
        else:
            control_id = value
    return MessageFilter(type_prefix, ack, control_id, patient)


def _is_ack(word: str) -> bool:
    return word.upper() in (*ACK_CODES, "NONE", "NOACK")


#: What each ``/`` key takes, as said when one is typed with nothing after it.
FILTER_EXAMPLES = {"type": "type:ADT^A01", "ack": "ack:AE", "id": "id:MSG0001",
                   "patient": "patient:ID or patient:#ref"}  # fmt: skip


def filter_problems(text: str, examples: Mapping[str, str], acks: bool = True) -> list[str]:
    """What is wrong in the ``/`` field's words, to be said rather than silently ignored: a key
    with nothing after it (``patient:``), an ACK that is no ACK code (``ack:XX``), two ACK codes
    (one is filtered by at a time: the last)."""
    said = []
    codes: list[str] = []
    for word in text.split():
        key, sep, value = word.partition(":")
        key = key.lower()
        if sep and key in examples and not value:
            said.append(f"'{visible(word, 20)}' has nothing after it: {examples[key]}")
        elif acks and sep and key == "ack" and not _is_ack(value):
            said.append(
                f"'{visible(value, 20)}' is not an ACK code (AA, AE, AR, CA, CE, CR or none)"
            )
        elif acks and ((sep and key == "ack") or (not sep and _is_ack(word))):
            codes.append((value if sep else word).upper())
    if len(codes) > 1:
        said.append(f"one ACK code at a time: {', '.join(codes[:-1])} left out, {codes[-1]} kept")
    return said


def ack_cell(message: LoggedMessage, style: Callable[[Status], Style] | None = None) -> Text:
    """``✓ AA``, ``▲ AE``, ``✖ AR`` (coloured by ``style`` when given), ``— none``."""
    if message.ack is None:
        return Text("— none", style="dim")
    code = visible(message.ack, 8)
    if message.detail.startswith(LATE_ACK):  # it came, after the tap had counted it unanswered
        return Text(f"▲ {code} late", style=style(Status.WARN) if style else "")
    status = ACK_STATUS.get(code, Status.UNKNOWN)
    return Text(f"{ACK_GLYPH.get(code, '?')} {code}", style=style(status) if style else "")


def party(app: str, facility: str, limit: int = VALUE_LIMIT) -> str:
    """``RIS^HOSP`` style: the application and, when given, its facility; made visible, cut
    at ``limit``."""
    return visible(f"{app}^{facility}" if facility else app, limit)


#: A cell of the log is cut (with "…") at this many characters, its note at NOTE_LIMIT: one
#: sender's 5,000-character control ID must not push the ACK off the screen on every row.
#: The message's detail (Enter) shows every value whole.
CELL_LIMIT = 24
NOTE_LIMIT = 80

COLUMNS = (
    ("time", "Time"),
    ("direction", "Dir"),
    ("link", "Link"),
    ("type", "Type"),
    ("control_id", "Control ID"),
    ("from", "From"),
    ("to", "To"),
    ("ack", "ACK"),
    ("latency", "Latency"),
    ("size", "Size"),
    ("patient", "Patient"),
    ("note", "Note"),  # last: the one of any length, so the one a narrow screen cuts
)


class MessageTable(StatusTable):
    """The log's rows: Home and End go to the newest and the oldest row (a DataTable's go to
    the first and last column); sideways (at 80 columns the last columns are to the right)
    the arrows move a column's width, Shift+arrow or < > a screen's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "Newest", show=False, id="log.newest"),
        Binding("end", "scroll_bottom", "Oldest on the page", show=False, id="log.oldest"),
        Binding("enter", "select_cursor", "Open the message", show=False, id="log.open"),
        Binding(
            "shift+right,greater_than_sign",
            "page_right",
            "A screen to the right",
            show=False,
            id="log.page_right",
        ),
        Binding(
            "shift+left,less_than_sign",
            "page_left",
            "A screen to the left",
            show=False,
            id="log.page_left",
        ),
    ]

    def action_page_right(self) -> None:
        self.scroll_to(x=self._page_edge(+1), animate=False)

    def action_page_left(self) -> None:
        self.scroll_to(x=self._page_edge(-1), animate=False)

    def _page_edge(self, way: int) -> float:
        """Where a screen sideways goes: the Time column stays (fixed), so a page is the rest
        of the width, and it starts at a column's edge (a page cut "ize" out of "Size")."""
        widths = [c.get_render_width(self) for c in self.columns.values()]
        fixed = sum(widths[: self.fixed_columns])
        room = max(1, self.scrollable_content_region.width - fixed)
        starts, x = [], fixed
        for width in widths[self.fixed_columns :]:
            starts.append(x)
            x += width
        now = self.scroll_x
        if way > 0:  # the first column not wholly shown now starts the page
            cut = next(
                (
                    a
                    for a, w in zip(starts, widths[self.fixed_columns :], strict=True)
                    if a + w > now + fixed + room
                ),
                None,
            )
            if cut is None:
                return now  # the last column is wholly shown: nothing more to the right
            edge = cut - fixed if cut - fixed > now else now + room
        else:  # the page that ends where this one starts, from a column's edge
            edge = next((a - fixed for a in starts if a >= now + fixed - room), 0)
            edge = min(edge, max(0, now - 1)) if edge >= now else edge
        return max(0, min(edge, self.max_scroll_x))

    def action_scroll_top(self) -> None:
        """Home: the newest row; from an older page, the newest page, followed live (the
        README's "Home follows the newest")."""
        log = next((a for a in self.ancestors if isinstance(a, MessageLog)), None)
        if log is not None and log.until is not None:
            log.action_follow()
            return
        super().action_scroll_top()


class MessageLog(Vertical):
    """Title, filter field, the rows, and a line saying what is shown: the rows of the links
    ``links()`` names (None: every link)."""

    TITLE = "Messages"
    #: What the field accepts, short enough to be read whole in it (at most 60 wide).
    PLACEHOLDER = "type ADT^A01, ACK AE/none, patient:ID or #ref, control ID"
    COLUMNS: tuple[tuple[str, str], ...] = COLUMNS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="log.filter", tooltip="Filter the messages"),
        Binding(
            "escape",
            "clear_filter",
            "Clear",
            id="log.clear_filter",
            tooltip="Show every message again",  # in the footer while a filter is set
        ),
        Binding(
            "left_square_bracket",
            "older",
            "Older",
            id="log.older",
            show=False,  # the log's own line says "[ older  ] newer": the footer keeps ? and q
            tooltip="The page of messages before the oldest shown",
        ),
        Binding(
            "right_square_bracket",
            "newer",
            "Newer",
            id="log.newer",
            show=False,
            tooltip="The page after (the newest: followed live)",
        ),
    ]

    def __init__(
        self,
        view: EngineView,
        now: Callable[[], float],
        tz: str | None,
        *,
        id: str,
        links: Callable[[], tuple[str, ...] | None] = lambda: None,
    ) -> None:
        super().__init__(id=id)
        self.view = view
        self.links = links
        self.now = now
        self.tz = tz
        self.match = MessageFilter()
        #: The rows shown, newest first.
        self.rows: list[LoggedMessage] = []
        #: The page shown ends here (None: the newest, followed); earlier pages' ends before it.
        self.until: float | None = None
        self._back: list[tuple[float | None, list[LoggedMessage]]] = []
        #: Rows the page before showed at the millisecond this page starts at.
        self._seen: list[LoggedMessage] = []
        self.following = True
        self._filling = False
        self._read_failing = False
        self._fitted: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE, classes="section-title", id="log-title")
        with Horizontal(id="log-filter-bar"):
            yield Label("Filter:", id="log-filter-label")
            yield FilterInput(placeholder=self._placeholder(), id="log-filter", compact=True)
        yield MessageTable(
            id="message-table", cursor_type="row", zebra_stripes=True, fixed_columns=1
        )
        yield Label("", id="log-summary", markup=False)

    def on_mount(self) -> None:
        table = self.table
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        self.set_interval(POLL_SECONDS, self._poll)

    @property
    def table(self) -> StatusTable:
        return self.query_one("#message-table", StatusTable)

    def selected(self) -> LoggedMessage | None:
        row = self.table.cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) and self.table.row_count else None

    # -- reading ------------------------------------------------------------------------------

    def _poll(self) -> None:
        if self.following and self.screen.is_current and not self._filling:
            self.reload()

    def reload(self) -> None:
        self._filling = True
        self._read(self.until, self.match)

    @work(exclusive=True, group="message-log")
    async def _read(self, until: float | None, match: MessageFilter) -> None:
        try:
            rows = await self.view.messages(
                MessageQuery(
                    until=until,
                    control_id=match.control_id or None,
                    ack=match.ack or None,
                    type_prefix=match.type_prefix or None,
                    patient=match.patient or None,
                    limit=PAGE + (len(self._seen) if until is not None else 0),  # a page whole
                    links=self.links(),
                    sender=match.sender or None,
                )
            )
        except NotAllowed as exc:  # a search by patient this role may not do: said once
            self._filling = False
            self.app.notify(visible(str(exc), TEXT_LIMIT), severity="warning", markup=False)
            self._set_filter(dataclasses.replace(match, patient=""))
            return
        except Exception as exc:
            # Once per outage in the log (it is read again every second while the collector
            # is gone), the rest at debug level; the line under the log says it meanwhile.
            (log.debug if self._read_failing else log.warning)(
                "could not read the message log: %s", exc
            )
            self._read_failing = True
            self._filling = False
            self._say(f"could not read the message log: {self._why(exc)}")
            return
        if self._read_failing:
            log.info("the message log is read again")
            self._read_failing = False
        self._filling = False
        if until != self.until or match != self.match or not self.is_attached:
            return  # asked for another page meanwhile
        if until is not None and self._seen:
            seen = list(self._seen)
            kept = []
            for row in rows:
                if row in seen:
                    seen.remove(row)
                else:
                    kept.append(row)
            rows = kept
        if until is not None and not rows and self._back:
            # The page before the oldest shown is empty (that one was exactly a page long):
            # stay on the page shown, and say why nothing changed.
            self.until, self._seen = self._back.pop()
            self.following = self.until is None
            self.app.notify("No older messages in the history.", timeout=2)
            self._summarise()
            return
        if rows != self.rows:
            self._fill(rows)
        self._summarise()

    def redraw(self) -> None:
        """Draw the rows again (the theme changed: the ACK colours came from the old one)."""
        self._fill(self.rows)

    def _fill(self, rows: list[LoggedMessage]) -> None:
        table = self.table
        keep = self.selected() if not self.following else None
        now = self.now()
        scrolled = table.scroll_x  # a reader scrolled right to the notes stays there
        drawn = [self.cells(message, now) for message in rows]
        with self.app.batch_update():
            table.clear()
            self._fit_to(drawn)
            for index, cells in enumerate(drawn):
                table.add_row(*cells, key=str(index))
            self.rows = rows
            if keep is not None and keep in rows:
                table.move_cursor(row=rows.index(keep), scroll=False)
            else:
                table.move_cursor(row=0)
            if scrolled:
                table.scroll_to(x=scrolled, animate=False, immediate=True)

    def _fit_to(self, drawn: list[list[Text]]) -> None:
        """Each of :attr:`COLUMNS` as wide as its widest cell, set now: a DataTable measures
        its auto-width columns only when it is next idle, and on a busy screen the notes stayed
        cut to their header's width for seconds. (A subclass that fits its own columns has no
        ``COLUMNS``.)"""
        if not self.COLUMNS:
            return
        widths = tuple(
            max([cell_len(label), *(row[i].cell_len for row in drawn if i < len(row))])
            for i, (_, label) in enumerate(self.COLUMNS)
        )
        if widths == self._fitted:
            return
        self._fitted = widths
        table = self.table
        table.clear(columns=True)
        for (key, label), width in zip(self.COLUMNS, widths, strict=True):
            table.add_column(label, key=key, width=width)

    def parse(self, text: str) -> MessageFilter:
        """What the ``/`` field's words ask for."""
        return parse_filter(text)

    def filter_problems(self, text: str) -> list[str]:
        """What the ``/`` field's words get wrong (:func:`filter_problems`)."""
        return filter_problems(text, FILTER_EXAMPLES)

    def cells(self, m: LoggedMessage, now: float) -> list[Text]:
        return [
            Text(when(m.ts, now, self.tz)),
            Text(visible(m.direction, 8)),
            Text(visible(m.link, CELL_LIMIT)),
            Text(visible(m.type, CELL_LIMIT) or "—"),
            Text(visible(m.control_id, CELL_LIMIT)),
            Text(party(m.sender, m.sender_facility, CELL_LIMIT)),
            Text(party(m.receiver, m.receiver_facility, CELL_LIMIT)),
            ack_cell(m, self.table.status_style),
            Text(ms(m.latency) if m.latency is not None else NONE_TEXT, justify="right"),
            Text(size(m.size), justify="right"),
            Text(visible(m.patient, CELL_LIMIT)),
            Text(visible(m.detail, NOTE_LIMIT), style="dim"),
        ]

    def _summarise(self) -> None:
        what = self.match.describe()
        count = f"{len(self.rows)} message{'s' if len(self.rows) != 1 else ''}"
        if not self.rows:
            count = "no message" + (" matches" if what else " yet")
        elif self.following:
            count = f"the newest {count}"
        else:
            now = self.now()
            count = f"{count} up to {when(self.rows[0].ts, now, self.tz)}"
        if self.following:
            state = "live"
        elif self.until is None:
            state = "paused (Home follows)"
        else:
            state = "older page (] newer, back to live at the newest)"
        parts = [count, state, f"filter: {what}" if what else "", "[ older  ] newer"]
        self._say(" · ".join(p for p in parts if p))

    def _why(self, exc: Exception) -> str:
        """Why the read failed. With the collector gone, its link's reason alone: the read's
        own error repeats where the collector's socket is before it (the header says since
        when it is gone)."""
        link = self.view.link
        if link is not None and not link.connected:
            reason = link.reason if link.reason != "gone" else ""
            if "collector" not in reason:  # "connection reset by peer": whose, said first
                reason = f"the collector is gone ({reason})" if reason else "the collector is gone"
            return visible(reason, TEXT_LIMIT)
        return visible(str(exc), TEXT_LIMIT)

    def _say(self, text: str) -> None:
        self.query_one("#log-summary", Label).update(text)

    # -- keys -----------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#message-table")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        # Off the newest row the rows stay put under the reader; back on it (Home), they follow.
        if self.until is None and self.following != (event.cursor_row == 0):
            self.following = event.cursor_row == 0
            self._summarise()
            if self.following:
                self.reload()

    def action_follow(self) -> None:
        self.until, self._back, self._seen, self.following = None, [], [], True
        self.table.move_cursor(row=0)
        self.reload()

    def action_older(self) -> None:
        if not self.rows or len(self.rows) < PAGE:  # a page not full: nothing is older
            self.app.notify("No older messages in the history.", timeout=2)
            return
        self._back.append((self.until, self._seen))
        # Up to the oldest row's millisecond, that included: rows of it past the page's end are
        # not skipped; those already shown are left out of the new page (``_seen``).
        oldest = self.rows[-1].ts
        self.until = oldest
        self._seen = [m for m in self.rows if m.ts == oldest]
        self.following = False
        self.reload()

    def action_newer(self) -> None:
        if not self._back:
            self.action_follow()
            return
        self.until, self._seen = self._back.pop()
        if self.until is None:
            self.action_follow()
            return
        self.reload()

    @property
    def filtering(self) -> bool:
        """Is a filter open or set (escape clears it, and the footer says so)?"""
        bar = self.query_one("#log-filter-bar")
        return self.match != MessageFilter() or bar.has_class("-filtering")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.filtering
        return super().check_action(action, parameters)

    def action_filter(self) -> None:
        self.query_one("#log-filter-bar").add_class("-filtering")
        self.screen.refresh_bindings()
        # At once (Input.focus() waits a turn): keys typed right behind "/" are the field's.
        self.screen.set_focus(self.query_one("#log-filter", Input))

    def action_clear_filter(self) -> None:
        self.query_one("#log-filter", Input).value = ""
        self.query_one("#log-filter-bar").remove_class("-filtering")
        self.screen.set_focus(self.table)
        if self.match != MessageFilter():
            self._set_filter(MessageFilter())
        self.screen.refresh_bindings()

    def _placeholder(self) -> str:
        """What the field accepts: on a wall, without the patient search it refuses there."""
        if getattr(self.app, "wall", False) is not True:
            return self.PLACEHOLDER
        words = [w.strip() for w in self.PLACEHOLDER.replace(" or ", ", ").split(",")]
        kept = [w for w in words if w and "patient:" not in w and "#ref" not in w]
        return ", ".join(kept[:-1]) + (f" or {kept[-1]}" if len(kept) > 1 else "".join(kept))

    @on(DataTable.RowSelected, "#message-table")
    def _not_opened_on_a_wall(self, event: DataTable.RowSelected) -> None:
        if getattr(self.app, "wall", False) is True:  # wall mode: no message's content
            event.stop()
            self.app.notify(NO_MESSAGE_BODY, severity="warning", markup=False)

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problems = self.filter_problems(event.value)
        match = self.parse(event.value)
        # Nothing right left to filter by: the filter set before stays, and the field keeps
        # what was typed, to be mended.
        unchanged = bool(problems) and match == MessageFilter() != self.match
        if problems:  # "patient:" alone would silently match every message
            said = "; ".join(problems) + ("; the filter is unchanged" if unchanged else "")
            self.app.notify(said, severity="warning", markup=False)
        if unchanged:
            return
        if problems and match == MessageFilter():  # nothing left to filter by: not shown as one
            self.query_one("#log-filter", Input).value = ""
        if match.patient and getattr(self.app, "wall", False) is True:
            self.query_one("#log-filter", Input).value = ""  # wall mode: no patient search
            self.app.notify(NO_PATIENT_SEARCH, severity="warning", markup=False)
            return
        self._set_filter(match)
        if match.patient and not match.patient.startswith("#"):
            # A patient's ID does not stay on screen (someone may look on): the summary line
            # says "one patient"; the field is emptied and put away.
            self.query_one("#log-filter", Input).value = ""
            self.query_one("#log-filter-bar").remove_class("-filtering")
        self.screen.set_focus(self.table)

    def _set_filter(self, match: MessageFilter) -> None:
        self.match = match
        self.until, self._back, self._seen, self.following = None, [], [], True
        self.reload()
