"""The node's side of a fleet run when mltui's probes travel with the task (Ray).

`check_json()` runs the same check `mltui check --json` runs and returns its JSON text; it needs
only the `probes` package (shipped with the task) and psutil in the node's Python.
"""

from __future__ import annotations

from probes.catalog import parse_library_list
from probes.check import run_check_sync
from probes.model import to_json
from probes.target import current_target


def check_json(only: str | None = None, timeout: float = 120.0) -> str:
    """This machine's check, as the JSON `mltui check --json` prints."""
    specs = parse_library_list(only) if only else None
    result = run_check_sync(current_target(), specs, timeout=timeout, save=False)
    return to_json(result)
