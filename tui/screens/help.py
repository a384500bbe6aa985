"""The help screen: tui/help.md, shown over the dashboard."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

HELP_FILE = Path(__file__).resolve().parent.parent / "help.md"


class HelpScreen(ModalScreen[None]):
    """Keys and what each pane shows; any of escape, q, ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", tooltip="Back to the dashboard"),
    ]

    def compose(self) -> ComposeResult:
        """The help text in a scrolling frame."""
        with Vertical(id="help-frame", classes="dialog"):
            yield Markdown(HELP_FILE.read_text(encoding="utf-8"), id="help-text")
            yield Static("escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        """Title the frame and let the arrow keys scroll it."""
        self.query_one("#help-frame").border_title = "mltui help"
        self.query_one("#help-text").focus()
