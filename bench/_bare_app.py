"""The start-up baseline: a bare Textual app showing one Static, nothing else.

It writes the same "ready" milestone as mltui (see tui/bench_marks.py): after its first frame is
painted, `ready <epoch seconds>` is appended to $MLTUI_BENCH_READY_FILE. `q` quits.
"""

from __future__ import annotations

import os
import time

from textual.app import App, ComposeResult
from textual.widgets import Static


class BareApp(App[None]):
    """One Static."""

    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        """The only widget."""
        yield Static("a bare Textual app")

    def on_ready(self) -> None:
        """Stamp the first painted frame."""
        self.call_after_refresh(self._stamp)

    def _stamp(self) -> None:
        path = os.environ.get("MLTUI_BENCH_READY_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"ready {time.time():.6f} {time.process_time():.6f}\n")


if __name__ == "__main__":
    BareApp().run()
