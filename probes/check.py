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
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probes import __version__
from probes.cache import load_perf, save_check
from probes.catalog import LibrarySpec
from probes.diagnosis import diagnose, require_proof
from probes.headline import check_headline
from probes.libraries import PhaseCallback, probe_libraries
from probes.limits import PROBE_TIMEOUT_S
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
    timeout: float = PROBE_TIMEOUT_S,
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
    for report in libraries:
        report.checked_at = created_at
    result = assemble_check(
        target, system, nvml_report, libraries, created_at=created_at, started=started
    )
    if save:
        save_result(result, partial=specs is not None)
    return result


def assemble_check(
    target: TargetPython,
    system: SystemInfo,
    nvml_report: NvmlReport,
    libraries: list[LibraryReport],
    *,
    created_at: str,
    started: float,
) -> CheckResult:
    """A whole check from its readings: every library's "ok" held to its proof, the findings
    diagnosed, the headline, and the last perf run of the interpreter.

    Every check is made here: `run_check`'s, and `mltui health`'s, which reuses young library
    results from the cache with fresh machine readings. `started` is a time.monotonic() value.
    """
    for report in libraries:
        require_proof(report)  # a library's "ok" is a proof, not the probe's word
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
    result.headline = check_headline(result)
    try:
        result.perf = load_perf(target)
    except (RuntimeError, KeyError, OSError):  # no home folder to find the cache in
        result.perf = None
    return result


def merge_checks(partial: CheckResult, saved: CheckResult | None) -> CheckResult:
    """A partial check (`check --only`) folded into the saved full one: it never shrinks it.

    The libraries probed now replace theirs; every other library keeps its saved report (and its
    `checked_at`); the machine readings are the new ones, and the findings are diagnosed again
    over the merged libraries.
    """
    if saved is None:
        return partial
    fresh = {report.name: report for report in partial.libraries}
    libraries = [fresh.pop(report.name, report) for report in saved.libraries]
    libraries.extend(fresh.values())
    findings = diagnose(
        partial.nvml,
        libraries,
        system=partial.system,
        environ=dict(os.environ),
        target=partial.target,
    )
    merged = replace(partial, libraries=libraries, findings=findings)
    return replace(merged, headline=check_headline(merged))


def save_result(result: CheckResult, *, partial: bool) -> Path | None:
    """Save a check to the cache; a partial one is merged into the saved check first.

    Returns where it was saved, or None when it could not be.
    """
    if partial and result.target is not None:
        # Read, merged and written under the cache's writers' lock: a concurrent run's
        # update is never lost.
        return save_check(result, merge=merge_checks)
    return save_check(result)


def run_check_sync(
    target: TargetPython,
    specs: Sequence[LibrarySpec] | None = None,
    *,
    timeout: float = PROBE_TIMEOUT_S,
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
