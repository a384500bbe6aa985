"""`mltui perf`: does each device deliver the speed it should? Measure, compare, explain.

The load runs as standalone scripts in the target interpreter (`scripts/perf_load.py`, one
process per library; `scripts/perf_allreduce.py`, one process per GPU under a launcher), always
through `probes.process.stream_process`: own process group, a timeout from the `--seconds`
budget, the whole tree killed on cancel. mltui's own process only reads NVML, about ten times a
second, while the load runs (`NvmlSampler`), so a shortfall can be tied to what the card did:
its clocks, power against its limit, temperature, clock-event reasons, PCIe link, and other
processes that appeared.

Order of work. CPU only: every library in turn, alone on the CPU (they would share it
otherwise). With GPUs: NumPy measures the CPU first as the baseline, then the GPU libraries
start together so that their (CPU-bound) imports overlap; each waits for a "go" file and mltui
hands the GPUs to one library at a time, PyTorch first (it runs the full set: GEMM per data type,
device copy, pinned host copies, peer copies), then the others' GEMMs on the first GPU for the
comparison. With two or more GPUs the NCCL all-reduce follows.

Safe on a shared server: a GPU with other processes on it (NVML's process list) is skipped as
"busy: PIDs …" unless `force`; allocations stay within `memory_share` of free memory; the whole
run stops at the budget, keeping what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probes import __version__
from probes.model import GpuInfo, NvmlReport, SystemInfo, TargetPython
from probes.nvml import NvmlSession, decode_clock_event_reasons
from probes.peaks import CpuSpecs, GpuSpecs, cpu_peaks, gpu_peaks, parse_cpuinfo
from probes.perf_model import (
    DevicePerf,
    LibraryRun,
    Measurement,
    NvmlSample,
    NvmlWatch,
    PerfReport,
    PerfVerdict,
)
from probes.process import OutputLine, ProcessOutcome, stream_process

SCRIPTS = Path(__file__).resolve().parent / "scripts"
LOAD_SCRIPT = SCRIPTS / "perf_load.py"
ALLREDUCE_SCRIPT = SCRIPTS / "perf_allreduce.py"

#: Libraries measured, in order (NumPy is the CPU baseline).
LIBRARIES: tuple[str, ...] = ("numpy", "torch", "tensorflow", "jax")
GPU_LIBRARIES: tuple[str, ...] = ("torch", "tensorflow", "jax")
GPU_DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8")
CPU_DTYPES: tuple[str, ...] = ("fp32", "bf16")
#: cpuinfo flags of a CPU with BF16 arithmetic (x86 AVX512_BF16 or AMX, Arm's BF16); elsewhere
#: a BF16 GEMM is emulated and says nothing about the hardware, so only FP32 is measured.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
#: Default share of a device's free memory a measurement may allocate.
MEMORY_SHARE = 0.5
#: NVML sampling interval (seconds).
SAMPLE_INTERVAL_S = 0.1
#: Samples kept per GPU in the report (the live strip needs the recent ones; ~50 s at 10 Hz).
MAX_SAMPLES = 500

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

EventCallback = Callable[[str, Any], None]


class PerfUsageError(ValueError):
    """A bad --device (or other) value; str() is the one-line message for the user."""


# ------------------------------------------------------------------------- device selection


def select_devices(spec: str | None, gpus: Sequence[GpuInfo]) -> list[str]:
    """The devices a `--device` value names: "all" (default), "cpu", "cuda", "cuda:N", "N", lists.

    On a machine with GPUs "all" means every GPU plus the CPU baseline.
    """
    indices = [g.index for g in gpus]
    chosen: list[str] = []
    for part in (spec or "all").split(","):
        word = part.strip().lower()
        if not word:
            continue
        if word == "all":
            chosen += ["cpu", *(f"cuda:{i}" for i in indices)]
        elif word == "cpu":
            chosen.append("cpu")
        elif word in ("cuda", "gpu"):
            if not indices:
                raise PerfUsageError("no NVIDIA GPU here for --device cuda (NVML sees none)")
            chosen += [f"cuda:{i}" for i in indices]
        else:
            match = re.fullmatch(r"(?:cuda:|gpu:)?(\d+)", word)
            if match is None:
                raise PerfUsageError(
                    f"unknown device {part.strip()!r}: use all, cpu, cuda, cuda:N or N"
                )
            index = int(match.group(1))
            if index not in indices:
                have = ", ".join(map(str, indices)) or "none"
                raise PerfUsageError(f"no GPU {index} (NVML sees GPUs: {have})")
            chosen.append(f"cuda:{index}")
    return list(dict.fromkeys(chosen))


def gpu_index(device: str) -> int | None:
    """3 for "cuda:3", None for "cpu"."""
    return int(device.split(":")[1]) if device.startswith("cuda:") else None


# ------------------------------------------------------------------------------ NVML sampler


@dataclass
class _Watch:
    index: int
    watch: NvmlWatch
    own_pids: set[int] = field(default_factory=set)
    #: PIDs NVML listed that this PID namespace does not show (host PIDs in a container).
    unseen: set[int] = field(default_factory=set)


class NvmlSampler:
    """Reads a few NVML fields of the GPUs under load, every `interval` seconds, in a thread.

    Cheap on purpose: a handful of calls per GPU (clocks, power, temperature, utilisation,
    clock-event reasons, PCIe link, processes), no CUDA, no allocation beyond the sample.
    `on_sample(index, sample)` is called from the sampling thread.
    """

    FIELDS: tuple[str, ...] = (
        "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrPcieLinkGeneration",
        "nvmlDeviceGetCurrPcieLinkWidth",
    )

    def __init__(
        self,
        session: NvmlSession,
        gpus: Sequence[GpuInfo],
        *,
        interval: float = SAMPLE_INTERVAL_S,
        on_sample: Callable[[int, NvmlSample], None] | None = None,
        process_every: int = 10,
    ) -> None:
        self.session = session
        self.interval = interval
        self.on_sample = on_sample
        self.process_every = process_every
        self.watches = {
            g.index: _Watch(
                g.index,
                NvmlWatch(
                    gpu_index=g.index,
                    sm_clock_max_mhz=g.clock_sm_max_mhz,
                    power_limit_w=g.power_limit_w,
                    pcie_generation_max=g.pcie_generation_max,
                    pcie_width_max=g.pcie_width_max,
                    temperature_slowdown_c=g.temperature_slowdown_c,
                ),
                {p.pid for p in g.processes or []},
            )
            for g in gpus
        }
        self._samples: dict[int, deque[NvmlSample]] = {
            i: deque(maxlen=MAX_SAMPLES) for i in self.watches
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._reason_function = "nvmlDeviceGetCurrentClocksEventReasons"
        self.rounds = 0
        self.cpu_seconds = 0.0

    def start(self) -> None:
        """Start sampling in a daemon thread."""
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[NvmlWatch]:
        """Stop sampling; the watches, their samples filled in."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for index, watch in self.watches.items():
            watch.watch.samples = list(self._samples[index])
        return [w.watch for w in self.watches.values()]

    def _loop(self) -> None:
        cpu_before = time.thread_time()
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            self.cpu_seconds = time.thread_time() - cpu_before
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def sample_once(self) -> None:
        """One round: every watched GPU read once (public so tests can step it)."""
        with_processes = self.rounds % self.process_every == 0
        for index, watch in self.watches.items():
            sample = self._read(index, watch.watch)
            self._samples[index].append(sample)
            if with_processes:
                self._processes(watch)
            if self.on_sample is not None:
                self.on_sample(index, sample)
        self.rounds += 1

    def _get(self, index: int, watch: NvmlWatch, function: str, *args: Any) -> Any:
        ok, value = self.session.device_call(index, function, *args)
        if not ok:
            watch.errors[function] = str(value)
            return None
        return value

    def _read(self, index: int, watch: NvmlWatch) -> NvmlSample:
        get = self._get
        sample = NvmlSample(t=round(time.monotonic() - self._started, 3))
        value = get(index, watch, "nvmlDeviceGetClockInfo", 1)
        sample.sm_clock_mhz = int(value) if value is not None else None
        value = get(index, watch, "nvmlDeviceGetClockInfo", 2)
        sample.memory_clock_mhz = int(value) if value is not None else None
        value = get(index, watch, "nvmlDeviceGetPowerUsage")
        sample.power_w = round(int(value) / 1000.0, 1) if value is not None else None
        value = get(index, watch, "nvmlDeviceGetTemperature", 0)
        sample.temperature_c = int(value) if value is not None else None
        value = get(index, watch, "nvmlDeviceGetUtilizationRates")
        sample.utilization_percent = int(value.gpu) if value is not None else None
        ok, value = self.session.device_call(index, self._reason_function)
        if not ok and self._reason_function == "nvmlDeviceGetCurrentClocksEventReasons":
            self._reason_function = "nvmlDeviceGetCurrentClocksThrottleReasons"
            ok, value = self.session.device_call(index, self._reason_function)
        if ok:
            sample.clock_event_reasons = decode_clock_event_reasons(int(value))
        value = get(index, watch, "nvmlDeviceGetCurrPcieLinkGeneration")
        sample.pcie_generation = int(value) if value is not None else None
        value = get(index, watch, "nvmlDeviceGetCurrPcieLinkWidth")
        sample.pcie_width = int(value) if value is not None else None
        return sample

    def _processes(self, watch: _Watch) -> None:
        pids: set[int] = set()
        for function in (
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetComputeRunningProcesses",
        ):
            ok, value = self.session.device_call(watch.index, function)
            if ok:
                pids = {int(p.pid) for p in value or []}
                break
        candidates = pids - watch.own_pids - watch.unseen - set(watch.watch.other_pids)
        if not candidates:
            return
        for pid in sorted(candidates - _our_pids()):  # the load processes are ours, not others
            if not _visible(pid):
                # In a container NVML gives host PIDs: mltui's own load cannot be told apart.
                watch.unseen.add(pid)
                watch.watch.errors["processes"] = (
                    f"{len(watch.unseen)} PID(s) NVML lists are not visible here (a container "
                    "sees host PIDs): other processes cannot be told from mltui's own load"
                )
            elif pid not in watch.watch.other_pids:
                watch.watch.other_pids.append(pid)


