"""What every launcher shares: the command a node runs, and turning what it printed into a row.

A node runs `mltui check --json` (the same report a local check gives). How `mltui` gets there is
the launcher's business: over SSH and Slurm it is whatever `--remote-mltui` names on the node (by
default `mltui` on the node's PATH; a path on a shared filesystem works for every node at once);
Ray ships mltui's probes with the task itself.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from probes.fleet.model import NodeResult, NodeState
from probes.limits import PROBE_TIMEOUT_S
from probes.model import CheckResult, from_dict
from probes.perf_model import PerfReport
from probes.untrusted_json import UntrustedJSONError, parse_json

NodeCallback = Callable[[NodeResult], None]

#: The line between a node's perf report and its check report (with --perf).
PERF_MARK = "@mltui-perf-end"
#: How many stderr lines of a node are kept on its row.
STDERR_TAIL_LINES = 20

INSTALL_FIX = (
    "install mltui on the node (`pip install mltui` in the Python it should check), or pass "
    "--remote-mltui with the path of an mltui the node can run (e.g. on a shared filesystem)"
)
PYTHON_FIX = (
    "the Python that node's mltui was installed with is gone: reinstall mltui on the node, or "
    "pass --remote-mltui with an mltui whose Python exists there"
)


class FleetError(Exception):
    """The launcher could not run at all (no ssh/srun/ray, bad selection); str() is one line."""


@dataclass
class NodeCommand:
    """What each node runs: its mltui command and the check's options."""

    #: The mltui command on the node, as words ("mltui", "/shared/venv/bin/mltui", ...).
    mltui: list[str] = field(default_factory=lambda: ["mltui"])
    #: Comma-separated libraries to probe (`mltui check --only`), None for all.
    only: str | None = None
    #: Seconds each library probe may take on the node (`mltui check --timeout`).
    probe_timeout: float = PROBE_TIMEOUT_S
    #: Also run `mltui perf --json` first, with this time budget.
    perf: bool = False
    perf_seconds: float = 60.0

    def argv(self) -> list[str]:
        """The node's check as words."""
        words = [*self.mltui, "check", "--json", "--timeout", f"{self.probe_timeout:g}"]
        if self.only:
            words += ["--only", self.only]
        return words

    def perf_argv(self) -> list[str]:
        """The node's `mltui perf` as words."""
        return [*self.mltui, "perf", "--json", "--seconds", f"{self.perf_seconds:g}"]

    def shell(self) -> str:
        """What the node runs as one shell command line (for ssh and sh -c).

        With --perf: the perf report, a marker line, then the check (whose exit status counts).
        """
        check = shlex.join(self.argv())
        if not self.perf:
            return check
        return f"{shlex.join(self.perf_argv())}; echo {PERF_MARK}; {check}"


def parse_remote_mltui(text: str) -> list[str]:
    """Split a --remote-mltui value into words; FleetError when it is empty or malformed."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FleetError(f"--remote-mltui {text!r}: {exc}") from None
    if not words:
        raise FleetError("--remote-mltui is empty")
    return words


def parse_check(stdout: str) -> CheckResult | str:
    """The node's `mltui check --json` as a CheckResult, or why it is not one."""
    text = stdout.strip()
    if not text:
        return "printed no report"
    start = text.find("{")
    if start < 0:
        return "printed no JSON report: " + _first_line(text)
    try:
        data = parse_json(text[start:])
    except UntrustedJSONError as exc:
        return f"printed a report that is not valid JSON ({exc})"
    if not isinstance(data, dict) or "nvml" not in data or "system" not in data:
        return "printed JSON that is not an mltui check report"
    try:
        return from_dict(CheckResult, data)
    except (TypeError, ValueError) as exc:
        return f"printed a check report this mltui cannot read: {exc}"


