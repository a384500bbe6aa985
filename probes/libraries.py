"""Run the standalone library probe in the target interpreter and turn what it says into reports.

Each library is examined by `probes/scripts/probe_library.py <id>` in a subprocess of the target
interpreter (own process group, stdin closed, timeout; see `probes.process.stream_process`). The
probe prints JSON lines; whatever goes wrong with it (a hang, a segfault, garbage on stdout, a
non-zero exit) becomes a `LibraryReport` status here. Nothing in this module raises because a probe
misbehaved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from probes.cache import cache_dir, load_check
from probes.catalog import LIBRARIES, LibrarySpec
from probes.limits import PROBE_TIMEOUT_S
from probes.model import LIBRARY_STATUSES, LibraryReport, TargetPython, from_dict_lenient
from probes.process import EventLineReader, ProcessOutcome, stream_process

#: Lines of the probe's stderr kept in a report.
STDERR_TAIL_LINES = 20
#: Characters kept of each stderr line (the rest of a longer one is dropped).
STDERR_LINE_CHARS = 4096
#: The longest report line read whole (the probe cuts each long field to 16 KiB itself; this
#: bounds what a misbehaving probe can make mltui hold).
MAX_REPORT_LINE_CHARS = 4 * 1024 * 1024
#: Set in the probe's environment unless the user set them: cheap, side-effect-free device checks.
PROBE_ENV_DEFAULTS: dict[str, str] = {
    # torch.cuda.is_available() asks NVML instead of creating a CUDA context.
    "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
    # TensorFlow allocates GPU memory as needed instead of taking the whole card.
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # Load CUDA kernels when first used, not all at context creation (faster, less memory).
    "CUDA_MODULE_LOADING": "LAZY",
    "PYTHONUNBUFFERED": "1",
}

#: The probe's cache folder (see probe_env).
PROBE_CACHE_VARIABLE = "MLTUI_PROBE_CACHE_DIR"

#: Read by the probe script: how much to lower its own CPU priority (os.nice) before importing.
PROBE_NICE_VARIABLE = "MLTUI_PROBE_NICE"
#: How far every probe lowers its priority below mltui's own (a MLTUI_PROBE_NICE set by the user
#: wins; 0 turns it off): the dashboard's keys and frames come before the probes' imports.
PROBE_NICE = 10
#: How many probes run at once (default: one per usable CPU, at least two).
PROBE_CONCURRENCY_VARIABLE = "MLTUI_PROBE_CONCURRENCY"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def probe_concurrency(environ: Mapping[str, str] | None = None) -> int:
    """Probes run at once: MLTUI_PROBE_CONCURRENCY when it is a positive number, else one per
    usable CPU (at least two: a probe waits on the disk for part of its import)."""
    value = (os.environ if environ is None else environ).get(PROBE_CONCURRENCY_VARIABLE, "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return max(2, usable_cpus())


PhaseCallback = Callable[[str, str], None]
ReportCallback = Callable[[LibraryReport], None]


def probe_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a probe runs with: ours, the probe defaults where unset, then `extra`.

    MLTUI_PROBE_CACHE_DIR (default: `probe/` in mltui's cache folder) is where a probe may
    remember an outcome that only a change of interpreter, library or compiler can alter (the
    Theano C build failing); set it empty to make every probe find out afresh.
    """
    env = dict(os.environ)
    for key, value in PROBE_ENV_DEFAULTS.items():
        env.setdefault(key, value)
    if PROBE_CACHE_VARIABLE not in env:
        try:
            env[PROBE_CACHE_VARIABLE] = str(cache_dir() / "probe")
        except (RuntimeError, KeyError, OSError):  # no home folder to find: nothing remembered
            env[PROBE_CACHE_VARIABLE] = ""
    if extra:
        env.update(extra)
    env[PROBE_CACHE_VARIABLE] = usable_probe_cache(env[PROBE_CACHE_VARIABLE])
    with contextlib.suppress(RuntimeError, KeyError, OSError):  # no home: nothing to keep out
        library_homes(env, cache_dir(env) / "libraries")
    return env


#: Flags variables of the Theano family: their compile folder (default ~/.theano, ~/.pytensor).
_COMPILEDIR_FLAGS = {"THEANO_FLAGS": "theano", "PYTENSOR_FLAGS": "pytensor"}


