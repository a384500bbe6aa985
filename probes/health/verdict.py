"""One node's verdict: its check held to a baseline, or, without one, its own findings.

With a baseline every difference from the majority is an error, and so is an error finding of the
node's own that the majority does not share; without one, the node's own error findings decide.
A library probe that timed out is not a verdict about the node (a loaded machine, a cold disk):
it makes the verdict `unknown` unless something else is certainly wrong, so a health hook never
drains a node, and never resumes one, on a timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from probes.fleet.aggregate import gpu_model, node_facts
from probes.fleet.model import NodeResult
from probes.health.model import Baseline, BaselineFact, HealthLevel, HealthReport, PerfFloor
from probes.model import CheckResult, Finding

#: Library statuses that say nothing about the node: the probe ran out of time.
NO_VERDICT_STATUSES = frozenset({"timeout"})


def differences(check: CheckResult, baseline: Baseline) -> tuple[list[Finding], list[str]]:
    """The node's differences from the baseline as error findings, and the subjects it could not
    judge (a library whose probe timed out)."""
    node = NodeResult(name="this node", state="ok", check=check)
    facts = node_facts(node)
    other_kind = _other_kind_of_node(facts, baseline)
    if other_kind is not None:
        return [], [other_kind]
    timed_out = {lib.name for lib in check.libraries if lib.status in NO_VERDICT_STATUSES}
    probed = {lib.name for lib in check.libraries}
    found: list[Finding] = []
    unknown: list[str] = []
    for fact in baseline.facts:
        if fact.library is not None and fact.library in timed_out:
            words = f"{fact.subject}: the probe did not finish in time (not a verdict)"
            if words not in unknown:
                unknown.append(words)
            continue
        if fact.library is not None and fact.library not in probed:
            unknown.append(f"{fact.subject}: not probed")
            continue
        here = facts.get((fact.kind, fact.library or ""))
        if here is None:
            if fact.kind == "library_gpu":
                continue  # no GPU or not installed: the GPU count or version says so already
            value = "none"
        else:
            value = here[1]
        if value != fact.value:
            found.append(_difference(fact, value, baseline.nodes))
    return found, unknown


def _other_kind_of_node(
    facts: Mapping[tuple[str, str], tuple[object, str]], baseline: Baseline
) -> str | None:
    """Why the baseline describes another kind of node than this one, else None.

    A baseline saved over CPU-only nodes (login nodes, a CPU partition) held every GPU node to
    it: each one "differed" (GPU count 8 where the baseline has 0) and `--drain` drained them
    all. A node with GPUs where the baseline has none is no verdict. A node with GPUs of another
    model still differs (the fleet's contract: a GPU swapped for another is a difference), and
    so does one that lost GPUs (fewer, or none where the baseline has some).
    """
    held = {fact.kind: fact.value for fact in baseline.facts if fact.library is None}
    count = facts.get(("gpu_count", ""))
    if held.get("gpu_count") == "0" and count is not None and count[1] != "0":
        return (
            f"the baseline is of nodes without GPUs and this node has {count[1]}: "
            "it needs a baseline of its own kind of node"
        )
    return None


def _difference(fact: BaselineFact, value: str, nodes: int) -> Finding:
    majority = f"{fact.nodes} of {fact.compared} nodes" if fact.compared else f"{nodes} nodes"
    return Finding(
        rule=f"baseline_{fact.kind}",
        severity="error",
        title=f"{fact.subject} {value} where the baseline has {fact.value}",
        evidence=f"This node: {fact.subject} {value}; the baseline ({majority}): {fact.value}.",
        fix=(
            "Bring the node in line with its siblings (driver, CUDA, library install), or save a "
            "new baseline if the fleet changed on purpose: mltui fleet … --save-baseline FILE."
        ),
        library=fact.library,
    )


def own_errors(check: CheckResult, baseline: Baseline | None) -> tuple[list[Finding], list[str]]:
    """The node's own error findings that count against it, and those that are not a verdict.

    With a baseline, an error most nodes share (`accepted_findings`) is the fleet's normal and
    does not count; a library that did not run because its probe timed out is not a verdict.
    """
    accepted = (
        {(a.rule, a.library) for a in baseline.accepted_findings} if baseline is not None else set()
    )
    timed_out = {lib.name for lib in check.libraries if lib.status in NO_VERDICT_STATUSES}
    counted: list[Finding] = []
    unknown: list[str] = []
    for finding in check.findings:
        if finding.severity != "error" or (finding.rule, finding.library) in accepted:
            continue
        if finding.library is not None and finding.library in timed_out:
            unknown.append(finding.title)
            continue
        counted.append(finding)
    return counted, unknown


def perf_floor_for(check: CheckResult, baseline: Baseline | None) -> PerfFloor | None:
    """The baseline's floor for this node's GPU model, if it has one."""
    if baseline is None:
        return None
    model = gpu_model(check) or "no GPU"
    return next((f for f in baseline.perf_floors if f.gpu_model == model), None)


def below_floor(throughput: float, unit: str, floor: PerfFloor) -> Finding | None:
    """An error finding when `throughput` is under the floor of its GPU model, else None."""
    if unit != floor.unit or throughput >= floor.floor:
        return None
    return Finding(
        rule="baseline_throughput",
        severity="error",
        title=(
            f"throughput {throughput:g} {unit} below the floor {floor.floor:g} {unit} of "
            f"{floor.gpu_model} nodes"
        ),
        evidence=(
            f"The baseline's median for {floor.gpu_model} is {floor.median:g} {unit} over "
            f"{floor.nodes} nodes; the floor is {floor.floor:g} {unit}."
        ),
        fix="Run `mltui perf` on the node for the reasons (clocks, power, temperature, PCIe).",
    )


def judge(
    check: CheckResult | None,
    baseline: Baseline | None,
    *,
    node: str,
    level: HealthLevel = "quick",
    extra_errors: Sequence[Finding] = (),
    extra_unknown: Sequence[str] = (),
) -> HealthReport:
    """The verdict on a node from its check (None when the check could not run at all)."""
    errors: list[Finding] = []
    unknown: list[str] = list(extra_unknown)
    warnings: list[Finding] = []
    if check is not None:
        if baseline is not None:
            found, not_judged = differences(check, baseline)
            errors.extend(found)
            unknown.extend(not_judged)
        counted, not_judged = own_errors(check, baseline)
        errors.extend(counted)
        unknown.extend(u for u in not_judged if u not in unknown)
        warnings = [f for f in check.findings if f.severity == "warning"]
    errors.extend(extra_errors)
    if errors:
        verdict, reason = "unhealthy", _summary(errors)
    elif unknown or check is None:
        verdict = "unknown"
        reason = "no verdict: " + (unknown[0] if unknown else "the check did not run")
    else:
        verdict, reason = "healthy", "healthy"
    return HealthReport(
        node=node,
        level=level,
        verdict=verdict,  # type: ignore[arg-type]
        reason=reason,
        findings=[*errors, *warnings],
        unknown=unknown,
        check=check,
    )


def _summary(errors: Sequence[Finding]) -> str:
    """The first error in one line, and how many more there are."""
    first = errors[0].title
    more = len(errors) - 1
    return first if more == 0 else f"{first} (and {more} more)"
