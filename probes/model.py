"""The one data model of mltui: what the probes find, as plain dataclasses that serialise to JSON.

`tui/` renders these, `mltui check` prints them with Rich or as `--json`. Every value that can be
missing is `None` with the reason in an `errors` mapping beside it, so a JSON reader sees explicit
nulls and why, never a guess. `to_json()` / `from_json()` here are the only (de)serialisers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from probes.perf_model import PERF_SCHEMA_VERSION, PerfReport
from probes.untrusted_json import MAX_JSON_DEPTH, parse_json

#: Bump when a field is removed or changes meaning; adding an optional field keeps the version.
SCHEMA_VERSION = 1

Severity = Literal["error", "warning", "info"]
#: The severities, most serious first: the one order findings are listed in, everywhere.
SEVERITIES: tuple[str, ...] = get_args(Severity)


def severity_rank(severity: str) -> int:
    """Sort key for findings: errors first, then warnings, then information, then anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


LibraryStatus = Literal[
    "ok",  # imported, and a computation ran on every device it claims
    "degraded",  # imported, but a device it claims failed its computation
    "not_installed",  # no distribution of it in the target interpreter
    "import_error",  # installed, but importing it raised
    "timeout",  # the probe did not finish within its time and was killed
    "crashed",  # the probe died on a signal or exited non-zero without a report
    "bad_output",  # the probe printed something that is not its JSON report
]
#: Every value of LibraryStatus.
LIBRARY_STATUSES: tuple[str, ...] = get_args(LibraryStatus)
NvmlStatus = Literal["ok", "no_driver", "error"]
GpuState = Literal["ok", "lost"]


@dataclass
class CpuInfo:
    """The processor: model, cores, frequency and how busy each core is."""

    model: str | None = None
    vendor: str | None = None
    architecture: str | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    frequency_current_mhz: float | None = None
    frequency_max_mhz: float | None = None
    per_core_percent: list[float] = field(default_factory=list)
    load_average: list[float] | None = None
    #: The vector extensions that decide the CPU's speed (AVX2, AVX-512F, AMX-BF16, NEON, SVE...).
    vector_extensions: list[str] = field(default_factory=list)


@dataclass
class MemoryInfo:
    """Main memory and swap, in bytes."""

    total_bytes: int = 0
    used_bytes: int = 0
    available_bytes: int = 0
    swap_total_bytes: int = 0
    swap_used_bytes: int = 0


@dataclass
class ContainerLimits:
    """Whether we run in a container, and its cgroup CPU and memory limits when below the host's."""

    in_container: bool = False
    runtime: str | None = None
    cpu_limit_cores: float | None = None
    memory_limit_bytes: int | None = None


@dataclass
class PciDevice:
    """One device on the PCI bus, as sysfs lists it (ids as lower-case hex, e.g. "0x10de")."""

    address: str
    vendor_id: str
    device_id: str
    #: The 24-bit class code, e.g. "0x030200" (0x03xxxx: a display or 3D controller).
    class_code: str
    #: The kernel driver bound to it ("nvidia", "nouveau", "vfio-pci"), None when none is.
    driver: str | None = None


@dataclass
class PciBus:
    """What is on the PCI bus: how many devices, the NVIDIA GPUs and the other display devices.

    `readable` is False where there is no PCI bus to read (not Linux, a sandbox without /sys),
    with the reason in `reason`; the counts are then 0 and mean nothing.
    """

    readable: bool = False
    reason: str | None = None
    #: Where it was read from (a sysfs folder, or a recording).
    source: str = ""
    device_count: int = 0
    #: NVIDIA (vendor 0x10de) display and 3D controllers: the GPUs.
    nvidia_gpus: list[PciDevice] = field(default_factory=list)
    #: Display and 3D controllers of any other vendor (a BMC's VGA, virtio-gpu, an iGPU).
    other_displays: list[PciDevice] = field(default_factory=list)


@dataclass
class SystemInfo:
    """The machine mltui runs on: OS, kernel, Python, CPU, memory and container limits."""

    hostname: str = ""
    os: str = ""
    kernel: str = ""
    python_version: str = ""
    python_executable: str = ""
    cpu: CpuInfo = field(default_factory=CpuInfo)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    container: ContainerLimits = field(default_factory=ContainerLimits)
    #: The PCI bus (None when not read, e.g. in a report from an older mltui).
    pci: PciBus | None = None
    #: The environment variables that change what the libraries do, None where unset.
    environment: dict[str, str | None] = field(default_factory=dict)


