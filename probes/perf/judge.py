"""Judging: figures against peaks and siblings, and what NVML saw, become verdicts with reasons."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from probes.perf_model import DevicePerf, Measurement, NvmlWatch, PerfVerdict

#: Below this share of its peak a figure is "slow" (GEMM, device copy, host link, peer copy).
#: Healthy cards reach about 65-90 % of the dense GEMM peak with cuBLAS at n = 8192, 80-90 % of
#: the memory peak in a device copy, 75-88 % of the PCIe rate in a pinned copy
#: (../shared/gpu-peaks.md §4).
SLOW_BELOW: dict[str, float] = {"gemm": 0.5, "copy": 0.6, "h2d": 0.6, "d2h": 0.6, "p2p": 0.5}
#: The CPU peak is an estimate: only a much lower figure is called slow (and only a warning).
CPU_SLOW_BELOW = 0.2
#: A GPU this far below the median of its siblings (same model, same node) is an outlier.
SIBLING_MARGIN = 0.10
#: A median SM clock under load below this share of the maximum is worth saying.
CLOCK_LOW = 0.9
#: Marks what NVML saw on a healthy device (a note, not a reason).
SEEN = "seen: "
#: Clock-event reasons that are not a fault under load.
BENIGN_REASONS = frozenset({"idle", "applications clocks setting", "display clock setting"})


def apply_peaks(device: DevicePerf) -> None:
    """Fill each measurement's peak and ratio from the device's peaks."""
    for m in device.measurements:
        peak = device.peaks.get(m.key)
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


def _watch_reasons(watch: NvmlWatch, extra: dict[str, Any] | None = None) -> list[str]:
    """What NVML saw during the load that can explain a shortfall."""
    reasons: list[str] = []
    if any(s.utilization_percent is not None for s in watch.samples):
        # Only samples taken while the GPU was busy say how it behaves under load.
        loaded = [s for s in watch.samples if (s.utilization_percent or 0) >= 50]
    else:
        loaded = list(watch.samples)
    clocks = [s.sm_clock_mhz for s in loaded if s.sm_clock_mhz]
    if clocks and watch.sm_clock_max_mhz:
        median = statistics.median(clocks)
        if median < CLOCK_LOW * watch.sm_clock_max_mhz:
            reasons.append(
                f"SM clock {median / 1000:.2f} of {watch.sm_clock_max_mhz / 1000:.2f} GHz"
            )
    seen: dict[str, int] = {}
    for s in loaded:
        for reason in s.clock_event_reasons:
            if reason not in BENIGN_REASONS:
                seen[reason] = seen.get(reason, 0) + 1
    powers = [s.power_w for s in watch.samples if s.power_w is not None]
    for reason in sorted(seen, key=lambda r: -seen[r]):
        share = seen[reason] / max(1, len(loaded))
        text = {
            "hardware power brake slowdown": "power brake active",
            "software power cap": "power cap reached",
            "hardware thermal slowdown": "thermal slowdown (hardware)",
            "software thermal slowdown": "thermal slowdown",
            "hardware slowdown": "hardware slowdown (power brake or overheating)",
        }.get(reason, reason)
        reasons.append(f"{text} in {share:.0%} of samples")
    if powers and watch.power_limit_w and max(powers) >= 0.97 * watch.power_limit_w:
        reasons.append(f"{watch.power_limit_w:.0f} W limit reached")
    default_limit = (extra or {}).get("power_default_limit_w")
    if watch.power_limit_w and default_limit and watch.power_limit_w < 0.95 * default_limit:
        reasons.append(f"power limit set to {watch.power_limit_w:.0f} of {default_limit:.0f} W")
    temps = [s.temperature_c for s in watch.samples if s.temperature_c is not None]
    if temps and watch.temperature_slowdown_c and max(temps) >= watch.temperature_slowdown_c - 3:
        reasons.append(f"{max(temps)} °C, slowdown at {watch.temperature_slowdown_c} °C")
    gens = [s.pcie_generation for s in watch.samples if s.pcie_generation]
    widths = [s.pcie_width for s in watch.samples if s.pcie_width]
    if gens and widths and watch.pcie_generation_max and watch.pcie_width_max:
        gen, width = max(gens), max(widths)
        if gen < watch.pcie_generation_max or width < watch.pcie_width_max:
            reasons.append(
                f"PCIe link gen {gen} x{width} under load "
                f"(the card supports gen {watch.pcie_generation_max} x{watch.pcie_width_max})"
            )
    if watch.other_pids:
        pids = ", ".join(map(str, watch.other_pids[:8]))
        reasons.append(f"other processes appeared on the GPU: PIDs {pids}")
    return reasons


def judge_device(device: DevicePerf, extra: dict[str, Any] | None = None) -> None:
    """Set the device's verdict and reasons from its figures, peaks and NVML watch."""
    if device.verdict == "skipped" and device.reasons:
        return
    apply_peaks(device)
    failed: list[str] = []
    slow: list[str] = []
    best = best_figures(device)
    for m in device.measurements:
        if m.result_ok is False:
            failed.append(f"{m.library} {m.label} gave a wrong result")
    keys_with_figure = {m.key for m in best.values()}
    for m in device.measurements:
        if m.error and m.key not in keys_with_figure:
            failed.append(f"{m.library} {m.label}: {m.error}")
            keys_with_figure.add(m.key)  # one line per failing measurement
    cpu = device.device == "cpu"
    for m in best.values():
        if m.ratio is None:
            continue
        threshold = CPU_SLOW_BELOW if cpu else SLOW_BELOW.get(m.kind, 0.5)
        if m.ratio < threshold:
            slow.append(f"{m.label} at {m.ratio:.0%} of peak")
        elif cpu and m.ratio > 1.05 and device.peaks.get(m.key, None) is not None:
            device.reasons.append(
                f"{m.library} {m.label} measured {m.ratio:.0%} of the estimated peak: "
                "the clock the estimate assumes is below the real (turbo) clock"
            )
    if not any(m.value is not None for m in device.measurements):
        failed.append("nothing was measured on this device")
    explain = _watch_reasons(device.watch, extra) if device.watch is not None else []
    if failed:
        device.verdict = "failed"
        device.reasons = failed + explain + device.reasons
    elif slow:
        device.verdict = "slow"
        device.reasons = slow + explain + device.reasons
    else:
        device.verdict = "healthy"
        device.reasons = device.reasons + [f"{SEEN}{r}" for r in explain]


def judge_siblings(devices: Sequence[DevicePerf]) -> None:
    """Mark a GPU more than SIBLING_MARGIN below the median of its same-model siblings slow."""
    groups: dict[str, list[DevicePerf]] = {}
    for d in devices:
        if d.device != "cpu" and d.name and d.verdict in ("healthy", "slow"):
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
                if device.verdict == "healthy":
                    # What NVML saw now explains the shortfall: no longer a mere note.
                    device.reasons = [r.removeprefix(SEEN) for r in device.reasons]
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
    order: tuple[PerfVerdict, ...] = ("failed", "slow", "skipped")
    for verdict in order:
        if verdict in verdicts:
            return verdict, reasons
    return "healthy", reasons
