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
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probes import __version__
from probes.model import SystemInfo, TargetPython
from probes.nvml import NvmlSession, nvlink_pairs
from probes.peaks import find_product, gpu_peaks, no_compute_peak, pair_peaks, specs_of
from probes.perf.busy import note_load, read_load, usable_cpus
from probes.perf.devices import select_devices
from probes.perf.events import AllReduced, EventCallback, GpusRead, Sampled
from probes.perf.judge import judge_device, judge_report, judge_siblings
from probes.perf.load import LoadPlan, _LoadListener, run_allreduce, run_load
from probes.perf.plan import PerfOptions, RunPlan, plan_run
from probes.perf.sampler import NvmlSampler
from probes.perf_model import LibraryRun, Measurement, NvmlSample, PerfReport
from probes.replay import replay_path

#: n of a GPU GEMM when the GPUs are replayed (MLTUI_REPLAY): the CPU computes it.
REPLAY_GPU_SIZE = 512
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
    load: Callable[[], float | None] = read_load,
) -> PerfReport:
    """Run the whole perf check of `target`; never raises for what a load process does.

    `nvml` replaces the NVML bindings (tests pass a fake); `on_event` receives the run's
    progress as typed events (`probes.perf.events`; `Sampled` from the sampling thread).
    `load` reads the load average (tests pass a fixed one). Raises PerfUsageError for a bad
    device selection.
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
            on_event(GpusRead(nvml_report))
        plan = await asyncio.to_thread(
            plan_run, options, chosen, nvml_report, machine, session, cpuinfo_text
        )
        measuring = _Measuring(
            target, plan, report, session, started + options.seconds, cancel, on_event, load
        )
        await measuring.measure()
    finally:
        await asyncio.to_thread(session.close)
    report.cancelled = bool(cancel is not None and cancel.is_set())
    judge_report(report)
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
        read_load: Callable[[], float | None] = read_load,
    ) -> None:
        self.target = target
        self.read_load = read_load
        self.plan = plan
        self.report = report
        self.session = session
        self.deadline = deadline
        self.cancel = cancel
        self.on_event = on_event
        self.runs: dict[str, LibraryRun] = {}
        #: What each load process said of its device (SM count, capability ...), by device.
        self.device_info: dict[str, dict[str, Any]] = {}
        #: Each load process's plan and how it ended (a device's verdict needs to know whether
        #: every library meant for it finished).
        self.outcomes: list[tuple[LoadPlan, LibraryRun]] = []
        #: The load average before the run, then after each load process (`probes.perf.busy`).
        self.loads: list[float] = []
        report.devices = list(plan.devices.values())

    def remaining(self) -> float:
        """Seconds left of the budget."""
        return self.deadline - time.monotonic()

    def stopped(self) -> bool:
        """True once the run was cancelled or the budget ran out."""
        return (self.cancel is not None and self.cancel.is_set()) or self.remaining() <= 0

    async def measure(self) -> None:
        """The CPU's turns, the GPUs' turns (and the all-reduce), then the verdicts."""
        self._read_load()
        if self.plan.cpu_turns and not self.stopped():
            # The libraries import side by side, then measure one at a time, alone.
            await self._in_turns(self.plan.cpu_turns, all_ready_first=True)
        if self.plan.gpu_turns and not self.stopped():
            await self._measure_gpus()
        note_load(self.report, self.loads, usable_cpus())
        self._judge()

    def _read_load(self) -> None:
        load = self.read_load()
        if load is not None:
            self.loads.append(load)

    def _add(
        self, run: LibraryRun, found: list[Measurement], info: dict[str, dict[str, Any]]
    ) -> None:
        """One load process's outcome: its library line, its figures to their devices."""
        self._read_load()
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
        sampler = NvmlSampler(self.session, self.plan.to_load, on_readings=self._sampled)
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

    def _sampled(self, readings: dict[int, list[NvmlSample]]) -> None:
        """The sampler's latest readings (from the sampling thread), passed on as an event."""
        if self.on_event is not None:
            self.on_event(Sampled(readings))

    async def _allreduce(self) -> None:
        """With two or more GPUs that measured anything: the NCCL all-reduce across them."""
        devices = self.plan.devices
        working = [
            d for d in self.plan.gpu_devices if any(m.value for m in devices[d].measurements)
        ]
        if len(working) < 2 or self.stopped():
            return
        uuids = self._uuids(working)
        run, measurement = await run_allreduce(
            self.target,
            working,
            uuids=uuids,
            nbytes=min(1 << 30, self.plan.gpu_memory // 4),
            slice_s=self.plan.slice_s * 2,
            timeout=self.remaining(),
            cancel=self.cancel,
        )
        self.report.allreduce = measurement
        run.library = ALLREDUCE_RUN
        self.runs[run.library] = run
        # A failed all-reduce leaves each of its GPUs' runs incomplete.
        self.outcomes.append((LoadPlan(ALLREDUCE_RUN, list(working), ()), run))
        if self.on_event is not None:
            self.on_event(AllReduced(measurement))

    def _uuids(self, devices: Sequence[str]) -> list[str]:
        """NVML's UUIDs of these CUDA devices, to pin a process to (empty when one is unknown:
        the process then takes CUDA's numbering as NVML's)."""
        cuda = [d for d in devices if d.startswith("cuda:")]
        uuids = [self.plan.devices[d].uuid if d in self.plan.devices else None for d in cuda]
        return [u for u in uuids if u] if all(uuids) else []

    def _pinned(self, plan: LoadPlan) -> LoadPlan:
        """The plan with its GPUs' UUIDs: the load process is pinned to them. A replayed GPU
        computes on this CPU: its GEMMs are sized for that."""
        size = REPLAY_GPU_SIZE if replay_path() else plan.gpu_size
        return replace(plan, uuids=self._uuids(plan.devices), gpu_size=size)

    def _incomplete(self, device: str) -> list[str]:
        """Why the run of this device is incomplete: each library process meant for it that
        timed out or failed (a library without a GPU build is a state, not this)."""
        found = []
        for plan, run in self.outcomes:
            if device in plan.devices and run.status in ("timeout", "failed", "import_error"):
                found.append(f"{run.library} {run.status.replace('_', ' ')}: {run.error or '-'}")
        return list(dict.fromkeys(found))

    def _judge(self) -> None:
        """Peaks of the measured GPUs, the library lines, each device's verdict, the siblings."""
        plan = self.plan
        extras: dict[str, dict[str, Any]] = {}
        no_peak: dict[str, str | None] = {}
        indices = [gpu.index for gpu in plan.to_load]
        links = nvlink_pairs(self.session, indices) if len(indices) > 1 else {}
        for gpu in plan.to_load:
            perf = plan.devices[f"cuda:{gpu.index}"]
            info = self.device_info.get(perf.device, {})
            extra = {**plan.extras.get(gpu.index, {}), **{k: v for k, v in info.items() if v}}
            specs = specs_of(gpu, extra)
            perf.peaks = gpu_peaks(specs)
            peers = {f"cuda:{j}": links.get((gpu.index, j)) for j in indices if j != gpu.index}
            # Each pair is held to its own link; a pair NVML says nothing of is not judged.
            perf.peaks.pop("p2p", None)
            perf.peaks.update(pair_peaks(specs, peers))
            product = find_product(gpu.name)
            if product is not None and product.tensor_clock_mhz:
                extra["tensor_clock_mhz"] = product.tensor_clock_mhz
            extras[perf.device] = extra
            no_peak[perf.device] = no_compute_peak(specs)
        for label, parent in plan.mig.items():
            perf = plan.devices[label]
            info = self.device_info.get(label, {})
            extra = {k: v for k, v in info.items() if v}
            specs = specs_of(parent, extra)
            # A MIG instance is held to its own SMs (CUDA's count); its memory and links are
            # shares of the parent's that NVML does not give: those figures are not judged.
            if extra.get("sm_count"):
                perf.peaks = {k: p for k, p in gpu_peaks(specs).items() if k.startswith("gemm:")}
            extras[label] = extra
            no_peak[label] = no_compute_peak(specs) or (
                None if extra.get("sm_count") else "the MIG instance's SM count is unknown"
            )
        report = self.report
        report.libraries = [self.runs.get(lib, LibraryRun(library=lib)) for lib in plan.libraries]
        if ALLREDUCE_RUN in self.runs:
            report.libraries.append(self.runs[ALLREDUCE_RUN])
        for perf in report.devices:
            if not plan.judged(perf):
                continue
            if not any(m.value is not None for m in perf.measurements) and self.stopped():
                perf.verdict = "incomplete"
                perf.reasons = [
                    "not measured: the time budget ran out or the run was cancelled",
                    *(f"incomplete: {r}" for r in self._incomplete(perf.device)),
                ]
                continue
            judge_device(
                perf,
                extras.get(perf.device),
                incomplete=self._incomplete(perf.device),
                no_peak=no_peak.get(perf.device),
            )
        judge_siblings(report.devices, extras)
        cpu = plan.devices.get("cpu")
        if cpu is not None and plan.cpu_peak_missing and cpu.verdict == "healthy":
            cpu.verdict = "unjudged"  # figures without a peak prove nothing of the CPU's speed
            cpu.reasons.insert(0, f"not judged: {plan.cpu_peak_missing}")

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
            started: list[list[tuple[Path, asyncio.Task[Any], LoadPlan]]] = []
            for number, turn in enumerate(turns):
                tasks = []
                for slot, load in enumerate(turn):
                    plan = self._pinned(load)
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
                    tasks.append((go, task, plan))
                started.append(tasks)
            try:
                await asyncio.sleep(0)  # every run_load starts and registers its listener
                if all_ready_first and listeners:
                    await _all_ready(listeners, max(0.0, self.remaining()) + 5.0)
                for tasks in started:
                    for go, _, _ in tasks:
                        go.touch()
                    for _, task, plan in tasks:
                        outcome = await task
                        self.outcomes.append((plan, outcome[0]))
                        self._add(*outcome)
            finally:
                for tasks in started:
                    for _, task, _ in tasks:
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
