"""What every launcher shares: the command a node runs, and turning what it printed into a row.

A node runs `mltui check --json` (the same report a local check gives). How `mltui` gets there is
the launcher's business: over SSH and Slurm it is whatever `--remote-mltui` names on the node (by
default `mltui` on the node's PATH; a path on a shared filesystem works for every node at once);
Ray ships mltui's probes with the task itself.

Every launcher is a `Launcher` (a name, `describe()`, `async run(command, on_node, env, cancel)`),
registered by name in `probes.fleet.registry`; `run_fleet` runs whichever it is given. What they
share lives here: the bounded record of what a node printed (`NodeOutput`: a node printing
without end costs at most `NodeCommand.max_report_bytes`), turning it into a row
(`node_from_output`: the report is found between a login banner and any text after it, and read
by the one bounded JSON decoder), and `NodeLedger`, which passes on each node's row once and
then gives every node that never reported a row saying why.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from probes.fleet.model import NodeResult, NodeState
from probes.limits import PROBE_TIMEOUT_S
from probes.model import CheckResult, from_dict
from probes.perf_model import PerfReport
from probes.untrusted_json import UntrustedJSONError, parse_json_at

NodeCallback = Callable[[NodeResult], None]

#: The line between a node's perf report and its check report (with --perf).
PERF_MARK = "@mltui-perf-end"
#: How many stderr lines of a node are kept on its row.
STDERR_TAIL_LINES = 20
#: The largest report read from one node unless `--max-report-mib` says otherwise (a check
#: report is tens of KiB; with --perf a few hundred).
DEFAULT_MAX_REPORT_MIB = 8
#: The largest --max-report-mib (a report is kept in memory whole; 1e308 MiB overflowed).
MAX_REPORT_MIB = 4096
MIB = 1024 * 1024
#: How many (start, end) line pairs are tried when looking for the report among other text.
_REPORT_TRIES = 12
# What may stand before a report's `{` on its line: spaces, a BOM, CSI/OSC terminal sequences.
_LEADING_NOISE = re.compile(
    r"(?:[\s\ufeff]|\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\))*"
)

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


class Launcher(Protocol):
    """What runs the node command on many nodes (Slurm, Ray, SSH, ...): one row per node.

    `run` hands each node's row to `on_node` as soon as it is known, gives every node it
    expected a row even when that node never answered, and raises FleetError only when it
    cannot run at all. Setting `cancel` stops it (its processes are killed whole).
    """

    #: The registered name ("slurm", "ray", "ssh"), written into the report.
    name: str

    def describe(self) -> str:
        """A few words for the report's target line."""
        ...

    async def run(
        self,
        command: NodeCommand,
        on_node: NodeCallback,
        env: dict[str, str] | None,
        cancel: asyncio.Event | None,
    ) -> None:
        """Run `command` on every node; each row goes to `on_node`."""
        ...


class NodeLedger:
    """The rows a launcher reported so far: each node once, then the nodes that never did.

    `report(row)` passes a node's first row on (a later one for the same node is dropped);
    `fill_missing(names, why)` gives every node of `names` without a row the row `why(name)`.
    """

    def __init__(self, on_node: NodeCallback) -> None:
        self._on_node = on_node
        self.reported: set[str] = set()

    def report(self, row: NodeResult) -> None:
        """Pass on `row` unless its node already has one."""
        if row.name not in self.reported:
            self.reported.add(row.name)
            self._on_node(row)

    def missing(self, names: Iterable[str]) -> list[str]:
        """The nodes of `names` without a row yet, in order."""
        return [name for name in names if name not in self.reported]

    def fill_missing(self, names: Iterable[str], why: Callable[[str], NodeResult]) -> None:
        """Give each node of `names` that has no row yet the row `why(name)`."""
        for name in self.missing(names):
            self.report(why(name))


