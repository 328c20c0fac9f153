"""Command palette (ctrl+p): every action of the app, and "probe / open" for each node.

The list is built from the app's screen registry, its actions and the launching screen's active
bindings (so a binding added to a screen shows up here with its key), plus one "Probe …" and
one "Open …" per node when searching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

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
    keys = app.key_for(binding_id)
    return f" (key {keys})" if keys else ""


def palette_commands(app: PacsApp, screen: Screen[Any]) -> list[PaletteCommand]:
    """The commands for the palette opened over ``screen``."""
    from pacs_tui.screens.node_detail import NodeDetailScreen
    from pacs_tui.screens.nodes import NodesScreen, probe_now

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
    selected: tuple[NodesScreen | NodeDetailScreen, str | None, str] | None = None
    if isinstance(screen, NodesScreen):
        selected = (screen, screen.selected_id(), "nodes.probe")
    elif isinstance(screen, NodeDetailScreen):
        selected = (screen, screen.target_id, "detail.probe")
    if selected is not None:
        owner, target_id, probe_id = selected
    if selected is not None and target_id is not None:
        add(
            f"Probe selected node now ({target_id})",
            "Check this node at once",
            partial(probe_now, owner, target_id),
            probe_id,
        )
    add("Filter nodes", "Show the Nodes screen and type a filter", app.action_filter_nodes)
    covered.add("nodes.filter")
    add("Show keys", "Every key of every screen", app.action_help, "app.help")
    add("Quit", "Leave pacs-tui (stops the engine, flushes the history)", app.exit, "app.quit")

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
    for state in ctx.engine.worst_first():
        target_id = state.id
        facts = state.status.label
        if state.reason != state.status.word:
            facts += f" — {state.reason}"
        commands.append(
            PaletteCommand(
                f"Probe {target_id} now",
                facts,
                partial(_probe, app, target_id),
                discover=False,
            )
        )
        commands.append(
            PaletteCommand(
                f"Open {target_id}", facts, partial(_open_node, app, target_id), discover=False
            )
        )
    return commands


def _probe(app: PacsApp, target_id: str) -> None:
    from pacs_tui.screens.nodes import NOTIFY_SECONDS

    if app.engine.probe_now(target_id, app.operator):
        app.notify(f"Probing {target_id} now…", timeout=NOTIFY_SECONDS)


async def _open_node(app: PacsApp, target_id: str) -> None:
    from pacs_tui.screens.nodes import NodesScreen

    await app.action_go("nodes")
    screen = app.screen
    if isinstance(screen, NodesScreen):
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
                yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                title = matcher.highlight(command.title)
                yield Hit(score, title, command.callback, help=command.help)
