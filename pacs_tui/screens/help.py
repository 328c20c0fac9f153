"""The keys screen (``?``): every binding of the app and of each screen, read from ``BINDINGS``.

Nothing here is hand-written: the rows come from the classes' bindings with the user's keymap
applied, so a rebound key shows its new key. The binding id is listed too, since that is what a
keymap names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pacs_tui.screens.on_top import OnTopActions
from pacs_tui.visible import VALUE_LIMIT, visible


@dataclass(frozen=True, slots=True)
class KeyRow:
    keys: str
    description: str
    binding_id: str


@dataclass(frozen=True, slots=True)
class KeySection:
    title: str
    rows: tuple[KeyRow, ...]


def bindings_of(owner: type, below: type | None = None) -> list[Binding]:
    """The bindings ``owner`` declares, base classes first (as Textual merges them).

    With ``below``, only classes strictly derived from it count (e.g. ``below=Screen`` leaves
    out Textual's own tab/shift+tab focus keys, which work everywhere).
    """
    found: list[Binding] = []
    for cls in reversed(owner.__mro__):
        if below is not None and (cls is below or not issubclass(cls, below)):
            continue
        declared: Iterable[BindingType] | None = cls.__dict__.get("BINDINGS")
        if declared:
            found.extend(Binding.make_bindings(declared))
    return found


def key_rows(
    bindings: Iterable[Binding],
    keymap: Mapping[str, str],
    display: Callable[[Binding], str],
) -> tuple[KeyRow, ...]:
    """One row per action: its keys (keymap applied, several keys joined), what it does, its id.

    "What it does" is the binding's tooltip, else its footer description; when several bindings
    share an action (Textual's ctrl+q and our q both quit), the one with an id gives the text.
    """
    keys: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    ids: dict[str, str] = {}
    for binding in bindings:
        if not binding.description or binding.system:
            continue
        action = binding.action
        if binding.id is not None and binding.id in keymap:
            new_keys = [k.strip() for k in keymap[binding.id].split(",") if k.strip()]
            shown = [display(binding.with_key(k)) for k in new_keys]
        else:
            shown = [display(binding)]
        bucket = keys.setdefault(action, [])
        bucket.extend(k for k in shown if k not in bucket)
        if binding.id or action not in texts:
            if not ids.get(action):
                texts[action] = binding.tooltip or binding.description
            ids[action] = ids.get(action) or binding.id or ""
    return tuple(KeyRow(" ".join(keys[a]), texts[a], ids[a]) for a in keys)


class HelpScreen(OnTopActions, ModalScreen[None]):
    """A modal list of keys, grouped by where they work."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close", tooltip="Close this list"),
        Binding("question_mark", "close", "Close", id="help.close_again", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > #help-box {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-scroll { height: auto; }
    HelpScreen #help-hint { color: $text-muted; }
    """

    def __init__(self, sections: Iterable[KeySection]) -> None:
        # No id: closed and opened again in one burst of keys, the old one is still registered
        # while the new one is pushed, and a second "help" would raise DuplicateIds.
        super().__init__()
        self.sections = tuple(sections)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box") as box:
            box.border_title = "Keys"
            with VerticalScroll(id="help-scroll"):
                yield Static(self._table(), id="help-keys")
            yield Label(
                "Escape closes · ctrl+p searches every action · a keymap rebinds keys by id",
                id="help-hint",
            )

    def on_resize(self, event: events.Resize) -> None:
        # The box leaves the header and the footer in sight (the status, q Quit), and the list
        # scrolls inside it above the hint: a list taller than the box pushed "Escape closes"
        # off the screen (CSS cannot bound an auto-height child by its auto-height parent).
        room = max(6, event.size.height - 2)
        self.query_one("#help-box").styles.max_height = room
        self.query_one("#help-scroll").styles.max_height = room - 3  # the border, the hint

    def _table(self) -> Table:
        table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
        table.add_column("Keys", no_wrap=True, style="bold")
        table.add_column("What it does", ratio=1, overflow="fold")
        table.add_column("Binding id", no_wrap=True, style="dim")
        for index, section in enumerate(self.sections):
            if index:  # a blank line: a wrapped description does not run into the next title
                table.add_row("", "", "")
            table.add_row("", Text(section.title, style="bold underline"), "")
            for row in section.rows:
                # The keys may come from the user's keymap (config): shown made visible.
                keys = Text(visible(row.keys, VALUE_LIMIT))
                table.add_row(keys, Text(row.description), Text(row.binding_id))
        return table

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
