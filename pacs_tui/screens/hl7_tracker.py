"""The HL7 tracker: the HL7 source's target table (each listener, tap and link check with its
counters, rate, last hour and state) above the live message log.

The table is the generic one (:class:`~pacs_tui.screens.target_table.TargetTableScreen`, columns
from the source's declaration); the log is :class:`~pacs_tui.screens.message_log.MessageLog`.
Keys go where the focus is (Tab moves it): ``/`` filters the links in the table and the
messages in the log; Enter opens a link's detail or a message's.
"""

from __future__ import annotations

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.widgets import DataTable

from pacs_tui.screens.message_detail import MessageDetailScreen
from pacs_tui.screens.message_log import MessageLog
from pacs_tui.screens.target_table import TargetTableScreen


class Hl7TrackerScreen(TargetTableScreen):
    """Links above, messages below."""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield MessageLog(
            self.ctx.view, self.ctx.now, self.ctx.tz, id="message-log", links=self.link_ids
        )

    def link_ids(self) -> tuple[str, ...]:
        """This screen's links: the message log shows their rows (not the audit's)."""
        kinds = self.source.kinds
        return tuple(s.target.id for s in self.ctx.view.states() if s.target.kind in kinds)

    @property
    def log_view(self) -> MessageLog:
        return self.query_one("#message-log", MessageLog)

    def sync(self) -> None:
        super().sync()
        self.log_view.reload()

    def restyle(self) -> None:
        super().restyle()
        self.log_view.redraw()

    def action_open_selected(self) -> None:
        log_view = self.log_view
        if self.focused is log_view.table:
            raise SkipAction()  # the log's own Enter (a RowSelected) opens the message
        super().action_open_selected()

    @on(DataTable.RowSelected, "#message-table")
    def _message_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        message = self.log_view.selected()
        if message is not None and self.is_active:
            self.app.push_screen(MessageDetailScreen(self.ctx, message))
