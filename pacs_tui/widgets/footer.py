"""The screens' footer: Textual's, compact, giving up its command palette entry on a narrow
terminal so that the screen's own keys and ``q Quit`` stay in sight."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

#: Below this many columns the footer leaves out ``^p Commands`` (ctrl+p still opens the palette
#: and ``?`` lists it): docked on the right, it covered ``q Quit`` on the Sessions screen at 80.
PALETTE_FROM = 100


class ScreenFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_FROM
        if wide != self.show_command_palette:
            self.show_command_palette = wide
            self.call_after_refresh(self.recompose)
