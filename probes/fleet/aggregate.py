"""Gather node rows as they arrive and find what differs between the nodes (the skew).

`FleetAggregate.add()` costs one node's worth of work (its facts are counted once, on arrival), so
a thousand reports streaming in never make the whole table be recounted per report; `skew()`
walks the counted facts once. Each compared subject (driver, CUDA, GPU count and model, each
library's version and whether it sees the GPUs) is held by most nodes at one value; a node with
another value is a finding. Throughput is compared with the median of the nodes with the same GPU
model: more than `SLOW_FRACTION` below it is a finding.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone

from probes import __version__
from probes.fleet.model import (
    FAILED_STATES,
    FleetCounts,
    FleetReport,
    LauncherName,
    NodeResult,
    SkewFinding,
    SkewKind,
)
from probes.model import CheckResult
from probes.wording import is_missing, shown

#: A node this far below the median throughput of its GPU model is slow (0.10 = 10 %).
SLOW_FRACTION = 0.10

#: Subject key -> (kind, words for the subject).
_Subject = tuple[SkewKind, str]


def gpu_count(check: CheckResult) -> int:
    """GPUs the driver shows on the node and that answer (0 without a working driver)."""
    if check.nvml.status != "ok":
        return 0
    return sum(1 for gpu in check.nvml.gpus if gpu.state == "ok")


def gpu_model(check: CheckResult) -> str | None:
    """The node's GPU model ("A+B" when the node mixes models), None without GPUs."""
    names = sorted({gpu.name or "unknown" for gpu in check.nvml.gpus if gpu.state == "ok"})
    if check.nvml.status != "ok" or not names:
        return None
    return "+".join(names)


def library_sees_gpu(check: CheckResult, name: str) -> bool | None:
    """Whether the library ran a computation on a GPU of the node; None when not installed."""
    for library in check.libraries:
        if library.name == name:
            if library.status == "not_installed":
                return None
            return any(device.computation_ok for device in library.gpu_devices)
    return None


def node_facts(node: NodeResult) -> dict[tuple[str, str], tuple[_Subject, str]]:
    """The values of a node that are compared across the fleet, keyed by subject."""
    check = node.check
    facts: dict[tuple[str, str], tuple[_Subject, str]] = {}
    if check is None:
        return facts
    nvml = check.nvml
    if nvml.status == "ok":
        if nvml.driver_version:
            facts[("driver", "")] = (("driver", "driver"), nvml.driver_version)
        if nvml.cuda_driver_version:
            facts[("cuda", "")] = (("cuda", "CUDA"), nvml.cuda_driver_version)
    facts[("gpu_count", "")] = (("gpu_count", "GPU count"), str(gpu_count(check)))
    model = gpu_model(check)
    if model is not None:
        facts[("gpu_model", "")] = (("gpu_model", "GPU model"), model)
    for library in check.libraries:
        label = library.display_name or library.name
        version = library.version if library.status != "not_installed" else None
        facts[("library_version", library.name)] = (
            ("library_version", f"{label} version"),
            version or "not installed",
        )
        sees = library_sees_gpu(check, library.name)
        if sees is not None and gpu_count(check) > 0:
            facts[("library_gpu", library.name)] = (
                ("library_gpu", f"{label} on the GPUs"),
                "runs" if sees else "does not run",
            )
    return facts