@dataclass
class GpuProcess:
    """A process holding a context on a GPU, as NVML reports it, with what psutil adds."""

    pid: int
    kind: Literal["compute", "graphics", "compute+graphics"] = "compute"
    used_memory_bytes: int | None = None
    user: str | None = None
    command: str | None = None
    #: False when NVML gives a host PID that this container cannot see in /proc.
    visible: bool = True


@dataclass
class MigDevice:
    """One MIG instance carved out of a GPU."""

    index: int
    uuid: str | None = None
    name: str | None = None
    memory_total_bytes: int | None = None


@dataclass
class GpuInfo:
    """One NVIDIA GPU as NVML sees it. A field NVML cannot read is None, its reason in `errors`."""

    index: int
    state: GpuState = "ok"
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    architecture: str | None = None
    compute_capability: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    utilization_gpu_percent: int | None = None
    utilization_memory_percent: int | None = None
    temperature_c: int | None = None
    temperature_slowdown_c: int | None = None
    temperature_shutdown_c: int | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    clock_sm_mhz: int | None = None
    clock_sm_max_mhz: int | None = None
    clock_memory_mhz: int | None = None
    clock_memory_max_mhz: int | None = None
    pcie_generation: int | None = None
    pcie_generation_max: int | None = None
    pcie_width: int | None = None
    pcie_width_max: int | None = None
    fan_percent: int | None = None
    performance_state: str | None = None
    persistence_mode: bool | None = None
    compute_mode: str | None = None
    ecc_mode: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failed: bool | None = None
    mig_mode: bool | None = None
    mig_devices: list[MigDevice] = field(default_factory=list)
    clock_event_reasons: list[str] | None = None
    processes: list[GpuProcess] | None = None
    #: field name -> NVML error name ("NotSupported", "NoPermission", "FunctionNotFound", ...)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class NvmlReport:
    """The driver's view of the NVIDIA GPUs, or why there is none."""

    status: NvmlStatus = "no_driver"
    #: One sentence saying why NVML gave nothing, when status is not "ok".
    reason: str | None = None
    #: What was checked to explain a missing GPU, each a line a person can act on.
    explanations: list[str] = field(default_factory=list)
    driver_version: str | None = None
    nvml_version: str | None = None
    #: The CUDA version the driver supports, e.g. "12.4" (from nvmlSystemGetCudaDriverVersion).
    cuda_driver_version: str | None = None
    gpus: list[GpuInfo] = field(default_factory=list)


@dataclass
class DeviceResult:
    """One device a library claims to see, and whether a small real computation ran on it."""

    kind: str  # "cpu", "cuda", "mps", "rocm", ...
    index: int | None = None
    name: str | None = None
    compute_capability: str | None = None
    uuid: str | None = None
    memory_total_bytes: int | None = None
    #: True when the computation ran and its result was right; None when it was not attempted.
    computation_ok: bool | None = None
    computation_detail: str | None = None
    error: str | None = None


@dataclass
class LibraryReport:
    """What a standalone probe found out about one ML library in the target interpreter."""

    name: str  # key: torch, tensorflow, sklearn, theano, pytensor, caffe, cv2
    display_name: str = ""
    status: LibraryStatus = "not_installed"
    version: str | None = None
    location: str | None = None
    #: Build details: cuda_version, cudnn_version, is_cuda_build, arch_list, c_backend, ...
    build: dict[str, Any] = field(default_factory=dict)
    devices: list[DeviceResult] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float | None = None
    #: Seconds per phase, e.g. {"import": 1.9, "devices": 0.1, "compute": 0.05}.
    phase_timings: dict[str, float] = field(default_factory=dict)
    stderr_tail: list[str] = field(default_factory=list)
    #: When this library was probed (ISO 8601, UTC); in a saved check merged from partial checks
    #: (`check --only`) each library keeps its own time.
    checked_at: str | None = None

    @property
    def gpu_devices(self) -> list[DeviceResult]:
        """The devices that are GPUs (anything but the CPU)."""
        return [d for d in self.devices if d.kind != "cpu"]


@dataclass
class Finding:
    """A problem or notice from comparing NVML's view with each library's."""

    rule: str
    severity: Severity
    title: str
    evidence: str
    fix: str
    library: str | None = None
    gpu_index: int | None = None


@dataclass
class TargetPython:
    """The interpreter the library probes and samples run in."""

    executable: str
    version: str
    implementation: str = "CPython"
    prefix: str | None = None
    is_current: bool = True


