"""The Ray launcher's driver: run as its own process (`python -m probes.fleet.ray_driver`).

It joins the Ray cluster, starts one task on each live node (pinned there with a hard
node-affinity strategy, no CPU asked for so a busy node does not hold it back, no retries), and
prints one JSON line per event on stdout as results arrive:

    {"event": "nodes", "nodes": ["host-a", ...]}
    {"event": "node", "name": "host-a", "check": "<the node's check JSON>", "elapsed_s": 3.2}
    {"event": "node", "name": "host-b", "state": "down", "reason": "...", "fix": "..."}
    {"event": "error", "message": "..."}

mltui's `probes` package reaches the workers in the task's runtime environment (`py_modules`),
so the nodes need Ray and psutil in their Python, not mltui. Ray is imported here only, inside
main(): mltui's own process never loads it (it reads these lines through probes.process).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from probes.limits import PROBE_TIMEOUT_S, RUN_TIMEOUT_S


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _check_on_node(only: str | None, timeout: float, perf_seconds: float | None) -> str:
    """The task body, run on a worker: the node's check as JSON (or why it could not run)."""
    try:
        from probes.fleet.node import check_json
    except ImportError as exc:  # psutil or another dependency of the probes is missing
        return json.dumps({"missing": str(exc)})
    return check_json(only, timeout, perf_seconds)


def _node_names(nodes: list[dict[str, Any]]) -> list[str]:
    """A name per node: its hostname, with the node id's start when hostnames repeat."""
    hosts = [str(n.get("NodeManagerHostname") or n.get("NodeManagerAddress") or "?") for n in nodes]
    seen = Counter(hosts)
    return [
        f"{host}:{str(node['NodeID'])[:8]}" if seen[host] > 1 else host
        for host, node in zip(hosts, nodes, strict=True)
    ]


def _describe_error(exc: BaseException) -> tuple[str, str, str]:
    """(state, reason, fix) for a task that raised instead of returning a report."""
    import ray.exceptions as rex

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (rex.NodeDiedError, rex.TaskUnschedulableError, rex.LocalRayletDiedError)):
        return "down", f"Ray: {type(exc).__name__}: {first}", "see `ray status`; run again"
    if isinstance(exc, rex.WorkerCrashedError):
        return "failed", f"Ray: the worker died: {first}", "see the node's Ray logs; run again"
    if isinstance(exc, rex.RuntimeEnvSetupError):
        return (
            "no_mltui",
            f"Ray could not ship mltui's probes to the node: {first}",
            ("check the node can unpack a runtime_env (disk space, same Python major version)"),
        )
    return "failed", f"Ray: {type(exc).__name__}: {first}", "see the node's Ray logs"


def main(argv: list[str] | None = None) -> int:
    """Run the fleet check on every live node of the cluster at --address."""
    # Here, not at the top: Ray's workers import this module and need none of it.
    from probes.fleet.launch import DEFAULT_MAX_REPORT_MIB, MIB, too_large_row

    parser = argparse.ArgumentParser(prog="python -m probes.fleet.ray_driver")
    parser.add_argument("--address", default="auto")
    parser.add_argument("--only", default=None)
    parser.add_argument("--probe-timeout", type=float, default=PROBE_TIMEOUT_S)
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S)
    parser.add_argument("--perf-seconds", type=float, default=None)
    parser.add_argument("--max-report-bytes", type=int, default=DEFAULT_MAX_REPORT_MIB * MIB)
    args = parser.parse_args(argv)
    try:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except ImportError as exc:
        _emit(
            {
                "event": "error",
                "message": f"Ray is not installed here ({exc}): pip install 'mltui[fleet]'",
            }
        )
        return 2
    probes_dir = str(Path(__file__).resolve().parent.parent)
    try:
        ray.init(
            address=args.address,
            runtime_env={"py_modules": [probes_dir]},
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=False,
        )
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _emit(
            {
                "event": "error",
                "message": f"cannot join the Ray cluster at {args.address}: {message}",
            }
        )
        return 2
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    names = _node_names(nodes)
    _emit({"event": "nodes", "nodes": names})
    task = ray.remote(_check_on_node)
    pending: dict[Any, tuple[str, float]] = {}
    for node, name in zip(nodes, names, strict=True):
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        ref = task.options(
            scheduling_strategy=strategy, num_cpus=0, max_retries=0, name=f"mltui-check {name}"
        ).remote(args.only, args.probe_timeout, args.perf_seconds)
        pending[ref] = (name, time.monotonic())
    deadline = time.monotonic() + args.timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=left)
        for ref in ready:
            name, started = pending.pop(ref)
            elapsed = round(time.monotonic() - started, 3)
            try:
                text = ray.get(ref)
            except Exception as exc:
                state, reason, fix = _describe_error(exc)
                _emit(
                    {
                        "event": "node",
                        "name": name,
                        "state": state,
                        "reason": reason,
                        "fix": fix,
                        "elapsed_s": elapsed,
                    }
                )
                continue
            if isinstance(text, str) and len(text) > args.max_report_bytes:
                # Not sent on: mltui reads a bounded line per node (its row says why).
                row = too_large_row(name, args.max_report_bytes)
                _emit(
                    {
                        "event": "node",
                        "name": name,
                        "state": row.state,
                        "reason": row.reason,
                        "fix": row.fix,
                        "elapsed_s": elapsed,
                    }
                )
                continue
            _emit({"event": "node", "name": name, "check": text, "elapsed_s": elapsed})
    for ref, (name, _) in pending.items():
        ray.cancel(ref, force=True)
        _emit(
            {
                "event": "node",
                "name": name,
                "state": "timed_out",
                "reason": f"no report within {args.timeout:g} s",
                "fix": "raise --timeout; see `ray status` for a node that is stuck",
            }
        )
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
