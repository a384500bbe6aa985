"""Judging: figures against peaks and siblings, and what NVML saw, become verdicts with reasons."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from probes.perf.busy import busy_reason
from probes.perf_model import DevicePerf, Measurement, NvmlWatch, Peak, PerfReport, PerfVerdict

#: Below this share of its peak a figure is "slow" (GEMM, device copy, host link, peer copy).
#: Healthy cards reach about 65-90 % of the dense GEMM peak with cuBLAS at n = 8192, 80-90 % of
#: the memory peak in a device copy, 75-88 % of the PCIe rate in a pinned copy
#: (../shared/gpu-peaks.md §4).
SLOW_BELOW: dict[str, float] = {"gemm": 0.5, "copy": 0.6, "h2d": 0.6, "d2h": 0.6, "p2p": 0.5}
#: The CPU peak is an estimate: only a much lower figure is called slow (and only a warning).
CPU_SLOW_BELOW = 0.2
#: A GPU this far below the median of its siblings (same model, same node) is an outlier.
SIBLING_MARGIN = 0.10
#: A median SM clock under load below this share of the datasheet clock is not normal. H100 and
#: H200 SXM cards under a GEMM normally run power-capped at 1.6-1.8 GHz (87-98 % of the 1830 MHz
#: behind their tensor figures): a lower clock, and the power cap, are normal until a figure
#: falls short (against its peak or its siblings); then they are reasons, ranked by how much of
#: the shortfall each explains.
CLOCK_LOW = 0.85
#: Marks what NVML saw on a healthy device (a note, not a reason).
SEEN = "seen: "
#: Clock-event reasons that are not a fault under load.
BENIGN_REASONS = frozenset({"idle", "applications clocks setting", "display clock setting"})


def peak_for(device: DevicePerf, m: Measurement) -> Peak | None:
    """The peak a figure is held to: a peer copy's is its pair's ("p2p:cuda:3", NVLink or
    PCIe), else the device's one per kind ("gemm:bf16", "copy", "p2p")."""
    if m.kind == "p2p" and m.peer and f"p2p:{m.peer}" in device.peaks:
        return device.peaks[f"p2p:{m.peer}"]
    return device.peaks.get(m.key)


def apply_peaks(device: DevicePerf) -> None:
    """Fill each measurement's peak and ratio from the device's peaks."""
    for m in device.measurements:
        peak = peak_for(device, m)
        if peak is not None and m.value is not None:
            m.peak = peak.value
            m.ratio = round(m.value / peak.value, 4)


def best_figures(device: DevicePerf) -> dict[str, Measurement]:
    """The best figure per key across libraries (a device is as fast as its best library)."""
    best: dict[str, Measurement] = {}
    for m in device.measurements:
        if m.value is None:
            continue
        key = m.key if m.kind != "p2p" else f"p2p:{m.peer}"
        if key not in best or m.value > (best[key].value or 0):
            best[key] = m
    return best


#: Clock-event reasons NVML names, as the reasons say them, and how much of a shortfall each
#: explains per sample it was seen in (faults first; the power cap only through the clock).
EVENT_WORDS: dict[str, tuple[str, float]] = {
    "hardware power brake slowdown": ("power brake active", 1.0),
    "software power cap": ("power cap reached", 0.0),
    "hardware thermal slowdown": ("thermal slowdown (hardware)", 1.0),
    "software thermal slowdown": ("thermal slowdown", 0.8),
    "hardware slowdown": ("hardware slowdown (power brake or overheating)", 1.0),
}
#: What each kind of figure depends on: the SM clock (GEMMs) or the host link (copies to and
#: from the host); other reasons bear on every figure.
CLOCK_KINDS = frozenset({"gemm", "copy", "p2p"})
LINK_KINDS = frozenset({"h2d", "d2h"})


