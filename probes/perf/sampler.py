"""The NVML sampler: a few fields of each GPU under load, about ten times a second, in a thread.

mltui's own process only reads NVML while the load runs, so that a shortfall can be tied to what
the card did: its clocks, power against its limit, temperature, clock-event reasons, PCIe link,
and other processes that appeared.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from probes.model import GpuInfo
from probes.nvml import NvmlSession, decode_clock_event_reasons
from probes.perf_model import NvmlSample, NvmlWatch

#: NVML sampling interval (seconds).
SAMPLE_INTERVAL_S = 0.1
#: Sampler rounds per `on_readings` call (two a second at 10 Hz).
REPORT_EVERY_ROUNDS = 5
#: Samples kept per GPU in the report (the live strip needs the recent ones; ~50 s at 10 Hz).
MAX_SAMPLES = 500


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
    `on_readings({index: [sample, ...]})` gets the readings of every GPU since its last call, from
    the sampling thread every `report_every` rounds (and once more at `stop`): a receiver that
    posts messages posts two a second, not ten per GPU.
    """

    def __init__(
        self,
        session: NvmlSession,
        gpus: Sequence[GpuInfo],
        *,
        interval: float = SAMPLE_INTERVAL_S,
        on_readings: Callable[[dict[int, list[NvmlSample]]], None] | None = None,
        report_every: int = REPORT_EVERY_ROUNDS,
        process_every: int = 10,
    ) -> None:
        self.session = session
        self.interval = interval
        self.on_readings = on_readings
        self.report_every = report_every
        self.process_every = process_every
        #: Readings not yet handed to `on_readings` (touched by the sampling thread only, and
        #: by `stop` once that thread has ended).
        self._unreported: dict[int, list[NvmlSample]] = {}
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
        if self._thread is None or not self._thread.is_alive():
            self._report()  # the last readings (the thread is gone: no one else touches them)
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
            self._unreported.setdefault(index, []).append(sample)
            if with_processes:
                self._processes(watch)
        self.rounds += 1
        if self.rounds % self.report_every == 0:
            self._report()

    def _report(self) -> None:
        readings, self._unreported = self._unreported, {}
        if readings and self.on_readings is not None:
            self.on_readings(readings)

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