def _visible(pid: int) -> bool:
    """True when `pid` is a process of this PID namespace."""
    import psutil

    return bool(psutil.pid_exists(pid))


def _our_pids() -> set[int]:
    """mltui and its descendants (the load processes hold CUDA contexts: they are not 'others')."""
    import psutil

    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids.update(p.pid for p in psutil.Process().children(recursive=True))
    return pids


# ------------------------------------------------------------------------------- load runs


@dataclass
class LoadPlan:
    """One library's load: which devices, data types and measurements, and its limits."""

    library: str
    devices: list[str]
    dtypes: Sequence[str]
    kinds: Sequence[str] = ("gemm", "copy", "host")
    p2p: bool = False
    slice_s: float = 0.25
    memory_bytes: int = 1 << 30
    cpu_size: int = 1024
    copy_bytes: int = 256 << 20


def load_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a load process: CUDA numbering as NVML's, no preallocation."""
    env = dict(os.environ)
    env.pop("CUDA_VISIBLE_DEVICES", None)  # indices are NVML's; --device selects
    env.update(
        {
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "CUDA_MODULE_LOADING": "LAZY",
        }
    )
    if extra:
        env.update(extra)
    return env


class _LoadListener:
    """Collects one load process's events into measurements and a LibraryRun."""

    def __init__(self, library: str, on_event: EventCallback | None) -> None:
        self.run = LibraryRun(library=library)
        self.measurements: list[Measurement] = []
        self.device_info: dict[str, dict[str, Any]] = {}
        self.on_event = on_event
        self.ready = asyncio.Event()
        self.done = False
        self.bad_line: str | None = None
        self.stderr: deque[str] = deque(maxlen=12)

    def __call__(self, line: OutputLine) -> None:
        if line.stream == "stderr":
            self.stderr.append(line.text)
            return
        text = line.text.strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.bad_line = self.bad_line or text[:200]
            return
        kind = event.get("event")
        if kind == "library":
            self.run.status = event.get("status", "failed")
            self.run.version = event.get("version")
            self.run.error = event.get("error")
            if self.run.status != "ok":
                self.ready.set()
        elif kind == "ready":
            self.ready.set()
        elif kind == "device":
            self.device_info[str(event.get("device"))] = event
        elif kind in ("measure", "error", "skip"):
            measurement = _measurement(self.run.library, event)
            if measurement is not None:
                self.measurements.append(measurement)
                if self.on_event is not None:
                    self.on_event("measurement", measurement)
        elif kind == "done":
            self.done = True