def _explanations(
    watch: NvmlWatch, extra: dict[str, Any] | None, short: frozenset[str]
) -> list[tuple[float, bool, str]]:
    """What NVML saw during the load: (how much of the shortfall it explains, whether it is
    normal under load, the words), most explaining first. `short` holds the kinds of figure
    that fell short (empty for a healthy card: then only what is not normal matters)."""
    extra = extra or {}
    found: list[tuple[float, bool, str]] = []
    if any(s.utilization_percent is not None for s in watch.samples):
        # Only samples taken while the GPU was busy say how it behaves under load.
        loaded = [s for s in watch.samples if (s.utilization_percent or 0) >= 50]
    else:
        loaded = list(watch.samples)
    clock_short = bool(short & CLOCK_KINDS)
    clocks = [s.sm_clock_mhz for s in loaded if s.sm_clock_mhz]
    clock_loss = 0.0
    reference = extra.get("tensor_clock_mhz") or watch.sm_clock_max_mhz
    if clocks and watch.sm_clock_max_mhz and reference:
        median = statistics.median(clocks)
        clock_loss = max(0.0, 1.0 - median / reference)
        if clock_loss > 0.02:
            normal = median >= CLOCK_LOW * reference
            found.append(
                (
                    clock_loss if clock_short else 0.01,
                    normal,
                    f"SM clock {median / 1000:.2f} of {watch.sm_clock_max_mhz / 1000:.2f} GHz",
                )
            )
    seen: dict[str, int] = {}
    for s in loaded:
        for reason in s.clock_event_reasons:
            if reason not in BENIGN_REASONS:
                seen[reason] = seen.get(reason, 0) + 1
    for reason, count in seen.items():
        share = count / max(1, len(loaded))
        text, weight = EVENT_WORDS.get(reason, (reason, 0.5))
        power_cap = reason == "software power cap"
        explains = share * (clock_loss if power_cap else weight)
        found.append(
            (
                explains if clock_short or not power_cap else 0.0,
                power_cap,
                f"{text} in {share:.0%} of samples",
            )
        )
    powers = [s.power_w for s in watch.samples if s.power_w is not None]
    if powers and watch.power_limit_w and max(powers) >= 0.97 * watch.power_limit_w:
        found.append(
            (
                0.9 * clock_loss if clock_short else 0.0,
                True,
                f"{watch.power_limit_w:.0f} W limit reached",
            )
        )
    default_limit = extra.get("power_default_limit_w")
    if watch.power_limit_w and default_limit and watch.power_limit_w < 0.95 * default_limit:
        lowered = 1.0 - watch.power_limit_w / default_limit
        found.append(
            (
                max(lowered, clock_loss) if clock_short else lowered / 4,
                False,
                f"power limit set to {watch.power_limit_w:.0f} of {default_limit:.0f} W",
            )
        )
    temps = [s.temperature_c for s in watch.samples if s.temperature_c is not None]
    if temps and watch.temperature_slowdown_c and max(temps) >= watch.temperature_slowdown_c - 3:
        found.append(
            (0.4, False, f"{max(temps)} °C, slowdown at {watch.temperature_slowdown_c} °C")
        )
    gens = [s.pcie_generation for s in watch.samples if s.pcie_generation]
    widths = [s.pcie_width for s in watch.samples if s.pcie_width]
    if gens and widths and watch.pcie_generation_max and watch.pcie_width_max:
        gen, width = max(gens), max(widths)
        if gen < watch.pcie_generation_max or width < watch.pcie_width_max:
            lost = 1.0 - (2.0 ** (gen - watch.pcie_generation_max)) * width / watch.pcie_width_max
            found.append(
                (
                    lost if short & LINK_KINDS else 0.05,
                    False,
                    f"PCIe link gen {gen} x{width} under load "
                    f"(the card supports gen {watch.pcie_generation_max} x{watch.pcie_width_max})",
                )
            )
    if watch.other_pids:
        pids = ", ".join(map(str, watch.other_pids[:8]))
        found.append((0.6, False, f"other processes appeared on the GPU: PIDs {pids}"))
    found.sort(key=lambda item: -item[0])
    return found


