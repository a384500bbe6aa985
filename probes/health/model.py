"""The data of `mltui health`: the baseline a node is held to, and the node's verdict.

A baseline is what most nodes of a fleet run had (`mltui fleet … --save-baseline FILE`): one
`BaselineFact` per compared subject (driver, CUDA, GPU count and model, each library's version and
whether it computes on the GPUs), the error findings most nodes share (accepted, so a fleet-wide
state never drains every node), and with --perf a throughput floor per GPU model. A node's health
is a `HealthReport` that carries the node's own check as the very `CheckResult` of `mltui check`,
and the findings that decided its verdict as `Finding`s of the same model. Schemas:
probes/health/baseline.schema.json and probes/health/health.schema.json (generated; a test keeps
them fresh).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from probes.cache import cache_dir
from probes.files import expand_user
from probes.fleet.model import SkewKind
from probes.model import (
    CheckResult,
    Finding,
    dataclass_schema,
    from_dict,
    schema_problem,
)
from probes.untrusted_json import UntrustedJSONError, read_json_file

#: Bump when a field is removed or changes meaning; adding an optional field keeps the version.
BASELINE_SCHEMA_VERSION = 1
HEALTH_SCHEMA_VERSION = 1
#: A baseline file larger than this is refused (a real one is a few KiB).
MAX_BASELINE_BYTES = 4 * 1024 * 1024
#: Names the dashboard's baseline file (see default_baseline_path).
BASELINE_VARIABLE = "MLTUI_BASELINE"
#: The perf floor of a GPU model is this fraction of the median of its nodes.
DEFAULT_FLOOR_FRACTION = 0.9

HealthVerdict = Literal[
    "healthy",  # every judged subject matches the baseline (or, without one, no error finding)
    "unhealthy",  # a difference from the baseline, an error finding, or perf below its floor
    "unknown",  # no verdict: something did not finish in time or could not run (never drains)
]
HealthLevel = Literal["quick", "perf"]


@dataclass
class BaselineFact:
    """One compared subject and the value the majority of the fleet's nodes have."""

    kind: SkewKind
    #: The library the subject is about (library_version, library_gpu), else None.
    library: str | None
    #: What is compared, in words: "driver", "GPU count", "PyTorch version", ...
    subject: str
    value: str
    #: How many nodes have `value`, of the `compared` nodes that had one.
    nodes: int
    compared: int


@dataclass
class AcceptedFinding:
    """An error finding most nodes share: the fleet's normal, not a reason to fail one node."""

    rule: str
    library: str | None = None
    nodes: int = 0


@dataclass
class PerfFloor:
    """The least throughput a node of one GPU model must reach (with --level perf)."""

    gpu_model: str  # as `probes.fleet.aggregate.gpu_model` names it; "no GPU" for CPU-only nodes
    unit: str
    median: float
    floor: float
    nodes: int


@dataclass
class Baseline:
    """What the majority of a fleet's nodes have; `mltui health --baseline` holds a node to it."""

    schema_version: int = BASELINE_SCHEMA_VERSION
    mltui_version: str = ""
    created_at: str = ""
    #: Where it came from, in a few words: "fleet over slurm: partition gpu, 32 nodes".
    source: str = ""
    #: How many nodes' reports it was made from.
    nodes: int = 0
    facts: list[BaselineFact] = field(default_factory=list)
    accepted_findings: list[AcceptedFinding] = field(default_factory=list)
    perf_floors: list[PerfFloor] = field(default_factory=list)
    #: Subjects left out because the nodes split evenly (no majority to hold a node to).
    undecided: list[str] = field(default_factory=list)

    @property
    def libraries(self) -> list[str]:
        """The libraries the baseline names (the quick check probes only these)."""
        names: list[str] = []
        for fact in self.facts:
            if fact.library is not None and fact.library not in names:
                names.append(fact.library)
        return names


