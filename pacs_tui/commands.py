"""Command palette (ctrl+p): every action of the app, and "probe / open" for each node.

The list is built from the app's screen registry, its actions and the launching screen's active
bindings (so a binding added to a screen shows up here with its key), plus one "Probe …" and
one "Open …" per node when searching.

Textual reads a hit's text and help as *markup*: a node's id or a reason quoting a peer (``[/]``)
would be taken for tags, and a bad tag raises in the palette's worker. So titles are handed over
as :class:`~textual.content.Content` (highlighted here, as the matcher would), and help texts with
every ``[`` escaped (:func:`literal`); ids and reasons are :func:`~pacs_tui.visible.visible`.

:class:`PacsCommandPalette` is Textual's palette with page moves guarded (see there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import Screen
from textual.widgets import Input, OptionList

from pacs_tui.probes import source_of_kind
from pacs_tui.visible import VALUE_LIMIT, visible

if TYPE_CHECKING:
    from pacs_tui.app import PacsApp


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    title: str
    help: str
    callback: Callable[[], Awaitable[Any] | Any]
    #: Listed when the palette opens (not only when searching).
    discover: bool = True


def _key_hint(app: PacsApp, binding_id: str) -> str:
    keys = visible(app.key_for(binding_id), VALUE_LIMIT)  # keys may come from the keymap
    return f" (key {keys})" if keys else ""


def palette_commands(app: PacsApp, screen: Screen[Any]) -> list[PaletteCommand]:
    """The commands for the palette opened over ``screen``."""
    from pacs_tui.screens import probe_now
    from pacs_tui.screens.target_detail import TargetDetailScreen
    from pacs_tui.screens.target_table import TargetTableScreen

    commands: list[PaletteCommand] = []
    covered: set[str] = set()

    def add(title: str, help_text: str, callback: Callable[[], Any], binding_id: str = "") -> None:
        commands.append(PaletteCommand(title, help_text + _key_hint(app, binding_id), callback))
        if binding_id:
            covered.add(binding_id)

    for spec in app.screen_specs:
        add(
            f"Go to {spec.title}",
            f"Show the {spec.title} screen",
            partial(app.action_go, spec.name),
            f"screen.{spec.name}",
        )
    add(
        "Probe all targets now", "Check every target at once", app.action_probe_all, "app.probe_all"
    )
    selected: tuple[TargetTableScreen | TargetDetailScreen, str | None, str] | None = None
    if isinstance(screen, TargetTableScreen):
        selected = (screen, screen.selected_id(), "table.probe")
    elif isinstance(screen, TargetDetailScreen):
        selected = (screen, screen.target_id, "detail.probe")
    if selected is not None:
        owner, target_id, probe_id = selected
    if selected is not None and target_id is not None:
        add(
            f"Probe selected target now ({visible(target_id, VALUE_LIMIT)})",
            "Check this target at once",
            partial(probe_now, owner, target_id),
            probe_id,
        )
    add("Filter the table", "Type a filter for the table shown", app.action_filter_table)
    covered.add("table.filter")
    add("Show keys", "Every key of every screen", app.action_help, "app.help")
    add(
        "Quit",
        "Leave pacs-tui (its own engine stops, the history flushed; a collector goes on)",
        app.exit,
        "app.quit",
    )

    # Anything else bound on this screen (sorting, …): listed with its key, run as the key would.
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.id or binding.id in covered or not binding.description or not active.enabled:
            continue
        covered.add(binding.id)
        add(
            binding.description,
            f"On this screen{_key_hint(app, binding.id)}",
            partial(app.run_action, binding.action, active.node),
        )

    # One "probe" and one "open" per node, found by typing its id.
    ctx = app.ctx
    if ctx is None:  # still starting
        return commands
    for state in ctx.view.states():
        target_id = state.id
        shown = visible(target_id, VALUE_LIMIT)
        facts = state.status.label
        if state.reason != state.status.word:
            facts += f" — {visible(state.reason, VALUE_LIMIT)}"
        commands.append(
            PaletteCommand(
                f"Probe {shown} now",
                facts,
                partial(_probe, app, target_id),
                discover=False,
            )
        )
        commands.append(
            PaletteCommand(
                f"Open {shown}", facts, partial(_open_node, app, target_id), discover=False
            )
        )
    return commands


def _probe(app: PacsApp, target_id: str) -> None:
    from pacs_tui.screens import probe_and_say

    if app.ctx is not None:
        probe_and_say(app.ctx.view, app.notify, target_id)


async def _open_node(app: PacsApp, target_id: str) -> None:
    from pacs_tui.screens.target_table import TargetTableScreen

    state = app.ctx.view.state(target_id) if app.ctx is not None else None
    source = source_of_kind(state.target.kind) if state is not None else None
    if source is None:
        return
    await app.action_go(source.screen)
    screen = app.screen
    if isinstance(screen, TargetTableScreen):
        screen.open_detail(target_id)


class PacsCommands(Provider):
    """The palette's source of pacs-tui commands."""

    def _commands(self) -> list[PaletteCommand]:
        from pacs_tui.app import PacsApp

        app = self.app
        return palette_commands(app, self.screen) if isinstance(app, PacsApp) else []

    async def discover(self) -> Hits:
        for command in self._commands():
            if command.discover:
                yield DiscoveryHit(
                    Content(command.title),
                    command.callback,
                    text=command.title,
                    help=literal(command.help),
                )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    highlight(matcher, command.title),
                    command.callback,
                    text=command.title,
                    help=literal(command.help),
                )


