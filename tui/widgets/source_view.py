"""A sample's source, syntax-highlighted and read-only, in a scrolling view."""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.presentation import ERROR, MUTED
from tui.safe_text import inert, inert_line, safe_content, safe_text


class SourceView(VerticalScroll):
    """Shows one Python file with line numbers; a missing file is said, not raised."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: The file shown now (None before the first, or for a sample without one).
        self.path: Path | None = None

    def compose(self) -> ComposeResult:
        """One Static holding the highlighted code."""
        yield Static(Text("choose a sample", style=MUTED), id="source-code")

    def show_file(self, path: Path | None) -> None:
        """Load and show a file (samples are small: read at once); the same file again: no-op."""
        if path is not None and path == self.path:
            return
        self.path = path
        code = self.query_one("#source-code", Static)
        self.border_title = safe_content(inert_line(path.name)) if path else "source"
        if path is None:
            code.update(Text("no source for this sample", style=MUTED))
            return
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            code.update(safe_text(f"cannot read {path}: {exc.strerror or exc}", style=ERROR))
            return
        code.update(
            Syntax(inert(text), "python", line_numbers=True, word_wrap=False, theme="ansi_dark")
        )
        self.scroll_home(animate=False)
