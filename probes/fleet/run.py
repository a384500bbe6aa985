"""One fleet run, whatever the launcher: rows stream into a `FleetAggregate` as nodes answer.

`run_fleet()` is what the CLI and the dashboard call, with any `Launcher` (see
`probes.fleet.registry` for the known ones). It hands each row to `on_node` the moment it is
known (and adds it to the aggregate, which counts it once), and returns the whole report. A
launcher that cannot run at all ends as the report's `error`, never as an exception.
"""

from __future__ import annotations

import asyncio
import time

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.launch import FleetError, Launcher, NodeCallback, NodeCommand
from probes.fleet.model import FleetReport, NodeResult


def new_aggregate(launcher: Launcher, expected_gpus: int | None = None) -> FleetAggregate:
    """An empty aggregate for a run of `launcher` (its name and target words)."""
    return FleetAggregate(launcher.name, launcher.describe(), expected_gpus=expected_gpus)


async def run_fleet(
    launcher: Launcher,
    command: NodeCommand,
    *,
    on_node: NodeCallback | None = None,
    expected_gpus: int | None = None,
    env: dict[str, str] | None = None,
    cancel: asyncio.Event | None = None,
    aggregate: FleetAggregate | None = None,
) -> FleetReport:
    """Check every node `launcher` reaches; each row goes to `on_node` as it arrives. Never
    raises for a launcher failure: that becomes the report's `error`.

    `aggregate` (from `new_aggregate`) lets a caller watch the rows gather while it runs."""
    started = time.monotonic()
    fleet = aggregate if aggregate is not None else new_aggregate(launcher, expected_gpus)

    def take(row: NodeResult) -> None:
        fleet.add(row)
        if on_node is not None:
            on_node(row)

    try:
        await launcher.run(command, take, env, cancel)
    except FleetError as exc:
        fleet.error = str(exc)
    return fleet.report(elapsed_s=round(time.monotonic() - started, 3))
