"""Recorded GPU machines, replayed: with `MLTUI_REPLAY=FILE` every command runs on FILE's machine.

A recording (tests/fixtures/gpus/*.json, or one written by bench/gpu_session.sh on a real GPU
machine) holds what one machine answered, in the format `FORMAT`:

- `nvml`: the raw NVML readings per function, per GPU (tests/fixtures/nvml's readings format):
  `{"system": {...}, "devices": [{"nvmlDeviceGetName": "NVIDIA H200", ...,
  "nvmlDeviceGetClockInfo": {"by_args": {"1": 345}}, "mig_devices": {"0": {...}}}]}`. A value
  `{"nvml_error": "NotSupported"}` is raised as that NVML error; a function with no recording
  raises NoData. Arguments that are device handles are written as the device's index, so
  `nvmlDeviceGetP2PStatus(h0, h3, NVML_P2P_CAPS_INDEX_NVLINK)` is `{"by_args": {"3,2": 0}}`
  on device 0. `under_load` (per device, same shape) holds the readings the card gave while a
  GEMM ran; they replace the idle readings while a replayed CUDA process works on that GPU.
- `cuda`: what the CUDA runtime showed (deviceQuery, torch's device properties): per physical
  GPU its name, UUID, PCI bus id, memory, compute capability, SM count, its MIG instances; the
  CUDA version of the presented torch build and its arch list.
- `sources`: the public dumps (or the real machine) every figure came from, and `derived`: which
  values were computed rather than read, and how.

mltui's own process sees the recording through ONE object at the NVML boundary: `ReplayedNvml`
answers like the `pynvml` module (same function names, the real pynvml error classes), so the
NVML reading code is the same path as on a real driver; `probes.nvml.NvmlSession` takes it
instead of importing pynvml when the variable is set. Programs mltui starts in the target
interpreter get `STANDIN_DIR` on their PYTHONPATH (`replay_environment`, applied by
probes/process.py to every child): its sitecustomize makes the target's real CPU torch present
the recorded devices (see probes/scripts/replay_cuda/). Nothing of this is loaded without the
variable.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from probes.scripts.mltui_gpu_uuid import same_uuid, uuid_key
from probes.untrusted_json import UntrustedJSONError, read_json_file

#: The environment variable naming the recording to replay.
REPLAY_VARIABLE = "MLTUI_REPLAY"
#: Where replayed CUDA processes say which GPU they work on (set for children by mltui).
STATE_VARIABLE = "MLTUI_REPLAY_STATE"
#: The recording format this module reads and bench/gpu_session.sh writes.
FORMAT = "mltui-gpu-recording/1"
#: The folder whose sitecustomize.py loads the CUDA stand-in in a target interpreter.
STANDIN_DIR = str(Path(__file__).resolve().parent / "scripts" / "replay_cuda")
#: Largest recording accepted.
MAX_RECORDING_BYTES = 4 * 1024 * 1024
#: More GPUs than one machine's NVML lists (probes.nvml.MAX_GPUS): a recording with more is bad.
MAX_RECORDED_GPUS = 1024

#: NVML readings that change while the GPU works (replaced by `under_load` while it is busy).
LOAD_FUNCTIONS = frozenset(
    {
        "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetPerformanceState",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetMemoryInfo_v2",
    }
)
_PROCESS_FUNCTIONS = frozenset(
    {
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlDeviceGetComputeRunningProcesses_v2",
        "nvmlDeviceGetComputeRunningProcesses",
    }
)


class ReplayError(ValueError):
    """The replay file cannot be used; the message is one line naming the file and the problem."""


@dataclass
class Recording:
    """One recorded machine, checked against the format."""

    path: str
    machine: str
    data: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def nvml(self) -> dict[str, Any]:
        """The raw NVML readings."""
        return dict(self.data["nvml"])

    @property
    def cuda(self) -> dict[str, Any]:
        """What the CUDA runtime showed."""
        return dict(self.data["cuda"])


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_source(index: int, source: Any) -> str | None:
    if not isinstance(source, dict):
        return f"sources[{index}] is not an object"
    if not isinstance(source.get("what"), str) or not source["what"].strip():
        return f"sources[{index}] does not say what it is ('what')"
    has_url = isinstance(source.get("url"), str) and source["url"].strip()
    has_repo = isinstance(source.get("repo"), str) and isinstance(source.get("path"), str)
    has_machine = isinstance(source.get("recorded_on"), str)
    if not (has_url or has_repo or has_machine):
        return f"sources[{index}] names no url, repo+path or recorded_on"
    return None


def _check_cuda_device(where: str, device: Any) -> str | None:
    if not isinstance(device, dict):
        return f"{where} is not an object"
    for key in ("name", "uuid"):
        if not isinstance(device.get(key), str) or not device[key]:
            return f"{where}.{key} is missing or not text"
    for key in ("total_memory", "major", "minor", "multi_processor_count"):
        if not _is_int(device.get(key)) or device[key] < 0:
            return f"{where}.{key} is missing or not a whole number >= 0"
    return None


def recording_problems(data: Any) -> list[str]:
    """Everything wrong with a recording's shape (empty when it can be replayed)."""
    if not isinstance(data, dict):
        return ["it is not a JSON object"]
    problems: list[str] = []
    if data.get("format") != FORMAT:
        problems.append(f"format is {str(data.get('format'))[:80]!r}, not {FORMAT!r}")
    if not isinstance(data.get("machine"), str) or not data["machine"]:
        problems.append("'machine' (its name) is missing")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        problems.append("'sources' is missing or empty: every recording cites where it came from")
    else:
        problems += [p for i, s in enumerate(sources) if (p := _check_source(i, s))]
    derived = data.get("derived", [])
    if not isinstance(derived, list) or not all(isinstance(d, str) for d in derived):
        problems.append("'derived' is not a list of sentences")
    nvml = data.get("nvml")
    if not isinstance(nvml, dict):
        problems.append("'nvml' is missing or not an object")
        nvml = {}
    if not isinstance(nvml.get("system", {}), dict):
        problems.append("nvml.system is not an object")
    devices = nvml.get("devices")
    if not isinstance(devices, list):
        problems.append("nvml.devices is missing or not a list")
        devices = []
    for index, device in enumerate(devices):
        if not isinstance(device, dict):
            problems.append(f"nvml.devices[{index}] is not an object")
            continue
        under_load = device.get("under_load", {})
        if not isinstance(under_load, dict):
            problems.append(f"nvml.devices[{index}].under_load is not an object")
            under_load = {}
        for table in (device, under_load):
            for function, value in table.items():
                if isinstance(value, dict) and not isinstance(value.get("by_args", {}), dict):
                    problems.append(f"nvml.devices[{index}].{function}.by_args is not an object")
        migs = device.get("mig_devices", {})
        if not isinstance(migs, dict) or not all(isinstance(m, dict) for m in migs.values()):
            problems.append(f"nvml.devices[{index}].mig_devices is not an object of objects")
    cuda = data.get("cuda")
    if not isinstance(cuda, dict):
        problems.append("'cuda' is missing or not an object")
        cuda = {}
    cuda_devices = cuda.get("devices")
    if not isinstance(cuda_devices, list):
        problems.append("cuda.devices is missing or not a list")
        cuda_devices = []
    if len(devices) > MAX_RECORDED_GPUS:
        problems.append(f"nvml.devices lists {len(devices)} GPUs (at most {MAX_RECORDED_GPUS})")
    recorded = [uuid_key(d.get("nvmlDeviceGetUUID")) for d in devices if isinstance(d, dict)] + [
        uuid_key(m.get("nvmlDeviceGetUUID"))
        for d in devices
        if isinstance(d, dict) and isinstance(d.get("mig_devices"), dict)
        for m in d["mig_devices"].values()
        if isinstance(m, dict)
    ]
    repeated = sorted({k for k in recorded if k is not None and recorded.count(k) > 1})
    if repeated:
        problems.append(f"the UUID {repeated[0]!r} is recorded for two devices")
    nvml_uuids = set(recorded)
    for index, device in enumerate(cuda_devices):
        where = f"cuda.devices[{index}]"
        problem = _check_cuda_device(where, device)
        if problem is not None:
            problems.append(problem)
            continue
        if uuid_key(device["uuid"]) not in nvml_uuids - {None}:
            problems.append(f"{where}.uuid {device['uuid']!r} is not the UUID of an NVML device")
        mig = device.get("mig", [])
        if not isinstance(mig, list):
            problems.append(f"{where}.mig is not a list")
            continue
        problems += [
            p for j, m in enumerate(mig) if (p := _check_cuda_device(f"{where}.mig[{j}]", m))
        ]
        problems += [
            f"{where}.mig[{j}].uuid {m.get('uuid')!r} is not the UUID of an NVML MIG device"
            for j, m in enumerate(mig)
            if isinstance(m, dict) and uuid_key(m.get("uuid")) not in nvml_uuids - {None}
        ]
    if "version" in cuda and not isinstance(cuda["version"], str):
        problems.append("cuda.version is not text")
    return problems


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Read and check a recording; ReplayError (one line) when it cannot be replayed."""
    shown = f"{REPLAY_VARIABLE}={os.fspath(path)}"
    try:
        data = read_json_file(path, max_bytes=MAX_RECORDING_BYTES)
    except UntrustedJSONError as exc:
        raise ReplayError(f"{shown}: not a readable recording ({exc})") from None
    problems = recording_problems(data)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ReplayError(f"{shown}: not a GPU recording: {problems[0]}{more}")
    return Recording(
        path=os.path.abspath(os.fspath(path)),
        machine=data["machine"],
        data=data,
        sources=list(data["sources"]),
    )


def replay_path(environ: Mapping[str, str] | None = None) -> str | None:
    """The recording named by MLTUI_REPLAY, or None when replay is off (unset or empty)."""
    value = (os.environ if environ is None else environ).get(REPLAY_VARIABLE, "")
    return value or None


_cache_lock = threading.Lock()
_cache: dict[str, Recording] = {}


def active_recording(environ: Mapping[str, str] | None = None) -> Recording | None:
    """The recording this process replays (read once per path), or None; ReplayError if bad."""
    path = replay_path(environ)
    if path is None:
        return None
    with _cache_lock:
        recording = _cache.get(path)
        if recording is None:
            recording = load_recording(path)
            _cache[path] = recording
        return recording


def replay_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """One line saying why MLTUI_REPLAY cannot be used, or None (also when it is unset)."""
    try:
        active_recording(environ)
    except ReplayError as exc:
        return str(exc)
    return None


def state_dir(recording_path: str, environ: Mapping[str, str] | None = None) -> str:
    """The folder where this mltui's replayed CUDA processes announce the GPU they use.

    MLTUI_REPLAY_STATE when set (an mltui started by another, a test); else one folder per
    recording and per mltui process, so two runs on one recording never see each other's load.
    """
    given = (os.environ if environ is None else environ).get(STATE_VARIABLE)
    if given:
        return given
    digest = hashlib.sha256(os.path.realpath(recording_path).encode()).hexdigest()[:16]
    folder = f"{digest}-{os.getpid()}"
    return os.path.join(tempfile.gettempdir(), f"mltui-replay-{os.getuid()}", folder)


def replay_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process: with MLTUI_REPLAY set, the CUDA stand-in on its PYTHONPATH.

    Without the variable `env` is returned unchanged: the stand-in is never loaded then.
    """
    path = replay_path(env)
    if path is None:
        return env
    env = dict(env)
    absolute = os.path.abspath(path)
    env[REPLAY_VARIABLE] = absolute
    if STATE_VARIABLE not in env:
        env[STATE_VARIABLE] = state_dir(absolute, env)
        _remove_at_exit(env[STATE_VARIABLE])
    entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != STANDIN_DIR]
    env["PYTHONPATH"] = os.pathsep.join([STANDIN_DIR, *entries])
    return env


