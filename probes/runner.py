"""Run a library's sample (or any script) in the target interpreter and collect what it printed.

A sample is a standalone script in content/samples/ (see `probes.catalog`) that takes
`--device auto|cpu|cuda[:N]` and ends its output with one JSON line, its verdict:
`{"verdict": "pass"|"fail", "sample", "library", "version", "device", "engine", "checked",
"detail"}`, exiting 0 on pass, 1 on fail, 2 for a device that does not exist and 3 when its
library is missing. A script path the user gives runs the same way, but needs no verdict.

Each run gets a fresh temporary working directory, stdin closed, unbuffered output and the
user's environment; its output streams to a callback in batches and into an `OutputBuffer` that
keeps only the last lines, so a flood costs bounded memory.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from probes import catalog
from probes.model import TargetPython
from probes.process import KILL_GRACE_S, LineBatch, OutputLine, ProcessOutcome, stream_process
from probes.untrusted_json import UntrustedJSONError, parse_json

RunStatus = Literal["pass", "fail", "error", "timeout", "cancelled"]

#: Exit statuses of the sample contract beyond pass (0) and fail (1).
EXIT_BAD_DEVICE = 2
EXIT_LIBRARY_MISSING = 3

#: Added to the user's environment for every run (the user's own value wins for the TF ones).
RUN_ENV_FORCED = {"PYTHONUNBUFFERED": "1"}
RUN_ENV_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "PYTHONIOENCODING": "utf-8",
}


class OutputBuffer:
    """The last `max_lines` lines of a run, with `\\r` updates applied and a count of the rest.

    Lines are kept as the batches they came in (no object per line: a flood of a million
    lines costs a few list references); `lines` builds `OutputLine`s for what is kept.
    """

    def __init__(self, max_lines: int = 5000) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        # Each chunk is [stream, texts, owned]: `texts` may be a batch's own list, which is
        # copied before it is changed (owned then becomes True).
        self._chunks: deque[list[Any]] = deque()
        self._skip = 0  # lines at the front of the first chunk that fell off
        self._held = 0  # lines kept
        #: Lines added in all (a `\r` update of a line does not count as a new one).
        self.total = 0

    @property
    def dropped(self) -> int:
        """How many lines fell off the front."""
        return self.total - self._held

    @property
    def lines(self) -> list[OutputLine]:
        """The kept lines, oldest first."""
        kept: list[OutputLine] = []
        skip = self._skip
        for stream, texts, _ in self._chunks:
            kept.extend(OutputLine(stream, text, False) for text in texts[skip:])
            skip = 0
        return kept

    def __len__(self) -> int:
        return self._held

    def add(self, line: OutputLine) -> None:
        """Add one line, or replace the last one when it is a `\\r` update of its stream."""
        last = self._chunks[-1] if self._chunks else None
        if last is not None and last[0] == line.stream:
            if not last[2]:
                last[1] = list(last[1])
                last[2] = True
            if line.replace and len(last[1]) > (self._skip if len(self._chunks) == 1 else 0):
                last[1][-1] = line.text
                return
            last[1].append(line.text)
            self._held += 1
            self.total += 1
            self._trim()
            return
        self._append(line.stream, [line.text], owned=True)

    def extend(self, lines: Iterable[OutputLine]) -> None:
        """Add many lines; a `LineBatch` without `\\r` updates is taken in one step."""
        if not isinstance(lines, LineBatch):
            for line in lines:
                self.add(line)
            return
        start = 0
        if lines.replacing:
            # Lines up to the last update go one by one; the plain rest in one step.
            start = max(lines.replacing) + 1
            for index in range(start):
                self.add(lines[index])
        texts = lines.texts
        if start >= len(texts):
            return
        if start or len(texts) - start > self.max_lines:
            count = len(texts) - start
            self.total += count - self.max_lines if count > self.max_lines else 0
            texts = texts[max(start, len(texts) - self.max_lines) :]
        self._append(lines.stream, texts, owned=False)

    def _append(self, stream: str, texts: list[str], *, owned: bool) -> None:
        self._chunks.append([stream, texts, owned])
        self._held += len(texts)
        self.total += len(texts)
        self._trim()

    def _trim(self) -> None:
        excess = self._held - self.max_lines
        while excess > 0:
            remaining = len(self._chunks[0][1]) - self._skip
            if remaining <= excess:
                self._chunks.popleft()
                self._skip = 0
                self._held -= remaining
                excess -= remaining
            else:
                self._skip += excess
                self._held -= excess
                excess = 0

    def text(self) -> str:
        """The kept lines joined with newlines."""
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class SampleRef:
    """A script to run: one of the bundled samples, or a path the user gave."""

    name: str
    path: str
    library: str | None = None  # catalog id, None for a user's script
    display_name: str = ""

    @property
    def is_sample(self) -> bool:
        """True for a bundled sample (bound to the verdict contract)."""
        return self.library is not None

    @property
    def exists(self) -> bool:
        """True when the script file is there."""
        return os.path.isfile(self.path)


@dataclass
class RunResult:
    """How one run went: the outcome, the sample's verdict and a summary for a person."""

    name: str
    script: str
    target: str
    device: str
    status: RunStatus
    returncode: int | None = None
    signal_name: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    elapsed_s: float = 0.0
    verdict: dict[str, Any] | None = None
    lines_total: int = 0
    lines_dropped: int = 0
    summary: str = ""

    @property
    def engine(self) -> str | None:
        """The engine the sample reported (e.g. 'pycaffe', 'opencv-dnn'), if any."""
        return _verdict_text(self.verdict, "engine")

    @property
    def used_device(self) -> str | None:
        """The device the sample reported it ran on, if any."""
        return _verdict_text(self.verdict, "device")

    @property
    def passed(self) -> bool:
        """True when the run passed."""
        return self.status == "pass"


