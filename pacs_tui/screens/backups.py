"""The Backups screen: could the hospital recover right now, and how old would the data be?

One table for every recovery path the config watches — backups (restic, borg, dumps, jobs),
mirror pairs and the failover drill — each with what was measured against its target on one
gauge (a backup's age / RPO, a mirror's lag / RPO, a drill's RTO / target), then the drills'
history underneath: when, which, the measured RTO against the target, and what happened.
``p`` on a drill's row runs one (admins only). Sources stay Textual-free: the three sources
share this screen by naming it; the combined table is the UI's own choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Label

from pacs_tui.model import Event, EventKind, Status, TargetKind, TargetState
from pacs_tui.probes import SOURCES, source_of_kind
from pacs_tui.screens import UiContext
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.source import Column, Source
from pacs_tui.ui_format import when
from pacs_tui.units import format_value
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets import LightTable
from pacs_tui.widgets.status_table import plain

#: Drills listed under the table.
DRILL_ROWS = 8

#: A value column's ``arg`` may name one metric per kind, "a|b|c": the first a row has.
COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Name", "id", None, True),
    Column("kind", "Kind", "label", 8, False, "kind"),
    Column("measured", "Measured", "value", 9, False,
           "backup_age_seconds|mirror_lag_seconds|drill_rto_seconds", "largest first", "", True),
    Column("target", "Measured / target", "value", 17, True,
           "backup_rpo_ratio|mirror_rpo_ratio|drill_rto_ratio", "furthest past first", "", True,
           gauge=10),
    Column("size", "Size", "value", 9, False, "backup_size_bytes|drill_size_bytes",
           "largest first", "", True),
    Column("check", "Checked", "value", 10, False, "backup_check_age_seconds", "oldest first",
           "", True, verdict="backup_check_ok"),
    Column("missing", "Missing", "value", 8, False, "mirror_missing_studies", "most first", "",
           True),
    Column("different", "Differ", "value", 7, False, "mirror_different_studies", "most first",
           "", True),
    Column("reason", "Reason", "reason", None, True),
)  # fmt: skip


def combined(first: Source) -> Source:
    """One source standing for every source that names ``first``'s screen: their kinds,
    metrics and details, with :data:`COLUMNS`."""
    sources = [s for s in SOURCES if s.screen == first.screen]
    if len(sources) < 2:
        return first

    def headline(state: TargetState) -> str | None:
        own = source_of_kind(state.target.kind)
        return own.headline_metric(state) if own is not None else None

    labels: dict[str, str] = {}
    for source in sources:
        labels.update(source.detail_labels)
    return replace(
        first,
        kinds=tuple(k for s in sources for k in s.kinds),
        metrics=tuple(m for s in sources for m in s.metrics),
        columns=COLUMNS,
        headline=headline,
        noun="recovery path",
        entry=" or ".join(s.entry for s in sources),
        detail_labels=labels,
    )


class BackupScreen(TargetTableScreen):
    """Backups, mirror pairs and drills above; the drills' history below."""

    def __init__(self, ctx: UiContext, source: Source, *, screen_id: str | None = None) -> None:
        super().__init__(ctx, combined(source), screen_id=screen_id)
        self._drills: list[Event] = []
        self._history_width = -1

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Label("Drill history", id="drill-history-title", classes="section-title")
        yield LightTable(id="drill-history")

    @property
    def history(self) -> LightTable:
        return self.query_one("#drill-history", LightTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.run_worker(self._load_drills(), exclusive=True, group="drill-history")

    def _drill_ids(self) -> list[str]:
        return [s.target.id for s in self.ctx.view.states(TargetKind.DRILL)]

    async def _load_drills(self) -> None:
        """The drills in the history, and those the UI saw that it has not written yet."""
        ids = self._drill_ids()
        found: list[Event] = []
        for target_id in ids:
            found += await self.ctx.view.events(target_id, kind=EventKind.PROBE, limit=DRILL_ROWS)
        found += [e for e in self.ctx.runs if e.target in ids]
        unique = {(e.ts, e.target, e.summary): e for e in found}
        self._drills = sorted(unique.values(), key=lambda e: e.ts, reverse=True)[:DRILL_ROWS]
        self._draw_history()

    def apply_event(self, event: Event) -> None:
        super().apply_event(event)
        if event.kind == EventKind.PROBE and event.target in self._drill_ids():
            self._drills = sorted([event, *self._drills], key=lambda e: e.ts, reverse=True)[
                :DRILL_ROWS
            ]
            self._draw_history()

    def restyle(self) -> None:
        super().restyle()
        self._history_width = -1
        self._draw_history()

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        self._draw_history()

    def _draw_history(self) -> None:
        if not self.is_mounted:
            return
        table, title = self.history, self.query_one("#drill-history-title", Label)
        drills = bool(self._drill_ids())
        table.display = title.display = drills
        if not drills:
            return
        width = self.app.size.width
        if width != self._history_width:
            self._history_width = width
            table.fit_columns(
                [
                    ("When", "when", 16),
                    ("Status", "status", 9),
                    ("Drill", "drill", 14),
                    ("RTO", "rto", 9),
                    ("Outcome", "outcome", None),
                ],
                width,
            )
        if not self._drills:
            # In the title, which wraps: in the table's last column it was cut at 80 and 100
            # columns before "p (admins)", the part that says what to do.
            title.update("Drill history: no drill yet; select the drill and press p (admins)")
            table.display = False
            return
        title.update("Drill history")
        table.set_rows(self._row(table, event) for event in self._drills)

    def _row(self, table: LightTable, event: Event) -> list[Text]:
        status = event.status or Status.UNKNOWN
        metrics = event.fields.get("metrics") if isinstance(event.fields, dict) else None
        rto = metrics.get("drill_rto_seconds") if isinstance(metrics, dict) else None
        style = table.status_style(status) if status is not Status.OK else ""
        return [
            plain(when(event.ts, time.time(), self.ctx.tz)),
            table.status_text(status),
            plain(visible(event.target, VALUE_LIMIT)),
            plain(format_value("s", rto) if isinstance(rto, int | float) else "—"),
            Text(
                visible(event.summary, TEXT_LIMIT),
                style=style,
                no_wrap=True,
                overflow="ellipsis",
                end="",
            ),
        ]

    def history_rows(self) -> Sequence[Event]:
        """The drills listed, newest first."""
        return list(self._drills)
