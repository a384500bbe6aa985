"""The NVIDIA GPUs as the driver sees them, read through NVML (the `pynvml` module of nvidia-ml-py).

Only NVML is used: no CUDA context is ever created, so reading is cheap and never takes GPU memory.
Every field is read on its own; a field this GPU or driver cannot give becomes None with the real
NVML error name ("NotSupported", "NoPermission", "FunctionNotFound", ...) in `GpuInfo.errors`.
A GPU that has fallen off the bus becomes a `state="lost"` placeholder while the others are read.
When there is no NVML at all, `explain_missing_gpu` says why, in sentences a person can act on.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from probes.model import GpuInfo, GpuProcess, MigDevice, NvmlReport
from probes.replay import ReplayError, open_replayed_nvml

# NVML constants, repeated here so that decoding works with any binding (or a fake of one).
_TEMPERATURE_GPU = 0
_THRESHOLD_SHUTDOWN = 0
_THRESHOLD_SLOWDOWN = 1
_CLOCK_SM = 1
_CLOCK_MEM = 2
_MEMORY_ERROR_UNCORRECTED = 1
_VOLATILE_ECC = 0
_AGGREGATE_ECC = 1
_MEMORY_V2 = 0x02000028  # nvmlMemory_v2: sizeof(nvmlMemory_v2_t) | 2 << 24
_NOT_AVAILABLE_ULL = 0xFFFFFFFFFFFFFFFF

#: nvmlClocksEventReason* bits (the same bits as the older nvmlClocksThrottleReason*), as words.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x001: "idle",
    0x002: "applications clocks setting",
    0x004: "software power cap",
    0x008: "hardware slowdown",
    0x010: "sync boost",
    0x020: "software thermal slowdown",
    0x040: "hardware thermal slowdown",
    0x080: "hardware power brake slowdown",
    0x100: "display clock setting",
    0x200: "board limit",
    0x400: "reliability limit",
}

COMPUTE_MODES: dict[int, str] = {
    0: "Default",
    1: "Exclusive_Thread",
    2: "Prohibited",
    3: "Exclusive_Process",
}

ARCHITECTURES: dict[int, str] = {
    2: "Kepler",
    3: "Maxwell",
    4: "Pascal",
    5: "Volta",
    6: "Turing",
    7: "Ampere",
    8: "Ada",
    9: "Hopper",
    10: "Blackwell",
    13: "Rubin",
}

#: Which NVML function(s) give each GpuInfo field (first tried first), for messages and the
#: FunctionNotFound advice in the diagnosis.
FIELD_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "name": ("nvmlDeviceGetName",),
    "uuid": ("nvmlDeviceGetUUID",),
    "pci_bus_id": ("nvmlDeviceGetPciInfo",),
    "architecture": ("nvmlDeviceGetArchitecture",),
    "compute_capability": ("nvmlDeviceGetCudaComputeCapability",),
    "memory_total_bytes": ("nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo"),
    "memory_reserved_bytes": ("nvmlDeviceGetMemoryInfo_v2",),
    "utilization_gpu_percent": ("nvmlDeviceGetUtilizationRates",),
    "temperature_c": ("nvmlDeviceGetTemperature",),
    "temperature_slowdown_c": ("nvmlDeviceGetTemperatureThreshold",),
    "temperature_shutdown_c": ("nvmlDeviceGetTemperatureThreshold",),
    "power_draw_w": ("nvmlDeviceGetPowerUsage",),
    "power_limit_w": ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit"),
    "clock_sm_mhz": ("nvmlDeviceGetClockInfo",),
    "clock_sm_max_mhz": ("nvmlDeviceGetMaxClockInfo",),
    "clock_memory_mhz": ("nvmlDeviceGetClockInfo",),
    "clock_memory_max_mhz": ("nvmlDeviceGetMaxClockInfo",),
    "pcie_generation": ("nvmlDeviceGetCurrPcieLinkGeneration",),
    "pcie_generation_max": ("nvmlDeviceGetMaxPcieLinkGeneration",),
    "pcie_width": ("nvmlDeviceGetCurrPcieLinkWidth",),
    "pcie_width_max": ("nvmlDeviceGetMaxPcieLinkWidth",),
    "fan_percent": ("nvmlDeviceGetFanSpeed",),
    "performance_state": ("nvmlDeviceGetPerformanceState",),
    "persistence_mode": ("nvmlDeviceGetPersistenceMode",),
    "compute_mode": ("nvmlDeviceGetComputeMode",),
    "ecc_mode": ("nvmlDeviceGetEccMode",),
    "ecc_uncorrected_volatile": ("nvmlDeviceGetTotalEccErrors",),
    "ecc_uncorrected_aggregate": ("nvmlDeviceGetTotalEccErrors",),
    "remapped_rows_pending": ("nvmlDeviceGetRemappedRows",),
    "remapped_rows_failed": ("nvmlDeviceGetRemappedRows",),
    "mig_mode": ("nvmlDeviceGetMigMode",),
    "clock_event_reasons": (
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    ),
    "processes": (
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlDeviceGetGraphicsRunningProcesses_v3",
    ),
}

#: Errors after which an older variant of the same reading is worth trying.
_TRY_OLDER = frozenset({"FunctionNotFound", "NotSupported", "ArgumentVersionMismatch"})
#: Errors that mean the GPU itself is gone, not just one field. Only GpuIsLost: a field that
#: answers Unknown (or NotSupported, NoPermission, ...) is that field's state, never the GPU's.
_GPU_GONE = frozenset({"GpuIsLost"})

ProcessLookup = Callable[[int], "tuple[str | None, str | None] | None"]


class _GpuGone(Exception):
    """A read found the GPU lost; the whole GPU becomes a placeholder."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def nvml_error_name(exc: BaseException) -> str:
    """The NVML error name of an exception from pynvml: "NotSupported", "GpuIsLost", ...

    A function missing from the binding itself (AttributeError) is "FunctionNotFound" too.
    """
    if isinstance(exc, AttributeError):
        return "FunctionNotFound"
    name = type(exc).__name__
    if name.startswith("NVMLError_"):
        return name[len("NVMLError_") :]
    value = getattr(exc, "value", None)
    if isinstance(value, int):
        return f"Error{value}"
    return name


