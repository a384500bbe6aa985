"""A sample's output: each run's lines kept in a record, drawn wrapped and only where in view.

`OutputRecord` holds one run's lines (up to `MAX_LINES`, older ones counted as dropped), each
with its kind: stdout, stderr, a C++ log line from TensorFlow/absl (`I0000 ...`, `E0000 ...
cuInit`), mltui's own notes, and the sample's JSON verdict, kept as words ("pass: ...") rather
than raw JSON. The Run pane keeps one record per sample, so each keeps its own last output.

`OutputLog` shows one record. Long lines wrap at the pane's width, each continuation row marked,
so every character can be read. It is a line-API scroll view: appending a line costs a list
append and a row count, and a frame renders only the rows in view, so a flood of a million lines
costs the UI about what idle output does. C++ log lines are hidden until `v` shows them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from probes.process import OutputLine
from probes.runner import parse_verdict
from tui.presentation import ERROR, ERROR_STRONG, MUTED, SUCCESS_STRONG, WARNING_STRONG
from tui.safe_text import inert, inert_lines

#: Lines a record keeps; older ones are counted and dropped (in steps, so a flood trims rarely).
MAX_LINES = 10_000
#: Seconds between redraws while lines arrive (appending itself is immediate).
FLUSH_INTERVAL_S = 0.05

#: Kinds of lines. The sample's own: stdout, stderr, a C++ runtime log line. mltui's: the
#: command line shown at the start, a note, and a result (the verdict or the end of a run).
OUT, ERR, CXX, COMMAND, NOTE, GOOD, BAD, WARN = (
    "out",
    "err",
    "cxx",
    "cmd",
    "note",
    "good",
    "bad",
    "warn",
)
#: The result kind for each run status.
STATUS_KIND = {"pass": GOOD, "fail": BAD, "error": BAD, "timeout": BAD, "cancelled": WARN}

#: Lines TensorFlow's and XLA's C++ runtime write through absl/glog: `I0000 00:00:1732...  123
#: file.cc:42] ...` (level letter, month+day, time, thread, source), the older
#: `2024-05-01 12:00:00.123456: I tensorflow/core/...cc:42] ...`, and absl's own preamble.
CXX_LOG_LINE = re.compile(
    r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)

#: Verdict fields shown after the status, in this order, with their label.
_VERDICT_FIELDS = (("library", ""), ("version", ""), ("device", "on"), ("engine", "with"))


def is_cxx_log(text: str) -> bool:
    """True for a C++ runtime log line (TensorFlow, XLA, absl) rather than the sample's own."""
    return CXX_LOG_LINE.match(text) is not None


def verdict_words(verdict: dict[str, Any]) -> tuple[str, str]:
    """A sample's verdict for a person, and its kind: ('pass: torch 2.13.0 on cpu; ...', GOOD)."""
    said = inert(verdict.get("verdict", "?")).strip() or "?"
    words = [f"{said}:"]
    for key, label in _VERDICT_FIELDS:
        value = verdict.get(key)
        if value not in (None, ""):
            words.append(f"{label} {inert(value)}".strip())
    text = " ".join(words)
    for key in ("checked", "detail"):
        value = verdict.get(key)
        if value not in (None, ""):
            text += f"; {inert(value)}"
    kind = GOOD if said == "pass" else BAD if said in ("fail", "error") else WARN
    return text, kind


#: First characters a C++ log line can start with.
_CXX_FIRST = frozenset("IWEF2")


def wrap_offsets(text: str, width: int) -> list[int]:
    """Where each row of `text` starts when wrapped at `width` (one-cell characters).

    A row breaks after the last space that fits, so words stay whole; a word longer than a row
    (a path, a hash) is cut at the width. Every character stays in exactly one row, spaces
    included, so the rows joined give `text` back.
    """
    starts = [0]
    start, length = 0, len(text)
    while length - start > width:
        space = text.rfind(" ", start + 1, start + width)
        # Break after the space (it ends the row); a row of one long word is cut at the width.
        start = space + 1 if space > start and space + 1 - start >= width // 3 else start + width
        starts.append(start)
    return starts


def _classify(stream: str, text: str) -> str:
    if text[:1] in _CXX_FIRST and is_cxx_log(text):
        return CXX
    return ERR if stream == "stderr" else OUT


