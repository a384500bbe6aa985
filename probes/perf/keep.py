"""What is kept of a perf run: the one rule for every caller (the CLI, the dashboard, a node).

Who saves: whoever ran `run_perf` calls `keep_perf(report, target)` once the run has ended
(the run itself never saves). What is kept, per device: the newest *complete* figures. A run that
was cut short (cancelled, a library's load failed or timed out, the budget ran out before a
device was measured) or a run that covered fewer devices (`--device cpu` after a run of every
device) never replaces complete figures already kept: its devices replace only what was kept
less complete, and the devices it did not measure keep their earlier figures, each marked with
when it was measured (`DevicePerf.measured_at`). The merge happens under the cache's writers'
lock (`probes.cache.save_perf(merge=...)`), so two runs at once lose nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from probes.cache import load_perf, save_perf
from probes.model import TargetPython
from probes.perf.judge import judge_report
from probes.perf_model import DevicePerf, PerfReport

#: Library-run statuses of a load that did not finish its work (a missing or broken library is
#: the library's state, and the figures of the others are complete without it).
CUT_SHORT = frozenset({"failed", "timeout", "cancelled"})


@dataclass(frozen=True)
class Kept:
    """The outcome of keeping a run: what is kept now, where, and what to tell the user."""

    #: The report kept for the interpreter (the new run, the earlier one, or the two merged).
    report: PerfReport
    #: Where it was written; None when it could not be (`report` is still the right one to show).
    path: Path | None
    #: One line for the user when the new run did not simply replace the kept one; else "".
    note: str = ""


def incomplete_reasons(report: PerfReport) -> list[str]:
    """Why a run's figures are not complete (empty when they are)."""
    reasons: list[str] = []
    if report.cancelled:
        reasons.append("the run was cancelled")
    for run in report.libraries:
        if run.status in CUT_SHORT:
            reasons.append(f"{run.library}: {run.status}")
    return reasons


def _measured(device: DevicePerf) -> bool:
    return any(m.value is not None for m in device.measurements)


def _rank(device: DevicePerf | None, complete: bool) -> int:
    """How much a device's entry is worth keeping: 2 judged by a complete run (figures, or a
    failure); 1 some figures of a run cut short; 0 nothing measured (skipped, or cut short
    before it); -1 not in the report."""
    if device is None:
        return -1
    if not _measured(device) and (device.verdict == "skipped" or not complete):
        return 0
    return 2 if complete else 1


def merge_perf(new: PerfReport, kept: PerfReport | None) -> PerfReport:
    """The report to keep after `new`, given the one kept so far (see the module's rule).

    `new` itself when it replaces everything kept; `kept` itself when it adds nothing; else
    `new` with the devices it did not improve on taken from `kept` (marked `measured_at`).
    """
    if kept is None:
        return new
    new_complete = not incomplete_reasons(new)
    kept_complete = not incomplete_reasons(kept)
    earlier = {d.device: d for d in kept.devices}
    fresh = {d.device: d for d in new.devices}
    devices: list[DevicePerf] = []
    carried: list[str] = []
    for name in [*fresh, *(n for n in earlier if n not in fresh)]:
        candidate, before = fresh.get(name), earlier.get(name)
        if candidate is not None and _rank(candidate, new_complete) >= _rank(before, kept_complete):
            devices.append(candidate)
        elif before is not None:
            devices.append(replace(before, measured_at=before.measured_at or kept.created_at))
            carried.append(name)
    if not carried:
        return new
    if len(carried) == len(devices):
        return kept
    names = {run.library for run in new.libraries}
    allreduce = new.allreduce
    if allreduce is None or allreduce.value is None:
        allreduce = kept.allreduce or allreduce
    merged = replace(
        new,
        devices=devices,
        libraries=[*new.libraries, *(r for r in kept.libraries if r.library not in names)],
        allreduce=allreduce,
        reasons=[],
    )
    judge_report(merged)
    return merged


def keep_perf(report: PerfReport, target: TargetPython) -> Kept:
    """Keep a finished run by the rule above (never raises for the cache: a state instead)."""
    merged: list[PerfReport] = []

    def merge(new: PerfReport, kept: PerfReport | None) -> PerfReport:
        merged.append(merge_perf(new, kept))
        return merged[-1]

    path = save_perf(report, target, merge=merge)
    if not merged:  # nothing written (no cache folder, no lock): what it holds is still true
        merged.append(merge_perf(report, load_perf(target)))
    return Kept(report=merged[-1], path=path, note=keep_note(report, merged[-1]))


def keep_note(new: PerfReport, kept: PerfReport) -> str:
    """One line on what was kept when it is not simply the new run ("" when it is)."""
    if kept is new:
        return ""
    why = "; ".join(incomplete_reasons(new)) or "this run did not measure them"
    fresh = {id(device) for device in new.devices}
    carried = [d.device for d in kept.devices if id(d) not in fresh]
    if len(carried) == len(kept.devices):
        return f"kept the run of {kept.created_at} for comparisons ({why})"
    return f"kept earlier figures of {', '.join(carried)} ({why})"
