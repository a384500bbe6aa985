"""A small fake of the `pynvml` module, replaying raw NVML readings recorded from real GPUs.

The readings (tests/fixtures/nvml/*.json, written by record.py on a GPU machine or transcribed
from a public `nvidia-smi -q` dump) hold, per GPU and per NVML function, the value that function
returned or the NVML error it raised:

    {"system": {"nvmlSystemGetDriverVersion": "565.57.01", ...},
     "devices": [{"nvmlDeviceGetName": "NVIDIA H100 80GB HBM3",
                  "nvmlDeviceGetFanSpeed": {"nvml_error": "NotSupported"},
                  "nvmlDeviceGetClockInfo": {"by_args": {"1": 345, "2": 2619}},
                  "mig_devices": {"0": {...readings of MIG slot 0...}}, ...}]}

A value that is an object becomes an attribute namespace (NVML's structs); `by_args` keys are the
call's extra arguments joined by commas. A function with no recording raises NVMLError_NoData:
the dump did not show it. Errors are the real pynvml NVMLError subclasses, constants come from the
real pynvml module; only nvmlInit and the calls are faked.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvml"


def nvml_error(name: str) -> Exception:
    """The real pynvml exception for NVML error name: "NotSupported" -> NVMLError_NotSupported."""
    cls = getattr(pynvml, f"NVMLError_{name}", None)
    if cls is None:
        raise ValueError(f"no NVML error called {name!r}")
    error: Exception = cls()
    return error


def _replay(value: Any) -> Any:
    if isinstance(value, dict):
        if "nvml_error" in value:
            raise nvml_error(value["nvml_error"])
        return SimpleNamespace(**{k: _replay(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_replay(v) for v in value]
    return value


class FakeHandle:
    """A device handle: a GPU index, and a MIG slot when it is a MIG device."""

    def __init__(self, index: int, mig_slot: int | None = None) -> None:
        self.index = index
        self.mig_slot = mig_slot

    def __repr__(self) -> str:
        return f"FakeHandle({self.index}, mig_slot={self.mig_slot})"


class FakeNvml:
    """Stands in for the `pynvml` module; build it from a readings dict or a fixture file."""

    def __init__(self, readings: dict[str, Any], *, init_error: str | None = None) -> None:
        self.readings = copy.deepcopy(readings)
        self.init_error = init_error
        self.initialised = False
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls: list[tuple[str, int | None, tuple[Any, ...]]] = []
        self._lost: set[int] = set()
        self._missing: set[str] = set()

    # ------------------------------------------------------------- builders and mutators

    @classmethod
    def from_fixture(cls, path: str | Path) -> FakeNvml:
        """A fake replaying one fixture file (a name alone means tests/fixtures/nvml/NAME.json)."""
        path = Path(path)
        if not path.suffix:
            path = FIXTURES / f"{path}.json"
        return cls(json.loads(path.read_text()))

    @classmethod
    def no_driver(cls, error: str = "LibraryNotFound") -> FakeNvml:
        """A machine without the NVIDIA driver: nvmlInit raises NVMLError_<error>."""
        return cls({"system": {}, "devices": []}, init_error=error)

    def lose_gpu(self, index: int) -> None:
        """From now on every call on GPU `index`, its handle included, raises GpuIsLost."""
        self._lost.add(index)

    def make_unsupported(self, index: int, function_name: str, error: str = "NotSupported") -> None:
        """Make one function of GPU `index` raise NVMLError_<error> for every argument."""
        self.readings["devices"][index][function_name] = {"nvml_error": error}

    def set_reading(
        self, index: int, function_name: str, value: Any, args: tuple[int, ...] | None = None
    ) -> None:
        """Record what a function of GPU `index` returns (for the given extra arguments)."""
        device = self.readings["devices"][index]
        if args is None:
            device[function_name] = value
        else:
            entry = device.setdefault(function_name, {"by_args": {}})
            entry.setdefault("by_args", {})[",".join(str(a) for a in args)] = value

    def remove_function(self, function_name: str) -> None:
        """Pretend the binding is too old to have `function_name` (AttributeError on access)."""
        self._missing.add(function_name)

    # ------------------------------------------------------------- the module surface

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("readings", "init_error"):
            raise AttributeError(name)
        if name in self._missing:
            raise AttributeError(f"module 'pynvml' has no attribute {name!r}")
        if name.startswith(("nvmlDevice", "nvmlSystem")):
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        return getattr(pynvml, name)

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error:
            raise nvml_error(self.init_error)
        self.initialised = True

    def nvmlInitWithFlags(self, flags: int) -> None:
        self.nvmlInit()

    def nvmlShutdown(self) -> None:
        if not self.initialised:
            raise nvml_error("Uninitialized")
        self.shutdown_calls += 1
        self.initialised = False

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.initialised:
            raise nvml_error("Uninitialized")
        if name.startswith("nvmlSystem"):
            self.calls.append((name, None, args))
            return self._lookup(self.readings.get("system", {}), name, args)
        devices = self.readings.get("devices", [])
        if name == "nvmlDeviceGetCount":
            self.calls.append((name, None, args))
            if name in self.readings.get("system", {}):
                return self._lookup(self.readings["system"], name, ())
            return len(devices)
        if name == "nvmlDeviceGetHandleByIndex":
            (index,) = args
            self.calls.append((name, index, args))
            if index in self._lost:
                raise nvml_error("GpuIsLost")
            if not 0 <= index < len(devices):
                raise nvml_error("InvalidArgument")
            recorded = devices[index].get(name)
            if isinstance(recorded, dict) and "nvml_error" in recorded:
                raise nvml_error(recorded["nvml_error"])
            return FakeHandle(index)
        handle, *rest = args
        if not isinstance(handle, FakeHandle):
            raise nvml_error("InvalidArgument")
        self.calls.append((name, handle.index, tuple(rest)))
        if handle.index in self._lost:
            raise nvml_error("GpuIsLost")
        device = devices[handle.index]
        if handle.mig_slot is not None:
            device = device.get("mig_devices", {}).get(str(handle.mig_slot), {})
        if name == "nvmlDeviceGetMigDeviceHandleByIndex":
            (slot,) = rest
            if str(slot) not in device.get("mig_devices", {}):
                raise nvml_error("NotFound")
            return FakeHandle(handle.index, int(slot))
        if name == "nvmlDeviceGetMemoryInfo" and (kwargs.get("version") or rest):
            return self._lookup(device, "nvmlDeviceGetMemoryInfo_v2", ())
        return self._lookup(device, name, tuple(rest))

    @staticmethod
    def _lookup(table: dict[str, Any], name: str, args: tuple[Any, ...]) -> Any:
        if name not in table:
            raise nvml_error("NoData")
        value = table[name]
        if isinstance(value, dict) and "by_args" in value:
            key = ",".join(str(int(a)) for a in args)
            if key not in value["by_args"]:
                raise nvml_error("NoData")
            value = value["by_args"][key]
        elif args and not (isinstance(value, dict) and "nvml_error" in value):
            raise nvml_error("NoData")
        return _replay(value)
