"""`mltui fleet` against real engines this suite starts and stops: sshd, Slurm (3 nodes), Ray (3).

Each engine is started once for this module (tests/fleet_engines.py) and shared by its tests, then
stopped, so no daemon outlives the module (other tests check that nothing is left running); a test
that disturbs it (a drained node, a killed slurmd, a removed Ray node) restores it or runs last.
Every node runs this worktree's own `mltui check --json --only caffe` (the quickest check; the
shared filesystem is this machine's). When an engine cannot be found the tests say so: skipped
on a developer machine, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest

from probes.fleet.launch import NodeCommand
from probes.fleet.model import FleetReport, NodeResult, fleet_schema
from probes.fleet.ray_launch import RayLauncher
from probes.fleet.run import run_fleet
from probes.fleet.slurm import SlurmLauncher, SlurmSelection
from probes.fleet.ssh import SshLauncher
from probes.model import from_json
from tests.fleet_engines import (
    SlurmEngine,
    SshEngine,
    engine_missing,
    sshd_running,
    start_slurm,
    stop_slurm,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
#: This worktree's mltui, as each node runs it (the nodes share this machine's filesystem).
#: The nodes' own cache (their checks and perf runs are saved there, not in the user's).
NODE_CACHE = Path(tempfile.gettempdir()) / f"mltui-fleet-test-cache-{os.getpid()}"
NODE_MLTUI = (
    f"env PYTHONPATH={shlex.quote(str(ROOT))} MLTUI_CACHE_DIR={shlex.quote(str(NODE_CACHE))} "
    f"{shlex.quote(sys.executable)} -m tui.cli"
)
QUICK = NodeCommand(mltui=shlex.split(NODE_MLTUI), only="caffe", probe_timeout=60)


@pytest.fixture(scope="module", autouse=True)
def node_cache() -> Iterator[Path]:
    """The nodes' cache folder, removed after the module."""
    yield NODE_CACHE
    shutil.rmtree(NODE_CACHE, ignore_errors=True)


def mltui_fleet(*args: str, env: dict[str, str] | None = None) -> tuple[int, FleetReport, str]:
    """Run `mltui fleet ... --json` for real; its exit status, parsed report and stderr."""
    run_env = {**(env or os.environ), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "fleet", *args, "--json"],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, fleet_schema())
    return done.returncode, from_json(FleetReport, done.stdout), done.stderr


def rows(report: FleetReport) -> dict[str, NodeResult]:
    return {node.name: node for node in report.nodes}


def launcher_processes_left() -> list[str]:
    """Command lines of the launchers' processes (ssh, srun, the Ray driver) still alive."""
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = child.cmdline()
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        program = Path(cmdline[0]).name if cmdline else ""
        if program in ("ssh", "srun") or "probes.fleet.ray_driver" in cmdline:
            left.append(" ".join(cmdline))
    return left


# ------------------------------------------------------------------------------------ SSH


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshEngine]:
    with sshd_running(tmp_path_factory.mktemp("sshd")) as engine:
        yield engine


def ssh_fleet(sshd: SshEngine, hosts: str, *extra: str) -> tuple[int, FleetReport, str]:
    """`mltui fleet --hosts HOSTS` through the test sshd, each host running the quick check."""
    return mltui_fleet(
        "--hosts",
        hosts,
        "--ssh-config",
        str(sshd.config),
        "--remote-mltui",
        NODE_MLTUI,
        "--only",
        "caffe",
        *extra,
    )


def test_ssh_hosts_report_and_a_closed_port_is_unreachable(sshd: SshEngine) -> None:
    code, report, _ = ssh_fleet(sshd, "node-a,node-b,closed-host", "--timeout", "60")
    by_name = rows(report)
    assert set(by_name) == {"node-a", "node-b", "closed-host"}
    for name in ("node-a", "node-b"):
        assert by_name[name].state == "ok", by_name[name].reason
        check = by_name[name].check
        assert check is not None
        assert [lib.name for lib in check.libraries] == ["caffe"]
    closed = by_name["closed-host"]
    assert closed.state == "unreachable"
    assert f"port {sshd.closed_port}: Connection refused" in (closed.reason or "")
    assert report.counts.failed == 1
    assert code == 1  # a node without a report is not all-clear


def test_ssh_perf_gives_each_host_a_throughput(sshd: SshEngine) -> None:
    _, report, stderr = ssh_fleet(
        sshd, "node-a,", "--perf", "--perf-seconds", "20", "--timeout", "120"
    )
    (row,) = report.nodes
    assert row.state == "ok", (row.reason, stderr)
    assert row.check is not None and row.check.perf is not None
    assert row.check.perf.devices, "the node's perf report has no device"
    # No GPU here: the CPU's best GEMM, measured on the node by the real libraries.
    assert row.throughput is not None and row.throughput > 0, row.reason
    assert row.throughput_unit == "GFLOP/s"


