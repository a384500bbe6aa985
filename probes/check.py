"""A whole check: the machine, NVML's view of the GPUs and every library's, then the diagnosis.

The system and NVML readings run in a worker thread while the library probes run as subprocesses
of the target interpreter, so the check takes about as long as its slowest library probe. The
result is saved to the per-interpreter cache (`probes.cache`) for the next start.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from probes import __version__
from probes.cache import load_perf, save_check
from probes.catalog import LibrarySpec
from probes.diagnosis import diagnose
from probes.libraries import PhaseCallback, probe_libraries
from probes.model import CheckResult, LibraryReport, NvmlReport, SystemInfo, TargetPython
from probes.nvml import read_nvml
from probes.system import read_system

LibraryCallback = Callable[[LibraryReport], None]


def _read_machine(nvml: Any) -> tuple[SystemInfo, NvmlReport]:
    """System and NVML readings (blocking; run in a thread)."""
    return read_system(), read_nvml(nvml)


async def run_check(
    target: TargetPython,
    specs: Sequence[LibrarySpec] | None = None,
    *,
    timeout: float = 120.0,
    nvml: Any = None,
    on_library: LibraryCallback | None = None,
    on_phase: PhaseCallback | None = None,
    save: bool = True,
) -> CheckResult:
    """Run a full check of `target`: system, NVML, the libraries (all in parallel), findings.

    `nvml` replaces the NVML bindings (tests pass a fake); `on_library` is called with each
    library's report as it arrives, `on_phase(library_id, phase)` as a probe moves on. The result
    is saved to the cache unless `save` is False (an unwritable cache is not an error).
    """
    started = time.monotonic()
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    machine = asyncio.create_task(asyncio.to_thread(_read_machine, nvml))
    try:
        libraries = await probe_libraries(
            target, specs, timeout=timeout, on_report=on_library, on_phase=on_phase
        )
    except BaseException:
        machine.cancel()
        raise
    system, nvml_report = await machine
    findings = diagnose(
        nvml_report, libraries, system=system, environ=dict(os.environ), target=target
    )
    result = CheckResult(
        mltui_version=__version__,
        created_at=created_at,
        target=target,
        system=system,
        nvml=nvml_report,
        libraries=libraries,
        findings=findings,
        elapsed_s=round(time.monotonic() - started, 3),
    )
    try:
        result.perf = load_perf(target)
    except (RuntimeError, KeyError, OSError):  # no home folder to find the cache in
        result.perf = None
    if save:
        save_check(result)
    return result


def run_check_sync(
    target: TargetPython,
    specs: Sequence[LibrarySpec] | None = None,
    *,
    timeout: float = 120.0,
    nvml: Any = None,
    on_library: LibraryCallback | None = None,
    on_phase: PhaseCallback | None = None,
    save: bool = True,
) -> CheckResult:
    """`run_check` for callers without an event loop (the CLI, benchmarks)."""
    return asyncio.run(
        run_check(
            target,
            specs,
            timeout=timeout,
            nvml=nvml,
            on_library=on_library,
            on_phase=on_phase,
            save=save,
        )
    )