class OutputRecord:
    """One run's output: its lines and their kinds, the newest `max_lines` of them.

    Entries are numbered from the first line ever added; `base` is the number of the first one
    still kept. A view keeps its rows in step through `base`, `len(self)` and `replaced_from`.
    """

    def __init__(self, name: str, max_lines: int = MAX_LINES) -> None:
        self.name = name
        self.max_lines = max_lines
        self.kinds: list[str] = []
        self.texts: list[str] = []
        #: Number of the first entry kept (entries before it were dropped).
        self.base = 0
        #: Lines the sample printed (a `\r` update of a line does not count as a new one).
        self.received = 0
        #: C++ runtime log lines among them.
        self.cxx_lines = 0
        #: The lowest entry number rewritten in place since a view last caught up (or None).
        self.replaced_from: int | None = None
        #: How the run ended ('pass', 'fail', ...), None while it runs or before it ran.
        self.status: str | None = None
        self.elapsed_s: float | None = None

    def __len__(self) -> int:
        """The number of the entry that comes next (kept and dropped ones together)."""
        return self.base + len(self.texts)

    @property
    def dropped(self) -> int:
        """Entries that fell off the front."""
        return self.base

    def entry(self, number: int) -> tuple[str, str]:
        """The (kind, text) of entry `number` (which must still be kept)."""
        index = number - self.base
        return self.kinds[index], self.texts[index]

    def add_lines(self, lines: Iterable[OutputLine]) -> None:
        """Add what a sample printed (a runner batch or any OutputLines)."""
        stream = getattr(lines, "stream", None)
        texts = getattr(lines, "texts", None)
        if stream is not None and texts is not None and not getattr(lines, "replacing", None):
            self._add_plain(stream, texts)
            return
        for line in lines:
            if line.replace and self.texts and self.kinds[-1] in (OUT, ERR, CXX):
                kind = _classify(line.stream, line.text)
                self.kinds[-1], self.texts[-1] = kind, inert(line.text)
                number = len(self) - 1
                if self.replaced_from is None or number < self.replaced_from:
                    self.replaced_from = number
                continue
            self._add_plain(line.stream, [line.text])

    def _add_plain(self, stream: str, texts: list[str]) -> None:
        """Lines of one stream, none replacing another: the common, fast path."""
        if len(texts) > self.max_lines:
            # Only the newest max_lines can be kept: the rest are counted, never stored.
            skipped = len(texts) - self.max_lines
            self.base += skipped + len(self.texts)
            self.received += skipped
            self.kinds.clear()
            self.texts.clear()
            texts = texts[skipped:]
        texts = inert_lines(texts)
        default = ERR if stream == "stderr" else OUT
        kinds, kept = self.kinds, self.texts
        for text in texts:
            # A cheap first-character test keeps the regular expression off ordinary lines.
            if text[:1] in _CXX_FIRST and is_cxx_log(text):
                kinds.append(CXX)
                self.cxx_lines += 1
            elif default == OUT and text[:1] == "{" and '"verdict"' in text:
                verdict = parse_verdict(text)
                if verdict is not None:
                    words, kind = verdict_words(verdict)
                    kinds.append(kind)
                    kept.append(f"result {words}")
                    continue
                kinds.append(OUT)
            else:
                kinds.append(default)
            kept.append(text)
        self.received += len(texts)
        self._trim()

    def note(self, text: str, kind: str = NOTE) -> None:
        """A line of mltui's own (the command run, how it ended); `text` is made inert."""
        self.kinds.append(kind)
        self.texts.append(inert(text))
        self._trim()

    def _trim(self) -> None:
        # Trimmed in steps of a quarter, so a flood pays for the list shift once per many lines.
        if len(self.texts) > self.max_lines + self.max_lines // 4:
            excess = len(self.texts) - self.max_lines
            del self.kinds[:excess]
            del self.texts[:excess]
            self.base += excess

    def plain_text(self, *, with_cxx: bool = True) -> str:
        """The kept lines as the pane shows them unwrapped (stderr marked `!`), for tests/copy."""
        rows = []
        for kind, text in zip(self.kinds, self.texts, strict=True):
            if kind == CXX and not with_cxx:
                continue
            rows.append(_PREFIX[kind][0] + text)
        return "\n".join(rows)