@dataclass
class CheckResult:
    """A whole `mltui check`: the machine, the GPUs, each library, and the findings."""

    schema_version: int = SCHEMA_VERSION
    mltui_version: str = ""
    created_at: str = ""  # ISO 8601, UTC
    target: TargetPython | None = None
    system: SystemInfo = field(default_factory=SystemInfo)
    nvml: NvmlReport = field(default_factory=NvmlReport)
    libraries: list[LibraryReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: One plain sentence first: what is here and does it work (probes.headline).
    headline: str = ""
    elapsed_s: float | None = None
    #: The last `mltui perf` of this interpreter (saved beside the check), None before the first.
    perf: PerfReport | None = None

    @property
    def has_errors(self) -> bool:
        """True when any finding is an error (`mltui check` then exits 1)."""
        return any(f.severity == "error" for f in self.findings)


# --------------------------------------------------------------------------- (de)serialisation

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Turn a model dataclass (nested) into plain JSON-able values."""
    return dataclasses.asdict(obj)


def to_json(obj: Any, *, indent: int | None = None, ensure_ascii: bool = True) -> str:
    """Serialise a model dataclass to a JSON string (`ensure_ascii=False`: text stays UTF-8,
    one character each, instead of up to six as \\uXXXX escapes)."""
    return json.dumps(to_dict(obj), indent=indent, sort_keys=False, ensure_ascii=ensure_ascii)


def from_dict(cls: type[T], data: Any) -> T:
    """Build a model dataclass from plain values, recursing into nested dataclasses and lists.

    Unknown keys are ignored so a newer writer's extra fields do not break an older reader.
    """
    return typing.cast(T, _convert(cls, data))


def from_dict_lenient(cls: type[T], data: Any) -> tuple[T, list[str]]:
    """Like `from_dict`, but a field of the wrong type degrades only that field.

    Such a field keeps its default (an item of a list of objects is left out), and is named in
    the returned list of problems. A required field (no default) that does not fit, or `data`
    that is not an object, still raises TypeError/ValueError.
    """
    problems: list[str] = []
    return typing.cast(T, _lenient_object(cls, data, "", problems)), problems


def _lenient_object(tp: type, value: Any, at: str, problems: list[str]) -> Any:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object for {tp.__name__}, got {type(value).__name__}")
    hints = _hints(tp)
    kwargs: dict[str, Any] = {}
    for spec in dataclasses.fields(tp):
        if spec.name not in value:
            continue
        where = f"{at}{spec.name}"
        try:
            kwargs[spec.name] = _lenient_value(hints[spec.name], value[spec.name], where, problems)
        except (TypeError, ValueError) as exc:
            required = (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            )
            if required:
                raise
            problems.append(f"{where} ({exc})")
    return tp(**kwargs)


def _lenient_value(tp: Any, value: Any, at: str, problems: list[str]) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _lenient_object(tp, value, at + ".", problems)
    if get_origin(tp) is list:
        (item,) = get_args(tp) or (Any,)
        if isinstance(value, list) and dataclasses.is_dataclass(item):
            kept = []
            for index, entry in enumerate(value):
                try:
                    kept.append(_lenient_value(item, entry, f"{at}[{index}]", problems))
                except (TypeError, ValueError) as exc:
                    problems.append(f"{at}[{index}] ({exc})")
            return kept
    return _convert(tp, value)


def from_json(cls: type[T], text: str) -> T:
    """Parse a JSON string into a model dataclass."""
    return from_dict(cls, parse_json(text))


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS_CACHE:
        _HINTS_CACHE[cls] = get_type_hints(cls)
    return _HINTS_CACHE[cls]


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        for option in options:
            try:
                return _convert(option, value)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{value!r} fits none of {options}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {tp.__name__}, got {type(value).__name__}")
        hints = _hints(tp)
        kwargs = {
            f.name: _convert(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return tp(**kwargs)
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [_convert(item, v) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        args = get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {k: _convert(val_tp, v) for k, v in value.items()}
    if origin is Literal:
        if value not in get_args(tp):
            raise ValueError(f"{value!r} is not one of {get_args(tp)}")
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `mltui check --json`, derived from the dataclasses above."""
    return dataclass_schema(
        CheckResult,
        schema_id=f"https://mltui.invalid/schema/check-v{SCHEMA_VERSION}.json",
        title="mltui check --json",
        version=SCHEMA_VERSION,
    )


def perf_json_schema() -> dict[str, Any]:
    """The JSON Schema of `mltui perf --json`, derived from the dataclasses of probes.perf_model."""
    return dataclass_schema(
        PerfReport,
        schema_id=f"https://mltui.invalid/schema/perf-v{PERF_SCHEMA_VERSION}.json",
        title="mltui perf --json",
        version=PERF_SCHEMA_VERSION,
    )


def dataclass_schema(root_cls: type, *, schema_id: str, title: str, version: int) -> dict[str, Any]:
    """A JSON Schema for the dataclass `root_cls` and all it holds, its `schema_version` pinned.

    `root_cls` must have a `schema_version` field; the schema accepts only `version` there.
    """
    definitions: dict[str, Any] = {}

    def schema_for(tp: Any) -> dict[str, Any]:
        origin = get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [schema_for(a) for a in get_args(tp)]}
        if tp is type(None):
            return {"type": "null"}
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            name = tp.__name__
            if name not in definitions:
                definitions[name] = {}  # placeholder against recursion
                hints = _hints(tp)
                props = {f.name: schema_for(hints[f.name]) for f in dataclasses.fields(tp)}
                definitions[name] = {
                    "type": "object",
                    "description": (tp.__doc__ or "").strip().splitlines()[0],
                    "properties": props,
                    "required": [f.name for f in dataclasses.fields(tp)],
                }
            return {"$ref": f"#/$defs/{name}"}
        if origin is list:
            (item,) = get_args(tp) or (Any,)
            return {"type": "array", "items": schema_for(item)}
        if origin is dict:
            args = get_args(tp)
            return {"type": "object", "additionalProperties": schema_for(args[1]) if args else {}}
        if origin is Literal:
            return {"enum": list(get_args(tp))}
        simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
        if tp in simple:
            return {"type": simple[tp]}
        return {}

    root = schema_for(root_cls)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **root,
        "$defs": definitions,
    }
    definitions[root_cls.__name__]["properties"]["schema_version"] = {"const": version}
    return schema


