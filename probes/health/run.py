"""Run one node's health check within a deadline: the quick level, or the quick level plus perf.

The quick level probes only the libraries the baseline names, and only when the cached check of
the interpreter holds no result for them younger than `max_age_s`; the machine itself (system,
NVML: a lost GPU, a driver gone) is read afresh every time, and the findings are diagnosed again
over the fresh readings. Probed results are merged into the interpreter's cached check, as
`mltui check --only` does. The whole run has a deadline below slurmd's 60 s kill: a run that
reaches it gives an `unknown` verdict (never a drain) instead of being killed half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from probes import __version__
from probes.cache import load_check
from probes.catalog import LIBRARIES, LibrarySpec
from probes.check import assemble_check, save_result
from probes.fleet.launch import throughput_of
from probes.health.model import Baseline, HealthLevel, HealthReport
from probes.health.verdict import below_floor, judge, perf_floor_for
from probes.libraries import probe_libraries
from probes.model import (
    CheckResult,
    Finding,
    LibraryReport,
    NvmlReport,
    SystemInfo,
    TargetPython,
)
from probes.nvml import read_nvml
from probes.perf_model import PerfReport
from probes.system import read_system

#: slurmd kills its HealthCheckProgram after this many seconds (slurmd.c: max_wait = 60*1000).
SLURMD_HEALTH_KILL_S = 60.0
#: The whole health run's default deadline: well inside slurmd's kill, room for scontrol after.
DEFAULT_DEADLINE_S = 40.0
#: Library results younger than this are reused by default (slurm.conf's usual interval).
DEFAULT_MAX_AGE_S = 300.0
#: Seconds the perf level's load may take by default.
DEFAULT_PERF_SECONDS = 15.0
#: Statuses of a cached library result that are not reused (they are not a result).
_NOT_REUSED = frozenset({"timeout"})

T = TypeVar("T")


@dataclass
class HealthOptions:
    """What `mltui health` was asked to do."""

    baseline: Baseline | None = None
    baseline_path: str | None = None
    level: HealthLevel = "quick"
    max_age_s: float = DEFAULT_MAX_AGE_S
    deadline_s: float = DEFAULT_DEADLINE_S
    perf_seconds: float = DEFAULT_PERF_SECONDS
    #: The node's name in the report ($SLURMD_NODENAME, else the host name).
    node: str = ""


def specs_for(baseline: Baseline | None) -> tuple[list[LibrarySpec], list[str]]:
    """The libraries to probe (those the baseline names; every library without one), and the
    names in the baseline this mltui does not know."""
    if baseline is None:
        return list(LIBRARIES), []
    by_id = {spec.id: spec for spec in LIBRARIES}
    named = baseline.libraries
    return [by_id[name] for name in named if name in by_id], [n for n in named if n not in by_id]


def reusable_libraries(
    target: TargetPython, specs: list[LibrarySpec], max_age_s: float, *, now: float | None = None
) -> dict[str, tuple[LibraryReport, float]]:
    """The cached reports among `specs` probed less than `max_age_s` ago, with their ages.

    Each library counts by its own time (`checked_at`): a run cut short by its deadline keeps
    what it finished, and the next run probes only the rest.
    """
    if max_age_s <= 0 or not specs:
        return {}
    try:
        cached = load_check(target)
    except (RuntimeError, KeyError, OSError):  # no home folder to find the cache in
        return {}
    if cached is None:
        return {}
    wanted = {spec.id for spec in specs}
    moment = time.time() if now is None else now
    found: dict[str, tuple[LibraryReport, float]] = {}
    for report in cached.result.libraries:
        if report.name not in wanted or report.status in _NOT_REUSED:
            continue
        age = _age_s(report.checked_at, moment)
        if age is not None and age <= max_age_s:
            found[report.name] = (report, age)
    return found


def _age_s(stamp: str | None, now: float) -> float | None:
    """Seconds since an ISO 8601 time ("2026-12-05T04:40:36Z"), None when it is not one."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, now - moment.timestamp())


@dataclass
class _Progress:
    """What a quick check has finished so far: kept when its deadline cuts it short."""

    reports: list[LibraryReport] = field(default_factory=list)
    machine: tuple[SystemInfo, NvmlReport] | None = None
    started: float = 0.0
    created_at: str = ""


