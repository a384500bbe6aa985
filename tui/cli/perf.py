"""`mltui perf`: measure each device, compare with its peak and its siblings, say why it is slow.

Exit status follows `mltui check`'s rules: 0 when nothing is an error, 1 when a device failed or a
GPU is slow (a CPU below its *estimated* peak is only a warning) or the result could not be kept
(it is printed all the same), 2 on bad usage (a cache folder that cannot be written is found
before the run), 130 when interrupted (the load processes are killed first). What is kept
follows `probes.perf.keep`: a run cut short never replaces a complete one. Live progress goes
to stderr when it is a terminal, so `--json` on stdout is pure JSON. No Textual here.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from probes.cache import CacheDirError, describe_cache_dir, writable_cache_dir
from probes.model import perf_json_schema, to_json
from probes.perf import PerfOptions, PerfUsageError, run_perf_sync
from probes.perf.events import LibraryStarted, Measured, PerfEvent, Sampled
from probes.perf.keep import keep_perf
from probes.perf_model import DevicePerf, LibraryRun, PerfReport
from probes.target import resolve_target
from tui.cli.console import LiveProgress, ascii_output, make_console
from tui.exit_codes import EXIT_FINDINGS, EXIT_OK, UsageError
from tui.perf_view import (
    behind_best,
    comparison_rows,
    peak_bases,
    peak_text,
    ratio_bar,
    shown_measurements,
    verdict_text,
)
from tui.presentation import (
    ACCENT,
    ERROR,
    MUTED,
    human_rate,
    perf_run_style,
    perf_run_words,
)
from tui.safe_text import safe_text


def cmd_perf(args: argparse.Namespace) -> int:
    """Run `mltui perf` with parsed arguments; returns the exit status."""
    if getattr(args, "schema", False):
        print(json.dumps(perf_json_schema(), indent=2))
        return EXIT_OK
    target = resolve_target(getattr(args, "python", None))
    options = PerfOptions(
        devices=getattr(args, "device", None),
        seconds=float(getattr(args, "seconds", 60.0)),
        force=bool(getattr(args, "force", False)),
    )
    try:  # before the run, not after it: a minute of measuring is not lost to a bad folder
        writable_cache_dir()
    except CacheDirError as exc:
        raise UsageError(
            f"cannot keep the result: {exc} (set MLTUI_CACHE_DIR to a writable folder)"
        ) from None
    progress = _Progress() if sys.stderr.isatty() and not getattr(args, "json", False) else None
    try:
        if progress is None:
            report = run_perf_sync(target, options)
        else:
            with progress:
                report = run_perf_sync(target, options, on_event=progress.event)
    except PerfUsageError as exc:
        raise UsageError(str(exc)) from None
    if getattr(args, "json", False):
        sys.stdout.write(to_json(report, indent=2) + "\n")
    else:
        make_console().print(render_perf(report, ascii=ascii_output()))
    sys.stdout.flush()
    kept = keep_perf(report, target)
    if kept.path is None:
        print(
            f"mltui: cannot keep the result in {describe_cache_dir()}; it is only above",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    if kept.note:
        print(f"mltui: {kept.note}", file=sys.stderr)
    return EXIT_FINDINGS if report.has_errors else EXIT_OK


# ------------------------------------------------------------------------------- rendering


def render_device(device: DevicePerf, *, ascii: bool = False) -> RenderableType:
    """One device: its figures (measured, peak, bar), the verdict and its reasons."""
    title = safe_text(device.device)
    if device.name:
        title.append_text(safe_text(f"  {device.name}"))
    title.append("  ")
    title.append_text(verdict_text(device.verdict))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("figure")
    table.add_column("library")
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("peak", justify="right", no_wrap=True)
    table.add_column("of peak")
    for m in shown_measurements(device):
        if m.error:
            table.add_row(m.label, safe_text(m.library), Text("error", style=ERROR), "", "")
            continue
        measured = Text(human_rate(m.value, m.unit))
        if m.result_ok is False:
            measured.append(" wrong result", style=ERROR)
        table.add_row(
            m.label,
            safe_text(m.library),
            measured,
            peak_text(device, m),
            ratio_bar(m.ratio, ascii=ascii),
        )
    parts: list[RenderableType] = []
    if device.measurements:
        parts.append(table)
    for reason in device.reasons:
        parts.append(Text("  - ") + safe_text(reason))
    errors = [m for m in device.measurements if m.error]
    for m in errors:
        parts.append(
            safe_text(f"  ! {m.library} {m.label}: ", ERROR) + safe_text(m.error or "", ERROR)
        )
    for note in behind_best(device):
        parts.append(Text("  - ") + safe_text(note))
    for basis in peak_bases(device):
        parts.append(safe_text(basis, MUTED))
    return Panel(
        Group(*parts) if parts else Text(""), title=title, box=box.ROUNDED, title_align="left"
    )


def render_comparison(report: PerfReport, *, ascii: bool = False) -> RenderableType | None:
    """The same GEMM in every library, on one device: who is fastest here."""
    rows = comparison_rows(report)
    if not rows:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("library")
    table.add_column("device")
    table.add_column("GEMM")
    table.add_column("size", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("of peak")
    for m in rows:
        table.add_row(
            safe_text(m.library),
            m.device,
            (m.dtype or "").upper(),
            f"{m.size}²" if m.size else "",
            human_rate(m.value, m.unit),
            ratio_bar(m.ratio, ascii=ascii),
        )
    return Panel(table, title="the same matrix multiply in every library", box=box.ROUNDED)


def render_libraries(runs: list[LibraryRun]) -> Text:
    """One line: each library's version and how its load went."""
    line = Text("libraries: ")
    for i, run in enumerate(runs):
        if i:
            line.append(", ")
        line.append_text(safe_text(run.library))
        if run.version:
            line.append_text(safe_text(f" {run.version}"))
        if run.status != "ok":
            style = perf_run_style(run.status)
            line.append(f" ({perf_run_words(run.status)}", style=style)
            if run.error and run.status not in ("not_installed", "not_run"):
                line.append(": ", style=style)
                line.append_text(safe_text(run.error, style))
            line.append(")", style=style)
    return line


