"""Was the machine busy while perf measured? Figures taken on a loaded machine are low, and say so.

The run reads the 1-minute load average (`os.getloadavg`) before it starts and after each load
process ends. Its own work counts too: a CPU GEMM keeps every usable core busy, so only load
beyond that (or load already there before the run) is other people's work.
"""

from __future__ import annotations

import os

from probes.perf_model import PerfReport

#: Other work on at least this share of the usable CPUs makes the figures "low".
BUSY_SHARE = 0.5


def read_load() -> float | None:
    """The 1-minute load average, or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def note_load(report: PerfReport, loads: list[float], cpus: int) -> None:
    """Record the load seen during the run (`loads[0]` from before it started) in the report."""
    if not loads:
        return
    report.load_before = round(loads[0], 2)
    report.load_peak = round(max(loads), 2)
    report.usable_cpus = cpus


def busy_reason(report: PerfReport) -> str | None:
    """'load 15 on 2 CPUs: figures are low' when other work shared the machine; else None."""
    cpus = report.usable_cpus
    if not cpus or report.load_peak is None:
        return None
    before = report.load_before or 0.0
    # The run's own load is at most one runnable thread per usable CPU.
    others = max(before, report.load_peak - cpus)
    if others < BUSY_SHARE * cpus:
        return None
    shown = max(before, report.load_peak)
    return f"load {shown:.0f} on {cpus} CPU{'s' if cpus != 1 else ''}: figures are low"
