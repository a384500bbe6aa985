"""A baseline from a fleet run: the value most nodes have of every subject the fleet compares.

The subjects and each node's values are the fleet's own (`probes.fleet.aggregate.node_facts`), so
a node judged by `mltui health` is compared on exactly what `mltui fleet` calls skew. A subject on
which the nodes split evenly has no majority: it is left out and named in `undecided`. With
--perf, each GPU model gets a floor of `floor_fraction` × the median throughput of its nodes.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from probes import __version__
from probes.fleet.aggregate import gpu_model, node_facts
from probes.fleet.model import FleetReport, NodeResult
from probes.health.model import (
    DEFAULT_FLOOR_FRACTION,
    AcceptedFinding,
    Baseline,
    BaselineFact,
    PerfFloor,
)


def save_baseline(report: FleetReport, path: str | Path) -> Baseline:
    """Write the baseline of a fleet run to `path` (atomically) and return it.

    Raises NoBaselineError when no node answered, OSError when the file cannot be written.
    """
    from probes.health.state import write_atomic
    from probes.model import to_json

    baseline = baseline_from_fleet(report)
    write_atomic(Path(path), to_json(baseline, indent=2) + "\n")
    return baseline


class NoBaselineError(ValueError):
    """The fleet run has no node report to make a baseline from; str() says so in one line."""


def baseline_from_fleet(
    report: FleetReport, *, floor_fraction: float = DEFAULT_FLOOR_FRACTION
) -> Baseline:
    """The baseline of a fleet run: what the majority of the nodes that answered have."""
    answered = [node for node in report.nodes if node.check is not None]
    if not answered:
        raise NoBaselineError(
            "no node sent a report, so there is no majority to save as a baseline"
        )
    baseline = baseline_from_nodes(answered, floor_fraction=floor_fraction)
    baseline.source = f"mltui fleet over {report.launcher}: {report.target}".rstrip(": ")
    return baseline


def baseline_from_nodes(
    nodes: Sequence[NodeResult], *, floor_fraction: float = DEFAULT_FLOOR_FRACTION
) -> Baseline:
    """The baseline of some node rows (those without a report are left out)."""
    answered = [node for node in nodes if node.check is not None]
    counters: dict[tuple[str, str], Counter[str]] = {}
    subjects: dict[tuple[str, str], tuple[str, str]] = {}
    for node in answered:
        for key, (subject, value) in node_facts(node).items():
            subjects.setdefault(key, subject)
            counters.setdefault(key, Counter())[value] += 1
    facts: list[BaselineFact] = []
    undecided: list[str] = []
    for key, counter in counters.items():
        kind, words = subjects[key]
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        compared = sum(counter.values())
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            split = ", ".join(f"{count} have {value}" for value, count in ranked)
            undecided.append(f"{words}: no majority ({split})")
            continue
        value, count = ranked[0]
        facts.append(
            BaselineFact(
                kind=kind,  # type: ignore[arg-type]
                library=key[1] or None,
                subject=words,
                value=value,
                nodes=count,
                compared=compared,
            )
        )
    return Baseline(
        mltui_version=__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        nodes=len(answered),
        facts=facts,
        accepted_findings=_shared_errors(answered),
        perf_floors=_perf_floors(answered, floor_fraction),
        undecided=undecided,
    )


def _shared_errors(nodes: Sequence[NodeResult]) -> list[AcceptedFinding]:
    """Error findings (rule, library) that more than half of the nodes have."""
    counter: Counter[tuple[str, str | None]] = Counter()
    for node in nodes:
        assert node.check is not None
        counter.update({(f.rule, f.library) for f in node.check.findings if f.severity == "error"})
    return [
        AcceptedFinding(rule=rule, library=library, nodes=count)
        for (rule, library), count in sorted(counter.items(), key=lambda item: str(item[0]))
        if count * 2 > len(nodes)
    ]


def _perf_floors(nodes: Sequence[NodeResult], fraction: float) -> list[PerfFloor]:
    """A floor per GPU model: `fraction` × the median throughput of its nodes."""
    by_model: dict[tuple[str, str], list[float]] = {}
    for node in nodes:
        if node.throughput is None or node.check is None:
            continue
        model = gpu_model(node.check) or "no GPU"
        by_model.setdefault((model, node.throughput_unit or ""), []).append(node.throughput)
    floors = []
    for (model, unit), values in sorted(by_model.items()):
        median = statistics.median(values)
        floors.append(
            PerfFloor(
                gpu_model=model,
                unit=unit,
                median=round(median, 4),
                floor=round(median * fraction, 4),
                nodes=len(values),
            )
        )
    return floors
