"""The data model of `mltui perf`: what each device delivered, against what it should.

Plain dataclasses, serialised by `probes.model`'s one (de)serialiser and described by a JSON schema
generated from them (`perf_json_schema`, committed as probes/perf.schema.json). A `PerfReport`
joins the check's model as `CheckResult.perf` (the last run for that interpreter), so the
dashboard, the CLI and `--json` render the same objects. Figures are in base units: FLOP/s and
bytes/s; a missing figure is None with the reason beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Bump when a field is removed or changes meaning; adding an optional field keeps the version.
PERF_SCHEMA_VERSION = 1

#: healthy: every figure within reach of its peak and its siblings; slow: a figure fell short
#: (reasons say why); failed: an error, a wrong result or a missing device; skipped: not measured
#: (busy, MIG parent, no library could use it), never counted as healthy; incomplete: what was
#: measured is fine but a library meant for the device timed out or failed; unjudged: measured,
#: but no datasheet peak exists to judge the figures by (they are shown, never called healthy).
PerfVerdict = Literal["healthy", "slow", "failed", "skipped", "incomplete", "unjudged"]
MeasureKind = Literal["gemm", "copy", "h2d", "d2h", "p2p", "allreduce"]
Unit = Literal["FLOP/s", "B/s"]
#: no_gpu: the library runs, but sees no GPU (a CPU-only build): a state of the library, never
#: a failure of the device.
LibraryRunStatus = Literal[
    "ok", "not_installed", "import_error", "failed", "timeout", "cancelled", "not_run", "no_gpu"
]

#: What each kind of measurement is called (GEMMs are named by their data type).
KIND_LABELS: dict[str, str] = {
    "copy": "memory copy",
    "h2d": "host → device",
    "d2h": "device → host",
    "p2p": "peer copy",
    "allreduce": "all-reduce",
}


@dataclass
class Peak:
    """A theoretical peak and how it was derived (the basis a person can check)."""

    value: float
    unit: Unit
    basis: str
    #: True when an assumption stands in for a known figure (the CPU, a GPU outside the table).
    estimated: bool = False


@dataclass
class Measurement:
    """One figure a library measured on one device, and its ratio to the device's peak."""

    library: str
    device: str  # "cpu", "cuda:0", ...; for allreduce "cuda:0-3"
    kind: MeasureKind
    dtype: str | None = None  # fp32, tf32, bf16, fp16, fp8 for gemm
    value: float | None = None
    unit: Unit = "FLOP/s"
    size: int | None = None  # n of an n×n GEMM, or bytes moved per repetition
    seconds: float | None = None
    repeats: int | None = None
    peer: str | None = None  # the other GPU of a p2p copy
    #: True when the checked element of the result was right; None when not checked.
    result_ok: bool | None = None
    #: Where a wrong result was wrong ("row 17 of C v is off by ..."), from the load's check.
    result_check: str | None = None
    #: How it was measured where that matters: "fast accumulation" or "FP32 accumulation" (FP8).
    mode: str | None = None
    #: The UUID of the GPU the load process ran on (CUDA's own, checked against NVML's).
    uuid: str | None = None
    peak: float | None = None
    ratio: float | None = None  # value / peak
    error: str | None = None
    skipped: str | None = None  # why it was not measured

    @property
    def label(self) -> str:
        """What a person calls it: 'BF16 GEMM', 'FP8 GEMM (fast accumulation)', 'memory copy',
        'peer copy → cuda:1'."""
        if self.kind == "gemm":
            mode = f" ({self.mode})" if self.mode else ""
            return f"{self.dtype.upper()} GEMM{mode}" if self.dtype else "GEMM"
        label = KIND_LABELS.get(self.kind, self.kind)
        return f"{label} → {self.peer}" if self.kind == "p2p" and self.peer else label

    @property
    def key(self) -> str:
        """The peak this figure is compared with: "gemm:bf16", "copy", "h2d", ..."""
        return f"{self.kind}:{self.dtype}" if self.kind == "gemm" else self.kind