class FleetAggregate:
    """The rows of one fleet run so far, their counts and the facts to compare, kept up to date."""

    def __init__(
        self, launcher: LauncherName, target: str = "", *, expected_gpus: int | None = None
    ) -> None:
        self.launcher: LauncherName = launcher
        self.target = target
        self.expected_gpus = expected_gpus
        self.started_at = datetime.now(timezone.utc)
        self.error: str | None = None
        self._nodes: dict[str, NodeResult] = {}
        self._facts: dict[str, dict[tuple[str, str], tuple[_Subject, str]]] = {}
        self._counters: dict[tuple[str, str], Counter[str]] = {}
        self._subjects: dict[tuple[str, str], _Subject] = {}
        self._states: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> list[NodeResult]:
        """The rows in the order they arrived."""
        return list(self._nodes.values())

    def get(self, name: str) -> NodeResult | None:
        """The row of node `name`, if it arrived."""
        return self._nodes.get(name)

    def add(self, node: NodeResult) -> None:
        """Take one node's row (a later row for the same node replaces the earlier one)."""
        if node.name in self._nodes:
            self._forget(node.name)
        self._nodes[node.name] = node
        self._states[node.state] += 1
        facts = node_facts(node)
        self._facts[node.name] = facts
        for key, (subject, value) in facts.items():
            self._subjects.setdefault(key, subject)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = Counter()
            counter[value] += 1

    def extend(self, nodes: Iterable[NodeResult]) -> None:
        """Take many rows."""
        for node in nodes:
            self.add(node)

    def _forget(self, name: str) -> None:
        for key, (_, value) in self._facts.pop(name, {}).items():
            self._counters[key][value] -= 1
        self._states[self._nodes.pop(name).state] -= 1

    def counts(self) -> FleetCounts:
        """How many nodes are in each state (kept as rows arrive: no walk over the rows)."""
        states = self._states
        failed = sum(count for state, count in states.items() if state in FAILED_STATES)
        return FleetCounts(
            total=len(self._nodes),
            answered=len(self._nodes) - failed,
            ok=states["ok"],
            findings=states["findings"],
            failed=failed,
        )

    def majority_gpus(self) -> int | None:
        """The GPU count expected of each node: --gpus when given, else the most common one."""
        if self.expected_gpus is not None:
            return self.expected_gpus
        counter = self._counters.get(("gpu_count", ""))
        top = _top(counter) if counter else []
        if not top or (len(top) > 1 and top[0][1] == top[1][1]):
            return None  # no count yet, or a tie: no majority to expect
        return int(top[0][0])

    def skew(self) -> list[SkewFinding]:
        """Every node whose value differs from the majority, then the slow nodes."""
        findings: list[SkewFinding] = []
        differing: dict[tuple[str, str], tuple[str, int, int]] = {}
        for key, counter in self._counters.items():
            top = _top(counter)
            compared = sum(counter.values())
            if key == ("gpu_count", "") and self.expected_gpus is not None:
                expected = str(self.expected_gpus)
                if counter.get(expected, 0) != compared:
                    differing[key] = (expected, counter.get(expected, 0), compared)
            elif len(top) == 1:
                continue  # everyone agrees
            elif len(top) > 1 and top[0][1] == top[1][1]:
                differing[key] = ("", 0, compared)  # a tie: no majority to measure against
            else:
                differing[key] = (top[0][0], top[0][1], compared)
        if differing:
            for name, facts in self._facts.items():
                for key, (subject, value) in facts.items():
                    found = differing.get(key)
                    if found is None or value == found[0]:
                        continue
                    majority, count, compared = found
                    findings.append(_finding(name, subject, value, majority, count, compared, key))
        findings.extend(self.slow_nodes())
        return findings

    def slow_nodes(self) -> list[SkewFinding]:
        """Nodes more than SLOW_FRACTION below the median throughput of their GPU model."""
        by_model: dict[str, list[tuple[str, float, str]]] = {}
        for node in self._nodes.values():
            if node.throughput is None or node.check is None:
                continue
            model = gpu_model(node.check) or "no GPU"
            by_model.setdefault(model, []).append(
                (node.name, node.throughput, node.throughput_unit or "")
            )
        findings: list[SkewFinding] = []
        for model, rows in by_model.items():
            if len(rows) < 2:
                continue
            median = statistics.median(value for _, value, _ in rows)
            for name, value, unit in rows:
                if value < median * (1.0 - SLOW_FRACTION):
                    below = 100.0 * (1.0 - value / median) if median else 100.0
                    unit_text = f" {unit}" if unit else ""
                    findings.append(
                        SkewFinding(
                            kind="throughput",
                            node=name,
                            subject=f"throughput on {model}",
                            value=f"{value:g}{unit_text}",
                            majority_value=f"{median:g}{unit_text}",
                            majority_count=len(rows),
                            compared=len(rows),
                            text=(
                                f"{name}: {value:g}{unit_text}, {below:.0f} % below the median "
                                f"{median:g}{unit_text} of {len(rows)} {model} nodes"
                            ),
                        )
                    )
        return findings

    def report(self, *, elapsed_s: float | None = None) -> FleetReport:
        """The run so far as one `FleetReport`."""
        return FleetReport(
            mltui_version=__version__,
            created_at=self.started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            launcher=self.launcher,
            target=self.target,
            expected_gpus=self.majority_gpus(),
            counts=self.counts(),
            nodes=self.nodes,
            skew=self.skew(),
            error=self.error,
            elapsed_s=elapsed_s,
        )


def _top(counter: Counter[str]) -> list[tuple[str, int]]:
    """The two most common values, ties broken by the value so the result is stable."""
    live = [(value, count) for value, count in counter.items() if count > 0]
    live.sort(key=lambda item: (-item[1], item[0]))
    return live[:2]


def _gpus(count: str) -> str:
    """'1 GPU', '8 GPUs'."""
    return f"{count} GPU{'' if count == '1' else 's'}"


def _finding(
    node: str,
    subject: _Subject,
    value: str,
    majority: str,
    count: int,
    compared: int,
    key: tuple[str, str],
) -> SkewFinding:
    kind, words = subject
    node, value = shown(node, "a node"), shown(value)
    nodes = f"{count} node{'s' if count != 1 else ''} {'have' if count != 1 else 'has'}"
    if key == ("gpu_count", ""):
        gpus = _gpus(value)
        if is_missing(majority):
            text = f"{node}: {gpus}; the nodes disagree with no majority"
        elif count == 0:
            text = f"{node}: {gpus} where {majority} are expected"
        else:
            text = f"{node}: {gpus} where {nodes} {majority}"
    elif is_missing(majority):
        text = f"{node}: {words} {value}; the nodes disagree with no majority"
    else:
        text = f"{node}: {words} {value} where {nodes} {majority}"
    return SkewFinding(
        kind=kind,
        node=node,
        subject=words,
        value=value,
        majority_value=majority,
        majority_count=count,
        compared=compared,
        text=text,
    )