def _is_nvml_error(exc: BaseException) -> bool:
    return any(cls.__name__ == "NVMLError" for cls in type(exc).__mro__)


def decode_clock_event_reasons(mask: int) -> list[str]:
    """Turn a clocks-event (throttle) reason bitmask into words; unknown bits stay visible."""
    words = [word for bit, word in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    if unknown:
        words.append(f"unknown reason 0x{unknown:x}")
    return words


def format_cuda_version(value: int) -> str:
    """12040 -> "12.4" (nvmlSystemGetCudaDriverVersion's encoding: 1000 * major + 10 * minor)."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


#: More GPUs than NVML can list on one machine: a count above it is not believed.
MAX_GPUS = 1024
#: The largest pid Linux gives (PID_MAX_LIMIT); a larger one from NVML is looked up nowhere.
_PID_MAX = 4 * 1024 * 1024


def _count(value: Any) -> int:
    """An NVML reading that is an unsigned C integer (a count, MHz, degrees, bytes, a pid): a
    whole number >= 0. Anything else (text, a negative or fractional number, a bool, NaN) is
    ValueError, so the field reads "Unreadable" instead of showing "-5 B" or crashing."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"not a whole number >= 0: {value!r}")
    return value


def _describe_process(pid: int) -> tuple[str | None, str | None] | None:
    """(user, command line) of a process this container can see, or None when it cannot."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            try:
                user: str | None = proc.username()
            except (psutil.AccessDenied, KeyError):
                user = None
            try:
                command: str | None = " ".join(proc.cmdline()) or proc.name()
            except psutil.AccessDenied:
                command = proc.name()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return (None, None)
    return (user, command)


class NvmlSession:
    """An open NVML: initialised once, device handles cached, `read()` as often as needed.

    Pass a module (or a fake of one) as `nvml`; None imports `pynvml` from nvidia-ml-py on the
    first read, or, with MLTUI_REPLAY set, reads the recorded machine (`probes.replay`). A
    failed import or nvmlInit is a state of the report, never an exception.
    """

    def __init__(
        self,
        nvml: ModuleType | Any | None = None,
        *,
        process_lookup: ProcessLookup | None = None,
        explain: Callable[[str | None], list[str]] | None = None,
    ) -> None:
        self._nvml = nvml
        self._lookup = process_lookup or _describe_process
        self._explain = explain or (lambda error: explain_missing_gpu(error))
        self._lock = threading.Lock()
        self._started = False
        self._failure: NvmlReport | None = None
        self._handles: dict[int, Any] = {}
        self._identity: dict[int, tuple[str | None, str | None, str | None]] = {}
        self._driver_version: str | None = None
        self._nvml_version: str | None = None
        self._cuda_driver_version: str | None = None

    # ----------------------------------------------------------------- life cycle

    def __enter__(self) -> NvmlSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut NVML down if this session initialised it."""
        with self._lock:
            if self._started and self._failure is None and self._nvml is not None:
                with contextlib.suppress(Exception):
                    self._nvml.nvmlShutdown()
            self._started = False
            self._failure = None
            self._handles.clear()

    def _start(self) -> NvmlReport | None:
        """Import the binding and initialise NVML once; the failure report if that failed."""
        if self._started:
            return self._failure
        self._started = True
        if self._nvml is None:
            try:
                self._nvml = open_replayed_nvml()
            except ReplayError as exc:
                self._failure = NvmlReport(status="error", reason=str(exc))
                return self._failure
        if self._nvml is None:
            try:
                import pynvml
            except ImportError as exc:
                reason = f"nvidia-ml-py is not installed ({exc}): pip install nvidia-ml-py"
                self._failure = NvmlReport(status="error", reason=reason)
                return self._failure
            self._nvml = pynvml
        try:
            self._nvml.nvmlInit()
        except Exception as exc:
            error = nvml_error_name(exc)
            status, reason = _init_failure(error)
            self._failure = NvmlReport(
                status=status, reason=reason, explanations=self._explain(error)
            )
            return self._failure
        self._driver_version = self._system("nvmlSystemGetDriverVersion")
        self._nvml_version = self._system("nvmlSystemGetNVMLVersion")
        for function in ("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"):
            value = self._system_call(function)
            if value is not None:
                with contextlib.suppress(ValueError):
                    self._cuda_driver_version = format_cuda_version(_count(value))
                break
        return None

    def _system(self, function: str) -> str | None:
        value = self._system_call(function)
        return None if value is None else _text(value)

    def _system_call(self, function: str) -> Any:
        """What NVML's system-wide `function` answers, or None when this binding lacks it or
        cannot answer: an NVMLError, or any other exception of a broken binding (a ctypes
        ArgumentError, a TypeError), which is the binding's failure, not a reason to stop."""
        call = getattr(self._nvml, function, None)
        if call is None:
            return None
        try:
            return call()
        except Exception:
            return None

    # ----------------------------------------------------------------- reading

    def read(self, *, with_processes: bool = True) -> NvmlReport:
        """Read every GPU now. Never raises for anything NVML or a GPU does."""
        with self._lock:
            failure = self._start()
            if failure is not None:
                return failure
            nvml: Any = self._nvml
            try:
                count = _count(nvml.nvmlDeviceGetCount())
                if count > MAX_GPUS:
                    raise ValueError(f"{count} GPUs")
            except Exception as exc:
                error = nvml_error_name(exc) if _is_nvml_error(exc) else f"Unreadable: {exc}"
                return NvmlReport(
                    status="error",
                    reason=f"NVML could not count the GPUs ({error})",
                    explanations=self._explain(error),
                    driver_version=self._driver_version,
                    nvml_version=self._nvml_version,
                    cuda_driver_version=self._cuda_driver_version,
                )
            gpus = [self._read_gpu(index, with_processes) for index in range(count)]
            report = NvmlReport(
                status="ok",
                driver_version=self._driver_version,
                nvml_version=self._nvml_version,
                cuda_driver_version=self._cuda_driver_version,
                gpus=gpus,
            )
            if count == 0:
                report.reason = "NVML works but reports no GPU"
                report.explanations = self._explain(None)
            return report

    def device_call(self, index: int, function: str, *args: Any) -> tuple[bool, Any]:
        """Call one NVML device function on GPU `index`: (True, value) or (False, error name).

        The cheap way to read a few fields often (the perf check's sampler), beside `read()`.
        """
        with self._lock:
            failure = self._start()
            if failure is not None:
                return False, failure.reason or "NVML unavailable"
            try:
                handle = self._handle(index)
                return True, getattr(self._nvml, function)(handle, *args)
            except Exception as exc:
                error = nvml_error_name(exc)
                if error in _GPU_GONE:
                    self._handles.pop(index, None)
                return False, error

    def pair_call(self, index: int, peer: int, function: str, *args: Any) -> tuple[bool, Any]:
        """Call an NVML function of two GPUs (`index`'s handle, then `peer`'s): (True, value)
        or (False, error name), like `device_call`."""
        with self._lock:
            failure = self._start()
            if failure is not None:
                return False, failure.reason or "NVML unavailable"
            try:
                handles = self._handle(index), self._handle(peer)
                return True, getattr(self._nvml, function)(*handles, *args)
            except Exception as exc:
                return False, nvml_error_name(exc)

    def _handle(self, index: int) -> Any:
        handle = self._handles.get(index)
        if handle is None:
            nvml: Any = self._nvml
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            self._handles[index] = handle
        return handle

    def _lost(self, index: int, error: str) -> GpuInfo:
        self._handles.pop(index, None)
        name, uuid, bus_id = self._identity.get(index, (None, None, None))
        return GpuInfo(
            index=index,
            state="lost",
            name=name,
            uuid=uuid,
            pci_bus_id=bus_id,
            errors={"state": error},
        )

    def _read_gpu(self, index: int, with_processes: bool) -> GpuInfo:
        try:
            handle = self._handle(index)
        except Exception as exc:
            return self._lost(index, nvml_error_name(exc))
        gpu = GpuInfo(index=index)
        try:
            _GpuReader(self._nvml, handle, gpu).read_all()
            if with_processes:
                gpu.processes = self._processes(handle, gpu)
        except _GpuGone as gone:
            return self._lost(index, gone.error)
        self._identity[index] = (gpu.name, gpu.uuid, gpu.pci_bus_id)
        return gpu

    def _processes(self, handle: Any, gpu: GpuInfo) -> list[GpuProcess] | None:
        reader = _GpuReader(self._nvml, handle, gpu)
        merged: dict[int, GpuProcess] = {}
        failed: list[str] = []
        kinds: tuple[Literal["compute"], Literal["graphics"]] = ("compute", "graphics")
        for kind in kinds:
            stem = "Compute" if kind == "compute" else "Graphics"
            variants = [f"nvmlDeviceGet{stem}RunningProcesses{v}" for v in ("_v3", "_v2", "")]
            found, procs = reader.first_of(variants)
            if not found:
                failed.append(procs)
                continue
            for proc in procs if isinstance(procs, list) else []:
                try:
                    pid = _count(getattr(proc, "pid", None))
                    used = getattr(proc, "usedGpuMemory", None)
                    unknown = used is None or used == _NOT_AVAILABLE_ULL
                    used_bytes = None if unknown else _count(used)
                except ValueError:
                    gpu.errors["processes"] = "Unreadable"
                    continue
                known = merged.get(pid)
                if known is None:
                    merged[pid] = GpuProcess(pid=pid, kind=kind, used_memory_bytes=used_bytes)
                elif known.kind != kind:
                    known.kind = "compute+graphics"
                    if known.used_memory_bytes is None:
                        known.used_memory_bytes = used_bytes
        if len(failed) == 2:
            gpu.errors["processes"] = failed[0]
            return None
        for proc in merged.values():
            seen = self._lookup(proc.pid) if 0 < proc.pid <= _PID_MAX else None
            if seen is None:
                proc.visible = False
                proc.command = "host PID not visible in this container"
            else:
                proc.user, proc.command = seen
        return sorted(merged.values(), key=lambda p: p.pid)


class _GpuReader:
    """Reads the fields of one GPU, each on its own, into a GpuInfo."""

    def __init__(self, nvml: Any, handle: Any, gpu: GpuInfo) -> None:
        self.nvml = nvml
        self.handle = handle
        self.gpu = gpu

    def call(self, function: str, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """(True, value) or (False, NVML error name). A lost GPU aborts the whole GPU."""
        try:
            return True, getattr(self.nvml, function)(self.handle, *args, **kwargs)
        except Exception as exc:
            if not (_is_nvml_error(exc) or isinstance(exc, AttributeError)):
                return False, type(exc).__name__
            error = nvml_error_name(exc)
            if error in _GPU_GONE:
                raise _GpuGone(error) from exc
            return False, error

    def first_of(self, functions: Sequence[str], *args: Any) -> tuple[bool, Any]:
        """Try a reading's variants newest first; stop at the first that works or fails hard."""
        error = "FunctionNotFound"
        for function in functions:
            ok, value = self.call(function, *args)
            if ok:
                return True, value
            error = value
            if error not in _TRY_OLDER:
                break
        return False, error

    def field(self, name: str, ok: bool, value: Any, convert: Callable[[Any], Any]) -> None:
        if ok:
            try:
                setattr(self.gpu, name, convert(value))
            except (TypeError, ValueError, AttributeError, IndexError):
                self.gpu.errors[name] = "Unreadable"
        else:
            self.gpu.errors[name] = value

    def simple(self, name: str, function: str, convert: Callable[[Any], Any], *args: Any) -> None:
        ok, value = self.call(function, *args)
        self.field(name, ok, value, convert)

    def read_all(self) -> None:
        simple = self.simple
        simple("name", "nvmlDeviceGetName", _text)
        simple("uuid", "nvmlDeviceGetUUID", _text)
        simple("pci_bus_id", "nvmlDeviceGetPciInfo", lambda v: _text(v.busId))
        simple("architecture", "nvmlDeviceGetArchitecture", _architecture)
        simple(
            "compute_capability",
            "nvmlDeviceGetCudaComputeCapability",
            lambda v: f"{int(v[0])}.{int(v[1])}",
        )
        self._memory()
        ok, util = self.call("nvmlDeviceGetUtilizationRates")
        self.field("utilization_gpu_percent", ok, util, lambda v: _count(v.gpu))
        self.field("utilization_memory_percent", ok, util, lambda v: _count(v.memory))
        simple("temperature_c", "nvmlDeviceGetTemperature", _count, _TEMPERATURE_GPU)
        simple(
            "temperature_slowdown_c",
            "nvmlDeviceGetTemperatureThreshold",
            _count,
            _THRESHOLD_SLOWDOWN,
        )
        simple(
            "temperature_shutdown_c",
            "nvmlDeviceGetTemperatureThreshold",
            _count,
            _THRESHOLD_SHUTDOWN,
        )
        simple("power_draw_w", "nvmlDeviceGetPowerUsage", _watts)
        ok, value = self.first_of(FIELD_FUNCTIONS["power_limit_w"])
        self.field("power_limit_w", ok, value, _watts)
        simple("clock_sm_mhz", "nvmlDeviceGetClockInfo", _count, _CLOCK_SM)
        simple("clock_sm_max_mhz", "nvmlDeviceGetMaxClockInfo", _count, _CLOCK_SM)
        simple("clock_memory_mhz", "nvmlDeviceGetClockInfo", _count, _CLOCK_MEM)
        simple("clock_memory_max_mhz", "nvmlDeviceGetMaxClockInfo", _count, _CLOCK_MEM)
        simple("pcie_generation", "nvmlDeviceGetCurrPcieLinkGeneration", _count)
        simple("pcie_generation_max", "nvmlDeviceGetMaxPcieLinkGeneration", _count)
        simple("pcie_width", "nvmlDeviceGetCurrPcieLinkWidth", _count)
        simple("pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth", _count)
        simple("fan_percent", "nvmlDeviceGetFanSpeed", _count)
        simple("performance_state", "nvmlDeviceGetPerformanceState", _pstate)
        simple("persistence_mode", "nvmlDeviceGetPersistenceMode", lambda v: int(v) == 1)
        simple("compute_mode", "nvmlDeviceGetComputeMode", _compute_mode)
        simple("ecc_mode", "nvmlDeviceGetEccMode", lambda v: int(v[0]) == 1)
        simple(
            "ecc_uncorrected_volatile",
            "nvmlDeviceGetTotalEccErrors",
            _count,
            _MEMORY_ERROR_UNCORRECTED,
            _VOLATILE_ECC,
        )
        simple(
            "ecc_uncorrected_aggregate",
            "nvmlDeviceGetTotalEccErrors",
            _count,
            _MEMORY_ERROR_UNCORRECTED,
            _AGGREGATE_ECC,
        )
        ok, rows = self.call("nvmlDeviceGetRemappedRows")
        self.field("remapped_rows_pending", ok, rows, lambda v: bool(int(v[2])))
        self.field("remapped_rows_failed", ok, rows, lambda v: bool(int(v[3])))
        ok, reasons = self.first_of(FIELD_FUNCTIONS["clock_event_reasons"])
        self.field("clock_event_reasons", ok, reasons, lambda v: decode_clock_event_reasons(int(v)))
        self._mig()

    def _memory(self) -> None:
        gpu = self.gpu
        ok, info = self.call("nvmlDeviceGetMemoryInfo", version=_MEMORY_V2)
        if not ok:
            gpu.errors["memory_reserved_bytes"] = info
            if info in _TRY_OLDER or info == "InvalidArgument":
                ok, info = self.call("nvmlDeviceGetMemoryInfo")
        names = ("memory_total_bytes", "memory_used_bytes", "memory_free_bytes")
        if not ok:
            for name in names:
                gpu.errors[name] = info
            return
        try:
            total, used, free = (_count(getattr(info, k, None)) for k in ("total", "used", "free"))
            reserved = getattr(info, "reserved", None)
            reserved = None if reserved is None else _count(reserved)
        except ValueError:
            for name in names:
                gpu.errors[name] = "Unreadable"
            return
        if total == 0:
            # Unified-memory parts (Grace Hopper, Jetson) report 0: there is no separate VRAM.
            for name in names:
                gpu.errors[name] = "UnifiedMemory"
            return
        gpu.memory_total_bytes = total
        gpu.memory_used_bytes = used
        gpu.memory_free_bytes = free
        if reserved is not None:
            gpu.memory_reserved_bytes = reserved
            gpu.errors.pop("memory_reserved_bytes", None)

    def _mig(self) -> None:
        gpu = self.gpu
        ok, mode = self.call("nvmlDeviceGetMigMode")
        self.field("mig_mode", ok, mode, lambda v: int(v[0]) == 1)
        if not gpu.mig_mode:
            return
        ok, count = self.call("nvmlDeviceGetMaxMigDeviceCount")
        if not ok:
            gpu.errors["mig_devices"] = count
            return
        for slot in range(int(count)):
            ok, mig_handle = self.call("nvmlDeviceGetMigDeviceHandleByIndex", slot)
            if not ok:
                continue  # an empty slot answers NotFound
            mig = MigDevice(index=slot)
            sub = _GpuReader(self.nvml, mig_handle, GpuInfo(index=gpu.index))
            ok, value = sub.call("nvmlDeviceGetUUID")
            mig.uuid = _text(value) if ok else None
            ok, value = sub.call("nvmlDeviceGetName")
            mig.name = _text(value) if ok else None
            ok, value = sub.call("nvmlDeviceGetMemoryInfo")
            mig.memory_total_bytes = int(value.total) if ok else None
            gpu.mig_devices.append(mig)


def _architecture(value: Any) -> str:
    return ARCHITECTURES.get(int(value), f"unknown ({int(value)})")


def _pstate(value: Any) -> str:
    number = int(value)
    return f"P{number}" if 0 <= number <= 15 else "Unknown"


def _compute_mode(value: Any) -> str:
    return COMPUTE_MODES.get(int(value), f"Unknown ({int(value)})")


def _watts(milliwatts: Any) -> float:
    return round(_count(milliwatts) / 1000.0, 3)


def _init_failure(error: str) -> tuple[Any, str]:
    """(status, one-sentence reason) for an nvmlInit that failed with `error`."""
    if error == "LibraryNotFound":
        return "no_driver", "no NVIDIA driver: libnvidia-ml.so.1 could not be loaded"
    if error == "DriverNotLoaded":
        return (
            "no_driver",
            "no NVIDIA driver: libnvidia-ml.so.1 is there but the NVIDIA kernel module is not "
            "loaded",
        )
    if error == "LibRmVersionMismatch":
        return (
            "error",
            "driver/library version mismatch: the NVIDIA user-space library is newer than the "
            "loaded kernel module (reboot, or reload the nvidia modules)",
        )
    if error == "NoPermission":
        return "error", "NVML was denied access to the GPU devices (NoPermission)"
    return "error", f"NVML could not be initialised ({error})"


def read_nvml(nvml: ModuleType | Any | None = None) -> NvmlReport:
    """Open NVML, read every GPU once, and close it again."""
    with NvmlSession(nvml) as session:
        return session.read()


def cuda_devices_of(report: NvmlReport, environ: Mapping[str, str] | None = None) -> list[str]:
    """What CUDA would number cuda:0, cuda:1, ... on this machine, as NVML's UUIDs (NVML's
    order; a MIG GPU is its first instance), after CUDA_VISIBLE_DEVICES. Empty without NVML."""
    from probes.scripts.mltui_gpu_uuid import select_visible

    if report.status != "ok":
        return []
    ordered: list[str] = []
    for gpu in report.gpus:
        if gpu.state != "ok":
            continue
        if gpu.mig_mode:
            ordered += [m.uuid for m in gpu.mig_devices[:1] if m.uuid]
        else:
            ordered.append(gpu.uuid or f"#{gpu.index}")
    env = os.environ if environ is None else environ
    return select_visible(env.get("CUDA_VISIBLE_DEVICES"), ordered)


def cuda_device_problem(device: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why `--device cuda:N` names a CUDA device this machine cannot have, or None.

    Only an ordinal past the GPUs NVML lists (after CUDA_VISIBLE_DEVICES) is a problem; without
    a working NVML nothing is said here (the library then reports what it sees).
    """
    match = re.fullmatch(r"cuda:(\d+)", device.strip())
    if match is None:
        return None
    report = read_nvml_quietly()
    if report.status != "ok":
        return None
    usable = cuda_devices_of(report, environ)
    if int(match.group(1)) < len(usable):
        return None
    have = f"cuda:0..cuda:{len(usable) - 1}" if len(usable) > 1 else "cuda:0"
    return f"--device {device.strip()}: this machine has {len(usable)} CUDA device(s)" + (
        f" ({have})" if usable else ""
    )


def read_nvml_quietly() -> NvmlReport:
    """read_nvml without the processes (no per-process lookups): for a quick count."""
    with NvmlSession() as session:
        return session.read(with_processes=False)


# --------------------------------------------------------------------- why is there no GPU?

_LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/nvidia/lib64",
    "/usr/local/nvidia/lib",
    "/usr/lib/wsl/lib",
)


def _under(root: str, path: str) -> Path:
    return Path(root) / path.lstrip("/")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _library_candidates(root: str, environ: Mapping[str, str]) -> Iterator[Path]:
    dirs = [d for d in environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for directory in (*dirs, *_LIBRARY_DIRS):
        for found in sorted(glob.glob(str(_under(root, directory) / "libnvidia-ml.so*"))):
            yield Path(found)


def _loaded_nvml_library(root: str) -> str | None:
    maps = _read(_under(root, "/proc/self/maps"))
    if not maps:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if "libnvidia-ml.so" in path:
            return path
    return None


def _kernel_module_version(root: str) -> str | None:
    text = _read(_under(root, "/proc/driver/nvidia/version"))
    if text is None:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else ""


def _library_version(path: Path) -> str | None:
    match = re.search(r"libnvidia-ml\.so\.(\d+\.\d+(?:\.\d+)?)$", os.path.realpath(path))
    return match.group(1) if match else None


def explain_missing_gpu(
    init_error: str | None = None,
    *,
    root: str = "/",
    environ: Mapping[str, str] | None = None,
    site_dirs: Sequence[str] | None = None,
    access: Callable[[str, int], bool] = os.access,
) -> list[str]:
    """Check, in turn, the usual reasons NVML shows no GPU; one actionable sentence per finding.

    `root` prefixes every filesystem path (tests build a fake tree), `environ` stands for
    os.environ, `site_dirs` for the directories on sys.path, `access` for os.access.
    """
    import sys

    env = os.environ if environ is None else environ
    if site_dirs is None:
        site_dirs = [p for p in sys.path if p]
    lines: list[str] = []

    libraries = list(_library_candidates(root, env))
    real_libraries = [p for p in libraries if "stubs" not in p.parts]
    stubs = [p for p in libraries if "stubs" in p.parts]
    loaded = _loaded_nvml_library(root)
    ld_cache = _under(root, "/etc/ld.so.cache")
    try:
        in_cache = b"libnvidia-ml.so.1" in ld_cache.read_bytes()
    except OSError:
        in_cache = False

    if loaded and "stubs" in Path(loaded).parts:
        lines.append(
            f"A CUDA stub libnvidia-ml was loaded ({loaded}): it only exists for linking and "
            "never sees a GPU; remove its 'stubs' directory from LD_LIBRARY_PATH."
        )
    elif stubs and not real_libraries:
        lines.append(
            f"Only a CUDA stub libnvidia-ml was found ({stubs[0]}): stubs are for linking; "
            "install the NVIDIA driver, or take the 'stubs' directory out of LD_LIBRARY_PATH."
        )
    if not real_libraries and not in_cache and not (loaded and "stubs" not in loaded):
        lines.append(
            "libnvidia-ml.so.1 was not found in the library path or ld.so.cache: "
            "the NVIDIA driver's user-space libraries are not installed here."
        )

    module_version = _kernel_module_version(root)
    if module_version is None:
        lines.append(
            "The NVIDIA kernel driver is not loaded (there is no /proc/driver/nvidia/version): "
            "install the driver, or load it with 'sudo modprobe nvidia'."
        )
    elif module_version:
        for library in real_libraries:
            library_version = _library_version(library)
            if library_version and library_version != module_version:
                lines.append(
                    f"Driver/library version mismatch: the kernel module is {module_version} "
                    f"but {library.name} resolves to {library_version}; reboot (or reload the "
                    "nvidia kernel modules) after a driver update."
                )
                break
    if init_error == "LibRmVersionMismatch" and not any("mismatch" in ln for ln in lines):
        lines.append(
            "NVML reports a driver/library version mismatch: the driver was updated without a "
            "reboot; reboot or reload the nvidia kernel modules."
        )

    if _under(root, "/sys/module/nouveau").exists():
        lines.append(
            "The open-source nouveau driver is loaded and holds the GPU: blacklist nouveau "
            "and install the NVIDIA driver."
        )

    for site in site_dirs:
        site_path = _under(root, site) if root != "/" else Path(site)
        if (site_path / "pynvml" / "__init__.py").exists() and (site_path / "pynvml.py").exists():
            lines.append(
                f"The old 'pynvml' package ({site_path / 'pynvml'}) shadows nvidia-ml-py's "
                "pynvml.py: run 'pip uninstall pynvml' and 'pip install --force-reinstall "
                "nvidia-ml-py'."
            )
            break

    osrelease = (_read(_under(root, "/proc/sys/kernel/osrelease")) or "").lower()
    wsl_lib = _under(root, "/usr/lib/wsl/lib")
    if "microsoft" in osrelease or wsl_lib.is_dir():
        lines.append(
            "This is WSL: the GPU comes from the Windows NVIDIA driver and its libnvidia-ml is "
            "in /usr/lib/wsl/lib; install or update the driver on Windows, not inside Linux, "
            "and keep /usr/lib/wsl/lib on the library path."
        )

    devices = sorted(glob.glob(str(_under(root, "/dev/nvidia[0-9]*"))))
    control = _under(root, "/dev/nvidiactl")
    in_container = (
        _under(root, "/.dockerenv").exists()
        or _under(root, "/run/.containerenv").exists()
        or "KUBERNETES_SERVICE_HOST" in env
    )
    if in_container and not devices and not control.exists():
        visible = env.get("NVIDIA_VISIBLE_DEVICES")
        hint = (
            f" (NVIDIA_VISIBLE_DEVICES={visible!r})"
            if visible is not None
            else " (NVIDIA_VISIBLE_DEVICES is not set)"
        )
        lines.append(
            "This container was started without GPU access: there is no /dev/nvidiactl or "
            f"/dev/nvidia0{hint}; start it with 'docker run --gpus all' or the NVIDIA "
            "container runtime."
        )
    for node in [*devices, *([str(control)] if control.exists() else [])]:
        if not access(node, os.R_OK | os.W_OK):
            shown = "/" + os.path.relpath(node, root) if root != "/" else node
            lines.append(
                f"No access to {shown}: add your user to the group that owns it "
                "(often 'video') or fix its permissions."
            )
    return lines


#: nvmlDeviceGetP2PStatus's capability index for NVLink, and its "OK" status (nvidia-ml-py).
P2P_CAPS_INDEX_NVLINK = 2
P2P_STATUS_OK = 0


def nvlink_pairs(session: NvmlSession, indices: list[int]) -> dict[tuple[int, int], bool | None]:
    """For each ordered pair of GPUs: True when NVML says they talk over NVLink
    (nvmlDeviceGetP2PStatus with the NVLink capability), False when it says they do not,
    None when NVML could not say."""
    pairs: dict[tuple[int, int], bool | None] = {}
    for index in indices:
        for peer in indices:
            if peer == index:
                continue
            ok, value = session.pair_call(
                index, peer, "nvmlDeviceGetP2PStatus", P2P_CAPS_INDEX_NVLINK
            )
            pairs[(index, peer)] = (int(value) == P2P_STATUS_OK) if ok else None
    return pairs


def nvml_extras(session: NvmlSession, index: int) -> dict[str, Any]:
    """Fields the check does not read but the perf peaks need: CUDA cores, bus width, NVLinks."""
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
