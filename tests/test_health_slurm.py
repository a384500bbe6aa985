"""`mltui health` run by slurmd itself: HealthCheckProgram and Prolog in a real Slurm cluster.

One slurmctld and three `slurmd -N nodeK` on this machine (tests/fleet_engines.py), with
`HealthCheckProgram` and `HealthCheckInterval` in slurm.conf, and a Prolog. Every node is this
machine, so each node's machine is a recorded GPU server replayed through MLTUI_REPLAY
(tests/fixtures/gpus), chosen per $SLURMD_NODENAME by the wrapper slurmd runs: a node "differs"
when the test swaps its recording (an H200 with one GPU where the fleet has eight H100s), and is
"fixed" when it gets the H100 recording back. The wrapper passes on no PATH and no SLURM_CONF
(slurmd gives its health program neither; mltui finds scontrol itself and is told the
slurm.conf with --slurm-conf), and logs each run's exit status so the test can count runs
instead of sleeping.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.health.model import load_baseline
from tests.fleet_engines import SlurmEngine, start_slurm, stop_slurm, wait_until

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"
FLEET_MACHINE = GPUS / "h100-sxm-8.json"
ODD_MACHINE = GPUS / "h200-sxm-1.json"
#: slurmd runs each node's health check this often (seconds).
INTERVAL = 5

WRAPPER = """#!/bin/sh
# What slurmd runs on node $SLURMD_NODENAME: mltui health on that node's recorded machine.
dir={dir}
role={role}
node=$SLURMD_NODENAME
env > "$dir/$role-env-$node.txt"
MLTUI_REPLAY=$(cat "$dir/$role-machine-$node") MLTUI_CACHE_DIR="$dir/cache-$node" \\
PYTHONPATH={root} {python} -m tui.cli health --baseline "$dir/baseline.json" \\
  --slurm-conf "$dir/slurm.conf" --max-age 600 --timeout 30 {extra}
rc=$?
echo "$rc" >> "$dir/$role-runs-$node.log"
{after}exit $rc
"""
#: A Prolog that fails drains the node: "no verdict" (2: no baseline yet, a timeout) must not.
PROLOG_NO_VERDICT = '[ "$rc" -eq 2 ] && exit 0\n'


def node_mltui(folder: Path) -> str:
    """The mltui each node runs for the fleet (this worktree, its own cache)."""
    return (
        f"env PYTHONPATH={shlex.quote(str(ROOT))} MLTUI_CACHE_DIR={shlex.quote(str(folder))}/fleet "
        f"{shlex.quote(sys.executable)} -m tui.cli"
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmEngine]:
    """Three nodes whose HealthCheckProgram and Prolog are mltui health (the wrappers)."""
    folder = tmp_path_factory.mktemp("health-slurm")
    folder.chmod(0o755)
    for role, extra, after in (("health", "--drain", ""), ("prolog", "", PROLOG_NO_VERDICT)):
        script = folder / f"{role}.sh"
        script.write_text(
            WRAPPER.format(
                dir=shlex.quote(str(folder)),
                root=shlex.quote(str(ROOT)),
                python=shlex.quote(sys.executable),
                role=role,
                extra=extra,
                after=after,
            )
        )
        script.chmod(0o755)
        for k in (1, 2, 3):
            (folder / f"{role}-machine-node{k}").write_text(str(FLEET_MACHINE))
    engine = start_slurm(
        folder,
        3,
        [
            f"HealthCheckProgram={folder / 'health.sh'}",
            f"HealthCheckInterval={INTERVAL}",
            f"Prolog={folder / 'prolog.sh'}",
        ],
    )
    try:
        yield engine
    finally:
        stop_slurm(engine)


def runs(engine: SlurmEngine, node: str, role: str = "health") -> list[str]:
    """The exit statuses of the node's health program (or Prolog) so far."""
    log = engine.folder / f"{role}-runs-{node}.log"
    return log.read_text().split() if log.exists() else []


