"""The replayed `pynvml` of probes/replay.py, with the mutators tests need.

The readings (tests/fixtures/nvml/*.json, written by record.py on a GPU machine or transcribed
from a public `nvidia-smi -q` dump; or the `nvml` part of a recording in tests/fixtures/gpus/)
hold, per GPU and per NVML function, the value that function returned or the NVML error it
raised:

    {"system": {"nvmlSystemGetDriverVersion": "565.57.01", ...},
     "devices": [{"nvmlDeviceGetName": "NVIDIA H100 80GB HBM3",
                  "nvmlDeviceGetFanSpeed": {"nvml_error": "NotSupported"},
                  "nvmlDeviceGetClockInfo": {"by_args": {"1": 345, "2": 2619}},
                  "mig_devices": {"0": {...readings of MIG slot 0...}}, ...}]}

`FakeNvml` is `probes.replay.ReplayedNvml` (the object MLTUI_REPLAY gives mltui itself), so the
tests exercise the same replay as the command line; it adds lost GPUs, missing functions and
changed readings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from probes.replay import ReplayedHandle, ReplayedNvml, load_recording, nvml_error

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvml"
GPU_RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "gpus"

#: Kept for the tests that name the handle type.
FakeHandle = ReplayedHandle

__all__ = ["FIXTURES", "GPU_RECORDINGS", "FakeHandle", "FakeNvml", "nvml_error"]


class FakeNvml(ReplayedNvml):
    """Stands in for the `pynvml` module; build it from a readings dict or a fixture file."""

    def __init__(self, readings: dict[str, Any], *, init_error: str | None = None) -> None:
        super().__init__(readings, init_error=init_error)
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
    def from_recording(cls, recording: Any) -> FakeNvml:  # type: ignore[override]
        """A fake replaying the NVML of a recorded machine (a name alone: tests/fixtures/gpus/)."""
        if isinstance(recording, (str, Path)):
            path = Path(recording)
            if not path.suffix:
                path = GPU_RECORDINGS / f"{path}.json"
            recording = load_recording(path)
        return cls(recording.nvml)

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
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._missing:
            raise AttributeError(f"module 'pynvml' has no attribute {name!r}")
        return super().__getattr__(name)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.initialised and self._lost:
            lost = name in ("nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByIndex_v2") and (
                args and args[0] in self._lost
            )
            lost = lost or (
                args and isinstance(args[0], ReplayedHandle) and args[0].index in self._lost
            )
            if lost:
                self.calls.append((name, None, args))
                raise nvml_error("GpuIsLost")
        return super()._call(name, args, kwargs)