def render_perf(report: PerfReport, *, ascii: bool = False) -> RenderableType:
    """The whole report: per-device panels, the comparison, the all-reduce, the verdict."""
    header = safe_text(f"mltui perf on {report.hostname or '?'}, {report.created_at}, ")
    header.append_text(safe_text(report.python))
    if report.elapsed_s is not None:
        header.append(f", {report.elapsed_s:.1f} s")
    parts: list[RenderableType] = [header]
    parts.extend(render_device(d, ascii=ascii) for d in report.devices)
    comparison = render_comparison(report, ascii=ascii)
    if comparison is not None:
        parts.append(comparison)
    if report.allreduce is not None:
        m = report.allreduce
        line = safe_text(f"all-reduce across {m.device}: ")
        if m.value is not None:
            line.append(f"bus bandwidth {human_rate(m.value, 'B/s')}")
        else:
            line.append_text(safe_text(m.error or "not measured", ERROR))
        parts.append(line)
    parts.append(render_libraries(report.libraries))
    if report.sampler_cpu_percent is not None:
        parts.append(
            Text(
                f"NVML sampling cost mltui {report.sampler_cpu_percent:.1f} % of a core",
                style=MUTED,
            )
        )
    verdict = Text("verdict: ") + verdict_text(report.verdict)
    parts.append(verdict)
    for reason in report.reasons:
        parts.append(Text("  - ") + safe_text(reason))
    return Group(*parts)


# -------------------------------------------------------------------------------- progress


class _Progress(LiveProgress):
    """A live line on stderr: which library runs, the last figures."""

    def __init__(self) -> None:
        self.library = "reading the GPUs"
        self.lines: list[Text] = []
        super().__init__()

    def event(self, event: PerfEvent) -> None:
        """Called by the run (from the event loop; `Sampled` from the sampler thread)."""
        if isinstance(event, Sampled):
            return  # the live panel shows figures, not the NVML trace
        with self.lock:
            if isinstance(event, LibraryStarted):
                self.library = f"{event.library}: importing and measuring"
            elif isinstance(event, Measured) and event.measurement.value:
                m = event.measurement
                line = safe_text(f"{m.library} {m.device} {m.label} ")
                line.append(human_rate(m.value, m.unit), style=ACCENT)
                self.lines = [*self.lines[-5:], line]
            else:
                return
        self.redraw()

    def _render(self) -> RenderableType:
        with self.lock:
            body = Group(safe_text(self.library), *self.lines)
        return Panel(body, title="measuring", box=box.ROUNDED, expand=False)
