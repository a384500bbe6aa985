"""The pieces of a `mltui perf` result that the CLI and the Perf pane both show.

Bars of measured against peak, the verdict word, the library comparison's rows, a figure's line,
a GPU's live NVML line. Words and styles come from `tui.presentation`; untrusted text (names,
versions, errors, reasons) goes through `tui.safe_text`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from probes.perf_model import DevicePerf, Measurement, NvmlSample, NvmlWatch, PerfReport
from tui.presentation import (
    ERROR,
    MUTED,
    WARNING,
    human_rate,
    perf_verdict_style,
    ratio_style,
)
from tui.safe_text import inert_line, safe_text

#: A library below this share of the best library's figure for the same work gets a note.
LOW_BESIDE_BEST = 0.5
#: Order of the data types wherever figures are listed.
DTYPE_ORDER = {"fp32": 0, "tf32": 1, "bf16": 2, "fp16": 3, "fp8": 4}
#: Sparkline characters, low to high (and their plain-ASCII stand-ins).
SPARKS = "▁▂▃▄▅▆▇█"
ASCII_SPARKS = "_.-:=+*#"


def ratio_bar(ratio: float | None, width: int = 10, *, ascii: bool = False) -> Text:
    """A bar of `width` cells filled to the ratio (capped at 100 %), then the percentage."""
    if ratio is None:
        return Text("-".ljust(width) + "     ", style=MUTED)
    full, empty = ("#", ".") if ascii else ("█", "░")
    filled = max(0, min(width, round(ratio * width)))
    bar = Text(full * filled, style=ratio_style(ratio))
    bar.append(empty * (width - filled), style=MUTED)
    bar.append(f" {ratio:4.0%}")
    return bar


def verdict_text(verdict: str) -> Text:
    """The verdict word in its style."""
    return Text(verdict, style=perf_verdict_style(verdict))


def peak_text(device: DevicePerf, m: Measurement) -> str:
    """The peak a figure is held against: '989 TFLOP/s', '~332 GFLOP/s' (estimated), '-'."""
    peak = device.peaks.get(m.key)
    if peak is None:
        return "-"
    return ("~" if peak.estimated else "") + human_rate(peak.value, peak.unit)


def shown_measurements(device: DevicePerf) -> list[Measurement]:
    """A device's figures as listed: measured or failed ones (not the skipped), GEMMs by type."""
    found = [m for m in device.measurements if not m.skipped]
    kind_order = {"gemm": 0, "copy": 1, "h2d": 2, "d2h": 3, "p2p": 4}
    return sorted(
        found,
        key=lambda m: (kind_order.get(m.kind, 9), DTYPE_ORDER.get(m.dtype or "", 9), m.peer or ""),
    )


def figure_line(
    device: DevicePerf, m: Measurement, *, bar_width: int = 10, ascii: bool = False
) -> Text:
    """One figure on one line: label, library, bar and share, measured / peak."""
    line = Text(f"{m.label:<18.18} ")
    line.append_text(safe_text(f"{m.library:<10.10} "))
    if m.error:
        line.append_text(safe_text(f"error: {m.error}", ERROR))
        return line
    line.append_text(ratio_bar(m.ratio, bar_width, ascii=ascii))
    line.append(f"  {human_rate(m.value, m.unit)}")
    line.append(f" / {peak_text(device, m)}", style=MUTED)
    if m.result_ok is False:
        line.append("  wrong result", style=ERROR)
    return line


def peak_bases(device: DevicePerf) -> list[str]:
    """How each peak held against a shown figure was derived ('peak gemm:fp32: estimated: 2
    cores × 2.90 GHz … (AVX2 + FMA3 …)'): the assumption behind an estimate, on screen."""
    shown = {m.key for m in device.measurements if m.value is not None}
    return [
        f"peak {key}: {peak.basis}" for key, peak in sorted(device.peaks.items()) if key in shown
    ]


def behind_best(device: DevicePerf) -> list[str]:
    """A figure far below the device's best for the same work: the device is judged by its best
    library, so say why a low one does not make it slow ('tensorflow FP32 GEMM at 13 % of peak:
    the device is judged by numpy's 80 %; the gap is tensorflow's own')."""
    best: dict[str, Measurement] = {}
    for m in device.measurements:
        if m.ratio is not None and (m.key not in best or m.ratio > (best[m.key].ratio or 0)):
            best[m.key] = m
    notes = []
    for m in shown_measurements(device):
        top = best.get(m.key)
        if top is None or top is m or m.ratio is None or top.ratio is None:
            continue
        if m.ratio < LOW_BESIDE_BEST * top.ratio:
            notes.append(
                f"{m.library} {m.label} at {m.ratio:.0%} of peak: the device is judged by "
                f"{top.library}'s {top.ratio:.0%}; the gap is {m.library}'s own"
            )
    return notes


