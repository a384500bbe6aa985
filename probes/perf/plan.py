"""The plan of a perf run, decided before anything is measured: which devices are measured and
which are skipped (with the reason), which library loads run in which turn, and their sizes.

Order of work. CPU only: every library in turn, alone on the CPU (they would share it
otherwise). With GPUs: NumPy measures the CPU first as the baseline, then the GPU libraries
start together so that their (CPU-bound) imports overlap; each waits for a "go" file and mltui
hands the GPUs to one library at a time, PyTorch first (it runs the full set: GEMM per data type,
device copy, pinned host copies, peer copies), then the others' GEMMs on the first GPU for the
comparison. With two or more GPUs the NCCL all-reduce follows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes.model import GpuInfo, NvmlReport, SystemInfo
from probes.nvml import NvmlSession, nvml_extras
from probes.peaks import BF16_FLAGS, CpuSpecs, cpu_peak_missing, cpu_peaks, read_cpu_specs
from probes.perf.devices import gpu_index
from probes.perf.load import LoadPlan
from probes.perf_model import DevicePerf

#: Libraries measured, in order (NumPy is the CPU baseline).
LIBRARIES: tuple[str, ...] = ("numpy", "torch", "tensorflow", "jax")
GPU_LIBRARIES: tuple[str, ...] = ("torch", "tensorflow", "jax")
GPU_DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8")
CPU_DTYPES: tuple[str, ...] = ("fp32", "bf16")
#: Default share of a device's free memory a measurement may allocate.
MEMORY_SHARE = 0.5
#: Seconds per GPU measurement: GPU rates fill a slice quickly (an n = 8192 BF16 GEMM takes
#: about a millisecond on an H100), and the 1-GPU and 8-GPU budgets need the time.
GPU_SLICE_S = 0.15
#: Seconds per peer copy (one per pair: 28 pairs on 8 GPUs).
P2P_SLICE_S = 0.08


@dataclass
class PerfOptions:
    """What `mltui perf` was asked to do."""

    devices: str | None = None
    seconds: float = 60.0
    force: bool = False
    memory_share: float = MEMORY_SHARE
    libraries: Sequence[str] = LIBRARIES


@dataclass
class RunPlan:
    """What a run will do: every chosen device (skipped ones with their reason), the loads."""

    #: Every device asked for, in order; the skipped ones already carry their reason.
    devices: dict[str, DevicePerf]
    #: The libraries asked for, in measuring order.
    libraries: list[str]
    #: The GPUs that will be measured.
    to_load: list[GpuInfo] = field(default_factory=list)
    #: NVML fields the peaks need, per GPU index (read once, before the load).
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The CPU loads: one library per turn, each alone on the CPU.
    cpu_turns: list[list[LoadPlan]] = field(default_factory=list)
    #: The GPU loads in turns (see `gpu_turns`).
    gpu_turns: list[list[LoadPlan]] = field(default_factory=list)
    #: Bytes a GPU load may allocate (a share of the least free memory among the GPUs).
    gpu_memory: int = 0
    slice_s: float = 0.25
    #: MIG instances measured ("cuda:N/mig:S", each by its MIG UUID) and their parent GPU.
    mig: dict[str, GpuInfo] = field(default_factory=dict)
    #: Why the CPU has no estimated peak (its figures are then not judged), if it has none.
    cpu_peak_missing: str | None = None

    @property
    def gpu_devices(self) -> list[str]:
        """The measured GPUs as "cuda:N"."""
        return [f"cuda:{g.index}" for g in self.to_load]

    def judged(self, device: DevicePerf) -> bool:
        """True for a device this run measures (the CPU, a MIG instance, or a GPU not skipped
        beforehand)."""
        if device.device == "cpu" or device.device in self.mig:
            return True
        return device.device == f"cuda:{gpu_index(device.device)}" and (
            gpu_index(device.device) in self.extras
        )


def slice_for(seconds: float) -> float:
    """Seconds per measurement: 0.25 s, less under a tight budget."""
    return max(0.03, min(0.25, seconds / 60.0))


def plan_run(
    options: PerfOptions,
    chosen: list[str],
    nvml_report: NvmlReport,
    system: SystemInfo,
    session: NvmlSession,
    cpuinfo_text: str | None = None,
) -> RunPlan:
    """Decide the run (blocking: reads NVML and /proc; call it in a thread)."""
    by_index = {g.index: g for g in nvml_report.gpus}
    libraries = [lib for lib in LIBRARIES if lib in options.libraries]
    plan = RunPlan(devices={}, libraries=libraries, slice_s=slice_for(options.seconds))
    for device in chosen:
        if device == "cpu":
            plan.devices[device] = DevicePerf(device="cpu", name=system.cpu.model)
            continue
        index = gpu_index(device)
        if index is None:
            continue
        gpu = by_index[index]
        perf = DevicePerf(device=device, name=gpu.name, uuid=gpu.uuid)
        plan.devices[device] = perf
        busy = sorted(p.pid for p in gpu.processes or [])
        perf.busy_pids = busy
        if gpu.mig_mode:
            _plan_mig(plan, gpu, perf, bool(busy) and not options.force)
        elif busy and not options.force:
            perf.reasons = [f"busy: PIDs {', '.join(map(str, busy))} (--force measures anyway)"]
        else:
            plan.to_load.append(gpu)
            plan.extras[gpu.index] = nvml_extras(session, gpu.index)
    gpu_devices = plan.gpu_devices
    if "cpu" in plan.devices:
        cpu_specs = read_cpu_specs(system, cpuinfo_text)
        plan.devices["cpu"].peaks = cpu_peaks(cpu_specs)
        plan.cpu_peak_missing = cpu_peak_missing(cpu_specs)
        cpu_libraries = (
            libraries if not gpu_devices else [lib for lib in libraries if lib == "numpy"]
        )
        plan.cpu_turns = cpu_turns(cpu_libraries, cpu_specs, options, system, plan.slice_s)
    if gpu_devices:
        free = [g.memory_free_bytes or g.memory_total_bytes or (8 << 30) for g in plan.to_load]
        plan.gpu_memory = int(options.memory_share * min(free))
        plan.gpu_turns = gpu_turns(
            [lib for lib in libraries if lib in GPU_LIBRARIES],
            gpu_devices,
            plan.slice_s,
            plan.gpu_memory,
        )
    if plan.mig and "torch" in libraries:
        # One process per MIG instance (CUDA shows a process one instance), all at once: the
        # instances are isolated slices, as their users run them.
        sizes = [m.memory_total_bytes for g in plan.mig.values() for m in g.mig_devices]
        memory = int(options.memory_share * min([s for s in sizes if s] or [8 << 30]))
        slice_s = min(plan.slice_s, GPU_SLICE_S)
        plan.gpu_turns.append(
            [
                LoadPlan("torch", [label], GPU_DTYPES, ("gemm", "copy"), False, slice_s, memory)
                for label in plan.mig
            ]
        )
    return plan


def _plan_mig(plan: RunPlan, gpu: GpuInfo, parent: DevicePerf, busy: bool) -> None:
    """A MIG parent is skipped with its reason (CUDA runs only on its instances); each MIG
    instance NVML lists with a UUID becomes a device "cuda:N/mig:S" measured by that UUID."""
    instances = [m for m in gpu.mig_devices if m.uuid]
    if not instances:
        parent.reasons = [
            "MIG parent: MIG mode is on, so CUDA runs only on MIG instances, and NVML lists "
            "none with a UUID"
        ]
        return
    parent.reasons = [
        f"MIG parent: MIG mode is on, so CUDA runs only on its {len(instances)} MIG instances, "
        "measured each by its MIG UUID"
    ]
    for mig in instances:
        label = f"cuda:{gpu.index}/mig:{mig.index}"
        instance = DevicePerf(device=label, name=mig.name or f"{gpu.name} MIG", uuid=mig.uuid)
        plan.devices[label] = instance
        if busy:
            instance.busy_pids = parent.busy_pids
            instance.reasons = [f"busy: PIDs {', '.join(map(str, parent.busy_pids))} on the GPU"]
        else:
            plan.mig[label] = gpu


def cpu_turns(
    libraries: Sequence[str],
    specs: CpuSpecs,
    options: PerfOptions,
    system: SystemInfo,
    slice_s: float,
) -> list[list[LoadPlan]]:
    """The CPU work: one library per turn (alone on the CPU); BF16 only where the CPU has it."""
    dtypes: Sequence[str] = CPU_DTYPES if specs.flags & BF16_FLAGS else ("fp32",)
    memory = int(min(1 << 30, options.memory_share * (system.memory.available_bytes or (2 << 30))))
    return [
        [
            LoadPlan(
                library,
                ["cpu"],
                dtypes,
                kinds=("gemm", "copy") if library in ("numpy", "torch") else ("gemm",),
                slice_s=slice_s,
                memory_bytes=memory,
                copy_bytes=cpu_copy_bytes(),
            )
        ]
        for library in libraries
    ]


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
