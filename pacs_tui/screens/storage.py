"""The Storage screen: the storage source's table (a gauge per volume, free space, days to
full, the last hour, the archives' counts) above a panel of the servers and the logs that go
with them — each host's CPU, memory and load, each log's matching lines a minute — so that
"the archive fills" and "Orthanc's log says why" are read on one screen. The hosts and the logs
keep their own screens (sortable, filterable, their details); the panel is a summary of them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Label

from pacs_tui.model import Status, TargetKind, TargetState
from pacs_tui.screens import WIDE, UiContext
from pacs_tui.screens.table_cells import gauge_bar
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.source import Source
from pacs_tui.units import format_value
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets import LightTable
from pacs_tui.widgets.status_table import plain

#: The kinds the panel shows.
PANEL_KINDS = (TargetKind.HOST, TargetKind.LOGTAIL)
#: The panel is redrawn at most this often (results come every few seconds).
PANEL_SECONDS = 1.0
GAUGE = 6


class StorageScreen(TargetTableScreen):
    """Volumes and archives above; hosts and logs below."""

    def __init__(self, ctx: UiContext, source: Source, *, screen_id: str | None = None) -> None:
        super().__init__(ctx, source, screen_id=screen_id)
        self._panel_timer: Timer | None = None
        self._panel_width = -1
        self._gauge = GAUGE

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Label(
            "Hosts and logs, worst first", id="storage-panel-title", classes="section-title"
        )
        yield LightTable(id="storage-panel")

    @property
    def panel(self) -> LightTable:
        return self.query_one("#storage-panel", LightTable)

    def sync(self) -> None:
        super().sync()
        self._draw_panel()

    def restyle(self) -> None:
        super().restyle()
        self._panel_width = -1
        self._draw_panel()

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        self._draw_panel()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        super().apply_state(state, previous)
        if state.target.kind in PANEL_KINDS and self._panel_timer is None:
            self._panel_timer = self.set_timer(PANEL_SECONDS, self._draw_panel)

    def _panel_states(self) -> list[TargetState]:
        states = [s for s in self.ctx.view.states() if s.target.kind in PANEL_KINDS]
        # Worst first, as the table above: a WARN log is not listed under an OK host.
        return sorted(states, key=lambda s: (-s.status.rank, s.target.kind, s.target.id))

    def _draw_panel(self) -> None:
        self._panel_timer = None
        states = self._panel_states()
        panel, title = self.panel, self.query_one("#storage-panel-title", Label)
        panel.display = title.display = bool(states)
        if not states:
            return
        width = self.app.size.width
        # Narrow: the figures without their bars, so that the reason keeps some room.
        self._gauge = GAUGE if width >= WIDE else 0
        if width != self._panel_width:
            self._panel_width = width
            longest = max(len(visible(s.target.id, VALUE_LIMIT)) for s in states)
            figure = self._gauge + 7
            panel.fit_columns(
                [
                    ("Status", "status", 9),
                    ("Host or log", "id", max(11, min(longest, 24))),
                    ("CPU", "cpu", figure),
                    ("Memory", "memory", figure),
                    ("Load or rate", "load", 12),
                    ("Reason", "reason", None),
                ],
                width,
            )
        panel.set_rows(self._panel_cells(panel, state) for state in states)

    def _figure(self, ratio: float) -> str:
        shown = format_value("ratio", ratio)
        return f"{gauge_bar(ratio, self._gauge)} {shown:>6}" if self._gauge else f"{shown:>6}"

    def _panel_cells(self, panel: LightTable, state: TargetState) -> list[Text]:
        metrics = state.metrics
        down = state.status is Status.DOWN
        if state.target.kind == TargetKind.HOST:
            cpu, memory = (
                "" if down or name not in metrics else self._figure(metrics[name])
                for name in ("cpu_ratio", "memory_used_ratio")
            )  # fmt: skip
            load = f"load {metrics['load1']:.2f}" if "load1" in metrics and not down else ""
        else:
            cpu = memory = ""
            rate = metrics.get("log_errors_per_minute")
            load = f"{rate:g} /min" if rate is not None else ""
        reason = "" if state.reason == state.status.word else visible(state.reason, TEXT_LIMIT)
        style = panel.status_style(state.status) if state.status is not Status.OK else ""
        return [
            panel.status_text(state.status),
            plain(visible(state.target.id, VALUE_LIMIT)),
            plain(cpu),
            plain(memory),
            plain(load),
            Text(reason, style=style, no_wrap=True, overflow="ellipsis", end=""),
        ]