def literal(text: str) -> str:
    """Markup that reads as ``text`` itself (``Content.from_markup(literal(t)).plain == t``).

    Textual's ``markup.escape`` misses tags such as ``[ANY]`` and a backslash before ``[``;
    escaping every ``[`` (``\\[``) leaves nothing that can open a tag.
    """
    return text.replace("[", "\\[")


def highlight(matcher: Matcher, title: str) -> Content:
    """``title`` as plain content with the matched characters in the match style (what
    ``Matcher.highlight`` does, without reading ``title`` as markup)."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if not score:
        return content
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class PacsCommandPalette(CommandPalette):
    """Textual's command palette with three crashes of Textual 8.2.8 guarded.

    **Page keys before the list is laid out.** ``OptionList._move_page``
    (``widgets/_option_list.py``) looks up the line of the highlighted option in
    ``_index_to_line``, which ``_update_lines`` fills only once the list has a size. The palette
    highlights its first command as soon as the commands are gathered, before the next layout
    gives the list a size; a page key in that window (ctrl+p then PageDown at once: 5 of 6 tries
    in a real terminal) raised ``KeyError: 0`` and took the whole app down. Here the page keys
    go through :meth:`action_page`, which pages only a list that has its size, else waits for
    the next refresh (and drops the key if the list still has none then: it is hidden, there is
    nothing to page through).

    **Input after the palette closed.** Two Enters delivered together (a double tap, a key
    repeat, the random keys test) both select: the first dismisses the palette and runs the
    command, the second's selection reaches the palette after it has left the stack, and
    ``CommandPalette`` dismisses it again (``_select_command`` → ``_select_or_command`` →
    ``dismiss``), which pops the screen below: ``ScreenStackError: Can't pop screen`` and the
    app died. Likewise a letter typed just before Escape (ctrl+p, r, Escape in one burst): its
    ``Input.Changed`` reaches the palette after Escape closed it, upstream's handler starts the
    search worker, whose ``query_one(CommandList)`` on the removed palette raises ``NoMatches``,
    and the worker's failure took the app down. :meth:`_closed_already` drops a selection,
    submission or edit that reaches the palette once it is no longer the screen shown, before
    upstream's handlers see it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Same keys as upstream's ("command_list('page_down')"), which these replace.
        Binding("pagedown", "page(1)", "Next page", show=False),
        Binding("pageup", "page(-1)", "Previous page", show=False),
    ]

    @on(OptionList.OptionSelected)
    @on(Input.Submitted)
    @on(Input.Changed)
    def _closed_already(
        self, event: OptionList.OptionSelected | Input.Submitted | Input.Changed
    ) -> None:
        if not self.is_active:
            event.prevent_default()  # upstream's handlers (base class) do not run
            event.stop()

    def action_page(self, direction: int) -> None:
        self._page(direction, retry=True)

    def _page(self, direction: int, *, retry: bool) -> None:
        if not self.is_active:  # closed while the key waited
            return
        commands = next(iter(self.query(CommandList)), None)  # None: not mounted yet
        if commands is not None and commands.scrollable_content_region:
            # Laid out: upstream has the lines of every option (its actions are unannotated).
            if direction > 0:
                commands.action_page_down()  # type: ignore[no-untyped-call]
            else:
                commands.action_page_up()  # type: ignore[no-untyped-call]
        elif retry:
            self.call_after_refresh(self._page, direction, retry=False)