def _measurement(library: str, event: dict[str, Any]) -> Measurement | None:
    kind = event.get("kind")
    device = event.get("device")
    if kind not in ("gemm", "copy", "h2d", "d2h", "p2p", "allreduce") or not device:
        if event.get("event") == "error":
            # an error outside any one measurement: keep it as a gemm error of the device
            return Measurement(
                library=library,
                device=str(device or "?"),
                kind="gemm",
                error=str(event.get("error")),
            )
        return None
    m = Measurement(
        library=library, device=str(device), kind=kind, unit="B/s" if kind != "gemm" else "FLOP/s"
    )
    m.dtype = event.get("dtype")
    m.peer = event.get("peer")
    if event.get("event") == "measure":
        try:
            m.value = float(event["value"])
            m.size = int(event["size"]) if event.get("size") is not None else None
            m.seconds = float(event["seconds"])
            m.repeats = int(event["repeats"])
        except (KeyError, TypeError, ValueError):
            m.error = "the load script reported an unreadable figure"
            m.value = None
        m.result_ok = bool(event.get("result_ok")) if "result_ok" in event else None
    elif event.get("event") == "error":
        m.error = str(event.get("error") or "failed")
    else:
        m.skipped = str(event.get("reason") or "not measured")
    return m


def _finish_run(
    listener: _LoadListener, outcome: ProcessOutcome, timeout: float | None
) -> LibraryRun:
    run = listener.run
    run.elapsed_s = round(outcome.elapsed_s, 3)
    run.stderr_tail = list(listener.stderr)
    if outcome.start_error:
        run.status, run.error = "failed", f"could not start: {outcome.start_error}"
    elif outcome.cancelled:
        run.status, run.error = "cancelled", "cancelled"
    elif outcome.timed_out:
        run.status = "timeout"
        run.error = f"stopped at the time budget ({timeout:.1f} s)" if timeout else "timed out"
    elif outcome.signal_name is not None:
        run.status, run.error = "failed", f"killed by {outcome.signal_name}"
    elif run.status == "ok" and not listener.done:
        run.status = "failed"
        last = next((s for s in reversed(listener.stderr) if s.strip()), "")
        run.error = f"ended early ({outcome.describe()}){': ' + last.strip() if last else ''}"
    elif run.status == "not_run":
        run.status = "failed"
        run.error = (
            f"not a JSON line: {listener.bad_line!r}"
            if listener.bad_line
            else f"no report ({outcome.describe()})"
        )
    return run


