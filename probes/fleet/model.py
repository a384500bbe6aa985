"""The data model of `mltui fleet`: one row per node, the skew found across them, the whole run.

A node that answered carries its report as the very `CheckResult` a local `mltui check` gives
(`probes.model`): one data model for one node, here or anywhere. What this module adds is only the
aggregate: how each node fared (`NodeResult`), what differs between them (`SkewFinding`), and the
run (`FleetReport`): what `mltui fleet --json` prints, described by probes/fleet/fleet.schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from probes.model import CheckResult, dataclass_schema

#: Bump when a field is removed or changes meaning; adding an optional field keeps the version.
FLEET_SCHEMA_VERSION = 1

#: A launcher's registered name ("slurm", "ray", "ssh", ...; see probes.fleet.registry).
LauncherName = str
NodeState = Literal[
    "ok",  # answered; no finding of its check is an error
    "findings",  # answered; its check has at least one error finding
    "unreachable",  # the launcher could not reach the node (ssh refused, DNS, auth, ...)
    "timed_out",  # reached, but no report within the per-node time
    "down",  # the scheduler says the node is down, drained or gone (in its own words)
    "no_mltui",  # the node has no mltui or no working Python for it (`fix` says what to do)
    "failed",  # it ran but gave no usable report (a crash, bad output); `reason` says how
]
#: States in which the node gave no report.
FAILED_STATES: frozenset[str] = frozenset(
    {"unreachable", "timed_out", "down", "no_mltui", "failed"}
)
SkewKind = Literal[
    "driver", "cuda", "gpu_count", "gpu_model", "library_version", "library_gpu", "throughput"
]


@dataclass
class NodeResult:
    """One node of the fleet: its report, or why there is none."""

    name: str
    state: NodeState
    #: One sentence, in the launcher's or scheduler's own words when it gave some.
    reason: str | None = None
    #: What to do about a failure, when mltui knows.
    fix: str | None = None
    #: The node's own `mltui check --json`, when it answered.
    check: CheckResult | None = None
    #: With --perf: the node's throughput figure (higher is faster) and its unit.
    throughput: float | None = None
    throughput_unit: str | None = None
    elapsed_s: float | None = None
    #: The last lines the node printed on stderr (untrusted text: shown through the sanitiser).
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        """True when the node sent a report."""
        return self.check is not None


@dataclass
class SkewFinding:
    """One node whose value differs from the majority of the nodes that answered."""

    kind: SkewKind
    node: str
    #: What is compared: "driver", "CUDA", "GPU count", "torch version", ...
    subject: str
    value: str
    majority_value: str
    majority_count: int
    #: How many nodes had a value for this subject.
    compared: int
    #: The finding in one line: "node17: driver 550.54 where 31 nodes have 565.57".
    text: str


@dataclass
class FleetCounts:
    """How many nodes are in each state."""

    total: int = 0
    answered: int = 0
    ok: int = 0
    findings: int = 0
    failed: int = 0


@dataclass
class FleetReport:
    """A whole `mltui fleet`: the launcher, every node's row, and the skew found across them."""

    schema_version: int = FLEET_SCHEMA_VERSION
    mltui_version: str = ""
    created_at: str = ""
    #: The launcher's registered name: "slurm", "ray", "ssh", ...
    launcher: LauncherName = "ssh"
    #: The launcher's target in a few words: "partition gpu, 32 nodes", "ray at 10.0.0.1:6379".
    target: str = ""
    #: GPUs each node should have (from --gpus, else the most common count among the nodes).
    expected_gpus: int | None = None
    counts: FleetCounts = field(default_factory=FleetCounts)
    nodes: list[NodeResult] = field(default_factory=list)
    skew: list[SkewFinding] = field(default_factory=list)
    #: A problem with the run as a whole (the launcher failed before any node), else None.
    error: str | None = None
    elapsed_s: float | None = None


def fleet_schema() -> dict[str, Any]:
    """The JSON Schema of `mltui fleet --json`, derived from the dataclasses above."""
    return dataclass_schema(
        FleetReport,
        schema_id=f"https://mltui.invalid/schema/fleet-v{FLEET_SCHEMA_VERSION}.json",
        title="mltui fleet --json",
        version=FLEET_SCHEMA_VERSION,
    )
