"""One HL7 message: its log row's facts and its segment tree, with patient fields masked.

Pushed over the HL7 tracker (Enter on a message); Escape goes back. The facts come from the
history's row; the tree from the listener or tap that received the message, which keeps the
newest messages in memory only (:mod:`pacs_tui.hl7.recent`) and masks every field that could
name a patient before the tree leaves it (:mod:`pacs_tui.hl7.segments`). An older message has
its facts only, and says why. Every text is shown :func:`~pacs_tui.visible.visible`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Static, Tree

from pacs_tui.hl7.recent import KEEP_MESSAGES
from pacs_tui.model import LoggedMessage, MessageField, MessageTree
from pacs_tui.screens import PacsScreen, UiContext
from pacs_tui.screens.message_log import ack_cell, party
from pacs_tui.ui_format import when
from pacs_tui.units import NONE_TEXT, ms, size
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible

log = logging.getLogger(__name__)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


def field_label(segment: str, field: MessageField) -> Text:
    """``PID-5  ••• masked (12 characters)`` or ``MSH-9  ADT^A01``."""
    name = f"{segment}-{field.number}"
    if field.masked:
        chars = plural(field.length, "character")
        return Text.assemble((name, "bold"), "  ", (f"{field.text} masked ({chars})", "dim"))
    return Text.assemble((name, "bold"), "  ", visible(field.text, VALUE_LIMIT))


class MessageDetailScreen(PacsScreen):
    """A message's facts and segments."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="message.back", tooltip="Back to the messages"),
    ]

    AUTO_FOCUS = "#message-tree"

    def __init__(self, ctx: UiContext, message: LoggedMessage) -> None:
        super().__init__(ctx)
        self.message = message

    def compose_body(self) -> ComposeResult:
        m = self.message
        with Vertical(id="message-body"):
            title = (
                f"{visible(m.type, VALUE_LIMIT) or 'No type'} {visible(m.control_id, VALUE_LIMIT)}"
            )
            yield Label(title, id="message-title", markup=False)
            yield Static(self._facts(), id="message-facts")
            yield Label("Segments (patient fields masked)", classes="section-title")
            yield Static("Reading the message…", id="message-note", markup=False)
            tree: Tree[None] = Tree("message", id="message-tree")
            tree.show_root = False
            yield tree

    def _facts(self) -> Text:
        m = self.message
        now = self.ctx.now()
        facts = [
            ("Received", when(m.ts, now, self.ctx.tz)),
            ("Link", visible(m.link, VALUE_LIMIT)),
            ("From", party(m.sender, m.sender_facility) or NONE_TEXT),
            ("To", party(m.receiver, m.receiver_facility) or NONE_TEXT),
            ("Version", visible(m.version, VALUE_LIMIT) or NONE_TEXT),
            ("Size", size(m.size)),
            ("Latency", ms(m.latency) if m.latency is not None else NONE_TEXT),
            ("Patient", visible(m.patient, VALUE_LIMIT) or NONE_TEXT),
        ]
        text = Text()
        for label, value in facts:
            text.append(f"{label}: ", style="bold")
            text.append(f"{value}   ")
        text.append("\nACK: ", style="bold")
        text.append_text(ack_cell(m))
        if m.detail:
            text.append("\nNote: ", style="bold")
            text.append(visible(m.detail, TEXT_LIMIT))
        return text

    def on_mount(self) -> None:
        self.load_tree()

    @work(exclusive=True, group="message-tree")
    async def load_tree(self) -> None:
        m = self.message
        try:
            tree = await self.ctx.view.message_tree(m.link, m.ts, m.control_id)
        except Exception as exc:
            log.warning("could not read the message's segments: %s", exc)
            self._note(f"Could not read the segments: {visible(str(exc), TEXT_LIMIT)}")
            return
        if self.closing:
            return
        if tree is None:
            self._note(
                "The segments are not kept for this message: a listener or tap keeps only its "
                f"last {KEEP_MESSAGES:,} messages, in memory (never on disk), and forgets them "
                "when it restarts."
            )
            return
        self._show(tree)

    def _note(self, text: str) -> None:
        if not self.closing:
            self.query_one("#message-note", Static).update(Text(text))

    def _show(self, found: MessageTree) -> None:
        tree = self.query_one("#message-tree", Tree)
        masked = sum(f.masked for s in found.segments for f in s.fields)
        for segment in found.segments:
            node = tree.root.add(
                Text.assemble((segment.name, "bold"), f"  {plural(len(segment.fields), 'field')}"),
                expand=True,
            )
            for field in segment.fields:
                if field.components:
                    sub = node.add(field_label(segment.name, field), expand=False)
                    for index, component in enumerate(field.components, start=1):
                        label = f"{segment.name}-{field.number}.{index}  "
                        sub.add_leaf(Text(label + visible(component, VALUE_LIMIT)))
                else:
                    node.add_leaf(field_label(segment.name, field))
        count = len(found.segments)
        note = f"{plural(count, 'segment')}, {plural(masked, 'field')} masked"
        if found.problem:
            note += f" — {visible(found.problem, TEXT_LIMIT)}"
        self._note(note)

    def action_back(self) -> None:
        self.app.pop_screen()
