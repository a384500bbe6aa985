"""The help screen: tui/help.md, shown over the dashboard."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

HELP_FILE = Path(__file__).resolve().parent.parent / "help.md"


class HelpScreen(ModalScreen[None]):
    """Keys and what each pane shows; any of escape, q, ? closes it.

    The text scrolls with the keyboard: arrows, page up/down, home/end (the scroll view's own
    keys), and j/k, space/b as in a pager.
    """

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", tooltip="Back to the dashboard"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
        Binding("space", "scroll('page_down')", "Page down", show=False),
        Binding("b", "scroll('page_up')", "Page up", show=False),
    ]

    def compose(self) -> ComposeResult:
        """The help text in a scrolling frame."""
        with Vertical(id="help-frame", classes="dialog"):
            with VerticalScroll(id="help-scroll"):
                yield Markdown(HELP_FILE.read_text(encoding="utf-8"), id="help-text")
            yield Static(
                "arrows, j/k, page up/down, space: scroll   escape: close", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        """Title the frame and give the keys to the scrolling text."""
        self.query_one("#help-frame").border_title = "mltui help"
        self.query_one("#help-scroll").focus()

    def action_scroll(self, how: str) -> None:
        """Scroll the help text: 'down', 'up', 'page_down' or 'page_up'."""
        scroll = self.query_one("#help-scroll", VerticalScroll)
        getattr(scroll, f"scroll_{how}")(animate=False)
