"""The one-line header on every screen: site name, overall status, demo marker or the link to
the collector ("attached to collector on HOST (pid N)", or since when it is gone), clock.

The overall status is always glyph and word ("▼ DOWN"); its colour comes from a CSS class.
With the collector gone it is the last known one and says so first ("⚠ stale: last known ▼
DOWN"): the values on screen are stale, and the colour alone would not say it.
The site name comes from the config: it is shown made visible, never as markup.
The clock is the app's injected clock (so snapshot tests are deterministic) in the site's zone.
The status and the clock are :class:`HeaderText` widgets: a new text only repaints that one cell
run (a ``Label.update`` re-lays the whole screen out), and nothing when the text is the same.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Label

from pacs_tui.model import Status
from pacs_tui.ui_format import STATUS_ORDER, clock, status_class
from pacs_tui.view import LinkState
from pacs_tui.visible import VALUE_LIMIT, visible

DEMO_MARKER = "DEMO — simulated hospital on loopback"
#: Below :data:`SHORT_DEMO_BELOW` columns: the long marker was cut ("… hospital on") at 80
#: columns beside the site, the status, the wall marker and the clock.
DEMO_MARKER_SHORT = "DEMO — loopback"
SHORT_DEMO_BELOW = 100
#: Below this width the line about the collector is the short one ("collector gone 14:03:12",
#: the overall status saying "stale"): the long one, beside the site and the clock, was cut
#: before "stale" at 80 columns.
SHORT_LINK_BELOW = 120
#: The overall status with the collector gone: the last known one, said to be stale (the
#: lists' words: "⚠ last known values (collector gone since …)"); below
#: :data:`SHORT_STALE_BELOW` columns the short one, so that the long line about the
#: collector still fits beside it from :data:`SHORT_LINK_BELOW` up.
STALE = "⚠ stale: last known {}"
STALE_SHORT = "⚠ stale: {}"
SHORT_STALE_BELOW = 140


class HeaderText(Widget):
    """One line of plain text; ``set`` repaints only when it changed. Its width is ``reserve``
    cells or its longest text so far: it grows for a longer text (one re-layout) and never
    shrinks, so a new status word repaints one cell run instead of re-laying out the screen
    (a re-layout redraws every widget: measured, it doubled what a change cost the Nodes list)."""

    DEFAULT_CSS = "HeaderText { width: auto; height: 1; padding: 0 1; }"

    def __init__(self, *, id: str | None = None, reserve: int = 0) -> None:
        super().__init__(id=id)
        self.text = ""
        self._reserve = reserve
        self._width = reserve

    def set(self, text: str, *, shrink: bool = False) -> None:
        """Show ``text``; with ``shrink``, the width is ``reserve`` or the text's again (a
        rare change, such as the collector coming back: one re-layout)."""
        if text == self.text:
            return
        self.text = text
        width = cell_len(text)
        old = self._width
        self._width = max(width, self._reserve if shrink else self._width)
        self.refresh(layout=self._width != old)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self._width

    def render(self) -> Text:
        return Text(self.text, no_wrap=True, end="")


class StatusHeader(Horizontal):
    """Site, overall status, optional DEMO marker and a clock ticking once a second."""

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        width: 1fr;
        background: $panel;
    }
    StatusHeader > Label { height: 1; padding: 0 1; }
    StatusHeader > #header-site { text-style: bold; max-width: 40%; text-overflow: ellipsis; }
    StatusHeader > #header-overall { text-style: bold; }
    StatusHeader > #header-demo {
        width: 1fr;
        content-align: center middle;
        text-style: bold reverse;
        color: $warning;
    }
    StatusHeader > #header-spacer { width: 1fr; }
    StatusHeader > #header-link {
        width: 1fr;
        content-align: center middle;
        color: $text-muted;
        text-overflow: ellipsis;
        text-wrap: nowrap;
    }
    StatusHeader > #header-link.-gone { text-style: bold reverse; color: $warning; }
    StatusHeader > #header-clock { text-style: bold; }
    """

    def __init__(
        self,
        site: str,
        overall: Callable[[], Status],
        now: Callable[[], float],
        *,
        tz: str | None = None,
        demo: bool = False,
        link: Callable[[], LinkState | None] | None = None,
    ) -> None:
        super().__init__(id="header")
        self._link = link
        self._site = site
        self._overall = overall
        self._now = now
        self._tz = tz
        self._demo = demo
        # Kept, not queried: a screen closed as soon as it opened (Enter, Escape in one burst)
        # has its labels removed before the header's Mount is handled, and a query would raise.
        widest = max(cell_len(status.label) for status in STATUS_ORDER)
        self._overall_label = HeaderText(id="header-overall", reserve=widest)
        self._clock_label = HeaderText(id="header-clock")
        #: The overall status shown: (status, stale, short wording).
        self._shown_status: tuple[Status, bool, bool] | None = None

    def compose(self) -> ComposeResult:
        yield Label(visible(self._site, VALUE_LIMIT), id="header-site", markup=False)
        yield self._overall_label
        if self._demo:
            yield Label(DEMO_MARKER, id="header-demo")
        elif self._link is not None and self._link() is not None:
            yield Label("", id="header-link", markup=False)
        else:
            yield Label("", id="header-spacer")
        yield self._clock_label

    def on_mount(self) -> None:
        self.refresh_link()
        self.refresh_status()
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        """Update the clock (only while its screen is shown: not while the app quits)."""
        if self.screen.is_current:
            self._clock_label.set(clock(self._now(), self._tz))

    def refresh_status(self) -> None:
        """Re-read the overall status. With the collector gone it is the last known one, and
        says so in words before it ("⚠ stale: last known ✔ OK"), in the muted colour."""
        status = self._overall()
        link = self._link() if self._link is not None else None
        stale = link is not None and not link.connected
        short = stale and (self.size.width or self.app.size.width) < SHORT_STALE_BELOW
        shown = (status, stale, short)
        if shown == self._shown_status:  # asked at every change of any target's status
            return
        # Stale or live, long or short words (rare): the room of the words before is given up.
        reworded = self._shown_status is None or self._shown_status[1:] != shown[1:]
        self._shown_status = shown
        label = self._overall_label
        if stale:
            label.set((STALE_SHORT if short else STALE).format(status.label), shrink=reworded)
            label.set_classes(status_class(Status.UNKNOWN))  # not the status now
        else:
            label.set(status.label, shrink=reworded)
            label.set_classes(status_class(status))  # one restyle, not one per class

    def refresh_link(self) -> None:
        """Re-read the link to the collector (a view attached to one has a link)."""
        link = self._link() if self._link is not None else None
        if link is None:
            return
        self.refresh_status()  # stale or live: the overall status says which
        short = (self.size.width or self.app.size.width) < SHORT_LINK_BELOW
        gone = link.gone_since is not None
        if link.gone_since is not None and short:  # "stale": the overall status's word
            text = f"⚠ collector gone {clock(link.gone_since, self._tz)}"
        else:
            text = ("⚠ " if gone else "") + link.describe(self._tz, short=short)
        for label in self.query("#header-link").results(Label):
            label.update(text)
            label.set_class(gone, "-gone")

    def on_resize(self) -> None:
        self.refresh_link()
        short = (self.size.width or self.app.size.width) < SHORT_DEMO_BELOW
        for label in self.query("#header-demo").results(Label):
            label.update(DEMO_MARKER_SHORT if short else DEMO_MARKER)