def test_ssh_host_without_mltui_says_how_to_fix_it(sshd: SshEngine, tmp_path: Path) -> None:
    gone_python = tmp_path / "mltui"
    gone_python.write_text("#!/nonexistent/venv/bin/python3\n")
    gone_python.chmod(0o755)
    found: list[NodeResult] = []
    for remote in ("/nonexistent/bin/mltui", str(gone_python)):
        command = NodeCommand(mltui=[remote], only="caffe")
        target = SshLauncher(["node-a"], config=str(sshd.config), timeout=60)
        report = asyncio.run(run_fleet(target, command))
        found.extend(report.nodes)
    missing, no_python = found
    assert missing.state == "no_mltui"
    assert "/nonexistent/bin/mltui" in (missing.reason or "")
    assert missing.fix and "pip install mltui" in missing.fix
    assert no_python.state == "no_mltui"
    assert "Python is missing" in (no_python.reason or "")
    assert no_python.fix and "reinstall" in no_python.fix


def test_ssh_a_host_that_never_answers_times_out(sshd: SshEngine) -> None:
    # The remote command hangs: the host is reached, its report never comes.
    command = NodeCommand(mltui=["sh", "-c", "sleep 20", "mltui"])
    target = SshLauncher(["node-a"], config=str(sshd.config), timeout=3)
    started = time.monotonic()
    report = asyncio.run(run_fleet(target, command))
    assert time.monotonic() - started < 15
    (row,) = report.nodes
    assert row.state == "timed_out"
    assert "no report within 3 s" in (row.reason or "")
    assert launcher_processes_left() == []


def test_ssh_a_silent_port_is_reported_in_ssh_words(sshd: SshEngine) -> None:
    # Something accepts the connection but never speaks SSH.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        target = SshLauncher(
            ["node-a"], config=str(sshd.config), timeout=4, options=[f"Port={port}"]
        )
        report = asyncio.run(run_fleet(target, QUICK))
    (row,) = report.nodes
    assert row.state in ("unreachable", "timed_out")
    assert row.reason


def test_ssh_concurrency_is_bounded(sshd: SshEngine, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.touch()
    log.chmod(0o666)
    script = f"echo start >> {log}; sleep 0.5; echo end >> {log}"
    command = NodeCommand(mltui=["sh", "-c", script, "mltui"])
    hosts = ["node-a", "node-b", "node-c", "node-a.", "node-b.", "node-c."]
    config = sshd.config.read_text().replace(
        "Host node-a node-b node-c", "Host node-a node-b node-c node-a. node-b. node-c."
    )
    wide = tmp_path / "ssh_config"
    wide.write_text(config)
    target = SshLauncher(hosts, config=str(wide), concurrency=2, timeout=60)
    report = asyncio.run(run_fleet(target, command))
    assert len(report.nodes) == 6
    running = peak = 0
    for line in log.read_text().split():
        running += 1 if line == "start" else -1
        peak = max(peak, running)
    assert log.read_text().split().count("start") == 6
    assert peak == 2


# ---------------------------------------------------------------------------------- Slurm


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmEngine]:
    engine = start_slurm(tmp_path_factory.mktemp("slurm"))
    try:
        yield engine
    finally:
        stop_slurm(engine)


def slurm_run(engine: SlurmEngine, command: NodeCommand = QUICK, **kw: Any) -> FleetReport:
    env = {**engine.env(), "PYTHONPATH": str(ROOT)}
    target = SlurmLauncher(SlurmSelection(**kw), timeout=120)
    return asyncio.run(run_fleet(target, command, env=env))


def test_slurm_one_step_reports_every_node(slurm: SlurmEngine) -> None:
    code, report, stderr = mltui_fleet(
        "--slurm",
        "--partition",
        "debug",
        "--remote-mltui",
        NODE_MLTUI,
        "--only",
        "caffe",
        "--time",
        "5",
        env=slurm.env(),
    )
    by_name = rows(report)
    assert set(by_name) == {"node1", "node2", "node3"}, stderr
    assert all(node.state == "ok" for node in report.nodes), [n.reason for n in report.nodes]
    assert report.skew == []
    assert code == 0
    assert report.launcher == "slurm"


def test_slurm_drained_node_is_a_row_in_slurms_words(slurm: SlurmEngine) -> None:
    slurm.scontrol("update", "NodeName=node2", "State=DRAIN", "Reason=gpu 3 fell off the bus")
    try:
        report = slurm_run(slurm)
    finally:
        slurm.scontrol("update", "NodeName=node2", "State=RESUME")
    by_name = rows(report)
    assert by_name["node2"].state == "down"
    assert by_name["node2"].reason == "Slurm says drained: gpu 3 fell off the bus"
    assert by_name["node1"].state == by_name["node3"].state == "ok"
    slurm.wait_idle()