async def run_load(
    target: TargetPython,
    plan: LoadPlan,
    *,
    timeout: float,
    go: Path | None = None,
    cancel: asyncio.Event | None = None,
    on_event: EventCallback | None = None,
    listener_ready: Callable[[_LoadListener], None] | None = None,
    script: Path | None = None,
) -> tuple[LibraryRun, list[Measurement], dict[str, dict[str, Any]]]:
    """Run one library's load script; (how it went, its measurements, device facts it saw)."""
    argv = [
        target.executable,
        str(script or LOAD_SCRIPT),
        plan.library,
        "--devices",
        ",".join(plan.devices),
        "--dtypes",
        ",".join(plan.dtypes),
        "--kinds",
        ",".join(plan.kinds),
        "--slice",
        f"{plan.slice_s:.3f}",
        "--memory-bytes",
        str(int(plan.memory_bytes)),
        "--cpu-size",
        str(plan.cpu_size),
        "--copy-bytes",
        str(int(plan.copy_bytes)),
    ]
    if plan.p2p:
        argv.append("--p2p")
    if go is not None:
        argv += ["--go", str(go), "--go-timeout", f"{max(timeout, 1.0):.1f}"]
    listener = _LoadListener(plan.library, on_event)
    if listener_ready is not None:
        listener_ready(listener)
    if on_event is not None:
        on_event("library_started", plan.library)
    outcome = await stream_process(
        argv, listener, timeout=max(timeout, 0.1), env=load_env(), cancel=cancel
    )
    listener.ready.set()
    run = _finish_run(listener, outcome, timeout)
    if on_event is not None:
        on_event("library_done", run)
    return run, listener.measurements, listener.device_info


