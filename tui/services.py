"""What the dashboard calls to read the machine, probe libraries, run samples and find Pythons.

The app never calls `probes` directly: it gets a `Services` bundle. `default_services()` binds the
real probes (imported only when first used, inside workers, so start-up stays cheap); tests pass a
bundle with a fake NVML, fixed system readings, a canned check or a frozen clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from probes.model import CheckResult, LibraryReport, NvmlReport, SystemInfo, TargetPython

if TYPE_CHECKING:
    # Types only: the modules themselves are imported when first used, inside workers.
    from probes.envs import PythonEnvironment
    from probes.perf import EventCallback, PerfOptions
    from probes.perf.keep import Kept
    from probes.perf_model import PerfReport
    from probes.process import LineBatch
    from probes.runner import RunResult, SampleRef


class NvmlReader(Protocol):
    """An open NVML session: read the GPUs, close when done."""

    def read(self, *, with_processes: bool = True) -> NvmlReport:
        """One reading of every GPU."""
        ...

    def close(self) -> None:
        """Release NVML."""
        ...


@dataclass(frozen=True)
class CachedCheck:
    """A check result from the cache and how old it is."""

    result: CheckResult
    age_s: float | None


class CheckRunner(Protocol):
    """Checks a target: every library probed, each report handed to `on_library` as it comes."""

    async def __call__(
        self, target: TargetPython, *, on_library: Callable[[LibraryReport], None] | None = ...
    ) -> CheckResult:
        """The complete check."""
        ...


class SampleRunner(Protocol):
    """Runs a sample in a target, its output to `on_lines` batch by batch."""

    async def __call__(
        self,
        target: TargetPython,
        sample: SampleRef,
        *,
        device: str = ...,
        on_lines: Callable[[LineBatch], None] | None = ...,
    ) -> RunResult:
        """The sample's outcome."""
        ...


class PerfRunner(Protocol):
    """Runs `mltui perf` on a target; progress to `on_event`, stopped early by `cancel`."""

    async def __call__(
        self,
        target: TargetPython,
        options: PerfOptions | None = ...,
        *,
        cancel: asyncio.Event | None = ...,
        on_event: EventCallback | None = ...,
    ) -> PerfReport:
        """The whole perf report (cancelled or not)."""
        ...


def _read_system() -> SystemInfo:
    from probes.system import read_system

    return read_system()


def _open_nvml() -> NvmlReader:
    from probes.nvml import NvmlSession

    return NvmlSession()


async def _run_check(
    target: TargetPython, *, on_library: Callable[[LibraryReport], None] | None = None
) -> CheckResult:
    from probes.check import run_check

    return await run_check(target, on_library=on_library)


def _load_check(target: TargetPython) -> CachedCheck | None:
    from probes.cache import load_check

    cached = load_check(target)
    if cached is None:
        return None
    return CachedCheck(cached.result, cached.age_s)


def _list_samples() -> Sequence[SampleRef]:
    from probes.runner import list_samples

    return list(list_samples())


async def _run_sample(
    target: TargetPython,
    sample: SampleRef,
    *,
    device: str = "auto",
    on_lines: Callable[[LineBatch], None] | None = None,
) -> RunResult:
    from probes.runner import run_sample

    return await run_sample(target, sample, device=device, on_lines=on_lines)


async def _run_perf(
    target: TargetPython,
    options: PerfOptions | None = None,
    *,
    cancel: asyncio.Event | None = None,
    on_event: EventCallback | None = None,
) -> PerfReport:
    from probes.perf import run_perf

    return await run_perf(target, options, cancel=cancel, on_event=on_event)


def _keep_perf(report: PerfReport, target: TargetPython) -> Kept:
    from probes.perf.keep import keep_perf

    return keep_perf(report, target)


def _discover_environments() -> Sequence[PythonEnvironment]:
    from probes.envs import discover_environments

    return list(discover_environments())


def _resolve_target(path: str | None) -> TargetPython:
    from probes.target import resolve_target

    return resolve_target(path)


@dataclass
class Services:
    """The functions the dashboard uses for all slow or machine-dependent work."""

    read_system: Callable[[], SystemInfo] = _read_system
    open_nvml: Callable[[], NvmlReader] = _open_nvml
    run_check: CheckRunner = _run_check
    load_check: Callable[[TargetPython], CachedCheck | None] = _load_check
    list_samples: Callable[[], Sequence[SampleRef]] = _list_samples
    run_sample: SampleRunner = _run_sample
    discover_environments: Callable[[], Sequence[PythonEnvironment]] = _discover_environments
    run_perf: PerfRunner = _run_perf
    #: Keeps a finished perf run for the target by `probes.perf.keep`'s rule (never raises).
    keep_perf: Callable[[PerfReport, TargetPython], Kept] = _keep_perf
    resolve_target: Callable[[str | None], TargetPython] = _resolve_target
    #: Seconds on a monotonic clock; tests freeze it so ages and timers stay put in snapshots.
    clock: Callable[[], float] = time.monotonic
    #: Extra samples (e.g. a test's script) listed after the bundled ones.
    extra_samples: list[SampleRef] = field(default_factory=list)

    def all_samples(self) -> list[SampleRef]:
        """The bundled samples, then the extra ones (read from disk: call it in a worker)."""
        return [*self.list_samples(), *self.extra_samples]


def default_services() -> Services:
    """The real probes, runner and environment discovery."""
    return Services()
