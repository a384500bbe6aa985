"""The live output of a sample: stdout plain, stderr marked, written in batches with a line limit.

Lines arrive at any rate; they are queued and written a batch at a time on a short timer, so a
flood costs one write per tick, and the queue keeps only what the log could show anyway.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.timer import Timer
from textual.widgets import RichLog

from probes.process import OutputLine
from tui.presentation import ERROR, ERROR_STRONG, MUTED
from tui.safe_text import inert, safe_text

#: Lines the log keeps; older ones scroll away.
MAX_LINES = 2000
#: Seconds between batched writes.
FLUSH_INTERVAL_S = 0.05
#: Lines one timed write shows at most. Rendering costs ~15 us a line on the UI's event loop, so
#: a flood written in full (2000 lines a tick) held key presses up ~200 ms; 300 lines a tick is
#: still 6000 lines/s, more than anyone reads, and the rest is counted as skipped.
TICK_MAX_LINES = 300


class OutputLog(RichLog):
    """A RichLog fed with OutputLines in batches; stderr in the error colour with a marker."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=False, markup=False, highlight=False)
        self._queue: deque[OutputLine] = deque(maxlen=MAX_LINES)
        self._dropped = 0
        self._flush_timer: Timer | None = None
        #: Lines received since the last clear (including those dropped before display).
        self.lines_received = 0

    def on_mount(self) -> None:
        """Write queued lines a batch at a time."""
        # Paused while nothing is queued: 20 idle wake-ups a second cost the idle dashboard CPU.
        self._flush_timer = self.set_interval(FLUSH_INTERVAL_S, self._flush_tick, pause=True)

    def _flush_tick(self) -> None:
        """A timed write: only the newest TICK_MAX_LINES of what is queued."""
        while len(self._queue) > TICK_MAX_LINES:
            self._queue.popleft()
            self._dropped += 1
        self.flush()
        if self._flush_timer is not None:
            self._flush_timer.pause()

    def add_lines(self, lines: Iterable[OutputLine]) -> None:
        """Queue lines for the next batch; only the newest MAX_LINES are kept."""
        if isinstance(lines, Sequence) and len(lines) > MAX_LINES:
            # Only the newest MAX_LINES of a flood could be shown; skip the rest unread.
            skipped = len(lines) - MAX_LINES
            self._dropped += skipped
            self.lines_received += skipped
            lines = lines[skipped:]
        if self._flush_timer is not None:
            self._flush_timer.resume()
        for line in lines:
            self.lines_received += 1
            if line.replace and self._queue:
                # A "\r" progress update rewrites the line still waiting to be shown.
                self._queue[-1] = line
                continue
            if len(self._queue) == MAX_LINES:
                self._dropped += 1
            self._queue.append(line)

    def note(self, text: str, style: str = "bold") -> None:
        """Write a line of our own (start, end, verdict) after any queued output."""
        self.flush()
        self.write(safe_text(text, style=style))

    def reset(self) -> None:
        """Forget everything shown and queued."""
        self._queue.clear()
        self._dropped = 0
        self.lines_received = 0
        self.clear()

    def flush(self) -> None:
        """Write what is queued as one block."""
        if not self._queue and not self._dropped:
            return
        block = Text()
        if self._dropped:
            block.append(f"... {self._dropped} lines skipped (too fast to show) ...\n", style=MUTED)
            self._dropped = 0
        count = len(self._queue)
        for position in range(count):
            line = self._queue.popleft()
            if line.stream == "stderr":
                block.append("! ", style=ERROR_STRONG)
                block.append(inert(line.text), style=ERROR)
            else:
                block.append("  ")
                block.append(inert(line.text))
            if position < count - 1:
                block.append("\n")
        if count:
            self.write(block)