async def run_allreduce(
    target: TargetPython,
    devices: Sequence[str],
    *,
    backend: str = "nccl",
    nbytes: int = 256 << 20,
    slice_s: float = 0.5,
    timeout: float = 60.0,
    cancel: asyncio.Event | None = None,
    env: dict[str, str] | None = None,
) -> tuple[LibraryRun, Measurement]:
    """All-reduce bus bandwidth across `devices` (one process per device, torch.distributed).

    `devices` are "cuda:N" (NCCL) or "cpu" repeated (gloo, for tests on a CPU-only machine).
    """
    argv = [
        target.executable,
        str(ALLREDUCE_SCRIPT),
        "--backend",
        backend,
        "--devices",
        ",".join(devices),
        "--bytes",
        str(int(nbytes)),
        "--slice",
        f"{slice_s:.3f}",
        "--timeout",
        f"{max(timeout, 1.0):.1f}",
    ]
    listener = _LoadListener("torch", None)
    outcome = await stream_process(
        argv, listener, timeout=max(timeout, 0.1), env=load_env(env), cancel=cancel
    )
    run = _finish_run(listener, outcome, timeout)
    label = _span(devices)
    found = [m for m in listener.measurements if m.kind == "allreduce"]
    if found:
        measurement = found[0]
        measurement.device = label
        if measurement.error and run.status == "ok":
            run.status, run.error = "failed", measurement.error
    else:
        measurement = Measurement(
            library="torch", device=label, kind="allreduce", unit="B/s", error=run.error
        )
        if run.status == "ok":
            run.status = "failed"
            measurement.error = run.error = run.error or "no all-reduce figure reported"
    return run, measurement


def _span(devices: Sequence[str]) -> str:
    if devices and all(d.startswith("cuda:") for d in devices):
        return "cuda:" + ",".join(d.split(":")[1] for d in devices)
    return f"{len(devices)}×{devices[0] if devices else '?'}"


# ---------------------------------------------------------------------------------- peaks


def specs_of(gpu: GpuInfo, extra: dict[str, Any] | None = None) -> GpuSpecs:
    """The peak-derivation input of a GPU from its NVML reading and what CUDA reported."""
    extra = extra or {}
    return GpuSpecs(
        name=gpu.name,
        compute_capability=gpu.compute_capability or extra.get("compute_capability"),
        cuda_cores=extra.get("cuda_cores"),
        sm_count=extra.get("sm_count"),
        clock_sm_max_mhz=gpu.clock_sm_max_mhz,
        clock_memory_max_mhz=gpu.clock_memory_max_mhz,
        memory_bus_width_bits=extra.get("memory_bus_width_bits"),
        pcie_generation_max=gpu.pcie_generation_max,
        pcie_width_max=gpu.pcie_width_max,
        nvlink_active_links=extra.get("nvlink_active_links"),
    )


def nvml_extras(session: NvmlSession, index: int) -> dict[str, Any]:
    """Fields the check does not read but the peaks need: CUDA cores, bus width, NVLinks."""
    extra: dict[str, Any] = {}
    ok, value = session.device_call(index, "nvmlDeviceGetNumGpuCores")
    if ok:
        extra["cuda_cores"] = int(value)
    ok, value = session.device_call(index, "nvmlDeviceGetMemoryBusWidth")
    if ok:
        extra["memory_bus_width_bits"] = int(value)
    links = 0
    for link in range(18):
        ok, value = session.device_call(index, "nvmlDeviceGetNvLinkState", link)
        if not ok:
            break
        links += int(int(value) == 1)
    if links:
        extra["nvlink_active_links"] = links
    ok, value = session.device_call(index, "nvmlDeviceGetPowerManagementDefaultLimit")
    if ok:
        extra["power_default_limit_w"] = round(int(value) / 1000.0, 1)
    return extra


