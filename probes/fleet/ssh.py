"""The SSH launcher: `mltui check --json` on each host through the user's own `ssh` client.

The user's ssh config, agent, keys and ProxyJump all apply (it is their `ssh`), in batch mode so
nothing ever waits for a password. At most `concurrency` hosts are contacted at once and each has
its own time limit. mltui must be on each host already: `mltui` on the login PATH, or the command
`--remote-mltui` names (a shared filesystem path serves every host at once).

What a host prints is bounded: its lines may be as long as the whole report may be (a report
with a long non-ASCII error is one long line), and a host that prints more than
`NodeCommand.max_report_bytes` is stopped and its row says so. The hosts file must be a regular
file of at most MAX_HOSTS_FILE_BYTES (a FIFO or a device is refused before a byte is read).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from probes.arg_types import positive_int
from probes.files import NotARegularFile, read_regular
from probes.fleet.launch import (
    FleetError,
    NodeCallback,
    NodeCommand,
    NodeOutput,
    node_from_output,
    timed_out_row,
)
from probes.fleet.model import NodeResult
from probes.fleet.registry import LauncherKind
from probes.limits import SSH_HOST_TIMEOUT_S
from probes.process import LineBatch, stream_process

#: Hosts contacted at once unless told otherwise.
DEFAULT_CONCURRENCY = 32
#: The largest hosts file read (40,000 hosts of 30 characters are 1.2 MB).
MAX_HOSTS_FILE_BYTES = 16 * 1024 * 1024
#: ssh's own exit status when the connection (not the remote command) failed.
SSH_FAILED = 255

_BOM = "\ufeff"
# [user@]name:port or [user@][v6 address][:port]; a bare v6 address (two colons) is not one.
_HOST_PORT = re.compile(
    r"(?:(?P<user>[^@]*)@)?(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<name>[^:\[\]@]+))(?::(?P<port>\d{1,5}))?"
)


def parse_hosts(text: str) -> list[str]:
    """Hosts from a hosts file's text: one per line (first word), `#` comments, no repeats.

    A byte-order mark (a file saved by a Windows editor) is not part of the first host, and a
    host written twice in different case is one host (ssh lowercases host names too).
    """
    hosts: dict[str, str] = {}  # ordered, and each look-up is O(1): 40,000 hosts in a blink
    for number, raw in enumerate(text.removeprefix(_BOM).splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        host = line.split()[0]
        _check_host(host, f"line {number}")
        hosts.setdefault(_host_key(host), host)
    return list(hosts.values())


def read_hosts(spec: str) -> list[str]:
    """The hosts of `--hosts`: a file of hosts, or a comma-separated list (`a,b` or `a,`).

    The file must be a regular file of at most MAX_HOSTS_FILE_BYTES; FleetError otherwise.
    """
    if "," in spec:
        listed: dict[str, str] = {}
        for part in spec.split(","):
            host = part.strip()
            if host:
                _check_host(host, "--hosts")
                listed.setdefault(_host_key(host), host)
        hosts = list(listed.values())
    else:
        try:
            data = read_regular(spec, MAX_HOSTS_FILE_BYTES + 1)
        except NotARegularFile:
            raise FleetError(
                f"--hosts {spec}: not a regular file (a FIFO, device or folder cannot be a "
                "hosts file)"
            ) from None
        except OSError as exc:
            raise FleetError(
                f"cannot read the hosts file {spec}: {exc.strerror or exc} "
                "(a list of hosts needs a comma: --hosts a,b or --hosts a,)"
            ) from None
        if len(data) > MAX_HOSTS_FILE_BYTES:
            raise FleetError(
                f"--hosts {spec}: larger than {MAX_HOSTS_FILE_BYTES // (1024 * 1024)} MiB"
            )
        hosts = parse_hosts(data.decode("utf-8", "replace"))
    if not hosts:
        raise FleetError(f"no hosts in {spec}")
    return hosts


def _check_host(host: str, where: str) -> None:
    """FleetError unless `host` can be given to ssh as a destination, and only as one.

    Refused: an option (`-oProxyCommand=...`), whitespace, and every control, format
    (zero-width, bidi, BOM), surrogate, private-use or unassigned character (category C*),
    which no host name has and which would make the row and the ssh error unreadable; a port
    that is not 1-65535.
    """
    if host.startswith("-") or any(
        c.isspace() or unicodedata.category(c).startswith("C") or c == "\ufffd" for c in host
    ):
        raise FleetError(f"{where}: {host!r} is not a host name")
    found = None if host.startswith("ssh://") else _HOST_PORT.fullmatch(host)
    if found and found["port"] is not None and not 0 < int(found["port"]) < 65536:
        raise FleetError(f"{where}: {host!r} has no valid port (1-65535)")


def _host_key(host: str) -> str:
    """What makes two spellings one host: the user as written, the host name in any case."""
    user, at, name = host.rpartition("@")
    return f"{user}{at}{name.lower()}"


def ssh_destination(host: str) -> str:
    """`host` as ssh takes it: `user@host:port` and `[v6]:port` become an ssh:// URI (plain
    ssh reads `host:22` as a host name), everything else is passed on as written."""
    found = None if host.startswith("ssh://") else _HOST_PORT.fullmatch(host)
    if found is None or (found["port"] is None and found["v6"] is None):
        return host
    user = f"{found['user']}@" if found["user"] else ""
    name = f"[{found['v6']}]" if found["v6"] is not None else found["name"]
    port = f":{int(found['port'])}" if found["port"] is not None else ""
    return f"ssh://{user}{name}{port}"


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
    return [*argv, "--", ssh_destination(host), remote]


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
    stdout = NodeOutput(command.max_report_bytes)
    stderr: list[str] = []
    # Stops this host alone: the run's cancel, or a report over the size limit.
    stop = asyncio.Event()

    def collect(batch: LineBatch) -> None:
        if batch.stream == "stderr":
            stderr.extend(text[:2000] for text in batch.texts)
            del stderr[:-20]
        elif not stdout.add(batch.texts):
            stop.set()

    async def follow_cancel() -> None:
        if cancel is not None:
            await cancel.wait()
            stop.set()

    argv = ssh_argv(
        host, command.shell(), connect_timeout=min(timeout, 15.0), config=config, options=options
    )
    started = time.monotonic()
    follower = asyncio.create_task(follow_cancel())
    try:
        outcome = await stream_process(
            argv,
            None,
            on_lines=collect,
            timeout=timeout,
            cancel=stop,
            max_line_chars=command.max_report_bytes,
        )
    finally:
        follower.cancel()
    elapsed = round(time.monotonic() - started, 3)
    if outcome.start_error:
        raise FleetError(f"cannot run ssh: {outcome.start_error}")
    if stdout.over:
        return node_from_output(host, stdout, stderr, None, elapsed_s=elapsed)
    if outcome.timed_out:
        return timed_out_row(
            host,
            stdout,
            stderr,
            timeout=timeout,
            reason=f"no report within {timeout:g} s",
            fix="raise --timeout, or check the host answers `ssh HOST true` quickly",
            elapsed_s=elapsed,
            command=command.mltui[0],
        )
    if outcome.cancelled:
        return NodeResult(host, "failed", "cancelled", elapsed_s=elapsed)
    if outcome.returncode == SSH_FAILED and not stdout.text().strip():
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
        stdout,
        stderr,
        outcome.returncode,
        elapsed_s=elapsed,
        command=command.mltui[0],
    )


@dataclass
class SshLauncher:
    """Hosts reached with the user's ssh client, at most `concurrency` at once."""

    hosts: list[str]
    config: str | None = None
    options: list[str] = field(default_factory=list)
    concurrency: int = DEFAULT_CONCURRENCY
    #: Seconds each host may take.
    timeout: float = SSH_HOST_TIMEOUT_S
    name: str = "ssh"

    def describe(self) -> str:
        """A few words for the report's target line."""
        return f"ssh: {len(self.hosts)} host{'s' if len(self.hosts) != 1 else ''}"

    async def run(
        self,
        command: NodeCommand,
        on_node: NodeCallback,
        env: dict[str, str] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        """Check every host, at most `concurrency` at once; `on_node` gets each row as it ends.

        (`env` is not sent over ssh: the node's login sets its environment.)"""
        gate = asyncio.Semaphore(max(1, self.concurrency))

        async def one(host: str) -> None:
            async with gate:
                if cancel is not None and cancel.is_set():
                    return
                row = await check_host(
                    host,
                    command,
                    timeout=self.timeout,
                    config=self.config,
                    options=self.options,
                    cancel=cancel,
                )
            on_node(row)

        tasks = [asyncio.create_task(one(host)) for host in self.hosts]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _add_arguments(
    parser: argparse.ArgumentParser, choose: argparse._MutuallyExclusiveGroup
) -> None:
    choose.add_argument(
        "--hosts", metavar="FILE", help="SSH to the hosts in FILE (or a list: a,b,c or a,)"
    )
    ssh = parser.add_argument_group("SSH")
    ssh.add_argument("--ssh-config", metavar="FILE", help="ssh config file (ssh -F)")
    ssh.add_argument("--ssh-option", action="append", default=[], metavar="OPT", help="ssh -o OPT")
    ssh.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"hosts contacted at once (default {DEFAULT_CONCURRENCY})",
    )


def _build(args: argparse.Namespace) -> SshLauncher:
    return SshLauncher(
        read_hosts(args.hosts),
        config=args.ssh_config,
        options=list(args.ssh_option),
        concurrency=args.concurrency,
        timeout=args.timeout or SSH_HOST_TIMEOUT_S,
    )


LAUNCHER_KIND = LauncherKind(
    name="ssh",
    chooser="hosts",
    usage="--hosts FILE",
    add_arguments=_add_arguments,
    build=_build,
    own_options=("ssh_config", "ssh_option"),
    label="an SSH option",
)