def comparison_rows(report: PerfReport) -> list[Measurement]:
    """The library comparison: GEMMs of one device, the data types two or more libraries ran,
    fastest first within each type."""
    rows = report.comparison()
    libraries: dict[str | None, set[str]] = {}
    for m in rows:
        libraries.setdefault(m.dtype, set()).add(m.library)
    rows = [m for m in rows if len(libraries[m.dtype]) > 1]
    return sorted(rows, key=lambda m: (DTYPE_ORDER.get(m.dtype or "", 9), -(m.value or 0)))


def sparkline(
    values: Sequence[float | None], top: float | None, width: int, *, ascii: bool = False
) -> str:
    """The last `width` values as a sparkline scaled to `top` (or their maximum)."""
    ramp = ASCII_SPARKS if ascii else SPARKS
    shown = [v for v in values[-width:]]
    known = [v for v in shown if v is not None]
    scale = top or (max(known) if known else 0) or 1.0
    chars = []
    for value in shown:
        if value is None:
            chars.append(" ")
        else:
            level = max(0, min(len(ramp) - 1, int(value / scale * (len(ramp) - 1) + 0.5)))
            chars.append(ramp[level])
    return "".join(chars).rjust(width)


def strip_line(
    watch: NvmlWatch, samples: Sequence[NvmlSample], *, width: int = 12, ascii: bool = False
) -> Text:
    """A GPU's live NVML line: SM clock with its history, power against its limit, temperature,
    and the clock-event reasons of the latest sample."""
    line = Text(f"GPU {watch.gpu_index} ", style="bold")
    if not samples:
        line.append("waiting for NVML", style=MUTED)
        return line
    last = samples[-1]
    clocks = [s.sm_clock_mhz for s in samples]
    history = [float(c) if c else None for c in clocks]
    line.append(sparkline(history, watch.sm_clock_max_mhz, width, ascii=ascii))
    clock = f" SM {last.sm_clock_mhz or '?'}"
    if watch.sm_clock_max_mhz:
        clock += f"/{watch.sm_clock_max_mhz}"
    line.append(clock + " MHz")
    if last.power_w is not None:
        limit = f"/{watch.power_limit_w:.0f}" if watch.power_limit_w else ""
        near = watch.power_limit_w and last.power_w >= 0.97 * watch.power_limit_w
        line.append(f"  {last.power_w:.0f}{limit} W", style=WARNING if near else "")
    if last.temperature_c is not None:
        line.append(f"  {last.temperature_c} {'C' if ascii else '°C'}")
    if last.utilization_percent is not None:
        line.append(f"  {last.utilization_percent}%")
    reasons = [r for r in last.clock_event_reasons if r != "idle"]
    if reasons:
        line.append_text(safe_text("  " + ", ".join(reasons), WARNING))
    return line


# ----------------------------------------------------------------------------- the guide

#: The comparison's column of figures measured here, placed after this column (the article's
#: "Best application", where its speed claims are).
MEASURED_AFTER = "best_application"
MEASURED_KEY = "measured_here"


def measured_title(report: PerfReport) -> str:
    """The measured column's title: which machine and when."""
    return f"Measured here ({report.hostname or 'this machine'}, {report.created_at[:10]})"


def measured_by_library(report: PerfReport) -> dict[str, Measurement]:
    """Each library's GEMM of the comparison, at the data type most comparable across them
    (BF16 where two libraries ran it, else FP32, ...), by library id."""
    rows = comparison_rows(report)
    if not rows:
        return {}
    counts: dict[str, int] = {}
    for m in rows:
        counts[m.dtype or ""] = counts.get(m.dtype or "", 0) + 1
    preference = ["bf16", "fp32", "tf32", "fp16", "fp8"]
    dtype = max(counts, key=lambda d: (counts[d], -preference.index(d) if d in preference else -9))
    return {m.library: m for m in rows if (m.dtype or "") == dtype}


def measured_cell(m: Measurement | None) -> str:
    """'212 GFLOP/s FP32 on cpu (64% of peak)', or '-' for a library not measured."""
    if m is None or m.value is None:
        return "-"
    text = f"{human_rate(m.value, m.unit)} {(m.dtype or '').upper()} on {m.device}"
    if m.ratio is not None:
        text += f" ({m.ratio:.0%} of peak)"
    return text


def with_measured_column(
    rows: list[dict[str, str]], ids: Sequence[str], report: PerfReport | None
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The comparison's rows with the measured column after the article's claims, and its title
    (no column without a report). `ids` are the rows' library ids, in order. The new cells are
    inert (a device name came from outside); the table shows every cell as text, never markup."""
    if report is None:
        return rows, {}
    figures = measured_by_library(report)
    if not figures:
        return rows, {}
    out = []
    for row, library in zip(rows, ids, strict=True):
        extended: dict[str, str] = {}
        for key, value in row.items():
            extended[key] = value
            if key == MEASURED_AFTER:
                extended[MEASURED_KEY] = inert_line(measured_cell(figures.get(library)))
        if MEASURED_KEY not in extended:
            extended[MEASURED_KEY] = inert_line(measured_cell(figures.get(library)))
        out.append(extended)
    return out, {MEASURED_KEY: measured_title(report)}