def _verdict_text(verdict: dict[str, Any] | None, key: str) -> str | None:
    if not verdict:
        return None
    value = verdict.get(key)
    return None if value is None else str(value)


# --------------------------------------------------------------------------- samples


def _sample_specs() -> list[catalog.LibrarySpec]:
    return [spec for spec in catalog.LIBRARIES if spec.sample]


def _ref(spec: catalog.LibrarySpec) -> SampleRef:
    assert spec.sample is not None
    return SampleRef(
        name=spec.id,
        path=str(catalog.SAMPLES_DIR / spec.sample),
        library=spec.id,
        display_name=spec.display_name,
    )


def list_samples() -> list[SampleRef]:
    """Every bundled sample, in the catalog's order (whether or not its file is there yet)."""
    return [_ref(spec) for spec in _sample_specs()]


def sample_names() -> list[str]:
    """The names `resolve_sample` knows, as shown to a user."""
    return [spec.id for spec in _sample_specs()]


def resolve_sample(name_or_path: str) -> SampleRef:
    """A sample by library id, alias or file name, or a script by path.

    Raises `catalog.UnknownLibraryError` (its message lists the known samples) for a name that
    is neither a known sample nor an existing file.
    """
    name = name_or_path.strip()
    looks_like_path = os.sep in name or "/" in name or name.endswith(".py")
    if os.sep not in name and "/" not in name:
        spec: catalog.LibrarySpec | None
        try:
            spec = catalog.get_library(name)
        except catalog.UnknownLibraryError:
            spec = next(
                (
                    s
                    for s in _sample_specs()
                    if s.sample and name in (s.sample, Path(s.sample).stem)
                ),
                None,
            )
        if spec is not None and spec.sample:
            return _ref(spec)
        if spec is not None:
            raise catalog.UnknownLibraryError(
                f"{spec.display_name} has no sample of its own; "
                f"known samples: {', '.join(sample_names())}"
            )
    path = os.path.expanduser(name)
    if os.path.isfile(path):
        absolute = os.path.abspath(path)
        return SampleRef(name=os.path.basename(path), path=absolute, display_name=absolute)
    what = "no such script" if looks_like_path else "unknown sample"
    raise catalog.UnknownLibraryError(
        f"{what} {name!r}; known samples: {', '.join(sample_names())}, all"
    )


# --------------------------------------------------------------------------- running


def run_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a run gets: the user's, unbuffered, with quiet TensorFlow defaults."""
    env = dict(os.environ if base is None else base)
    for key, value in RUN_ENV_DEFAULTS.items():
        env.setdefault(key, value)
    env.update(RUN_ENV_FORCED)
    return env


class _Collector:
    """Feeds batches to the buffer and the caller, and remembers the last stdout line."""

    def __init__(self, buffer: OutputBuffer, on_lines: Callable[[LineBatch], None] | None) -> None:
        self.buffer = buffer
        self.on_lines = on_lines
        self.last_stdout: str | None = None

    def __call__(self, batch: LineBatch) -> None:
        self.buffer.extend(batch)
        if batch.stream == "stdout":
            for text in reversed(batch.texts):
                if text.strip():
                    self.last_stdout = text
                    break
        if self.on_lines is not None:
            self.on_lines(batch)


