"""Screens whose own actions run only while they are the screen on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[Any]
else:
    # A plain mixin at run time: as a Screen subclass it would take a place in the screens' CSS
    # inheritance (Screen's own rules then won over ModalScreen's see-through background).
    _Base = object


class OnTopActions(_Base):
    """A key of a burst runs its action later than it was pressed: by then a number key may have
    switched the mode, or Escape closed this screen. Textual asks ``check_action`` just before
    running an action, so a screen that is no longer on top refuses its own actions there (a
    late Escape would otherwise pop the other mode's last screen: ``ScreenStackError``)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Its own actions only: Textual also asks a screen about the app's actions it shows in
        # a footer, which stay as they are.
        own = callable(getattr(self, f"action_{action}", None))
        if own and self.app.screen is not self:
            return False
        return super().check_action(action, parameters)