def test_slurm_nodes_without_mltui(slurm: SlurmEngine) -> None:
    report = slurm_run(slurm, NodeCommand(mltui=["/nonexistent/bin/mltui"]), nodelist="node1")
    (row,) = report.nodes
    assert row.state == "no_mltui"
    assert "/nonexistent/bin/mltui" in (row.reason or "")


def test_slurm_unknown_partition_is_the_run_error(slurm: SlurmEngine) -> None:
    report = slurm_run(slurm, partition="nosuchpartition")
    assert report.nodes == []
    assert report.error and "nosuchpartition" in report.error


def test_slurm_node_taken_down_mid_run(slurm: SlurmEngine, tmp_path: Path) -> None:
    # node3's slurmd dies; Slurm still lists it idle (it notices only after SlurmdTimeout), so
    # the step is launched on it and fails there. srun then aborts the whole step, killing the
    # checks still running on the healthy nodes (here each first waits 15 s, as a real check
    # importing torch takes that long): they must still report, from a second step without
    # node3, while node3 is a row in srun's own words.
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    slow_once = (
        f'm={marks}/$SLURMD_NODENAME; if [ ! -e "$m" ]; then touch "$m"; sleep 15; fi; '
        'exec "$0" "$@"'
    )
    command = NodeCommand(
        mltui=["sh", "-c", slow_once, *QUICK.mltui], only="caffe", probe_timeout=60
    )
    os.kill(slurm.slurmd_pid("node3"), signal.SIGKILL)
    assert slurm.states()["node3"] == "idle"
    try:
        report = slurm_run(slurm, command)
    finally:
        slurm.start_slurmd("node3")
    by_name = rows(report)
    assert set(by_name) == {"node1", "node2", "node3"}
    assert by_name["node3"].state == "down"
    assert "failed on node node3: Communication connection failure" in (
        by_name["node3"].reason or ""
    )
    assert by_name["node1"].state == by_name["node2"].state == "ok", [
        by_name[n].reason for n in ("node1", "node2")
    ]
    assert launcher_processes_left() == []
    # The healthy nodes slept in the first step (their marks) and reported from the second.
    assert sorted(p.name for p in marks.iterdir()) == ["node1", "node2"]


# ------------------------------------------------------------------------------------ Ray


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        engine_missing("Ray (pip install 'mltui[fleet]')")
        raise
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def test_ray_every_live_node_reports(ray_cluster: Any) -> None:
    code, report, stderr = mltui_fleet(
        "--ray", ray_cluster.address, "--only", "caffe", "--timeout", "120"
    )
    assert len(report.nodes) == 3, stderr
    assert all(node.state == "ok" for node in report.nodes), [n.reason for n in report.nodes]
    assert report.launcher == "ray"
    assert code == 0


def test_ray_reports_over_the_limit_are_rows_that_say_so(ray_cluster: Any) -> None:
    """The driver does not send a report over --max-report-mib; each node's row says why."""
    code, report, stderr = mltui_fleet(
        "--ray", ray_cluster.address, "--only", "caffe", "--timeout", "120",
        "--max-report-mib", "0.001",
    )  # fmt: skip
    assert len(report.nodes) == 3, stderr
    assert {node.reason for node in report.nodes} == {"report larger than 0.001 MiB"}
    assert all(node.state == "failed" for node in report.nodes)
    assert code == 1


def test_ray_node_removed_mid_run(ray_cluster: Any) -> None:
    worker = ray_cluster.worker_nodes and sorted(ray_cluster.worker_nodes, key=id)[-1]
    assert worker, "the cluster has no worker node to remove"
    gone_name = f"{socket.gethostname()}:{worker.node_id[:8]}"
    seen: list[NodeResult] = []
    removed = threading.Event()

    def remove(names: list[str]) -> None:
        assert gone_name in names
        threading.Thread(
            target=lambda: (ray_cluster.remove_node(worker, allow_graceful=False), removed.set()),
            daemon=True,
        ).start()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = NodeCommand(only="sklearn,caffe", probe_timeout=60)
    asyncio.run(
        RayLauncher(ray_cluster.address, timeout=120, on_nodes=remove).run(
            command, seen.append, env, None
        )
    )
    wait_until(removed.is_set, 30, "the Ray node to be removed")
    by_name = {row.name: row for row in seen}
    assert len(by_name) == 3
    gone = by_name[gone_name]
    assert gone.state == "down", gone.reason
    assert (gone.reason or "").startswith("Ray: ")
    others = [row for name, row in by_name.items() if name != gone_name]
    assert all(row.state == "ok" for row in others), [row.reason for row in others]
    assert launcher_processes_left() == []