@dataclass
class HealthReport:
    """One node's health: the verdict, the one-line reason, what decided it, and its check."""

    schema_version: int = HEALTH_SCHEMA_VERSION
    mltui_version: str = ""
    created_at: str = ""
    node: str = ""
    level: HealthLevel = "quick"
    verdict: HealthVerdict = "unknown"
    #: One line: the first problem (and how many more), why there is no verdict, or "healthy".
    reason: str = ""
    #: The baseline file the node was held to, None without one.
    baseline: str | None = None
    #: The errors that decided an unhealthy verdict (differences first), then the node's own
    #: warnings; the same Finding model a check has.
    findings: list[Finding] = field(default_factory=list)
    #: What could not be judged and why (a probe that timed out is not a verdict).
    unknown: list[str] = field(default_factory=list)
    #: The node's check: library results reused from a cached check when young enough.
    check: CheckResult | None = None
    #: Age in seconds of the reused library results; None when they were probed now.
    reused_age_s: float | None = None
    #: With --level perf: the node's throughput, its unit, and the baseline's floor for its model.
    throughput: float | None = None
    throughput_unit: str | None = None
    perf_floor: float | None = None
    #: With --drain: what was done to the node in Slurm ("drained: mltui: …", "resumed", …).
    drain: str | None = None
    elapsed_s: float | None = None

    @property
    def errors(self) -> list[Finding]:
        """The findings that make the node unhealthy."""
        return [finding for finding in self.findings if finding.severity == "error"]


def default_baseline_path(environ: Mapping[str, str] | None = None) -> Path:
    """The dashboard's baseline file: $MLTUI_BASELINE, else baseline.json in mltui's cache
    folder. The Fleet pane saves it, the Hardware pane compares this node with it. Raises
    OSError when there is no cache folder to be found."""
    env = os.environ if environ is None else environ
    named = env.get(BASELINE_VARIABLE)
    if named:
        return expand_user(named, f"{BASELINE_VARIABLE}={named}")
    return cache_dir(env) / "baseline.json"


class BaselineError(ValueError):
    """A baseline file that is missing or not a baseline; str() is one line for the user."""


def baseline_schema() -> dict[str, Any]:
    """The JSON Schema of a baseline file, derived from the dataclasses above."""
    return dataclass_schema(
        Baseline,
        schema_id=f"https://mltui.invalid/schema/baseline-v{BASELINE_SCHEMA_VERSION}.json",
        title="mltui baseline (mltui fleet --save-baseline)",
        version=BASELINE_SCHEMA_VERSION,
    )


def health_schema() -> dict[str, Any]:
    """The JSON Schema of `mltui health --format json`, derived from the dataclasses above."""
    return dataclass_schema(
        HealthReport,
        schema_id=f"https://mltui.invalid/schema/health-v{HEALTH_SCHEMA_VERSION}.json",
        title="mltui health --format json",
        version=HEALTH_SCHEMA_VERSION,
    )


def parse_baseline(data: Any) -> Baseline:
    """A Baseline from plain data, validated against its schema; BaselineError says what is off."""
    problem = schema_problem(data, baseline_schema())
    if problem is not None:
        raise BaselineError(f"not an mltui baseline: {problem}")
    try:
        baseline = from_dict(Baseline, data)
    except (TypeError, KeyError, ValueError) as exc:
        raise BaselineError(f"not an mltui baseline: {exc}") from None
    problem = baseline_problem(baseline)
    if problem is not None:
        raise BaselineError(f"not a usable baseline: {problem}")
    return baseline


def baseline_problem(baseline: Baseline) -> str | None:
    """What makes a baseline that matches the schema unusable, in a few words, else None.

    A baseline that holds nothing to compare would call every node healthy without judging
    anything; a fact no node holds, or a GPU count no machine can have, would call every node
    unhealthy (and `--drain` would drain the whole fleet).
    """
    if baseline.nodes < 1:
        return f"made from {baseline.nodes} nodes"
    if not baseline.facts:
        return "it holds no subject to compare a node with"
    for fact in baseline.facts:
        if not 1 <= fact.nodes <= fact.compared:
            return f"{fact.subject}: held by {fact.nodes} of {fact.compared} nodes"
        if fact.kind == "gpu_count" and not (fact.value.isascii() and fact.value.isdigit()):
            return f"{fact.subject}: {fact.value!r} is not a count"
    for floor in baseline.perf_floors:
        if floor.floor < 0 or floor.median < 0:
            return f"the perf floor of {floor.gpu_model} is negative"
    return None


def load_baseline(path: str) -> Baseline:
    """The baseline in file `path`; BaselineError (one line naming the path) for anything else."""
    try:
        data = read_json_file(path, max_bytes=MAX_BASELINE_BYTES)
    except UntrustedJSONError as exc:
        raise BaselineError(f"baseline {exc}") from None
    try:
        return parse_baseline(data)
    except BaselineError as exc:
        raise BaselineError(f"baseline {path}: {exc}") from None
