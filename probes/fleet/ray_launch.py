"""The Ray launcher: one task on each live node of a Ray cluster, results streamed back.

The Ray work happens in `probes.fleet.ray_driver`, run as its own process through
`probes.process` (so Ray never loads in mltui's process, and cancelling kills it whole); this
module reads its JSON lines and turns each into a node row. mltui's probes travel with the tasks
(Ray's runtime_env `py_modules`), so the nodes need Ray and psutil, not an installed mltui.
The driver's lines are read by the shared event-line reader (`probes.process.EventLineReader`);
a node's line holds its whole report (escaped), so a line may be a few times the report limit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from probes.fleet.launch import (
    FleetError,
    NodeCallback,
    NodeCommand,
    NodeLedger,
    describe_size,
    node_from_output,
    too_large_row,
)
from probes.fleet.model import NodeResult
from probes.fleet.registry import LauncherKind
from probes.limits import RUN_TIMEOUT_S
from probes.process import EventLineReader, stream_process
from probes.untrusted_json import UntrustedJSONError, parse_json

#: A report escaped inside the driver's JSON line: each character may become six (\uXXXX).
_ESCAPED_GROWTH = 6

#: Seconds allowed to join the cluster and list its nodes, on top of the run's own time.
JOIN_SLACK_S = 60.0


def driver_argv(
    address: str, command: NodeCommand, timeout: float, python: str | None = None
) -> list[str]:
    """The driver's command line (run with mltui's own Python, which must have Ray)."""
    argv = [python or sys.executable, "-m", "probes.fleet.ray_driver", "--address", address]
    argv += ["--probe-timeout", f"{command.probe_timeout:g}", "--timeout", f"{timeout:g}"]
    argv += ["--max-report-bytes", str(command.max_report_bytes)]
    if command.only:
        argv += ["--only", command.only]
    if command.perf:
        argv += ["--perf-seconds", f"{command.perf_seconds:g}"]
    return argv


def row_from_event(event: dict[str, Any], max_bytes: int | None = None) -> NodeResult:
    """A node row from the driver's {"event": "node", ...} line."""
    name = str(event.get("name") or "?")
    elapsed = event.get("elapsed_s")
    elapsed_s = float(elapsed) if isinstance(elapsed, (int, float)) else None
    text = event.get("check")
    limit = max_bytes if max_bytes is not None else NodeCommand().max_report_bytes
    if isinstance(text, str) and len(text) > limit:
        return too_large_row(name, limit, elapsed_s=elapsed_s)
    if isinstance(text, str):
        try:
            missing = parse_json(text, max_bytes=limit).get("missing")
        except (UntrustedJSONError, AttributeError):
            missing = None
        if isinstance(missing, str):
            return NodeResult(
                name,
                "no_mltui",
                f"the node's Python cannot run mltui's probes: {missing}",
                "install psutil (and nvidia-ml-py for the GPU readings) in the Python of the "
                "node's Ray workers",
                elapsed_s=elapsed_s,
            )
        return node_from_output(name, text, [], 0, elapsed_s=elapsed_s, max_bytes=limit)
    state = str(event.get("state") or "failed")
    if state not in ("down", "failed", "timed_out", "no_mltui", "unreachable"):
        state = "failed"
    fix = event.get("fix")
    return NodeResult(
        name,
        state,  # type: ignore[arg-type]
        str(event.get("reason") or "no reason given"),
        str(fix) if fix else None,
        elapsed_s=elapsed_s,
    )


@dataclass
class RayLauncher:
    """The live nodes of a Ray cluster, one task on each."""

    address: str = "auto"
    #: Seconds the whole run may take.
    timeout: float = RUN_TIMEOUT_S
    #: The Python that runs the Ray driver (needs Ray); None: mltui's own.
    python: str | None = None
    #: Told the nodes' names once the driver has listed them (before their rows).
    on_nodes: Callable[[list[str]], None] | None = None
    name: str = "ray"

    def describe(self) -> str:
        """A few words for the report's target line."""
        return f"ray: {self.address}"

    async def run(
        self,
        command: NodeCommand,
        on_node: NodeCallback,
        env: dict[str, str] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        """Check every live node of the cluster; `on_node` gets each row."""
        on_nodes, timeout = self.on_nodes, self.timeout
        argv = driver_argv(self.address, command, timeout, self.python)
        names: list[str] = []
        ledger = NodeLedger(on_node)
        errors: list[str] = []

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            if kind == "nodes":
                listed = event.get("nodes")
                if isinstance(listed, list):
                    names.extend(str(n) for n in listed if n)
                if on_nodes is not None:
                    on_nodes(list(names))
            elif kind == "node":
                ledger.report(row_from_event(event, command.max_report_bytes))
            elif kind == "error":
                errors.append(str(event.get("message")))

        # Ray's own chatter on stdout is not an event: the reader passes over it.
        reader = EventLineReader(
            on_event, max_line_chars=command.max_report_bytes * _ESCAPED_GROWTH
        )
        outcome = await stream_process(
            argv,
            None,
            on_lines=reader,
            timeout=timeout + JOIN_SLACK_S,
            env=env,
            cancel=cancel,
            max_line_chars=reader.max_line_chars,
        )
        stderr = [line for line in reader.stderr if line.strip()]
        if outcome.start_error:
            raise FleetError(f"cannot start the Ray driver: {outcome.start_error}")
        if errors:
            raise FleetError(errors[-1])

        def unreported(name: str) -> NodeResult:
            reason = f"the Ray driver ended ({outcome.describe()}) before this node reported"
            if reader.bad_line is not None and "(cut)" in reader.bad_line:
                reason += f" (a line over {describe_size(reader.max_line_chars)} was cut)"
            return NodeResult(name, "failed", reason, stderr_tail=stderr[-5:])

        ledger.fill_missing(names, unreported)
        if not names and not outcome.ok:
            last = stderr[-1] if stderr else outcome.describe()
            raise FleetError(f"the Ray driver failed: {last}")


def _add_arguments(
    parser: argparse.ArgumentParser, choose: argparse._MutuallyExclusiveGroup
) -> None:
    choose.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="every live node of the Ray cluster at ADDRESS (default: auto)",
    )


def _build(args: argparse.Namespace) -> RayLauncher:
    return RayLauncher(args.ray, timeout=args.timeout or RUN_TIMEOUT_S)


LAUNCHER_KIND = LauncherKind(
    name="ray",
    chooser="ray",
    usage="--ray [ADDRESS]",
    add_arguments=_add_arguments,
    build=_build,
)

__all__: Sequence[str] = (
    "RayLauncher",
    "driver_argv",
    "row_from_event",
)
