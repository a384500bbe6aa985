"""One fleet run, whatever the launcher: rows stream into a `FleetAggregate` as nodes answer.

`run_fleet()` is what the CLI and the dashboard call. It hands each row to `on_node` the moment
it is known (and adds it to the aggregate, which counts it once), and returns the whole report.
A launcher that cannot run at all ends as the report's `error`, never as an exception.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.launch import FleetError, NodeCallback, NodeCommand
from probes.fleet.model import FleetReport, Launcher, NodeResult
from probes.fleet.ray_launch import run_ray
from probes.fleet.slurm import SlurmSelection, run_slurm
from probes.fleet.ssh import DEFAULT_CONCURRENCY, run_ssh
from probes.limits import RUN_TIMEOUT_S, SSH_HOST_TIMEOUT_S


@dataclass
class SshTarget:
    """Hosts reached with the user's ssh client."""

    hosts: list[str]
    config: str | None = None
    options: list[str] = field(default_factory=list)
    concurrency: int = DEFAULT_CONCURRENCY
    #: Seconds each host may take.
    timeout: float = SSH_HOST_TIMEOUT_S

    def describe(self) -> str:
        """A few words for the report's target line."""
        return f"ssh: {len(self.hosts)} host{'s' if len(self.hosts) != 1 else ''}"


@dataclass
class SlurmTarget:
    """Nodes of a Slurm cluster, checked in one job step."""

    selection: SlurmSelection = field(default_factory=SlurmSelection)
    #: Seconds the whole step may take (queueing included).
    timeout: float = RUN_TIMEOUT_S

    def describe(self) -> str:
        """A few words for the report's target line."""
        return self.selection.describe()


@dataclass
class RayTarget:
    """The live nodes of a Ray cluster."""

    address: str = "auto"
    #: Seconds the whole run may take.
    timeout: float = RUN_TIMEOUT_S
    #: The Python that runs the Ray driver (needs Ray); None: mltui's own.
    python: str | None = None

    def describe(self) -> str:
        """A few words for the report's target line."""
        return f"ray: {self.address}"


FleetTarget = SshTarget | SlurmTarget | RayTarget


def launcher_of(target: FleetTarget) -> Launcher:
    """The launcher name of a target."""
    if isinstance(target, SshTarget):
        return "ssh"
    if isinstance(target, SlurmTarget):
        return "slurm"
    return "ray"


async def run_fleet(
    target: FleetTarget,
    command: NodeCommand,
    *,
    on_node: NodeCallback | None = None,
    expected_gpus: int | None = None,
    env: dict[str, str] | None = None,
    cancel: asyncio.Event | None = None,
    aggregate: FleetAggregate | None = None,
) -> FleetReport:
    """Check every node of `target`; each row goes to `on_node` as it arrives. Never raises
    for a launcher failure: that becomes the report's `error`."""
    started = time.monotonic()
    fleet = (
        aggregate
        if aggregate is not None
        else FleetAggregate(launcher_of(target), target.describe(), expected_gpus=expected_gpus)
    )

    def take(row: NodeResult) -> None:
        fleet.add(row)
        if on_node is not None:
            on_node(row)

    try:
        if isinstance(target, SshTarget):
            await run_ssh(
                target.hosts,
                command,
                take,
                concurrency=target.concurrency,
                timeout=target.timeout,
                config=target.config,
                options=target.options,
                cancel=cancel,
            )
        elif isinstance(target, SlurmTarget):
            await run_slurm(
                target.selection, command, take, timeout=target.timeout, env=env, cancel=cancel
            )
        else:
            await run_ray(
                target.address,
                command,
                take,
                timeout=target.timeout,
                python=target.python,
                env=env,
                cancel=cancel,
            )
    except FleetError as exc:
        fleet.error = str(exc)
    return fleet.report(elapsed_s=round(time.monotonic() - started, 3))
