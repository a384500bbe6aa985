"""The Ray launcher: one task on each live node of a Ray cluster, results streamed back.

The Ray work happens in `probes.fleet.ray_driver`, run as its own process through
`probes.process` (so Ray never loads in mltui's process, and cancelling kills it whole); this
module reads its JSON lines and turns each into a node row. mltui's probes travel with the tasks
(Ray's runtime_env `py_modules`), so the nodes need Ray and psutil, not an installed mltui.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence

from probes.fleet.launch import FleetError, NodeCallback, NodeCommand, node_from_output
from probes.fleet.model import NodeResult
from probes.limits import RUN_TIMEOUT_S
from probes.process import LineBatch, stream_process
from probes.untrusted_json import UntrustedJSONError, parse_json

#: Seconds allowed to join the cluster and list its nodes, on top of the run's own time.
JOIN_SLACK_S = 60.0


def driver_argv(
    address: str, command: NodeCommand, timeout: float, python: str | None = None
) -> list[str]:
    """The driver's command line (run with mltui's own Python, which must have Ray)."""
    argv = [python or sys.executable, "-m", "probes.fleet.ray_driver", "--address", address]
    argv += ["--probe-timeout", f"{command.probe_timeout:g}", "--timeout", f"{timeout:g}"]
    if command.only:
        argv += ["--only", command.only]
    if command.perf:
        argv += ["--perf-seconds", f"{command.perf_seconds:g}"]
    return argv


def row_from_event(event: dict[str, object]) -> NodeResult:
    """A node row from the driver's {"event": "node", ...} line."""
    name = str(event.get("name") or "?")
    elapsed = event.get("elapsed_s")
    elapsed_s = float(elapsed) if isinstance(elapsed, (int, float)) else None
    text = event.get("check")
    if isinstance(text, str):
        try:
            missing = parse_json(text).get("missing") if text.lstrip().startswith("{") else None
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
        return node_from_output(name, text, [], 0, elapsed_s=elapsed_s)
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


async def run_ray(
    address: str,
    command: NodeCommand,
    on_node: NodeCallback,
    *,
    timeout: float = RUN_TIMEOUT_S,
    python: str | None = None,
    env: dict[str, str] | None = None,
    cancel: asyncio.Event | None = None,
    on_nodes: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Check every live node of the cluster; `on_node` gets each row. Returns the node names.

    `on_nodes` is told the nodes' names once the driver has listed them (before their rows)."""
    argv = driver_argv(address, command, timeout, python)
    names: list[str] = []
    reported: set[str] = set()
    errors: list[str] = []
    stderr: list[str] = []

    def on_lines(batch: LineBatch) -> None:
        if batch.stream == "stderr":
            stderr.extend(t for t in batch.texts if t.strip())
            del stderr[:-20]
            return
        for text in batch.texts:
            try:
                event = parse_json(text)
            except UntrustedJSONError:
                continue  # Ray's own chatter on stdout
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "nodes":
                names.extend(str(n) for n in event.get("nodes") or [])
                if on_nodes is not None:
                    on_nodes(list(names))
            elif kind == "node":
                row = row_from_event(event)
                reported.add(row.name)
                on_node(row)
            elif kind == "error":
                errors.append(str(event.get("message")))

    outcome = await stream_process(
        argv, None, on_lines=on_lines, timeout=timeout + JOIN_SLACK_S, env=env, cancel=cancel
    )
    if outcome.start_error:
        raise FleetError(f"cannot start the Ray driver: {outcome.start_error}")
    if errors:
        raise FleetError(errors[-1])
    for name in names:
        if name not in reported:
            reason = f"the Ray driver ended ({outcome.describe()}) before this node reported"
            on_node(NodeResult(name, "failed", reason, stderr_tail=stderr[-5:]))
    if not names and not outcome.ok:
        last = stderr[-1] if stderr else outcome.describe()
        raise FleetError(f"the Ray driver failed: {last}")
    return names


def ray_available(python: str | None = None) -> bool:
    """True when Ray can be imported by the driver's Python (checked without importing it)."""
    import importlib.util

    if python is None or python == sys.executable:
        return importlib.util.find_spec("ray") is not None
    return True


__all__: Sequence[str] = ("driver_argv", "ray_available", "row_from_event", "run_ray")
