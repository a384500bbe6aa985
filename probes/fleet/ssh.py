"""The SSH launcher: `mltui check --json` on each host through the user's own `ssh` client.

The user's ssh config, agent, keys and ProxyJump all apply (it is their `ssh`), in batch mode so
nothing ever waits for a password. At most `concurrency` hosts are contacted at once and each has
its own time limit. mltui must be on each host already: `mltui` on the login PATH, or the command
`--remote-mltui` names (a shared filesystem path serves every host at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from probes.fleet.launch import FleetError, NodeCallback, NodeCommand, node_from_output
from probes.fleet.model import NodeResult
from probes.limits import SSH_HOST_TIMEOUT_S
from probes.process import LineBatch, stream_process

#: Hosts contacted at once unless told otherwise.
DEFAULT_CONCURRENCY = 32
#: ssh's own exit status when the connection (not the remote command) failed.
SSH_FAILED = 255


def parse_hosts(text: str) -> list[str]:
    """Hosts from a hosts file's text: one per line (first word), `#` comments, no repeats."""
    hosts: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        host = line.split()[0]
        _check_host(host, f"line {number}")
        if host not in hosts:
            hosts.append(host)
    return hosts


def read_hosts(spec: str) -> list[str]:
    """The hosts of `--hosts`: a file of hosts, or a comma-separated list (`a,b` or `a,`)."""
    if "," in spec:
        hosts: list[str] = []
        for part in spec.split(","):
            host = part.strip()
            if host:
                _check_host(host, "--hosts")
                if host not in hosts:
                    hosts.append(host)
    else:
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise FleetError(
                f"cannot read the hosts file {spec}: {exc.strerror or exc} "
                "(a list of hosts needs a comma: --hosts a,b or --hosts a,)"
            ) from None
        hosts = parse_hosts(text)
    if not hosts:
        raise FleetError(f"no hosts in {spec}")
    return hosts


def _check_host(host: str, where: str) -> None:
    if host.startswith("-") or any(c.isspace() or ord(c) < 32 for c in host):
        raise FleetError(f"{where}: {host!r} is not a host name")


def ssh_argv(
    host: str,
    remote: str,
    *,
    connect_timeout: float,
    config: str | None = None,
    options: Sequence[str] = (),
) -> list[str]:
    """The ssh command line for one host: batch mode, a connect timeout, the remote command."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(connect_timeout))}"]
    if config:
        argv += ["-F", config]
    for option in options:
        argv += ["-o", option]
    return [*argv, "--", host, remote]


async def check_host(
    host: str,
    command: NodeCommand,
    *,
    timeout: float = SSH_HOST_TIMEOUT_S,
    config: str | None = None,
    options: Sequence[str] = (),
    cancel: asyncio.Event | None = None,
) -> NodeResult:
    """One host's row: its report, or why there is none."""
    stdout: list[str] = []
    stderr: list[str] = []

    def collect(batch: LineBatch) -> None:
        (stdout if batch.stream == "stdout" else stderr).extend(batch.texts)

    argv = ssh_argv(
        host, command.shell(), connect_timeout=min(timeout, 15.0), config=config, options=options
    )
    started = time.monotonic()
    outcome = await stream_process(argv, None, on_lines=collect, timeout=timeout, cancel=cancel)
    elapsed = round(time.monotonic() - started, 3)
    if outcome.start_error:
        raise FleetError(f"cannot run ssh: {outcome.start_error}")
    if outcome.timed_out:
        return NodeResult(
            host,
            "timed_out",
            f"no report within {timeout:g} s",
            "raise --timeout, or check the host answers `ssh HOST true` quickly",
            elapsed_s=elapsed,
            stderr_tail=stderr[-20:],
        )
    if outcome.cancelled:
        return NodeResult(host, "failed", "cancelled", elapsed_s=elapsed)
    if outcome.returncode == SSH_FAILED and not "".join(stdout).strip():
        last = next((line.strip() for line in reversed(stderr) if line.strip()), "")
        return NodeResult(
            host,
            "unreachable",
            last or "ssh could not connect (exit 255)",
            "check `ssh -o BatchMode=yes HOST true` works: host name, key, agent, ssh config",
            elapsed_s=elapsed,
            stderr_tail=stderr[-20:],
        )
    return node_from_output(
        host,
        "\n".join(stdout),
        stderr,
        outcome.returncode,
        elapsed_s=elapsed,
        command=command.mltui[0],
    )


async def run_ssh(
    hosts: Sequence[str],
    command: NodeCommand,
    on_node: NodeCallback,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = SSH_HOST_TIMEOUT_S,
    config: str | None = None,
    options: Sequence[str] = (),
    cancel: asyncio.Event | None = None,
) -> None:
    """Check every host, at most `concurrency` at once; `on_node` gets each row as it ends."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(host: str) -> None:
        async with gate:
            if cancel is not None and cancel.is_set():
                return
            row = await check_host(
                host, command, timeout=timeout, config=config, options=options, cancel=cancel
            )
        on_node(row)

    tasks = [asyncio.create_task(one(host)) for host in hosts]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
