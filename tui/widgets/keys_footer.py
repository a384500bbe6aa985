"""The footer with the keys of the focused widget, composed again only when those keys change.

Textual's Footer composes all its keys again on every change of focus or of the screen stack,
whether or not the keys it shows changed; while the dashboard starts that happened three times
(the first frame's screen, the first focus, a refresh of the bindings), each one mounting and
styling a widget per key.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

#: What the footer shows of each key: the key, its words, whether it can be used now.
KeysShown = tuple[tuple[str, str, bool], ...]


class KeysFooter(Footer):
    """A Footer that skips a new compose when the keys it would show are the same."""

    _shown: KeysShown | None = None

    def _keys_shown(self) -> KeysShown:
        active = self.screen.active_bindings
        keys = tuple(
            (binding.key, binding.description, enabled)
            for _node, binding, enabled, _tooltip in active.values()
            if binding.show
        )
        palette = self.app.COMMAND_PALETTE_BINDING in active
        return (*keys, ("palette", "", palette))

    def bindings_changed(self, screen: Screen[object]) -> None:
        """After the next refresh, compose again if the keys to show differ from those shown.

        Comparing then, not now, folds the changes of one start-up (or one key press) into one
        compose; Textual's own handler queues a compose for each.
        """
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self._compose_if_changed)

    async def _compose_if_changed(self) -> None:
        if self.is_attached and self._keys_shown() != self._shown:
            await self.recompose()

    def compose(self) -> ComposeResult:
        """Textual's keys, remembering which they were."""
        if self._bindings_ready:  # Textual's flag: the first compose, before any focus, is empty
            self._shown = self._keys_shown()
        yield from super().compose()