class NodeOutput:
    """What one node printed on stdout, kept only up to `max_bytes` (UTF-8).

    Past the limit everything is dropped and `over` is set: a node that prints without end
    costs bounded memory, and its row says "report larger than N MiB".
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.lines: list[str] = []
        self.size = 0
        self.over = False

    def add(self, texts: Iterable[str]) -> bool:
        """Keep `texts` (lines); False once the output is over the limit."""
        if self.over:
            return False
        for text in texts:
            self.size += (len(text) if text.isascii() else len(text.encode("utf-8", "replace"))) + 1
            if self.size > self.max_bytes:
                self.over = True
                self.lines = []
                return False
            self.lines.append(text)
        return True

    def text(self) -> str:
        """The lines kept, joined."""
        return "\n".join(self.lines)


def too_large_row(name: str, max_bytes: int, **fields: object) -> NodeResult:
    """The row of a node whose report went over the size limit."""
    return NodeResult(
        name,
        "failed",
        f"report larger than {describe_size(max_bytes)}",
        "see what the node prints (`mltui check --json` on it); raise --max-report-mib if the "
        "report is genuine",
        **fields,  # type: ignore[arg-type]
    )


def describe_size(max_bytes: int) -> str:
    """A size limit in words: "8 MiB", "0.5 MiB" (four significant digits)."""
    return f"{max_bytes / MIB:.4g} MiB"


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
    #: The most mltui reads of what one node prints on stdout; beyond it the row says so.
    max_report_bytes: int = DEFAULT_MAX_REPORT_MIB * MIB

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


def find_report(
    stdout: str,
    max_bytes: int = DEFAULT_MAX_REPORT_MIB * MIB,
    accept: Callable[[object], bool] = lambda data: isinstance(data, dict),
) -> object | str:
    """The JSON object a node printed among other text (a login banner before it, anything
    after it: a logout line, a second JSON, the report printed again), or why there is none.

    A candidate starts at a line's first `{`, after whitespace, a byte-order mark or terminal
    escape sequences (a login shell's colour reset); the one bounded decoder reads the value
    there and says where it ends, so whatever follows never spoils it. The first value
    `accept` takes is the report; an object that is not one (`{"motd": ...}`, an inner object
    of a report cut by interleaved stderr) is passed over.
    """
    text = stdout.strip()
    if not text:
        return "printed no report"
    if len(text) > max_bytes:
        return f"printed a report larger than {describe_size(max_bytes)}"
    starts: list[tuple[bool, int]] = []
    offset = 0
    for line in text.split("\n"):
        lead = _LEADING_NOISE.match(line).end()  # type: ignore[union-attr]  # always matches
        if line.startswith("{", lead):
            starts.append((line[lead:].strip() != "{", offset + lead))
        offset += len(line) + 1
    if not starts:
        return "printed no JSON report: " + _first_line(text)
    # `check --json` prints "{" on a line of its own: those first, then one-line objects; a few
    # tries only, each linear, so a hostile output cannot make this quadratic.
    starts.sort()
    first_error: str | None = None
    passed_over = False
    for _, start in starts[:_REPORT_TRIES]:
        try:
            found: object = parse_json_at(text, start, max_bytes=max_bytes)[0]
        except UntrustedJSONError as exc:
            first_error = first_error or str(exc)
            continue
        if accept(found):
            return found
        passed_over = True
    if first_error is None and passed_over:
        return "printed JSON that is not an mltui report"
    return f"printed a report that is not valid JSON ({first_error or 'no closing brace'})"


def _is_check_report(data: object) -> bool:
    return isinstance(data, dict) and "nvml" in data and "system" in data


def parse_check(stdout: str, max_bytes: int = DEFAULT_MAX_REPORT_MIB * MIB) -> CheckResult | str:
    """The node's `mltui check --json` as a CheckResult, or why it is not one."""
    data = find_report(stdout, max_bytes, _is_check_report)
    if isinstance(data, str):
        return data.replace("an mltui report", "an mltui check report")
    try:
        return from_dict(CheckResult, data)
    except (TypeError, ValueError) as exc:
        return f"printed a check report this mltui cannot read: {exc}"


def parse_perf(stdout: str, max_bytes: int = DEFAULT_MAX_REPORT_MIB * MIB) -> PerfReport | str:
    """The node's `mltui perf --json` as a PerfReport, or why it is not one."""
    data = find_report(stdout, max_bytes)
    if isinstance(data, str):
        return data
    try:
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
    stdout: str | NodeOutput,
    stderr: Sequence[str],
    returncode: int | None,
    *,
    elapsed_s: float | None = None,
    command: str = "mltui",
    max_bytes: int = DEFAULT_MAX_REPORT_MIB * MIB,
) -> NodeResult:
    """The row of a node whose command ended with `returncode` after printing stdout/stderr.

    `stdout` may be a `NodeOutput` that went over its limit: the row then says so.
    """
    tail = list(stderr[-STDERR_TAIL_LINES:])
    if isinstance(stdout, NodeOutput):
        if stdout.over:
            return too_large_row(name, stdout.max_bytes, elapsed_s=elapsed_s, stderr_tail=tail)
        max_bytes, stdout = stdout.max_bytes, stdout.text()
    perf_text, marked, stdout = stdout.rpartition(PERF_MARK)
    parsed = parse_check(stdout, max_bytes)
    if isinstance(parsed, CheckResult):
        state: NodeState = "findings" if parsed.has_errors else "ok"
        row = NodeResult(name, state, check=parsed, elapsed_s=elapsed_s, stderr_tail=tail)
        if marked:
            perf = parse_perf(perf_text, max_bytes)
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


def timed_out_row(
    name: str,
    stdout: NodeOutput,
    stderr: Sequence[str],
    *,
    timeout: float,
    reason: str,
    fix: str,
    elapsed_s: float | None = None,
    command: str = "mltui",
) -> NodeResult:
    """The row of a node stopped at its time limit. When it had printed a whole check report
    (a node that hangs after it: a daemon it started holds the channel open, a logout hook
    waits), that report is its row and the reason says it did not exit; else "timed_out"."""
    if not stdout.over:
        row = node_from_output(name, stdout, stderr, None, elapsed_s=elapsed_s, command=command)
        if row.check is not None:
            note = f"did not exit within {timeout:g} s after printing its report"
            row.reason = f"{row.reason}; {note}" if row.reason else note
            return row
    tail = list(stderr[-STDERR_TAIL_LINES:])
    return NodeResult(name, "timed_out", reason, fix, elapsed_s=elapsed_s, stderr_tail=tail)


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