def _watch_reasons(
    watch: NvmlWatch, extra: dict[str, Any] | None = None, short: frozenset[str] | None = None
) -> list[str]:
    """What NVML saw that explains figures of the kinds in `short` falling short, most
    explaining first; with `short` None (a healthy card), only what is not normal under load."""
    if short is None:
        return [text for _, normal, text in _explanations(watch, extra, frozenset()) if not normal]
    return [text for _, _, text in _explanations(watch, extra, short)]


def judge_device(
    device: DevicePerf,
    extra: dict[str, Any] | None = None,
    *,
    incomplete: Sequence[str] = (),
    no_peak: str | None = None,
) -> None:
    """Set the device's verdict and reasons from its figures, peaks and NVML watch.

    `incomplete` says which library runs meant for this device did not finish (timed out,
    failed): the verdict is then at best "incomplete". `no_peak` says why the device has no
    datasheet GEMM peak: its GEMM figures are shown and "not judged", never healthy or slow
    against an estimate.
    """
    if device.verdict == "skipped" and device.reasons:
        return
    apply_peaks(device)
    failed: list[str] = []
    slow: list[str] = []
    short: set[str] = set()
    unjudged: list[str] = []
    best = best_figures(device)
    for m in device.measurements:
        if m.result_ok is False:
            where = getattr(m, "result_check", None)
            failed.append(
                f"{m.library} {m.label} gave a wrong result{': ' + where if where else ''}"
            )
    keys_with_figure = {m.key for m in best.values()}
    incomplete = list(incomplete)
    for m in device.measurements:
        if m.error and m.key not in keys_with_figure:
            failed.append(f"{m.library} {m.label}: {m.error}")
            keys_with_figure.add(m.key)  # one line per failing measurement
        elif m.error:
            # Another library measured this figure; this one's error still leaves the run short.
            incomplete.append(f"{m.library} {m.label}: {m.error}")
    cpu = device.device == "cpu"
    for m in best.values():
        peak = peak_for(device, m)
        if m.dtype == "fp8" and m.mode == "FP32 accumulation" and peak is not None:
            # The datasheet's FP8 rate assumes fast accumulation: a figure without it is shown.
            device.reasons.append(
                f"{m.label} not judged: the datasheet's FP8 rate assumes fast accumulation"
            )
            continue
        if peak is None or m.ratio is None or (peak.estimated and not cpu):
            if not cpu and m.kind == "gemm" and m.label not in unjudged:
                unjudged.append(m.label)
            continue
        threshold = CPU_SLOW_BELOW if cpu else SLOW_BELOW.get(m.kind, 0.5)
        if m.ratio < threshold:
            slow.append(f"{m.label} at {m.ratio:.0%} of peak")
            short.add(m.kind)
        elif cpu and m.ratio > 1.05:
            device.reasons.append(
                f"{m.library} {m.label} measured {m.ratio:.0%} of the estimated peak: "
                "the clock the estimate assumes is below the real (turbo) clock"
            )
    measured = any(m.value is not None for m in device.measurements)
    if not measured and not failed:
        # Every library said why it did not measure here (a CPU-only build, no such GPU):
        # library states, not a fault of the device; but nothing was proved either.
        device.verdict = "incomplete" if incomplete else "skipped"
        skips = [f"{m.library}: {m.skipped}" for m in device.measurements if m.skipped]
        device.reasons = ["not measured: " + "; ".join(dict.fromkeys(skips) or ["no figure"])]
        device.reasons += [f"incomplete: {r}" for r in incomplete]
        return
    if not measured:
        failed.append("nothing was measured on this device")
    watch = device.watch
    not_judged = []
    if unjudged:
        why = no_peak or f"no datasheet peak for {device.name or device.device}"
        not_judged = [f"not judged: {why} ({', '.join(unjudged)})"]
    if failed or slow:
        explain = _watch_reasons(watch, extra, frozenset(short)) if watch is not None else []
        device.verdict = "failed" if failed else "slow"
        device.reasons = [
            *(failed or slow),
            *explain,
            *(f"incomplete: {r}" for r in incomplete),
            *not_judged,
            *device.reasons,
        ]
        return
    notes = [f"{SEEN}{r}" for r in _watch_reasons(watch, extra)] if watch is not None else []
    if incomplete:
        device.verdict = "incomplete"
        device.reasons = [*(f"incomplete: {r}" for r in incomplete), *not_judged, *device.reasons]
        device.reasons += notes
    elif unjudged:
        device.verdict = "unjudged"
        device.reasons = [*not_judged, *device.reasons, *notes]
    else:
        device.verdict = "healthy"
        device.reasons = device.reasons + notes