def show(engine: SlurmEngine, node: str) -> tuple[str, str]:
    """(state, reason) of a node, as sinfo gives them."""
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-n", node, "-o", "%T|%E"],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()[0]
    state, _, reason = out.partition("|")
    return state, reason


def wait_runs(engine: SlurmEngine, node: str, more: int, since: int, what: str) -> None:
    """Wait until slurmd ran the node's health program `more` times after `since` runs."""
    wait_until(lambda: len(runs(engine, node)) >= since + more, 30 * (more + 1), what)


def wait_verdict(engine: SlurmEngine, node: str, since: int, status: str, what: str) -> None:
    """Wait until one of the node's health runs after the first `since` exits with `status`.

    On this shared machine a run can reach its deadline (exit 2, no verdict, which changes
    nothing); the run after it gives the verdict.
    """
    wait_until(lambda: status in runs(engine, node)[since:], 180, what)


def set_machine(engine: SlurmEngine, node: str, machine: Path, role: str = "health") -> None:
    (engine.folder / f"{role}-machine-{node}").write_text(str(machine))


def test_without_a_baseline_no_node_is_drained(cluster: SlurmEngine) -> None:
    """The baseline does not exist yet: exit 2 (logged by slurmd), never a drain."""
    for node in cluster.nodes:
        wait_runs(cluster, node, 1, 0, f"a health run on {node}")
        assert set(runs(cluster, node)) == {"2"}
    assert set(cluster.states().values()) == {"idle"}


def test_fleet_saves_the_baseline_through_slurm(cluster: SlurmEngine) -> None:
    baseline = cluster.folder / "baseline.json"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tui.cli", "fleet", "--slurm", "-p", "debug"),
            *("--only", "sklearn", "--remote-mltui", node_mltui(cluster.folder)),
            *("--save-baseline", str(baseline)),
        ],
        env={**cluster.env(), "PYTHONPATH": str(ROOT), "MLTUI_REPLAY": str(FLEET_MACHINE)},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert baseline.exists(), done.stderr + done.stdout
    assert "baseline of 3 nodes saved" in done.stderr
    facts = {(f.kind, f.library): f for f in load_baseline(str(baseline)).facts}
    assert facts[("gpu_count", None)].value == "8" and facts[("gpu_count", None)].nodes == 3
    assert "H100" in facts[("gpu_model", None)].value
    assert ("library_version", "sklearn") in facts


def test_the_node_that_differs_is_drained_and_resumed_once_fixed(cluster: SlurmEngine) -> None:
    assert (cluster.folder / "baseline.json").exists(), "needs the baseline of the test before"
    starts = {node: len(runs(cluster, node)) for node in cluster.nodes}
    for node in cluster.nodes:  # every node judged against the baseline: all healthy
        wait_verdict(cluster, node, starts[node], "0", f"a healthy run on {node}")
        assert "1" not in runs(cluster, node)[starts[node] :], runs(cluster, node)
    assert set(cluster.states().values()) == {"idle"}

    before = len(runs(cluster, "node2"))
    set_machine(cluster, "node2", ODD_MACHINE)
    wait_until(lambda: show(cluster, "node2")[0] in ("drained", "draining"), 180, "node2 drained")
    wait_verdict(cluster, "node2", before, "1", "the draining run's status")  # logged after it
    verdicts = [status for status in runs(cluster, "node2")[before:] if status != "2"]
    # the first run with a verdict may have started before the switch; the next one drains
    assert "1" in verdicts[:2], ("drained later than the 2nd verdict", verdicts)
    _, reason = show(cluster, "node2")
    assert reason.startswith("mltui: ") and "where the baseline has" in reason, reason
    assert show(cluster, "node1")[0] == show(cluster, "node3")[0] == "idle"
    log = cluster.folder / "log" / "slurmd-node2.log"
    # slurmd logs the exit once the program has ended (after its own scontrol call drained it)
    wait_until(
        lambda: "health_check failed: rc:1 output:ERROR: mltui: " in log.read_text(),
        60,
        "slurmd to log the failed health check",
    )

    cluster.scontrol("update", "NodeName=node3", "State=DRAIN", "Reason=maintenance")
    node3_before = len(runs(cluster, "node3"))
    set_machine(cluster, "node2", FLEET_MACHINE)
    wait_until(lambda: show(cluster, "node2")[0] == "idle", 180, "node2 resumed")
    # a run logs its status after its drain decision: once a healthy run is logged...
    wait_verdict(cluster, "node3", node3_before, "0", "a healthy run on the admin-drained node3")
    assert show(cluster, "node3") == ("drained", "maintenance")  # ...the admin's drain stands
    assert show(cluster, "node1")[0] == "idle"
    cluster.scontrol("update", "NodeName=node3", "State=RESUME")