async def quick_check(
    target: TargetPython,
    specs: list[LibrarySpec],
    *,
    max_age_s: float,
    probe_timeout: float,
    nvml: Any = None,
    progress: _Progress | None = None,
) -> tuple[CheckResult, float | None]:
    """The node's check: fresh machine readings, library results reused when young enough.

    Returns the check and the age of the oldest reused library result (None when every one
    was probed now). `progress` collects what has finished, for a run cut short.
    """
    done = progress if progress is not None else _Progress()
    done.started = time.monotonic()
    done.created_at = (
        datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    machine = _in_daemon_thread(lambda: (read_system(), read_nvml(nvml)))
    machine.add_done_callback(lambda f: _keep_machine(done, f))
    reused = reusable_libraries(target, specs, max_age_s)
    to_probe = [spec for spec in specs if spec.id not in reused]

    def finished(report: LibraryReport) -> None:
        report.checked_at = done.created_at
        done.reports.append(report)

    try:
        probed = await probe_libraries(target, to_probe, timeout=probe_timeout, on_report=finished)
    except BaseException:
        machine.cancel()
        raise
    system, nvml_report = await machine
    fresh = {report.name: report for report in probed}
    libraries = [reused[s.id][0] if s.id in reused else fresh[s.id] for s in specs]
    result = assemble_check(
        target,
        system,
        nvml_report,
        libraries,
        created_at=done.created_at,
        started=done.started,
    )
    if to_probe:
        with contextlib.suppress(OSError, RuntimeError, KeyError):
            save_result(result, partial=True)
    age = max((age for _, age in reused.values()), default=None)
    return result, age


def _keep_machine(
    progress: _Progress, future: asyncio.Future[tuple[SystemInfo, NvmlReport]]
) -> None:
    if not future.cancelled() and future.exception() is None:
        progress.machine = future.result()


def keep_finished(target: TargetPython, progress: _Progress) -> int:
    """Save the libraries a run cut short did finish (merged into the cached check), so the
    next run probes only the rest; how many were kept."""
    if progress.machine is None or not progress.reports:
        return 0
    system, nvml_report = progress.machine
    result = assemble_check(
        target,
        system,
        nvml_report,
        list(progress.reports),
        created_at=progress.created_at,
        started=progress.started,
    )
    with contextlib.suppress(OSError, RuntimeError, KeyError):
        save_result(result, partial=True)
    return len(progress.reports)


def _in_daemon_thread(work: Callable[[], T]) -> asyncio.Future[T]:
    """`work()` in a daemon thread, as a future: a read that hangs (NVML on a sick driver) can
    be given up at the deadline without holding up the process's exit, as asyncio.to_thread's
    executor would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(typing.cast(T, value))

    def body() -> None:
        try:
            value = work()
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=body, name="mltui-health-machine", daemon=True).start()
    return future


async def run_health(
    target: TargetPython, options: HealthOptions, *, nvml: Any = None
) -> HealthReport:
    """One node's health report; never raises for what a probe does, never passes the deadline."""
    started = time.monotonic()
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    specs, unknown_names = specs_for(options.baseline)
    extra_unknown = [f"{name}: a library this mltui does not know" for name in unknown_names]
    deadline = options.deadline_s
    perf_budget = options.perf_seconds if options.level == "perf" else 0.0
    check_deadline = max(1.0, deadline - perf_budget)
    check: CheckResult | None = None
    reused_age: float | None = None
    progress = _Progress()
    try:
        check, reused_age = await asyncio.wait_for(
            quick_check(
                target,
                specs,
                max_age_s=options.max_age_s,
                probe_timeout=check_deadline,
                nvml=nvml,
                progress=progress,
            ),
            timeout=check_deadline,
        )
    except asyncio.TimeoutError:
        kept = keep_finished(target, progress)
        words = f"the check did not finish within {check_deadline:g} s"
        if kept:
            words += f" ({kept} of the libraries did: kept for the next run)"
        extra_unknown.append(words)
    extra_errors: list[Finding] = []
    throughput: tuple[float, str] | None = None
    floor = perf_floor_for(check, options.baseline) if check is not None else None
    if options.level == "perf" and check is not None:
        left = deadline - (time.monotonic() - started)
        perf, perf_errors, perf_unknown = await _perf_level(target, left, nvml)
        if perf is not None:
            check.perf = perf
            throughput = throughput_of(perf)
        extra_errors.extend(perf_errors)
        extra_unknown.extend(perf_unknown)
        if throughput is not None and floor is not None:
            slow = below_floor(throughput[0], throughput[1], floor)
            if slow is not None:
                extra_errors.append(slow)
    report = judge(
        check,
        options.baseline,
        node=options.node,
        level=options.level,
        extra_errors=extra_errors,
        extra_unknown=extra_unknown,
    )
    report.mltui_version = __version__
    report.created_at = created_at
    report.baseline = options.baseline_path
    report.reused_age_s = None if reused_age is None else round(reused_age, 1)
    if throughput is not None:
        report.throughput, report.throughput_unit = throughput
    report.perf_floor = floor.floor if floor is not None else None
    report.elapsed_s = round(time.monotonic() - started, 3)
    return report


async def _perf_level(
    target: TargetPython, seconds: float, nvml: Any
) -> tuple[PerfReport | None, list[Finding], list[str]]:
    """The short perf run: its report, its failures, and what did not run."""
    if seconds < 2.0:
        return None, [], ["perf: no time left within the deadline"]
    from probes.perf import PerfOptions, run_perf

    try:
        perf = await asyncio.wait_for(
            run_perf(target, PerfOptions(seconds=seconds - 1.0), nvml=nvml), timeout=seconds
        )
    except asyncio.TimeoutError:
        return None, [], [f"perf: did not finish within {seconds:.0f} s"]
    errors: list[Finding] = []
    if perf.verdict == "failed":
        errors.append(
            Finding(
                rule="perf_failed",
                severity="error",
                title="perf: " + (perf.reasons[0] if perf.reasons else "a device failed"),
                evidence="; ".join(perf.reasons) or "mltui perf's verdict is failed",
                fix="Run `mltui perf` on the node to see each device's figures and reasons.",
            )
        )
    return perf, errors, []
