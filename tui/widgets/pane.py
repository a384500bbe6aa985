"""What every dashboard pane's widget is: a Widget that names the widget taking its keys.

A pane is registered once in tui/panes.py; the app focuses `main_widget()` whenever the pane is
shown. It is a method, not a selector, because what takes the keys can depend on the pane's state
(the Fleet pane shows one of two tables, depending on its filter).
"""

from __future__ import annotations

from textual.widget import Widget


class Pane(Widget):
    """A dashboard pane: a Widget with one method the app calls when the pane is shown."""

    def main_widget(self) -> Widget:
        """The widget of this pane that takes the keys now (focused when the pane is shown)."""
        raise NotImplementedError(f"{type(self).__name__} does not say which widget takes its keys")
