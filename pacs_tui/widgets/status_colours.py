"""Status colours from a widget's own component classes, resolved against the current theme.

A widget that mixes in :class:`StatusColours` lists :data:`STATUS_COMPONENTS` in its
``COMPONENT_CLASSES`` and :func:`status_css` in its ``DEFAULT_CSS`` (Textual inherits both along
the first base only, so a mixin cannot carry them). Colours follow ``ansi-dark`` and disappear
under ``NO_COLOR``; the glyph and word always remain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text

from pacs_tui.model import Status

#: The component classes: one per status, and "dim" for secondary text.
STATUS_COMPONENTS: frozenset[str] = frozenset(
    {"status--ok", "status--unknown", "status--warn", "status--crit", "status--down", "status--dim"}
)

_RULES = {
    "ok": "color: $success;",
    "unknown": "color: $text-muted;",
    "warn": "color: $warning; text-style: bold;",
    "crit": "color: $error; text-style: bold;",
    "down": "color: $error; text-style: bold;",
    "dim": "color: $text-muted;",
}


def status_css(type_name: str) -> str:
    """The DEFAULT_CSS rules of the status component classes for widgets of ``type_name``."""
    return "\n".join(f"{type_name} > .status--{name} {{ {rule} }}" for name, rule in _RULES.items())


class StatusColours:
    """``status_style``, ``status_text`` and ``dim_text`` for a Widget (see the module's note)."""

    if TYPE_CHECKING:

        def get_component_rich_style(
            self, *names: str, partial: bool = False, default: Style | None = None
        ) -> Style: ...

    def status_style(self, status: Status) -> Style:
        """The theme's style for ``status`` (foreground and weight only)."""
        return self.get_component_rich_style(
            f"status--{status.value.lower()}", partial=True, default=Style()
        )

    def status_text(self, status: Status) -> Text:
        """``"▼ DOWN"`` in the status colour."""
        return Text(status.label, style=self.status_style(status), no_wrap=True, end="")

    def dim_text(self, text: str) -> Text:
        return Text(
            text,
            style=self.get_component_rich_style("status--dim", partial=True, default=Style()),
            no_wrap=True,
            end="",
        )
