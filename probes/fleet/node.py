"""The node's side of a fleet run when mltui's probes travel with the task (Ray).

`check_json()` runs the same check `mltui check --json` runs (and with --perf, `mltui perf`
first) and returns its JSON text; it needs only the `probes` package (shipped with the task)
and psutil in the node's Python.
"""

from __future__ import annotations

from probes.catalog import parse_library_list
from probes.check import run_check_sync
from probes.limits import PROBE_TIMEOUT_S
from probes.model import to_json
from probes.target import current_target


def check_json(
    only: str | None = None, timeout: float = PROBE_TIMEOUT_S, perf_seconds: float | None = None
) -> str:
    """This machine's check, as the JSON `mltui check --json` prints.

    With `perf_seconds`, `mltui perf`'s report first (that long a budget), then the marker line
    the launchers split on, then the check: what `NodeCommand.shell()` prints with --perf.
    """
    specs = parse_library_list(only) if only else None
    target = current_target()
    head = ""
    if perf_seconds is not None:
        from probes.fleet.launch import PERF_MARK
        from probes.perf import PerfOptions, run_perf_sync

        perf = run_perf_sync(target, PerfOptions(seconds=perf_seconds))
        head = f"{to_json(perf)}\n{PERF_MARK}\n"
    result = run_check_sync(target, specs, timeout=timeout, save=False)
    return head + to_json(result)
