"""Real engines for the fleet tests, started and stopped by the tests themselves.

- OpenSSH: an `sshd` on 127.0.0.1 on a free port, with a host key and a user key made for the
  test; hosts are aliases in a test ssh config (the launcher passes it with `ssh -F`).
- Slurm: one `slurmctld` and one `slurmd -N nodeK` per emulated node, each on its own port, with
  Debian's slurm-wlm and munge (a real cluster of three nodes on one machine).
- Ray: `ray.cluster_utils.Cluster` with three nodes.

When an engine is missing the test says so in plain words: a skip on a developer's machine, a
failure under CI=true (CI installs them; `make test` does), so nothing passes silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support import wait_until

ROOT = Path(__file__).resolve().parent.parent


def engine_missing(what: str) -> None:
    """Fail under CI (which must have installed the engine), else skip; says what is missing."""
    message = f"fleet engine not available: {what}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI must install it: see the Makefile's `test` target)")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], check=False).returncode == 0:
        return ["sudo", "-n"]
    engine_missing("root (or password-less sudo) to start the daemons")
    return []


# ------------------------------------------------------------------------------------ OpenSSH


@dataclass
class SshEngine:
    """A running sshd and the test's ssh config naming hosts on it."""

    config: Path
    port: int
    closed_port: int
    folder: Path


