"""The run: read the GPUs, plan (`probes.perf.plan`), then measure the plan in turns and judge.

Safe on a shared server: a GPU with other processes on it (NVML's process list) is skipped as
"busy: PIDs …" unless `force`; allocations stay within `memory_share` of free memory; the whole
run stops at the budget, keeping what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probes import __version__
from probes.model import SystemInfo, TargetPython
from probes.nvml import NvmlSession
from probes.peaks import gpu_peaks, specs_of
from probes.perf.devices import gpu_index, select_devices
from probes.perf.events import EventCallback
from probes.perf.judge import judge_device, judge_siblings, overall
from probes.perf.load import LoadPlan, _LoadListener, run_allreduce, run_load
from probes.perf.plan import PerfOptions, RunPlan, plan_run
from probes.perf.sampler import NvmlSampler
from probes.perf_model import LibraryRun, Measurement, NvmlSample, PerfReport

#: The all-reduce's line in the report's library list.
ALLREDUCE_RUN = "torch all-reduce"


async def run_perf(
    target: TargetPython,
    options: PerfOptions | None = None,
    *,
    nvml: Any = None,
    system: SystemInfo | None = None,
    cancel: asyncio.Event | None = None,
    on_event: EventCallback | None = None,
    cpuinfo_text: str | None = None,
) -> PerfReport:
    """Run the whole perf check of `target`; never raises for what a load process does.

    `nvml` replaces the NVML bindings (tests pass a fake); `on_event(kind, payload)` reports
    progress: ("gpus", NvmlReport), ("library_started", name), ("measurement", Measurement),
    ("sample", (index, NvmlSample)), ("library_done", LibraryRun), ("allreduce", Measurement).
    Raises PerfUsageError for a bad device selection.
    """
    from probes.system import read_system

    options = options or PerfOptions()
    started = time.monotonic()
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    session = NvmlSession(nvml)
    try:
        nvml_report = await asyncio.to_thread(session.read)
        machine = system if system is not None else await asyncio.to_thread(read_system)
        gpus = [g for g in nvml_report.gpus if g.state == "ok"]
        chosen = select_devices(options.devices, gpus)
        report = PerfReport(
            mltui_version=__version__,
            created_at=created_at,
            hostname=machine.hostname,
            python=target.executable,
            cpu_model=machine.cpu.model,
            seconds_budget=options.seconds,
        )
        if on_event is not None:
            on_event("gpus", nvml_report)
        plan = await asyncio.to_thread(
            plan_run, options, chosen, nvml_report, machine, session, cpuinfo_text
        )
        measuring = _Measuring(
            target, plan, report, session, started + options.seconds, cancel, on_event
        )
        await measuring.measure()
    finally:
        await asyncio.to_thread(session.close)
    report.cancelled = bool(cancel is not None and cancel.is_set())
    report.verdict, report.reasons = overall(report.devices)
    if report.cancelled:
        report.reasons.insert(0, "cancelled: the figures are those measured before")
        if report.verdict == "healthy":
            report.verdict = "skipped"
    report.elapsed_s = round(time.monotonic() - started, 3)
    return report


class _Measuring:
    """Measures one run's plan into its report: the CPU, then the GPUs under NVML, then judges."""

    def __init__(
        self,
        target: TargetPython,
        plan: RunPlan,
        report: PerfReport,
        session: NvmlSession,
        deadline: float,
        cancel: asyncio.Event | None,
        on_event: EventCallback | None,
    ) -> None:
        self.target = target
        self.plan = plan
        self.report = report
        self.session = session
        self.deadline = deadline
        self.cancel = cancel
        self.on_event = on_event
        self.runs: dict[str, LibraryRun] = {}
        #: What each load process said of its device (SM count, capability ...), by device.
        self.device_info: dict[str, dict[str, Any]] = {}
        report.devices = list(plan.devices.values())

    def remaining(self) -> float:
        """Seconds left of the budget."""
        return self.deadline - time.monotonic()

    def stopped(self) -> bool:
        """True once the run was cancelled or the budget ran out."""
        return (self.cancel is not None and self.cancel.is_set()) or self.remaining() <= 0

    async def measure(self) -> None:
        """The CPU's turns, the GPUs' turns (and the all-reduce), then the verdicts."""
        if self.plan.cpu_turns and not self.stopped():
            # The libraries import side by side, then measure one at a time, alone.
            await self._in_turns(self.plan.cpu_turns, all_ready_first=True)
        if self.plan.gpu_devices and not self.stopped():
            await self._measure_gpus()
        self._judge()

    def _add(
        self, run: LibraryRun, found: list[Measurement], info: dict[str, dict[str, Any]]
    ) -> None:
        """One load process's outcome: its library line, its figures to their devices."""
        known = self.runs.get(run.library)
        if known is None or (known.status == "ok" and run.status != "ok"):
            self.runs[run.library] = run  # one line per library: the first, or a failure
        elif known.elapsed_s is not None and run.elapsed_s is not None:
            known.elapsed_s = max(known.elapsed_s, run.elapsed_s)
        self.device_info.update(info)
        for m in found:
            device = self.plan.devices.get(m.device)
            if device is not None:
                device.measurements.append(m)

    async def _measure_gpus(self) -> None:
        """The GPU turns, sampled by NVML while they work; the all-reduce across the working."""
        sampler = NvmlSampler(self.session, self.plan.to_load, on_sample=self._sampled)
        sampler.start()
        cpu_before = time.process_time()
        wall_before = time.monotonic()
        try:
            await self._in_turns(self.plan.gpu_turns, all_ready_first=False)
            await self._allreduce()
        finally:
            watches = await asyncio.to_thread(sampler.stop)
        wall = time.monotonic() - wall_before
        if wall > 0:
            # mltui's whole process while the load ran: the sampler is nearly all of it.
            used = time.process_time() - cpu_before
            self.report.sampler_cpu_percent = round(100.0 * used / wall, 2)
        for watch in watches:
            self.plan.devices[f"cuda:{watch.gpu_index}"].watch = watch

    def _sampled(self, index: int, sample: NvmlSample) -> None:
        """A sampler reading (from the sampling thread), passed on as an event."""
        if self.on_event is not None:
            self.on_event("sample", (index, sample))

    async def _allreduce(self) -> None:
        """With two or more GPUs that measured anything: the NCCL all-reduce across them."""
        devices = self.plan.devices
        working = [
            d for d in self.plan.gpu_devices if any(m.value for m in devices[d].measurements)
        ]
        if len(working) < 2 or self.stopped():
            return
        run, measurement = await run_allreduce(
            self.target,
            working,
            nbytes=min(1 << 30, self.plan.gpu_memory // 4),
            slice_s=self.plan.slice_s * 2,
            timeout=self.remaining(),
            cancel=self.cancel,
        )
        self.report.allreduce = measurement
        run.library = ALLREDUCE_RUN
        self.runs[run.library] = run
        if self.on_event is not None:
            self.on_event("allreduce", measurement)

    def _judge(self) -> None:
        """Peaks of the measured GPUs, the library lines, each device's verdict, the siblings."""
        plan = self.plan
        for gpu in plan.to_load:
            perf = plan.devices[f"cuda:{gpu.index}"]
            info = self.device_info.get(perf.device, {})
            extra = {**plan.extras.get(gpu.index, {}), **{k: v for k, v in info.items() if v}}
            perf.peaks = gpu_peaks(specs_of(gpu, extra))
        report = self.report
        report.libraries = [self.runs.get(lib, LibraryRun(library=lib)) for lib in plan.libraries]
        if ALLREDUCE_RUN in self.runs:
            report.libraries.append(self.runs[ALLREDUCE_RUN])
        for perf in report.devices:
            if not plan.judged(perf):
                continue
            if not perf.measurements and self.stopped():
                perf.verdict = "skipped"
                perf.reasons = ["not measured: the time budget ran out or the run was cancelled"]
                continue
            judge_device(perf, plan.extras.get(gpu_index(perf.device) or -1))
        judge_siblings(report.devices)

    async def _in_turns(
        self, turns: Sequence[Sequence[LoadPlan]], *, all_ready_first: bool
    ) -> None:
        """Start every load process at once (their imports overlap), then let them measure in
        turns, in order: the plans of one turn together, each turn when the one before has ended.

        `all_ready_first` (the CPU) also waits until every library has imported before the first
        measures, so that no import competes with a measurement for the CPU.
        """
        listeners: list[_LoadListener] = []
        with tempfile.TemporaryDirectory(prefix="mltui-perf-") as folder:
            started: list[list[tuple[Path, asyncio.Task[Any]]]] = []
            for number, turn in enumerate(turns):
                tasks = []
                for slot, plan in enumerate(turn):
                    go = Path(folder) / f"go-{number}-{slot}-{plan.library}"
                    task = asyncio.create_task(
                        run_load(
                            self.target,
                            plan,
                            timeout=self.remaining(),
                            go=go,
                            cancel=self.cancel,
                            on_event=self.on_event,
                            listener_ready=listeners.append,
                        )
                    )
                    tasks.append((go, task))
                started.append(tasks)
            try:
                await asyncio.sleep(0)  # every run_load starts and registers its listener
                if all_ready_first and listeners:
                    await _all_ready(listeners, max(0.0, self.remaining()) + 5.0)
                for tasks in started:
                    for go, _ in tasks:
                        go.touch()
                    for _, task in tasks:
                        self._add(*await task)
            finally:
                for tasks in started:
                    for _, task in tasks:
                        if not task.done():
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await task


async def _all_ready(listeners: Sequence[_LoadListener], timeout: float) -> None:
    """Wait until every load process has imported its library (or `timeout`)."""
    waiting = [asyncio.create_task(listener.ready.wait()) for listener in listeners]
    try:
        await asyncio.wait(waiting, timeout=timeout)
    finally:
        for waiter in waiting:
            waiter.cancel()


def run_perf_sync(
    target: TargetPython, options: PerfOptions | None = None, **kwargs: Any
) -> PerfReport:
    """`run_perf` for callers without an event loop (the CLI, benchmarks)."""
    return asyncio.run(run_perf(target, options, **kwargs))
