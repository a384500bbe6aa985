"""The Slurm launcher: one job step, one task per node, each running `mltui check --json`.

First `sinfo` says which of the chosen nodes can take work: a node that is down, drained, failed
or not responding becomes a row at once, in Slurm's own words (its state and reason), and is left
out of the step, since a step that names it would wait for it forever. The rest run as ONE
`srun --nodes=K --ntasks-per-node=1` step (never a step per node), with the partition, account
and time limit passed through. Each task says which node it is on (`$SLURMD_NODENAME`) and its
exit status around the check, and `srun --label` tags every line with its task, so a node's row
is ready the moment its task ends. A node the step lost (its slurmd died, the launch failed)
gets srun's own error line as its reason; the other nodes still report.

mltui reaches the nodes through the command `--remote-mltui` names: by default `mltui` on the
PATH srun passes on (Slurm propagates the caller's environment), so an mltui on a shared
filesystem, the usual set-up of a cluster, serves every node.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from probes.arg_types import positive_int
from probes.fleet.launch import (
    STDERR_TAIL_LINES,
    FleetError,
    NodeCallback,
    NodeCommand,
    NodeLedger,
    NodeOutput,
    node_from_output,
    timed_out_row,
)
from probes.fleet.model import NodeResult
from probes.fleet.registry import LauncherKind
from probes.limits import RUN_TIMEOUT_S
from probes.process import LineBatch, ProcessOutcome, stream_process

#: Seconds sinfo and scontrol may take.
QUERY_TIMEOUT = 60.0
#: Words in a node state (sinfo %T) that mean the node takes no new work.
UNUSABLE_WORDS = ("down", "drain", "fail", "inval", "maint", "reboot", "power", "future", "unk")
#: State suffixes: `*` not responding, `~` powered off, `#` powering up, `!` powering down,
#: `%` powering off, `$` reserved for maintenance, `@` reboot pending.
UNUSABLE_SUFFIXES = ("*", "~", "#", "!", "%", "$", "@")
_NODE_MARK = "@mltui-node "
_EXIT_MARK = "@mltui-exit "
_LABELLED = re.compile(r"^\s*(\d+): ?(.*)$")
_FAILED_ON_NODE = re.compile(r"failed on node (\S+?):")


@dataclass
class SlurmSelection:
    """Which nodes to check and the job's options, as the user gave them."""

    partition: str | None = None
    #: A Slurm node list ("node[1-4],gpu7"), or None for every node of the partition.
    nodelist: str | None = None
    #: Check this many nodes (the first usable ones of the selection), or None for all.
    nodes: int | None = None
    account: str | None = None
    #: srun --time: "10", "5:00", "1-00:00:00"...
    time_limit: str | None = None
    #: Extra srun words, passed as given (e.g. ["--qos=debug"]).
    extra: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few words for the report's target line."""
        parts = []
        if self.partition:
            parts.append(f"partition {self.partition}")
        if self.nodelist:
            parts.append(f"nodes {self.nodelist}")
        if self.nodes:
            parts.append(f"{self.nodes} nodes")
        return "slurm: " + (", ".join(parts) or "the default partition")


@dataclass
class SlurmNode:
    """One node as sinfo lists it."""

    name: str
    state: str
    reason: str

    @property
    def usable(self) -> bool:
        """True when the node can take the step now."""
        state = self.state.lower()
        return not (
            any(word in state for word in UNUSABLE_WORDS) or state.endswith(UNUSABLE_SUFFIXES)
        )

    def describe(self) -> str:
        """The node's state in Slurm's words: "drained: gpu 3 fell off the bus"."""
        reason = self.reason.strip()
        if reason and reason.lower() != "none":
            return f"Slurm says {self.state}: {reason}"
        return f"Slurm says {self.state}"


async def _query(argv: Sequence[str], env: dict[str, str] | None) -> list[str]:
    out: list[str] = []
    err: list[str] = []

    def collect(batch: LineBatch) -> None:
        (out if batch.stream == "stdout" else err).extend(batch.texts)

    outcome = await stream_process(argv, None, on_lines=collect, timeout=QUERY_TIMEOUT, env=env)
    if outcome.start_error:
        raise FleetError(f"cannot run {argv[0]}: {outcome.start_error} (is Slurm installed here?)")
    if not outcome.ok:
        last = next((line.strip() for line in reversed(err) if line.strip()), "")
        raise FleetError(f"{argv[0]} failed ({outcome.describe()}): {last}")
    return out


async def list_nodes(
    selection: SlurmSelection, env: dict[str, str] | None = None
) -> list[SlurmNode]:
    """The selected nodes and their states, one entry per node, in sinfo's order."""
    argv = ["sinfo", "--noheader", "--Node", "--format=%N|%T|%E"]
    if selection.partition:
        argv.append(f"--partition={selection.partition}")
    if selection.nodelist:
        argv.append(f"--nodes={selection.nodelist}")
    nodes: dict[str, SlurmNode] = {}
    for line in await _query(argv, env):
        parts = line.split("|", 2)
        if len(parts) == 3 and parts[0].strip():
            name = parts[0].strip()
            nodes.setdefault(name, SlurmNode(name, parts[1].strip(), parts[2].strip()))
    if not nodes:
        raise FleetError(f"Slurm lists no nodes for {selection.describe()}")
    return list(nodes.values())