_owned_state: set[str] = set()


def _remove_at_exit(folder: str) -> None:
    """Remove this mltui's own busy-GPU notes folder when it exits (its children end with it)."""
    if not _owned_state:
        atexit.register(_remove_owned_state)
    _owned_state.add(folder)


def _remove_owned_state() -> None:
    for folder in _owned_state:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- the NVML object


def nvml_error(name: str) -> Exception:
    """The real pynvml exception for an NVML error name ("NotSupported" -> NVMLError_NotSupported).

    A name pynvml does not know becomes NVMLError_Unknown (a recording from a newer binding).
    """
    import pynvml

    cls = getattr(pynvml, f"NVMLError_{name}", None)
    if cls is None:
        cls = pynvml.NVMLError_Unknown
    error: Exception = cls()
    return error


def _as_value(value: Any) -> Any:
    """A recorded reading as pynvml returns it: objects become attribute namespaces (structs)."""
    if isinstance(value, dict):
        if "nvml_error" in value:
            raise nvml_error(str(value["nvml_error"]))
        return SimpleNamespace(**{k: _as_value(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_value(v) for v in value]
    return value


class ReplayedHandle:
    """A device handle of the replayed machine: a GPU index, and a MIG slot for a MIG device."""

    def __init__(self, index: int, mig_slot: int | None = None) -> None:
        self.index = index
        self.mig_slot = mig_slot

    def __repr__(self) -> str:
        return f"ReplayedHandle({self.index}, mig_slot={self.mig_slot})"


def _arg_key(arg: Any) -> str:
    if isinstance(arg, ReplayedHandle):
        return str(arg.index)
    if isinstance(arg, (tuple, list)) and len(arg) == 1:
        arg = arg[0]  # pynvml's NVML_P2P_CAPS_INDEX_READ is the tuple (0,)
    try:
        return str(int(arg))
    except (TypeError, ValueError):
        raise nvml_error("InvalidArgument") from None


def lookup_reading(table: Mapping[str, Any], name: str, args: tuple[Any, ...]) -> Any:
    """The reading of `name(handle, *args)` in one device's table, or the NVML error it raises."""
    if name not in table:
        raise nvml_error("NoData")
    value = table[name]
    if isinstance(value, dict) and "by_args" in value:
        key = ",".join(_arg_key(a) for a in args)
        if key not in value["by_args"]:
            raise nvml_error("NoData")
        value = value["by_args"][key]
    elif args and not (isinstance(value, dict) and "nvml_error" in value):
        raise nvml_error("NoData")
    return _as_value(value)


class ReplayedNvml:
    """Answers like the `pynvml` module, from recorded readings.

    Constants and error classes are the real pynvml's; only nvmlInit, nvmlShutdown and the
    `nvmlDevice*`/`nvmlSystem*` calls are answered from `readings`. `busy(uuid)` says whether a
    replayed CUDA process works on a GPU (then its `under_load` readings answer).
    """

    def __init__(
        self,
        readings: Mapping[str, Any],
        *,
        init_error: str | None = None,
        state: str | None = None,
    ) -> None:
        self.readings: dict[str, Any] = copy.deepcopy(dict(readings))
        self.init_error = init_error
        self.state = state
        self.initialised = False
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls: list[tuple[str, int | None, tuple[Any, ...]]] = []

    @classmethod
    def from_recording(cls, recording: Recording) -> ReplayedNvml:
        """The NVML of a recorded machine (busy GPUs announced in its state folder)."""
        return cls(recording.nvml, state=state_dir(recording.path))

    # ------------------------------------------------------------- the module surface

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("readings", "init_error", "state"):
            raise AttributeError(name)
        if name.startswith(("nvmlDevice", "nvmlSystem")):
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        import pynvml

        return getattr(pynvml, name)

    def nvmlInit(self) -> None:
        """Start NVML (raises the recorded init error, if any)."""
        self.init_calls += 1
        if self.init_error:
            raise nvml_error(self.init_error)
        self.initialised = True

    def nvmlInitWithFlags(self, flags: int) -> None:
        """Start NVML; the flags change nothing in a replay."""
        self.nvmlInit()

    def nvmlShutdown(self) -> None:
        """Stop NVML (Uninitialized when it was not started)."""
        if not self.initialised:
            raise nvml_error("Uninitialized")
        self.shutdown_calls += 1
        self.initialised = False

    # ------------------------------------------------------------- busy GPUs

    def busy(self, uuid: str | None) -> list[dict[str, Any]]:
        """The live replayed CUDA processes announced on GPU `uuid` (pid, used bytes)."""
        if not self.state or not uuid:
            return []
        return [p for p in busy_processes(self.state) if same_uuid(p.get("uuid"), uuid)]

    def _device_busy(self, device: Mapping[str, Any]) -> list[dict[str, Any]]:
        uuid = device.get("nvmlDeviceGetUUID")
        found = self.busy(uuid if isinstance(uuid, str) else None)
        for mig in device.get("mig_devices", {}).values():
            mig_uuid = mig.get("nvmlDeviceGetUUID")
            found += self.busy(mig_uuid if isinstance(mig_uuid, str) else None)
        return found

    # ------------------------------------------------------------- calls

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.initialised:
            raise nvml_error("Uninitialized")
        system = self.readings.get("system", {})
        devices = self.readings.get("devices", [])
        if name.startswith("nvmlSystem"):
            self.calls.append((name, None, args))
            return lookup_reading(system, name, args)
        if name == "nvmlDeviceGetCount":
            self.calls.append((name, None, args))
            if name in system:
                return lookup_reading(system, name, ())
            return len(devices)
        if name in ("nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByIndex_v2"):
            (index,) = args
            self.calls.append((name, index, args))
            return self._handle_by_index(int(index), devices)
        if name in ("nvmlDeviceGetHandleByUUID", "nvmlDeviceGetHandleByPciBusId"):
            return self._handle_by_key(name, args[0], devices)
        handle, *rest = args
        if not isinstance(handle, ReplayedHandle):
            raise nvml_error("InvalidArgument")
        self.calls.append((name, handle.index, tuple(rest)))
        return self._device_call(name, handle, tuple(rest), kwargs, devices)

    def _handle_by_index(self, index: int, devices: list[Any]) -> ReplayedHandle:
        if not 0 <= index < len(devices):
            raise nvml_error("InvalidArgument")
        recorded = devices[index].get("nvmlDeviceGetHandleByIndex")
        if isinstance(recorded, dict) and "nvml_error" in recorded:
            raise nvml_error(str(recorded["nvml_error"]))
        return ReplayedHandle(index)

    def _handle_by_key(self, name: str, key: Any, devices: list[Any]) -> ReplayedHandle:
        wanted = key.decode() if isinstance(key, bytes) else str(key)
        for index, device in enumerate(devices):
            if name == "nvmlDeviceGetHandleByUUID":
                if device.get("nvmlDeviceGetUUID") == wanted:
                    return ReplayedHandle(index)
                for slot, mig in device.get("mig_devices", {}).items():
                    if mig.get("nvmlDeviceGetUUID") == wanted:
                        return ReplayedHandle(index, int(slot))
            else:
                pci = device.get("nvmlDeviceGetPciInfo")
                if isinstance(pci, dict) and str(pci.get("busId", "")).lower() == wanted.lower():
                    return ReplayedHandle(index)
        raise nvml_error("NotFound")

    def _device_call(
        self,
        name: str,
        handle: ReplayedHandle,
        rest: tuple[Any, ...],
        kwargs: dict[str, Any],
        devices: list[Any],
    ) -> Any:
        device = devices[handle.index]
        parent = device
        if handle.mig_slot is not None:
            device = device.get("mig_devices", {}).get(str(handle.mig_slot), {})
        if name == "nvmlDeviceGetMigDeviceHandleByIndex":
            (slot,) = rest
            if str(int(slot)) not in device.get("mig_devices", {}):
                raise nvml_error("NotFound")
            return ReplayedHandle(handle.index, int(slot))
        if name == "nvmlDeviceGetDeviceHandleFromMigDeviceHandle":
            return ReplayedHandle(handle.index)
        if name == "nvmlDeviceIsMigDeviceHandle":
            return handle.mig_slot is not None
        if name == "nvmlDeviceGetMemoryInfo" and (kwargs.get("version") or rest):
            name, rest = "nvmlDeviceGetMemoryInfo_v2", ()
        if handle.mig_slot is None and (name in LOAD_FUNCTIONS or name in _PROCESS_FUNCTIONS):
            working = self._device_busy(parent)
            if working:
                return self._under_load(name, rest, parent, working)
        return lookup_reading(device, name, rest)

    def _under_load(
        self, name: str, rest: tuple[Any, ...], device: Mapping[str, Any], working: list[Any]
    ) -> Any:
        if name in _PROCESS_FUNCTIONS:
            return [
                SimpleNamespace(
                    pid=int(p["pid"]),
                    usedGpuMemory=int(p.get("used_bytes") or 0),
                    gpuInstanceId=None,
                    computeInstanceId=None,
                )
                for p in working
            ]
        load = device.get("under_load", {})
        if name in load:
            return lookup_reading(load, name, rest)
        return lookup_reading(device, name, rest)


def busy_processes(state: str) -> list[dict[str, Any]]:
    """The replayed CUDA processes announced in `state` that still live (stale ones removed)."""
    from probes.untrusted_json import parse_json

    found: list[dict[str, Any]] = []
    try:
        names = os.listdir(state)
    except OSError:
        return found
    for entry in names:
        if not entry.endswith(".json"):
            continue
        path = os.path.join(state, entry)
        try:
            with open(path, "rb") as handle:
                announced = parse_json(handle.read(4096), max_bytes=4096)
        except (OSError, UntrustedJSONError):
            continue
        if not isinstance(announced, dict) or not _is_int(announced.get("pid")):
            continue
        if not _alive(int(announced["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        found.append(announced)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_replayed_nvml(environ: Mapping[str, str] | None = None) -> ReplayedNvml | None:
    """The replayed NVML when MLTUI_REPLAY is set, else None; ReplayError for a bad file."""
    recording = active_recording(environ)
    if recording is None:
        return None
    return ReplayedNvml.from_recording(recording)