# --------------------------------------------------------------------------- validation


def schema_problem(value: Any, schema: dict[str, Any] | None = None) -> str | None:
    """Why `value` does not fit a JSON schema (default: `mltui check --json`'s), or None.

    Covers what `json_schema()` uses ($ref, anyOf, const, enum, type, properties, required,
    items, additionalProperties). Numbers must be finite and nesting at most MAX_JSON_DEPTH deep,
    wherever they are (also under fields typed Any).
    """
    root = _check_schema() if schema is None else schema
    return _problem(value, root, root.get("$defs", {}), "$", 0)


@functools.cache
def _check_schema() -> dict[str, Any]:
    return json_schema()


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


def _problem(
    value: Any, schema: dict[str, Any], defs: dict[str, Any], at: str, depth: int
) -> str | None:
    if depth > MAX_JSON_DEPTH:
        return f"{at}: nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{at}: {value} is not a finite number"
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        problems = [_problem(value, option, defs, at, depth) for option in schema["anyOf"]]
        if all(problems):
            return next(p for p in problems if p)
        return None
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        return f"{at}: must be {schema['const']!r}"
    if "enum" in schema and not any(
        value == option and type(value) is type(option) for option in schema["enum"]
    ):
        return f"{at}: {value!r} is not one of {schema['enum']}"
    kind = schema.get("type")
    if kind == "null":
        return None if value is None else f"{at}: must be null"
    if kind is not None:
        expected = _JSON_TYPES[kind]
        if not isinstance(value, expected) or (isinstance(value, bool) and kind != "boolean"):
            return f"{at}: expected {kind}, got {type(value).__name__}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{at}: {key} is missing"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", {})
        for key, item in value.items():
            problem = _problem(item, properties.get(key, extra), defs, f"{at}.{key}", depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        items = schema.get("items", {})
        for index, item in enumerate(value):
            problem = _problem(item, items, defs, f"{at}[{index}]", depth + 1)
            if problem:
                return problem
    return None


def parse_check(data: Any) -> CheckResult:
    """A CheckResult from plain data, validated against the schema of `mltui check --json`.

    The one validation every reader of a saved check uses; raises ValueError saying what does
    not fit.
    """
    problem = schema_problem(data)
    if problem is not None:
        raise ValueError(problem)
    try:
        return from_dict(CheckResult, data)
    except (TypeError, KeyError) as exc:
        raise ValueError(str(exc)) from None