def parse_perf(stdout: str) -> PerfReport | str:
    """The node's `mltui perf --json` as a PerfReport, or why it is not one."""
    text = stdout.strip()
    start = text.find("{")
    if start < 0:
        return "printed no report"
    try:
        data = parse_json(text[start:])
        return from_dict(PerfReport, data)
    except (TypeError, ValueError) as exc:
        return f"printed a report this mltui cannot read: {exc}"


def throughput_of(perf: PerfReport) -> tuple[float, str] | None:
    """A node's throughput figure: each GPU's best GEMM (any library, any precision), the
    median over the node's GPUs, in TFLOP/s; the CPU's in GFLOP/s on a node without GPUs."""
    gpus = [d for d in perf.devices if d.device != "cpu"]
    for devices, scale, unit in ((gpus, 1e12, "TFLOP/s"), (perf.devices, 1e9, "GFLOP/s")):
        bests = [
            max(m.value for m in d.measurements if m.kind == "gemm" and m.value)
            for d in devices
            if any(m.kind == "gemm" and m.value for m in d.measurements)
        ]
        if bests:
            return round(statistics.median(bests) / scale, 2), unit
    return None


def node_from_output(
    name: str,
    stdout: str,
    stderr: Sequence[str],
    returncode: int | None,
    *,
    elapsed_s: float | None = None,
    command: str = "mltui",
) -> NodeResult:
    """The row of a node whose command ended with `returncode` after printing stdout/stderr."""
    tail = list(stderr[-STDERR_TAIL_LINES:])
    perf_text, marked, stdout = stdout.rpartition(PERF_MARK)
    parsed = parse_check(stdout)
    if isinstance(parsed, CheckResult):
        state: NodeState = "findings" if parsed.has_errors else "ok"
        row = NodeResult(name, state, check=parsed, elapsed_s=elapsed_s, stderr_tail=tail)
        if marked:
            perf = parse_perf(perf_text)
            if isinstance(perf, PerfReport):
                parsed.perf = perf
                figure = throughput_of(perf)
                if figure is not None:
                    row.throughput, row.throughput_unit = figure
            else:
                row.reason = f"mltui perf {perf}"
        return row
    missing = missing_reason(stderr, returncode, command)
    if missing is not None:
        reason, fix = missing
        return NodeResult(name, "no_mltui", reason, fix, elapsed_s=elapsed_s, stderr_tail=tail)
    last = _last_line(stderr)
    how = f"exit {returncode}" if returncode is not None else "no exit status"
    reason = f"{how}, {parsed}" + (f"; stderr: {last}" if last else "")
    return NodeResult(name, "failed", reason, elapsed_s=elapsed_s, stderr_tail=tail)


def missing_reason(
    stderr: Sequence[str], returncode: int | None, command: str
) -> tuple[str, str] | None:
    """(reason, fix) when the output says the node has no mltui or no Python for it."""
    text = "\n".join(stderr[-STDERR_TAIL_LINES:])
    lowered = text.lower()
    # bash < 5.1 says "bad interpreter"; bash 5.2 "cannot execute: required file not found"
    # for a script whose #! interpreter is gone (a file that is missing itself is "No such file").
    for words in ("bad interpreter", "required file not found"):
        if words in lowered:
            return f"mltui's Python is missing on the node: {_matching(stderr, words)}", (
                PYTHON_FIX
            )
    if "no module named" in lowered and ("probes" in lowered or "tui" in lowered):
        return f"mltui is not installed in the node's Python: {_matching(stderr, 'module')}", (
            INSTALL_FIX
        )
    not_found = ("command not found", "not found", "no such file or directory")
    if (returncode in (126, 127) or any(w in lowered for w in not_found)) and (
        command.lower() in lowered or returncode == 127
    ):
        line = _matching(stderr, "not found") or _matching(stderr, "no such file") or text
        return f"no `{command}` on the node: {line}", INSTALL_FIX
    return None


def _matching(lines: Sequence[str], word: str) -> str:
    for line in reversed(lines):
        if word in line.lower():
            return line.strip()
    return ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _last_line(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""