def srun_argv(selection: SlurmSelection, nodes: Sequence[str], command: NodeCommand) -> list[str]:
    """The one srun step: one task on each of `nodes`, each wrapping the check in its markers."""
    script = f'echo "{_NODE_MARK}$SLURMD_NODENAME"; {command.shell()}; echo "{_EXIT_MARK}$?"'
    argv = [
        "srun",
        "--label",
        "--job-name=mltui-fleet",
        f"--nodes={len(nodes)}",
        "--ntasks-per-node=1",
        f"--ntasks={len(nodes)}",
        "--kill-on-bad-exit=0",
        f"--nodelist={','.join(nodes)}",
    ]
    if selection.partition:
        argv.append(f"--partition={selection.partition}")
    if selection.account:
        argv.append(f"--account={selection.account}")
    if selection.time_limit:
        argv.append(f"--time={selection.time_limit}")
    argv += selection.extra
    return [*argv, "sh", "-c", script]


class _Task:
    """What one task of the step printed so far (its stdout bounded by the report limit)."""

    def __init__(self, max_report_bytes: int) -> None:
        self.node: str | None = None
        self.stdout = NodeOutput(max_report_bytes)
        self.stderr: list[str] = []
        self.started = time.monotonic()


@dataclass
class SlurmLauncher:
    """Nodes of a Slurm cluster, checked in one job step."""

    selection: SlurmSelection = field(default_factory=SlurmSelection)
    #: Seconds the whole step may take (queueing included).
    timeout: float = RUN_TIMEOUT_S
    name: str = "slurm"

    def describe(self) -> str:
        """A few words for the report's target line."""
        return self.selection.describe()

    async def run(
        self,
        command: NodeCommand,
        on_node: NodeCallback,
        env: dict[str, str] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        """Check the selected nodes in one step; `on_node` gets each row as it is known."""
        await _run_slurm(
            self.selection, command, on_node, timeout=self.timeout, env=env, cancel=cancel
        )


async def _run_slurm(
    selection: SlurmSelection,
    command: NodeCommand,
    on_node: NodeCallback,
    *,
    timeout: float = RUN_TIMEOUT_S,
    env: dict[str, str] | None = None,
    cancel: asyncio.Event | None = None,
) -> None:
    """Check the selected nodes in one step; `on_node` gets each row as it is known."""
    listed = await list_nodes(selection, env)
    ledger = NodeLedger(on_node)
    emit = ledger.report

    usable = [node.name for node in listed if node.usable]
    for node in listed:
        if not node.usable:
            fix = f"see `scontrol show node {node.name}`; run again when it is back"
            emit(NodeResult(node.name, "down", node.describe(), fix))
    if selection.nodes is not None:
        if len(usable) < selection.nodes:
            for name in usable:
                emit(
                    NodeResult(
                        name,
                        "failed",
                        f"not run: {selection.nodes} nodes asked for, {len(usable)} usable",
                    )
                )
            raise FleetError(
                f"{selection.nodes} nodes asked for, but only {len(usable)} of "
                f"{selection.describe()} can take work"
            )
        usable = usable[: selection.nodes]
    if not usable:
        return

    started = time.monotonic()

    def finish(task: _Task, returncode: int | None) -> None:
        if task.node is None:
            return
        row = node_from_output(
            task.node,
            task.stdout,
            task.stderr,
            returncode,
            elapsed_s=round(time.monotonic() - task.started, 3),
            command=command.mltui[0],
        )
        if row.check is None and returncode is not None and returncode >= 128:
            held[task.node] = row  # killed by a signal: perhaps by the step's abort (below)
        else:
            emit(row)

    held: dict[str, NodeResult] = {}
    first = await _step(selection, usable, command, finish, timeout, env, cancel)
    # A node whose launch failed aborts the whole step (srun kills the tasks still running on
    # the others, which may still print their exit status): it is a row in srun's words, and
    # the nodes it took down run again once, in a step without it.
    lost = [name for name in ledger.missing(usable) if name in first.lost]
    for name in lost:
        emit(NodeResult(name, "down", first.lost[name], f"see `scontrol show node {name}`"))
    left = ledger.missing(usable)
    last = first
    remaining = timeout - (time.monotonic() - started)
    outcome = first.outcome
    if lost and left and remaining > 1 and not (outcome.timed_out or outcome.cancelled):
        held.clear()
        last = await _step(selection, left, command, finish, remaining, env, cancel)
    for row in held.values():
        emit(row)
    ledger.fill_missing(usable, lambda name: _unreported(name, last, timeout))


@dataclass
class _StepResult:
    """How one srun step went: its outcome, srun's own error lines, nodes it lost."""

    outcome: ProcessOutcome
    errors: list[str]
    #: Node -> srun's line saying the launch failed there.
    lost: dict[str, str]
    tasks: dict[int, _Task]


async def _step(
    selection: SlurmSelection,
    nodes: list[str],
    command: NodeCommand,
    finish: Callable[[_Task, int | None], None],
    timeout: float,
    env: dict[str, str] | None,
    cancel: asyncio.Event | None,
) -> _StepResult:
    """Run one srun step on `nodes`; `finish` gets each task as its exit marker arrives."""
    tasks: dict[int, _Task] = {}
    errors: list[str] = []
    lost: dict[str, str] = {}

    def on_lines(batch: LineBatch) -> None:
        for text in batch.texts:
            match = _LABELLED.match(text)
            if match is None:
                if batch.stream == "stderr" and text.strip():
                    errors.append(text.strip())
                    failed_on = _FAILED_ON_NODE.search(text)
                    if failed_on:
                        lost[failed_on.group(1)] = text.strip()
                continue
            task = tasks.get(int(match.group(1)))
            if task is None:
                task = tasks[int(match.group(1))] = _Task(command.max_report_bytes)
            body = match.group(2)
            if batch.stream == "stdout" and body.startswith(_NODE_MARK):
                task.node = body[len(_NODE_MARK) :].strip()
            elif batch.stream == "stdout" and body.startswith(_EXIT_MARK):
                code = body[len(_EXIT_MARK) :].strip()
                finish(task, int(code) if code.isdigit() else None)
            elif batch.stream == "stdout":
                task.stdout.add((body,))
            else:
                task.stderr.append(body[:2000])
                del task.stderr[:-STDERR_TAIL_LINES]

    argv = srun_argv(selection, nodes, command)
    outcome = await stream_process(
        argv,
        None,
        on_lines=on_lines,
        timeout=timeout,
        env=env,
        cancel=cancel,
        # a labelled line of a node's report may be as long as the whole report may be
        max_line_chars=command.max_report_bytes + 16,
    )
    if outcome.start_error:
        raise FleetError(f"cannot run srun: {outcome.start_error} (is Slurm installed here?)")
    return _StepResult(outcome, errors, lost, tasks)


def _unreported(name: str, step: _StepResult, timeout: float) -> NodeResult:
    """The row of a node the (last) step gave no report for."""
    task = next((t for t in step.tasks.values() if t.node == name), None)
    tail = task.stderr if task else step.errors[-STDERR_TAIL_LINES:]
    outcome = step.outcome
    if name in step.lost:
        return NodeResult(name, "down", step.lost[name], f"see `scontrol show node {name}`")
    if outcome.timed_out:
        return timed_out_row(
            name,
            task.stdout if task else NodeOutput(1),
            tail,
            timeout=timeout,
            reason=f"no report within {timeout:g} s (srun was ended)",
            fix="raise --timeout; check the job was not left waiting in the queue (`squeue --me`)",
        )
    if outcome.cancelled:
        return NodeResult(name, "failed", "cancelled")
    reason = f"the step ended ({outcome.describe()}) before this node reported"
    if step.errors:
        reason += f": {step.errors[-1]}"
    return NodeResult(
        name,
        "failed",
        reason,
        "run again; if another node failed, leave it out (--srun-arg=--exclude=NODE)",
        stderr_tail=tail,
    )


def _add_arguments(
    parser: argparse.ArgumentParser, choose: argparse._MutuallyExclusiveGroup
) -> None:
    choose.add_argument("--slurm", action="store_true", help="one Slurm job step across the nodes")
    slurm = parser.add_argument_group("Slurm")
    slurm.add_argument("--partition", "-p", metavar="NAME")
    slurm.add_argument("--nodelist", "-w", metavar="LIST", help="a Slurm node list: gpu[1-8]")
    slurm.add_argument("--nodes", "-N", type=positive_int, metavar="N", help="check N nodes")
    slurm.add_argument("--account", "-A", metavar="NAME")
    slurm.add_argument("--time", metavar="LIMIT", help="the step's time limit (srun --time)")
    slurm.add_argument(
        "--srun-arg", action="append", default=[], metavar="ARG", help="an extra srun argument"
    )


def _build(args: argparse.Namespace) -> SlurmLauncher:
    selection = SlurmSelection(
        partition=args.partition,
        nodelist=args.nodelist,
        nodes=args.nodes,
        account=args.account,
        time_limit=args.time,
        extra=list(args.srun_arg),
    )
    return SlurmLauncher(selection, timeout=args.timeout or RUN_TIMEOUT_S)


LAUNCHER_KIND = LauncherKind(
    name="slurm",
    chooser="slurm",
    usage="--slurm",
    add_arguments=_add_arguments,
    build=_build,
    own_options=("partition", "nodelist", "nodes", "account", "time", "srun_arg"),
    label="a Slurm option",
)