def cpu_copy_bytes(cache_root: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """Array size of the CPU copy: four times the last-level cache (STREAM's rule), >= 64 MiB."""
    largest = 0
    for size_file in Path(cache_root).glob("index*/size"):
        text = size_file.read_text(errors="replace").strip() if size_file.exists() else ""
        match = re.fullmatch(r"(\d+)([KMG]?)", text)
        if match:
            scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2)]
            largest = max(largest, int(match.group(1)) * scale)
    return max(64 << 20, 4 * largest)


def read_cpu_specs(system: SystemInfo, cpuinfo_text: str | None = None) -> CpuSpecs:
    """The CPU estimate's input: /proc/cpuinfo, the usable cores, the best clock known."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo_text = ""
    specs = parse_cpuinfo(cpuinfo_text)
    cores = system.cpu.physical_cores or system.cpu.logical_cores
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores or 10**6, len(os.sched_getaffinity(0)))
    limit = system.container.cpu_limit_cores
    if limit and cores:
        cores = max(1, min(cores, int(limit)))
    specs.cores = cores
    max_mhz = system.cpu.frequency_max_mhz
    if max_mhz:
        specs.clock_mhz = max_mhz
        specs.clock_source = "the maximum clock cpufreq reports"
    if not specs.model_name:
        specs.model_name = system.cpu.model or ""
    return specs


# -------------------------------------------------------------------------------- verdicts


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


# ------------------------------------------------------------------------------ the check


@dataclass
class PerfOptions:
    """What `mltui perf` was asked to do."""

    devices: str | None = None
    seconds: float = 60.0
    force: bool = False
    memory_share: float = MEMORY_SHARE
    libraries: Sequence[str] = LIBRARIES


def _slice_for(seconds: float) -> float:
    """Seconds per measurement: 0.25 s, less under a tight budget."""
    return max(0.03, min(0.25, seconds / 60.0))


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
    deadline = started + options.seconds
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
        await _measure(
            target,
            options,
            report,
            chosen,
            nvml_report,
            machine,
            session,
            deadline=deadline,
            cancel=cancel,
            on_event=on_event,
            cpuinfo_text=cpuinfo_text,
        )
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


async def _measure(
    target: TargetPython,
    options: PerfOptions,
    report: PerfReport,
    chosen: list[str],
    nvml_report: NvmlReport,
    system: SystemInfo,
    session: NvmlSession,
    *,
    deadline: float,
    cancel: asyncio.Event | None,
    on_event: EventCallback | None,
    cpuinfo_text: str | None,
) -> None:
    by_index = {g.index: g for g in nvml_report.gpus}
    devices: dict[str, DevicePerf] = {}
    extras: dict[int, dict[str, Any]] = {}
    to_load: list[GpuInfo] = []
    for device in chosen:
        if device == "cpu":
            devices[device] = DevicePerf(device="cpu", name=system.cpu.model)
            continue
        gpu = by_index[gpu_index(device) or 0]
        perf = DevicePerf(device=device, name=gpu.name, uuid=gpu.uuid)
        devices[device] = perf
        busy = sorted(p.pid for p in gpu.processes or [])
        perf.busy_pids = busy
        if gpu.mig_mode:
            perf.reasons = ["MIG mode is on: measuring MIG slices is not supported"]
        elif busy and not options.force:
            perf.reasons = [f"busy: PIDs {', '.join(map(str, busy))} (--force measures anyway)"]
        else:
            to_load.append(gpu)
            extras[gpu.index] = await asyncio.to_thread(nvml_extras, session, gpu.index)
    report.devices = list(devices.values())
    cpu_dtypes: tuple[str, ...] = ("fp32",)
    if "cpu" in devices:
        cpu_specs = read_cpu_specs(system, cpuinfo_text)
        devices["cpu"].peaks = cpu_peaks(cpu_specs)
        if cpu_specs.flags & BF16_FLAGS:
            cpu_dtypes = CPU_DTYPES
    slice_s = _slice_for(options.seconds)
    cpu_memory = int(
        min(1 << 30, options.memory_share * (system.memory.available_bytes or (2 << 30)))
    )
    runs: dict[str, LibraryRun] = {}
    device_info: dict[str, dict[str, Any]] = {}

    def remaining() -> float:
        return deadline - time.monotonic()

    def stopped() -> bool:
        return (cancel is not None and cancel.is_set()) or remaining() <= 0

    def add(run: LibraryRun, found: list[Measurement], info: dict[str, dict[str, Any]]) -> None:
        known = runs.get(run.library)
        if known is None or (known.status == "ok" and run.status != "ok"):
            runs[run.library] = run  # one line per library: the first, or a failure
        elif known is not None and known.elapsed_s is not None and run.elapsed_s is not None:
            known.elapsed_s = max(known.elapsed_s, run.elapsed_s)
        device_info.update(info)
        for m in found:
            target_device = devices.get(m.device)
            if target_device is not None:
                target_device.measurements.append(m)

    libraries = [lib for lib in LIBRARIES if lib in options.libraries]
    gpu_devices = [f"cuda:{g.index}" for g in to_load]
    cpu_libraries = libraries if not gpu_devices else [lib for lib in libraries if lib == "numpy"]
    # 1. The CPU: the libraries import side by side, then measure one at a time, alone.
    if "cpu" in devices and not stopped():
        plans = [
            LoadPlan(
                library,
                ["cpu"],
                cpu_dtypes,
                kinds=("gemm", "copy") if library in ("numpy", "torch") else ("gemm",),
                slice_s=slice_s,
                memory_bytes=cpu_memory,
                copy_bytes=cpu_copy_bytes(),
            )
            for library in cpu_libraries
        ]
        turns = [[plan] for plan in plans]
        await _in_turns(target, turns, remaining, cancel, on_event, add, all_ready_first=True)
    # 2. The GPUs, sampled by NVML while they work.
    if gpu_devices and not stopped():
        free = [g.memory_free_bytes or g.memory_total_bytes or (8 << 30) for g in to_load]
        memory = int(options.memory_share * min(free))
        sampler = NvmlSampler(
            session,
            to_load,
            on_sample=(lambda i, s: on_event("sample", (i, s))) if on_event else None,
        )
        sampler.start()
        cpu_before = time.process_time()
        wall_before = time.monotonic()
        try:
            turns = gpu_turns(
                [lib for lib in libraries if lib in GPU_LIBRARIES], gpu_devices, slice_s, memory
            )
            await _in_turns(target, turns, remaining, cancel, on_event, add, all_ready_first=False)
            working = [d for d in gpu_devices if any(m.value for m in devices[d].measurements)]
            if len(working) > 1 and not stopped():
                allreduce_run, measurement = await run_allreduce(
                    target,
                    working,
                    nbytes=min(1 << 30, memory // 4),
                    slice_s=slice_s * 2,
                    timeout=remaining(),
                    cancel=cancel,
                )
                report.allreduce = measurement
                allreduce_run.library = "torch all-reduce"
                runs[allreduce_run.library] = allreduce_run
                if on_event is not None:
                    on_event("allreduce", measurement)
        finally:
            watches = await asyncio.to_thread(sampler.stop)
        wall = time.monotonic() - wall_before
        if wall > 0:
            # mltui's whole process while the load ran: the sampler is nearly all of it.
            report.sampler_cpu_percent = round(100.0 * (time.process_time() - cpu_before) / wall, 2)
        for watch in watches:
            perf = devices[f"cuda:{watch.gpu_index}"]
            perf.watch = watch
    # 3. Peaks and verdicts.
    for gpu in to_load:
        perf = devices[f"cuda:{gpu.index}"]
        info = device_info.get(perf.device, {})
        extra = {**extras.get(gpu.index, {}), **{k: v for k, v in info.items() if v}}
        perf.peaks = gpu_peaks(specs_of(gpu, extra))
    report.libraries = [runs.get(lib, LibraryRun(library=lib)) for lib in libraries]
    if "torch all-reduce" in runs:
        report.libraries.append(runs["torch all-reduce"])
    for perf in report.devices:
        if perf.device == "cpu" or gpu_index(perf.device) in extras:
            if not perf.measurements and stopped():
                perf.verdict = "skipped"
                perf.reasons = ["not measured: the time budget ran out or the run was cancelled"]
                continue
            judge_device(perf, extras.get(gpu_index(perf.device) or -1))
    judge_siblings(report.devices)


#: Seconds per GPU measurement: GPU rates fill a slice quickly (an n = 8192 BF16 GEMM takes
#: about a millisecond on an H100), and the 1-GPU and 8-GPU budgets need the time.
GPU_SLICE_S = 0.15
#: Seconds per peer copy (one per pair: 28 pairs on 8 GPUs).
P2P_SLICE_S = 0.08


def gpu_turns(
    libraries: Sequence[str], gpu_devices: list[str], slice_s: float, memory: int
) -> list[list[LoadPlan]]:
    """The GPU work in turns; the plans of one turn run at the same time.

    One GPU: PyTorch's whole set, then each other library's GEMM. Several GPUs: first a PyTorch
    process per GPU for the device-local figures (GEMMs, device copy), all at once (as in
    training; the siblings are then compared under the same conditions), then one PyTorch
    process for the host copies (GPU after GPU: they share the host's bandwidth) and the peer
    copies, then the other libraries' GEMMs on the first GPU.
    """
    gpu_slice = min(slice_s, GPU_SLICE_S)
    turns: list[list[LoadPlan]] = []
    if "torch" in libraries:
        if len(gpu_devices) == 1:
            turns.append(
                [
                    LoadPlan(
                        "torch",
                        gpu_devices,
                        GPU_DTYPES,
                        ("gemm", "copy", "host"),
                        False,
                        gpu_slice,
                        memory,
                    )
                ]
            )
        else:
            turns.append(
                [
                    LoadPlan(
                        "torch", [device], GPU_DTYPES, ("gemm", "copy"), False, gpu_slice, memory
                    )
                    for device in gpu_devices
                ]
            )
            turns.append(
                [
                    LoadPlan(
                        "torch",
                        gpu_devices,
                        (),
                        ("host",),
                        True,
                        min(gpu_slice, P2P_SLICE_S),
                        memory,
                    )
                ]
            )
    for library in libraries:
        if library != "torch":
            turns.append(
                [
                    LoadPlan(
                        library, gpu_devices[:1], GPU_DTYPES, ("gemm",), False, gpu_slice, memory
                    )
                ]
            )
    return turns


async def _in_turns(
    target: TargetPython,
    turns: Sequence[Sequence[LoadPlan]],
    remaining: Callable[[], float],
    cancel: asyncio.Event | None,
    on_event: EventCallback | None,
    add: Callable[[LibraryRun, list[Measurement], dict[str, dict[str, Any]]], None],
    *,
    all_ready_first: bool,
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
                        target,
                        plan,
                        timeout=remaining(),
                        go=go,
                        cancel=cancel,
                        on_event=on_event,
                        listener_ready=listeners.append,
                    )
                )
                tasks.append((go, task))
            started.append(tasks)
        try:
            await asyncio.sleep(0)  # every run_load starts and registers its listener
            if all_ready_first and listeners:
                waiting = [asyncio.create_task(listener.ready.wait()) for listener in listeners]
                try:
                    await asyncio.wait(waiting, timeout=max(0.0, remaining()) + 5.0)
                finally:
                    for waiter in waiting:
                        waiter.cancel()
            for tasks in started:
                for go, _ in tasks:
                    go.touch()
                for _, task in tasks:
                    add(*await task)
        finally:
            for tasks in started:
                for _, task in tasks:
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task


def run_perf_sync(
    target: TargetPython, options: PerfOptions | None = None, **kwargs: Any
) -> PerfReport:
    """`run_perf` for callers without an event loop (the CLI, benchmarks)."""
    return asyncio.run(run_perf(target, options, **kwargs))