def library_homes(env: dict[str, str], folder: Path) -> None:
    """Point each library's own cache and config folder into `folder` (mltui's cache), so a
    probe leaves nothing in the home folder: ~/.keras (KERAS_HOME), ~/.theano and ~/.pytensor
    (base_compiledir in THEANO_FLAGS / PYTENSOR_FLAGS). What the user set is kept."""
    env.setdefault("KERAS_HOME", str(folder / "keras"))
    for variable, name in _COMPILEDIR_FLAGS.items():
        flags = env.get(variable, "")
        names = {part.split("=", 1)[0].strip() for part in flags.split(",") if part.strip()}
        if "base_compiledir" not in names and "compiledir" not in names:
            extra = f"base_compiledir={folder / name}"
            env[variable] = f"{flags},{extra}" if flags.strip() else extra


def usable_probe_cache(folder: str) -> str:
    """`folder` when a probe may keep files there, else "" (nothing is remembered).

    Validated like the main cache: a relative path, or a path that exists but is not a real
    folder (a file, a FIFO, a device, a symlink to one of them) is refused. The probe itself
    reads each file there only as a bounded regular file (scripts/probe_library.py).
    """
    if not folder or not os.path.isabs(folder):
        return ""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return folder  # made by the first probe that remembers something
    except OSError:
        return ""
    return folder if stat.S_ISDIR(info.st_mode) else ""


class _ProbeListener:
    """Collects one probe's events (through the shared event-line reader), its stderr tail and
    the first line that was not an event."""

    def __init__(self, spec: LibrarySpec, on_phase: PhaseCallback | None) -> None:
        self.spec = spec
        self.on_phase = on_phase
        self.report: dict[str, Any] | None = None
        self.partial: dict[str, Any] | None = None
        self.phase: str | None = None
        self.lines = EventLineReader(
            self._on_event,
            max_line_chars=MAX_REPORT_LINE_CHARS,
            stderr_lines=STDERR_TAIL_LINES,
            stderr_chars=STDERR_LINE_CHARS,
        )

    @property
    def bad_line(self) -> str | None:
        """The first stdout line that was not an event, or None."""
        return self.lines.bad_line

    @property
    def stderr(self) -> deque[str]:
        """The probe's last stderr lines."""
        return self.lines.stderr

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "phase":
            self.phase = str(event.get("phase"))
            if self.on_phase is not None:
                self.on_phase(self.spec.id, self.phase)
        elif kind == "partial" and isinstance(event.get("report"), dict):
            self.partial = event["report"]
        elif kind == "report":
            self.report = {k: v for k, v in event.items() if k != "event"}


def _build_report(data: dict[str, Any] | None, spec: LibrarySpec) -> LibraryReport:
    """A LibraryReport from the probe's (partial) report, or an empty one if it is unusable."""
    if data is not None:
        try:
            return _parse_report(data, spec)
        except (TypeError, ValueError):
            pass
    return LibraryReport(name=spec.id, display_name=spec.display_name)


def _parse_report(data: dict[str, Any], spec: LibrarySpec) -> LibraryReport:
    """Parse a probe's report; raises ValueError/TypeError when its status is unusable.

    Any other field of the wrong type degrades only that field: it keeps its default and is
    named in the report's error.
    """
    if "status" not in data:
        raise ValueError("the report has no status")
    if data["status"] not in LIBRARY_STATUSES:
        raise ValueError(f"the report's status {str(data['status'])[:80]!r} is not a status")
    report, problems = from_dict_lenient(LibraryReport, {**data, "name": spec.id})
    report.name = spec.id
    report.display_name = report.display_name or spec.display_name
    if problems:
        note = "fields of the wrong type were ignored: " + "; ".join(problems)[:2000]
        report.error = f"{report.error}; {note}" if report.error else note
    return report