def test_a_failing_prolog_drains_the_node_and_requeues_the_job(cluster: SlurmEngine) -> None:
    """Prolog: plain `mltui health` (no scontrol inside a Prolog); exit 1 makes Slurm drain the
    node and requeue the job; mltui's health program then leaves Slurm's own drain alone."""
    set_machine(cluster, "node1", ODD_MACHINE, role="prolog")
    try:
        good = submit(cluster, "node3")
        bad = submit(cluster, "node1")
        wait_until(lambda: job_field(cluster, good, "JobState") == "COMPLETED", 120, "good job")
        wait_until(lambda: show(cluster, "node1")[0] in ("drained", "draining"), 90, "node1")
        assert runs(cluster, "node1", "prolog")[-1] == "1"
        _, reason = show(cluster, "node1")
        assert "Prolog" in reason, reason
        wait_until(lambda: job_field(cluster, bad, "Restarts") == "1", 60, "the job requeued")
        assert job_field(cluster, bad, "JobState") in ("PENDING", "REQUEUED"), job_field(
            cluster, bad, "JobState"
        )
        before = len(runs(cluster, "node1"))
        wait_verdict(cluster, "node1", before, "0", "a healthy run on node1 after Slurm's drain")
        assert show(cluster, "node1")[1] == reason  # not mltui's drain: not lifted
    finally:
        set_machine(cluster, "node1", FLEET_MACHINE, role="prolog")
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.scontrol("update", "NodeName=node1", "State=RESUME")
        subprocess.run(["scancel", "--user=root"], env=cluster.env(), check=False, timeout=30)


def submit(engine: SlurmEngine, node: str) -> str:
    done = subprocess.run(
        ["sbatch", "--parsable", "-w", node, "-o", "/dev/null", "--wrap", "true"],
        env=engine.env(),
        capture_output=True,
        text=True,
        cwd=engine.folder,
        timeout=30,
        check=True,
    )
    return done.stdout.strip().split(";")[0]


def job_field(engine: SlurmEngine, job: str, name: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "job", job],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    for word in out.split():
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    return ""


def test_what_slurmd_passes_its_health_program_and_prolog(cluster: SlurmEngine) -> None:
    """Recorded in the README: no PATH, no HOME, no SLURM_CONF for the health program (mltui
    finds scontrol itself and takes --slurm-conf); a Prolog gets SLURM_CONF and the job's
    variables. Both get SLURMD_NODENAME."""
    health = env_of(cluster, "health", "node2")
    assert health["SLURMD_NODENAME"] == "node2"
    assert not {"PATH", "HOME", "SLURM_CONF"} & set(health)
    prolog = env_of(cluster, "prolog", "node3")
    assert prolog["SLURM_CONF"] == str(cluster.conf) and prolog["SLURMD_NODENAME"] == "node3"
    assert prolog["SLURM_SCRIPT_CONTEXT"] == "prolog_slurmd" and "SLURM_JOB_ID" in prolog


def env_of(engine: SlurmEngine, role: str, node: str) -> dict[str, str]:
    text = (engine.folder / f"{role}-env-{node}.txt").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