def judge_siblings(
    devices: Sequence[DevicePerf], extras: dict[str, dict[str, Any]] | None = None
) -> None:
    """Mark a GPU more than SIBLING_MARGIN below the median of its same-model siblings slow.

    `extras` (by device) are the NVML extras `judge_device` had: what NVML saw is then ranked
    again as the reasons of the shortfall, the normal power cap and clock included.
    """
    groups: dict[str, list[DevicePerf]] = {}
    for d in devices:
        if d.device != "cpu" and d.name and d.verdict in ("healthy", "slow", "unjudged"):
            groups.setdefault(d.name, []).append(d)
    for siblings in groups.values():
        if len(siblings) < 2:
            continue
        figures = [best_figures(d) for d in siblings]
        keys = {k for f in figures for k in f if not k.startswith("p2p")}
        for key in sorted(keys):
            values = [f[key].value for f in figures if key in f and f[key].value]
            if len(values) < 2:
                continue
            median = statistics.median(v for v in values if v is not None)
            for device, found in zip(siblings, figures, strict=True):
                m = found.get(key)
                if m is None or m.value is None or m.value >= (1 - SIBLING_MARGIN) * median:
                    continue
                if device.verdict in ("healthy", "unjudged"):
                    # What NVML saw now explains the shortfall: no longer a mere note.
                    kept = [r for r in device.reasons if not r.startswith(SEEN)]
                    extra = (extras or {}).get(device.device)
                    explain = []
                    if device.watch is not None:
                        explain = _watch_reasons(device.watch, extra, frozenset({m.kind}))
                    device.reasons = explain + kept
                device.verdict = "slow"
                device.reasons.insert(
                    0,
                    f"{m.label} {1 - m.value / median:.0%} below the median of its "
                    f"{len(values)} {device.name} siblings",
                )


def overall(devices: Sequence[DevicePerf]) -> tuple[PerfVerdict, list[str]]:
    """The run's verdict: the worst device verdict; never healthy when a device was skipped."""
    verdicts = [d.verdict for d in devices]
    reasons = [
        f"{d.device}{' (' + d.name + ')' if d.name else ''}: {d.verdict}"
        + (f": {d.reasons[0]}" if d.reasons else "")
        for d in devices
        if d.verdict != "healthy"
    ]
    if not devices:
        return "skipped", ["no device was measured"]
    order: tuple[PerfVerdict, ...] = ("failed", "slow", "incomplete", "skipped", "unjudged")
    for verdict in order:
        if verdict in verdicts:
            return verdict, reasons
    return "healthy", reasons


def judge_report(report: PerfReport) -> None:
    """The run's verdict and reasons from its devices' (a cancelled run is never healthy); a
    busy machine is said, as a reason of the run and of the CPU."""
    report.verdict, report.reasons = overall(report.devices)
    if report.cancelled:
        report.reasons.insert(0, "cancelled: the figures are those measured before")
        if report.verdict == "healthy":
            report.verdict = "skipped"
    busy = busy_reason(report)
    if busy is not None:
        report.reasons.append(busy)
        for device in report.devices:
            if device.device == "cpu" and busy not in device.reasons:
                device.reasons.append(busy)