@dataclass
class NvmlSample:
    """One NVML reading of one GPU taken while the load ran (about ten a second)."""

    t: float  # seconds since the run started
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    power_w: float | None = None
    temperature_c: int | None = None
    utilization_percent: int | None = None
    clock_event_reasons: list[str] = field(default_factory=list)
    pcie_generation: int | None = None
    pcie_width: int | None = None


@dataclass
class NvmlWatch:
    """What NVML showed of one GPU during the load: the trace and what it adds up to."""

    gpu_index: int
    samples: list[NvmlSample] = field(default_factory=list)
    sm_clock_max_mhz: int | None = None
    power_limit_w: float | None = None
    pcie_generation_max: int | None = None
    pcie_width_max: int | None = None
    temperature_slowdown_c: int | None = None
    #: PIDs of other processes that appeared on the GPU during the run.
    other_pids: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class DevicePerf:
    """One device's figures, peaks, what NVML saw, and the verdict with its reasons."""

    device: str  # "cpu" or "cuda:N" (N = NVML index)
    name: str | None = None
    uuid: str | None = None
    verdict: PerfVerdict = "skipped"
    reasons: list[str] = field(default_factory=list)
    #: key ("gemm:bf16", "copy", "h2d", "d2h", "p2p") -> peak.
    peaks: dict[str, Peak] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    watch: NvmlWatch | None = None
    busy_pids: list[int] = field(default_factory=list)
    #: When these figures were taken, if not in the report's own run: a run that was cut short or
    #: covered fewer devices keeps the earlier complete figures of the others (ISO 8601, UTC).
    measured_at: str | None = None


@dataclass
class LibraryRun:
    """How one library's load script went."""

    library: str
    status: LibraryRunStatus = "not_run"
    version: str | None = None
    error: str | None = None
    elapsed_s: float | None = None
    stderr_tail: list[str] = field(default_factory=list)


@dataclass
class PerfReport:
    """A whole `mltui perf`: every device's verdict, the library comparison, the all-reduce."""

    schema_version: int = PERF_SCHEMA_VERSION
    mltui_version: str = ""
    created_at: str = ""  # ISO 8601, UTC
    hostname: str = ""
    python: str = ""  # the target interpreter
    cpu_model: str | None = None
    seconds_budget: float | None = None
    elapsed_s: float | None = None
    #: the worst device verdict; "healthy" only when every device asked for was measured.
    verdict: PerfVerdict = "skipped"
    reasons: list[str] = field(default_factory=list)
    devices: list[DevicePerf] = field(default_factory=list)
    libraries: list[LibraryRun] = field(default_factory=list)
    allreduce: Measurement | None = None
    #: CPU share of one core mltui's own process used while the load ran (NVML sampling etc.).
    sampler_cpu_percent: float | None = None
    cancelled: bool = False
    #: The 1-minute load average before the run and the highest seen during it, and the CPUs
    #: mltui may use: other work on the machine makes the figures low (`probes.perf.busy`).
    load_before: float | None = None
    load_peak: float | None = None
    usable_cpus: int | None = None

    @property
    def has_errors(self) -> bool:
        """True when the run should exit 1 (EXIT_FINDINGS): a failed device, a GPU measured
        slow, a device whose run was incomplete, or no device measured at all."""
        if not any(m.value is not None for d in self.devices for m in d.measurements):
            return True
        return any(
            d.verdict in ("failed", "incomplete") or (d.verdict == "slow" and d.device != "cpu")
            for d in self.devices
        )

    def comparison(self, device: str | None = None) -> list[Measurement]:
        """The GEMMs every library measured on one device (default: the device most libraries
        measured, a GPU before the CPU on a tie)."""
        gemms = [m for d in self.devices for m in d.measurements if m.kind == "gemm" and m.value]
        if device is None and gemms:
            libraries: dict[str, set[str]] = {}
            for m in gemms:
                libraries.setdefault(m.device, set()).add(m.library)
            device = max(libraries, key=lambda d: (len(libraries[d]), d != "cpu"))
        return [m for m in gemms if m.device == device]