def start_sshd(folder: Path) -> tuple[subprocess.Popen[bytes], SshEngine]:
    """Start sshd on 127.0.0.1 with a fresh host key and user key; return it and its config."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    keygen = shutil.which("ssh-keygen")
    if sshd is None or keygen is None or shutil.which("ssh") is None:
        engine_missing("OpenSSH (sshd, ssh, ssh-keygen; Debian: openssh-server openssh-client)")
        raise AssertionError("unreachable")
    folder.mkdir(parents=True, exist_ok=True)
    host_key, user_key = folder / "host_ed25519", folder / "user_ed25519"
    for key in (host_key, user_key):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
        )
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "user_ed25519.pub").read_text())
    authorized.chmod(0o600)
    port, closed_port = free_port(), free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile {folder / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    known = folder / "known_hosts"
    public_host_key = (folder / "host_ed25519.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{port} {public_host_key[0]} {public_host_key[1]}\n")
    common = (
        f"  HostName 127.0.0.1\n  User {os.environ.get('USER') or _user()}\n"
        f"  IdentityFile {user_key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
    )
    config = folder / "ssh_config"
    config.write_text(
        f"Host node-a node-b node-c\n  Port {port}\n{common}\n"
        f"Host closed-host\n  Port {closed_port}\n{common}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    proc = subprocess.Popen(
        [*_sudo(), sshd, "-D", "-e", "-f", str(folder / "sshd_config")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "sshd.log", "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    wait_until(listening, 20, "sshd to listen")
    return proc, SshEngine(config, port, closed_port, folder)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a daemon the test started, its whole session and every descendant, and wait for them.

    sshd's per-connection processes and the commands they ran (a `sleep` a test left hanging)
    may sit in sessions of their own: they are found as descendants first, then ended too.
    """
    family: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        family = psutil.Process(proc.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(family, timeout=10)


@contextlib.contextmanager
def sshd_running(folder: Path) -> Iterator[SshEngine]:
    """sshd for the duration of the block."""
    proc, engine = start_sshd(folder)
    try:
        yield engine
    finally:
        stop(proc)


# -------------------------------------------------------------------------------------- Slurm


@dataclass
class SlurmEngine:
    """A running emulated Slurm cluster: its config file and its nodes."""

    conf: Path
    folder: Path
    nodes: list[str]

    def env(self) -> dict[str, str]:
        """The environment the Slurm commands need to find this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def slurmd_pid(self, node: str) -> int:
        """The pid of a node's slurmd (from its pid file)."""
        return int((self.folder / f"slurmd-{node}.pid").read_text().split()[0])

    def states(self) -> dict[str, str]:
        """Node -> state, as sinfo gives it."""
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def start_slurmd(self, node: str) -> None:
        """Start (or restart) one node's slurmd."""
        subprocess.run(
            [*_sudo(), "slurmd", "-f", str(self.conf), "-N", node],
            env=self.env(),
            check=True,
            timeout=60,
        )

    def scontrol(self, *words: str) -> None:
        """Run scontrol against this cluster."""
        subprocess.run([*_sudo(), "scontrol", *words], env=self.env(), check=True, timeout=30)

    def wait_idle(self, timeout: float = 90) -> None:
        """Wait until every node is idle."""
        wait_until(lambda: set(self.states().values()) == {"idle"}, timeout, "all Slurm nodes idle")


def _munge_up(folder: Path) -> None:
    if subprocess.run(["munge", "-n"], capture_output=True, check=False).returncode == 0:
        return
    for d in ("/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"):
        subprocess.run([*_sudo(), "mkdir", "-p", d], check=True)
    key = Path("/etc/munge/munge.key")
    if subprocess.run([*_sudo(), "test", "-f", str(key)], check=False).returncode != 0:
        subprocess.run(
            [*_sudo(), "dd", "if=/dev/urandom", f"of={key}", "bs=1k", "count=1"],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [
            *_sudo(),
            "chown",
            "-R",
            "munge:munge",
            "/etc/munge",
            "/run/munge",
            "/var/log/munge",
            "/var/lib/munge",
        ],
        check=True,
    )
    subprocess.run([*_sudo(), "chmod", "400", str(key)], check=True)
    subprocess.run(
        [*_sudo(), "munged", "--force", f"--pid-file={folder / 'munged.pid'}"],
        check=False,
        capture_output=True,
    )
    wait_until(
        lambda: subprocess.run(["munge", "-n"], capture_output=True, check=False).returncode == 0,
        20,
        "munged",
    )


def start_slurm(
    folder: Path, count: int = 3, extra_conf: Sequence[str] = (), *, wait_idle: bool = True
) -> SlurmEngine:
    """Write a slurm.conf for `count` nodes on this machine and start slurmctld and each slurmd.

    `extra_conf` lines are appended to slurm.conf (HealthCheckProgram, HealthCheckInterval,
    Prolog, ...); without `wait_idle` the call returns once the daemons are started.
    """
    for tool in ("slurmctld", "slurmd", "srun", "sinfo", "scontrol", "munged", "munge"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            engine_missing(f"Slurm ({tool}; Debian: slurm-wlm munge)")
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "log"):
        (folder / sub).mkdir(exist_ok=True)
    _munge_up(folder)
    ctl, slurmd_port = free_port(), free_port()
    node_ports = [free_port() for _ in range(count)]
    host = socket.gethostname()
    nodes = [f"node{k}" for k in range(1, count + 1)]
    lines = [
        "ClusterName=mltui-test",
        f"SlurmctldHost={host}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}/%n",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder}/slurmd-%n.pid",
        f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'log'}/slurmd-%n.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "ReturnToService=2",
        f"SlurmctldPort={ctl}",
        f"SlurmdPort={slurmd_port}",
    ]
    for node, port in zip(nodes, node_ports, strict=True):
        lines.append(
            f"NodeName={node} NodeHostname={host} Port={port} CPUs={os.cpu_count() or 1} "
            "RealMemory=1000 State=UNKNOWN"
        )
    lines.append(
        f"PartitionName=debug Nodes={','.join(nodes)} Default=YES MaxTime=INFINITE State=UP "
        "OverSubscribe=FORCE"
    )
    lines.extend(extra_conf)
    conf = folder / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    engine = SlurmEngine(conf, folder, nodes)
    subprocess.run(
        [*_sudo(), "slurmctld", "-f", str(conf)], env=engine.env(), check=True, timeout=60
    )
    for node in nodes:
        engine.start_slurmd(node)
    if wait_idle:
        engine.wait_idle()
    return engine


def stop_slurm(engine: SlurmEngine) -> None:
    """Stop the daemons started for `engine` and wait for them to go.

    They are found by their pid files and by their command lines naming this engine's
    slurm.conf (a slurmd restarted by a test may not have rewritten its pid file yet).
    """
    pids = []
    for pid_file in engine.folder.glob("*.pid"):
        if pid_file.name == "munged.pid":
            continue
        with contextlib.suppress(ValueError, OSError):
            pids.append(int(pid_file.read_text().split()[0]))
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if str(engine.conf) in cmdline and proc.pid not in pids:
            pids.append(proc.pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)

    def gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                return False
            return False
        return True

    try:
        wait_until(gone, 20, "Slurm daemons to stop")
    except AssertionError:  # a slurmd can sit on SIGTERM (seen once): it is killed then
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(AssertionError):
            wait_until(gone, 10, "Slurm daemons to be killed")
