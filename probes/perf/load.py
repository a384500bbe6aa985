"""The load-process protocol: one library's load script (or the all-reduce launcher) in the target
interpreter, through `probes.process.stream_process` (own process group, timeout, killed whole on
cancel), its JSON event lines read into measurements and a `LibraryRun`.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probes.model import TargetPython
from probes.perf.events import EventCallback, LibraryDone, LibraryStarted, Measured
from probes.perf_model import LibraryRun, Measurement
from probes.process import (
    EventLineReader,
    LineBatch,
    OutputLine,
    ProcessOutcome,
    stream_process,
)

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
LOAD_SCRIPT = SCRIPTS / "perf_load.py"
ALLREDUCE_SCRIPT = SCRIPTS / "perf_allreduce.py"


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
    #: NVML's UUID of each CUDA device in `devices`, in order: the process is pinned to them
    #: (CUDA_VISIBLE_DEVICES=GPU-…), never to an index CUDA may number differently.
    uuids: Sequence[str] = ()
    #: n of the GPU GEMMs (8192 saturates a data-centre GPU; a replayed GPU computes on the CPU).
    gpu_size: int = 8192


def pinned_env(uuids: Sequence[str]) -> dict[str, str] | None:
    """CUDA_VISIBLE_DEVICES naming exactly these GPUs by UUID, in order (None without UUIDs:
    then CUDA's numbering is taken to be NVML's, as on a machine without UUIDs)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(uuids)} if uuids else None


def load_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a load process: no preallocation; pinned to its GPUs by `extra`'s
    CUDA_VISIBLE_DEVICES (`pinned_env`), else CUDA numbering as NVML's."""
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
        # The one reader of JSON event lines (probes.process): bounded, so a hostile line is
        # "not an event", kept in bad_line.
        self.lines = EventLineReader(self._on_event, stderr_lines=12)

    @property
    def bad_line(self) -> str | None:
        """The first stdout line that was not an event, or None."""
        return self.lines.bad_line

    @property
    def stderr(self) -> deque[str]:
        """The load's last stderr lines."""
        return self.lines.stderr

    def __call__(self, line: OutputLine) -> None:
        """One line of the load process (stream_process's per-line callback)."""
        replacing = frozenset({0}) if line.replace else frozenset()
        self.lines(LineBatch(line.stream, [line.text], replacing))

    def _on_event(self, event: dict[str, Any]) -> None:
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
                    self.on_event(Measured(measurement))
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
        m.result_check = _text(event.get("result_check"))
        accumulation = event.get("accumulation")
        if accumulation in ("fast", "fp32"):
            m.mode = "fast accumulation" if accumulation == "fast" else "FP32 accumulation"
        m.uuid = _text(event.get("uuid"))
    elif event.get("event") == "error":
        m.error = str(event.get("error") or "failed")
    else:
        m.skipped = str(event.get("reason") or "not measured")
    return m


def _text(value: Any, limit: int = 300) -> str | None:
    """A short string field of an event, or None."""
    return value[:limit] if isinstance(value, str) and value else None


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
        "--gpu-size",
        str(plan.gpu_size),
        "--copy-bytes",
        str(int(plan.copy_bytes)),
    ]
    if plan.p2p:
        argv.append("--p2p")
    if plan.uuids:
        argv += ["--uuids", ",".join(plan.uuids)]
    if go is not None:
        argv += ["--go", str(go), "--go-timeout", f"{max(timeout, 1.0):.1f}"]
    listener = _LoadListener(plan.library, on_event)
    if listener_ready is not None:
        listener_ready(listener)
    if on_event is not None:
        on_event(LibraryStarted(plan.library))
    outcome = await stream_process(
        argv,
        listener,
        timeout=max(timeout, 0.1),
        env=load_env(pinned_env(plan.uuids)),
        cancel=cancel,
    )
    listener.ready.set()
    run = _finish_run(listener, outcome, timeout)
    if on_event is not None:
        on_event(LibraryDone(run))
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
    uuids: Sequence[str] = (),
) -> tuple[LibraryRun, Measurement]:
    """All-reduce bus bandwidth across `devices` (one process per device, torch.distributed).

    `devices` are "cuda:N" (NCCL) or "cpu" repeated (gloo, for tests on a CPU-only machine).
    With `uuids` (one per device) the launcher is pinned to those GPUs and its ranks use CUDA's
    devices 0..n-1, each checked against its UUID.
    """
    launched = list(devices)
    if uuids:
        launched = [f"cuda:{rank}" for rank in range(len(devices))]
        env = {**(env or {}), **(pinned_env(uuids) or {})}
    argv = [
        target.executable,
        str(ALLREDUCE_SCRIPT),
        "--backend",
        backend,
        "--devices",
        ",".join(launched),
        "--bytes",
        str(int(nbytes)),
        "--slice",
        f"{slice_s:.3f}",
        "--timeout",
        f"{max(timeout, 1.0):.1f}",
    ]
    if uuids:
        argv += ["--uuids", ",".join(uuids)]
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