def _interpret(
    spec: LibrarySpec, listener: _ProbeListener, outcome: ProcessOutcome, timeout: float
) -> LibraryReport:
    """Decide the report from how the probe ended and what it printed."""
    during = f" (during phase '{listener.phase}')" if listener.phase else ""
    if outcome.start_error:
        report = _build_report(None, spec)
        report.status = "crashed"
        report.error = f"could not start the probe: {outcome.start_error}"
    elif outcome.timed_out:
        report = _build_report(listener.partial, spec)
        report.status = "timeout"
        report.error = f"no report within {timeout:g} s; killed{during}"
    elif outcome.signal_name is not None:
        report = _build_report(listener.report or listener.partial, spec)
        report.status = "crashed"
        report.error = f"killed by {outcome.signal_name}{during}"
    elif listener.report is not None:
        try:
            report = _parse_report(listener.report, spec)
        except (TypeError, ValueError) as exc:
            report = _build_report(listener.partial, spec)
            report.status = "bad_output"
            report.error = f"the report does not fit the data model: {exc}"
    elif listener.bad_line is not None:
        report = _build_report(listener.partial, spec)
        report.status = "bad_output"
        report.error = f"not a JSON report: {listener.bad_line!r}"
    elif outcome.returncode not in (0, None):
        report = _build_report(listener.partial, spec)
        report.status = "crashed"
        last = next((s for s in reversed(listener.stderr) if s.strip()), "")
        tail = f": {last.strip()}" if last else ""
        report.error = f"exited with status {outcome.returncode} without a report{during}{tail}"
    else:
        report = _build_report(listener.partial, spec)
        report.status = "bad_output"
        report.error = f"exited without a report{during}"
    report.elapsed_s = round(outcome.elapsed_s, 3)
    report.stderr_tail = list(listener.stderr)
    return report


async def probe_library(
    target: TargetPython,
    spec: LibrarySpec,
    *,
    timeout: float = PROBE_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    script: Path | None = None,
    on_phase: PhaseCallback | None = None,
) -> LibraryReport:
    """Probe one library in the target interpreter; never raises for the probe's misbehaviour.

    `env` entries are added to the probe's environment; `script` replaces the probe script (tests
    use it to stage faults); `on_phase(library_id, phase)` is called as the probe moves on.
    Cancelling the awaiting task kills the probe's whole process tree.
    """
    listener = _ProbeListener(spec, on_phase)
    argv = [target.executable, str(script or spec.probe_script), spec.id]
    outcome = await stream_process(
        argv,
        None,
        on_lines=listener.lines,
        timeout=timeout,
        env=probe_env(env),
        max_line_chars=MAX_REPORT_LINE_CHARS,
    )
    return _interpret(spec, listener, outcome, timeout)


async def probe_libraries(
    target: TargetPython,
    specs: Sequence[LibrarySpec] | None = None,
    *,
    timeout: float = PROBE_TIMEOUT_S,
    on_report: ReportCallback | None = None,
    on_phase: PhaseCallback | None = None,
    env: Mapping[str, str] | None = None,
) -> list[LibraryReport]:
    """Probe every library (default: all mltui knows); reports in the order of specs.

    At most `probe_concurrency()` probes run at once, longest first, each at a lower priority
    than mltui (PROBE_NICE), so a dashboard stays responsive while they import. `on_report` is
    called with each report as soon as its probe ends.
    """
    chosen = list(LIBRARIES if specs is None else specs)
    # Longest first: with fewer slots than probes, the longest must not start last.
    order = _longest_first(target, chosen)
    slots = asyncio.Semaphore(probe_concurrency())
    nice = {} if PROBE_NICE_VARIABLE in os.environ else {PROBE_NICE_VARIABLE: str(PROBE_NICE)}

    async def one(spec: LibrarySpec) -> LibraryReport:
        async with slots:  # waiters get a slot in the order they asked: longest first
            extra = {**nice, **dict(env or {})}
            report = await probe_library(
                target, spec, timeout=timeout, env=extra, on_phase=on_phase
            )
        if on_report is not None:
            on_report(report)
        return report

    by_order = await asyncio.gather(*(one(spec) for spec in order))
    reports = {spec.id: report for spec, report in zip(order, by_order, strict=True)}
    return [reports[spec.id] for spec in chosen]


def _longest_first(target: TargetPython, specs: Sequence[LibrarySpec]) -> list[LibrarySpec]:
    """The specs by how long their probe took in the last check of this interpreter, longest
    first (without a last check: TensorFlow, the heaviest import of the catalog, first)."""
    elapsed: dict[str, float] = {}
    try:
        cached = load_check(target)
    except (RuntimeError, KeyError, OSError):  # no home folder to find the cache in
        cached = None
    if cached is not None:
        elapsed = {
            report.name: report.elapsed_s
            for report in cached.result.libraries
            if report.elapsed_s is not None
        }
    if not elapsed:
        elapsed = {"tensorflow": 1.0}
    return sorted(specs, key=lambda spec: -elapsed.get(spec.id, 0.0))