#: Per kind: the prefix of its first row, the prefix of a continuation row (Unicode, ASCII),
#: and its style name (tui.presentation; the dashboard's theme colours it).
_PREFIX: dict[str, tuple[str, str, str, str | None]] = {
    OUT: ("  ", "\u21aa ", "> ", None),
    ERR: ("! ", "\u21aa ", "> ", ERROR),
    CXX: ("  ", "\u21aa ", "> ", MUTED),
    COMMAND: ("$ ", "  ", "  ", "bold"),
    NOTE: ("  ", "  ", "  ", MUTED),
    GOOD: ("= ", "  ", "  ", SUCCESS_STRONG),
    BAD: ("= ", "  ", "  ", ERROR_STRONG),
    WARN: ("= ", "  ", "  ", WARNING_STRONG),
}
#: The style of the mark that starts a continuation row.
_WRAP_STYLE = MUTED
PREFIX_CELLS = 2


class OutputLog(ScrollView, can_focus=True):
    """Shows an OutputRecord wrapped to the pane's width, rendering only the rows in view."""

    DEFAULT_CSS = """
    OutputLog { overflow-x: hidden; overflow-y: scroll; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not in the footer (Quit would not fit at 80 columns): the border's count names it.
        Binding(
            "v",
            "toggle_cxx",
            "C++ log",
            show=False,
            tooltip="Show or hide TensorFlow/absl C++ log lines",
        ),
    ]

    #: Whether C++ runtime log lines are shown (hidden by default: they are the runtime's noise).
    show_cxx: reactive[bool] = reactive(False)

    def __init__(self, *, ascii: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ascii = ascii
        self.record = OutputRecord("")
        # One entry per row on screen: the entry's number and where in its text the row starts.
        self._row_entry: list[int] = []
        self._row_start: list[int] = []
        self._rows_upto = 0  # entries turned into rows so far
        self._wrap_width = 0
        self._timer: Timer | None = None
        self._frame_styles: dict[str | None, Style] = {}

    # ------------------------------------------------------------------------- public

    @property
    def lines_received(self) -> int:
        """Lines the shown run's sample printed (kept or not)."""
        return self.record.received

    @property
    def row_count(self) -> int:
        """Rows the shown record takes at the current width."""
        self._catch_up()
        return len(self._row_entry)

    def show(self, record: OutputRecord) -> None:
        """Show another record (the rows are built again)."""
        self.record = record
        self._rebuild()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._update_subtitle()

    def changed(self, record: OutputRecord) -> None:
        """`record` got lines; redraw soon if it is the one shown."""
        if record is self.record and self._timer is not None:
            self._timer.resume()

    def rows_text(self) -> list[str]:
        """Every row as plain text, as drawn (prefix included), for tests."""
        self._catch_up()
        return [self._row_text(row) for row in range(len(self._row_entry))]

    def shown_lines(self) -> list[str]:
        """Each line shown, unwrapped, with its first row's prefix (hidden lines left out)."""
        self._catch_up()
        lines: list[str] = []
        last = -1
        for number in self._row_entry:
            if number != last:
                kind, text = self.record.entry(number)
                lines.append(_PREFIX[kind][0] + text)
                last = number
        return lines

    def action_toggle_cxx(self) -> None:
        """Show or hide the C++ runtime log lines."""
        self.show_cxx = not self.show_cxx

    # ------------------------------------------------------------------------- rows

    def on_mount(self) -> None:
        """Redraw at most every FLUSH_INTERVAL_S while lines arrive (paused when idle)."""
        self._timer = self.set_interval(FLUSH_INTERVAL_S, self._flush_tick, pause=True)

    def watch_show_cxx(self) -> None:
        """Rows are built again with or without the C++ log lines."""
        if self.is_mounted:
            self._rebuild()
            self._update_subtitle()

    def on_resize(self) -> None:
        """A new width wraps differently: build the rows again."""
        if self._text_width() != self._wrap_width:
            at_end = self.is_vertical_scroll_end
            self._rebuild()
            if at_end:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width - PREFIX_CELLS)

    def _flush_tick(self) -> None:
        at_end = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self._catch_up()
        if at_end and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()
        self._update_subtitle()
        if self._timer is not None:
            self._timer.pause()

    def _rebuild(self) -> None:
        self._row_entry.clear()
        self._row_start.clear()
        self._rows_upto = self.record.base
        self._wrap_width = self._text_width()
        self.record.replaced_from = None
        self._catch_up()
        self.refresh()

    def _catch_up(self) -> None:
        """Turn the entries added since last time into rows; drop rows of dropped entries."""
        record = self.record
        if self._text_width() != self._wrap_width:
            self._rebuild()  # the width changed (a scrollbar came or went, a resize)
            return
        if record.replaced_from is not None:
            # A `\r` update rewrote an entry that may already have rows: redo from there.
            cut = bisect_left(self._row_entry, record.replaced_from)
            del self._row_entry[cut:]
            del self._row_start[cut:]
            self._rows_upto = min(self._rows_upto, record.replaced_from)
            record.replaced_from = None
        if self._row_entry and self._row_entry[0] < record.base:
            cut = bisect_left(self._row_entry, record.base)
            del self._row_entry[:cut]
            del self._row_start[:cut]
        start = max(self._rows_upto, record.base)
        end = len(record)
        if start < end:
            self._add_rows(start, end)
        self._rows_upto = end
        width = self.scrollable_content_region.width
        size = Size(width, len(self._row_entry))
        if size != self.virtual_size:
            self._set_virtual_size(size)

    def _set_virtual_size(self, size: Size) -> None:
        """A new scroll height without a layout of the whole screen.

        Assigning `virtual_size` lays the screen out again and re-renders every widget on it:
        ten times a second under a flood, that was most of the UI's time. The view's own size
        does not depend on its content (its scrollbar always shows), so only the scrollbar needs
        the news; this is what Textual itself does when a size changes without a layout.
        """
        scroll_update = getattr(self, "_scroll_update", None)
        if not self.is_mounted or scroll_update is None:
            self.virtual_size = size
            return
        self.set_reactive(OutputLog.virtual_size, size)
        scroll_update(size)

    def _add_rows(self, start: int, end: int) -> None:
        width = self._wrap_width
        show_cxx = self.show_cxx
        row_entry, row_start = self._row_entry, self._row_start
        kinds, texts, base = self.record.kinds, self.record.texts, self.record.base
        for number in range(start, end):
            kind = kinds[number - base]
            if kind == CXX and not show_cxx:
                continue
            text = texts[number - base]
            if len(text) <= width and (text.isascii() or cell_len(text) <= width):
                row_entry.append(number)
                row_start.append(0)
                continue
            starts: Iterable[int]
            if text.isascii():
                starts = wrap_offsets(text, width)
            else:
                offsets, offset = [], 0
                for piece in chop_cells(text, width):
                    offsets.append(offset)
                    offset += len(piece)
                starts = offsets
            for offset in starts:
                row_entry.append(number)
                row_start.append(offset)

    def _row_parts(self, row: int) -> tuple[str, str, str | None, bool]:
        """(prefix, text, component class, is a continuation) of one row."""
        number = self._row_entry[row]
        kind, text = self.record.entry(number)
        start = self._row_start[row]
        last = row + 1 >= len(self._row_entry) or self._row_entry[row + 1] != number
        end = len(text) if last else self._row_start[row + 1]
        first, more, more_ascii, component = _PREFIX[kind]
        continued = start > 0
        prefix = (more_ascii if self.ascii else more) if continued else first
        return prefix, text[start:end].expandtabs(4), component, continued

    def _row_text(self, row: int) -> str:
        prefix, text, _, _ = self._row_parts(row)
        return prefix + text

    def render_lines(self, crop: Region) -> list[Strip]:
        """The rows in `crop`; the styles are looked up once for all of them."""
        self._frame_styles = {}
        return super().render_lines(crop)

    def _style(self, component: str | None) -> Style:
        """The widget's style plus a component's, looked up once a frame."""
        styles = self._frame_styles
        if component not in styles:
            base = self.rich_style
            styles[component] = (
                base
                if component is None
                else base + self.app.console.get_style(component, default="none")
            )
        return styles[component]

    def render_line(self, y: int) -> Strip:
        """One row on screen: only rows in view are ever rendered."""
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base_style = self._style(None)
        if row >= len(self._row_entry) or self._row_entry[row] < self.record.base:
            return Strip.blank(width, base_style)
        prefix, text, component, continued = self._row_parts(row)
        style = self._style(component)
        prefix_style = self._style(_WRAP_STYLE) if continued else style
        segments = [Segment(prefix, prefix_style), Segment(text, style)]
        return Strip(segments).crop_extend(0, width, base_style)

    def _update_subtitle(self) -> None:
        record = self.record
        parts = []
        if record.dropped:
            parts.append(f"{record.dropped} earlier lines not kept")
        if record.cxx_lines:
            verb = "shown" if self.show_cxx else "hidden"
            parts.append(f"{record.cxx_lines} C++ log lines {verb} (v)")
        self.border_subtitle = ", ".join(parts)