def parse_verdict(line: str | None) -> dict[str, Any] | None:
    """The verdict object in a sample's last stdout line, or None when it is not one."""
    if not line:
        return None
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = parse_json(text)
    except UntrustedJSONError:
        return None
    return value if isinstance(value, dict) and "verdict" in value else None


def _judge(
    sample: SampleRef, outcome: ProcessOutcome, verdict: dict[str, Any] | None
) -> tuple[RunStatus, str]:
    """The status of a run and a one-line summary of why."""
    if outcome.start_error:
        return "error", outcome.describe()
    if outcome.cancelled:
        return "cancelled", "cancelled (process tree killed)"
    if outcome.timed_out:
        return "timeout", f"{outcome.describe()} (process tree killed)"
    detail = str(verdict.get("detail") or "") if verdict else ""
    said = verdict.get("verdict") if verdict else None
    if outcome.signal_name:
        return "error", outcome.describe()
    code = outcome.returncode
    if code == 0 and said in ("pass", None) and (verdict or not sample.is_sample):
        checked = str(verdict.get("checked") or "") if verdict else ""
        return "pass", detail or checked or "exit 0"
    if code == 0 and said is None:
        return "error", "exit 0 but no verdict line (the last stdout line is not its JSON)"
    if code == EXIT_BAD_DEVICE and sample.is_sample:
        return "error", detail or "the requested device does not exist"
    if code == EXIT_LIBRARY_MISSING and sample.is_sample:
        return "error", detail or "its library is not installed in the target interpreter"
    if said == "pass":
        return "error", f"verdict pass but {outcome.describe()}"
    return "fail", detail or outcome.describe()


async def run_sample(
    target: TargetPython,
    sample: SampleRef,
    *,
    device: str = "auto",
    args: Sequence[str] = (),
    timeout: float = 300.0,
    on_lines: Callable[[LineBatch], None] | None = None,
    buffer: OutputBuffer | None = None,
    cancel: asyncio.Event | None = None,
    grace_s: float | None = None,
) -> RunResult:
    """Run one sample (or script) in `target` and wait for its end.

    Output goes, batch by batch, to `on_lines` and into `buffer` (a fresh 5000-line one when
    None). Setting `cancel` kills the process tree and returns a result with status
    "cancelled". Cancelling the awaiting task kills the tree too and re-raises CancelledError
    (asyncio's rule: a cancelled task does not return a value).
    """
    buffer = OutputBuffer() if buffer is None else buffer
    argv = [
        target.executable,
        sample.path,
        *(["--device", device] if sample.is_sample else []),
        *args,
    ]
    base = RunResult(
        name=sample.name,
        script=sample.path,
        target=target.executable,
        device=device,
        status="error",
    )
    if not sample.exists:
        base.summary = f"script not found: {sample.path}"
        return base
    collector = _Collector(buffer, on_lines)
    with tempfile.TemporaryDirectory(prefix="mltui-run-") as workdir:
        outcome = await stream_process(
            argv,
            None,
            timeout=timeout,
            env=run_environment(),
            cwd=workdir,
            on_lines=collector,
            cancel=cancel,
            grace_s=KILL_GRACE_S if grace_s is None else grace_s,
        )
    verdict = parse_verdict(collector.last_stdout)
    status, summary = _judge(sample, outcome, verdict)
    base.status = status
    base.summary = summary
    base.returncode = outcome.returncode
    base.signal_name = outcome.signal_name
    base.timed_out = outcome.timed_out
    base.cancelled = outcome.cancelled
    base.elapsed_s = round(outcome.elapsed_s, 3)
    base.verdict = verdict
    base.lines_total = buffer.total
    base.lines_dropped = buffer.dropped
    return base


async def run_many(
    target: TargetPython,
    samples: Sequence[SampleRef],
    *,
    device: str = "auto",
    args: Sequence[str] = (),
    timeout: float = 300.0,
    on_start: Callable[[SampleRef], None] | None = None,
    on_lines: Callable[[LineBatch], None] | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    cancel: asyncio.Event | None = None,
    max_lines: int = 5000,
) -> list[RunResult]:
    """Run samples one after another (readable output, no fight over a GPU).

    After a cancel, the samples not yet started are not run and get no result.
    """
    results: list[RunResult] = []
    for sample in samples:
        if cancel is not None and cancel.is_set():
            break
        if on_start is not None:
            on_start(sample)
        result = await run_sample(
            target,
            sample,
            device=device,
            args=args,
            timeout=timeout,
            on_lines=on_lines,
            buffer=OutputBuffer(max_lines),
            cancel=cancel,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
