"""The fleet's own logic: node rows from what a node printed, the skew, the schema, the CLI's usage.

The node reports are real: this machine's own `mltui check --json`, its NVML part replaced by the
readings recorded on real GPU machines (tests/fixtures/nvml) and changed the way a fleet differs
(another driver, a GPU fewer). The engines themselves are tested in test_fleet_engines.py.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from probes.fleet.aggregate import FleetAggregate, gpu_count
from probes.fleet.launch import (
    PERF_MARK,
    FleetError,
    NodeCommand,
    node_from_output,
    parse_check,
    parse_remote_mltui,
)
from probes.fleet.model import NodeResult, fleet_schema
from probes.fleet.ray_launch import row_from_event
from probes.fleet.slurm import SlurmNode, SlurmSelection, srun_argv
from probes.fleet.ssh import parse_hosts, read_hosts, ssh_argv
from probes.model import to_json
from probes.perf_model import DevicePerf, Measurement, PerfReport
from tests.fleet_reports import local_check_data, one_gpu_fewer, other_driver, recorded_node

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "probes" / "fleet" / "fleet.schema.json"


@pytest.fixture(scope="session")
def local_check_json() -> dict[str, Any]:
    """This machine's real `mltui check --json` (the quick libraries only)."""
    return local_check_data()


# ------------------------------------------------------------------------------- node rows


def test_a_real_check_becomes_an_ok_row(local_check_json: dict[str, Any]) -> None:
    row = node_from_output("n1", json.dumps(local_check_json, indent=2), [], 0)
    assert row.state in ("ok", "findings")
    assert row.check is not None
    assert row.check.system.hostname == local_check_json["system"]["hostname"]


def test_recorded_gpus_reach_the_row(local_check_json: dict[str, Any]) -> None:
    row = recorded_node(local_check_json, "gpu1")
    assert row.check is not None
    assert row.check.nvml.driver_version == "565.57.01"
    assert gpu_count(row.check) == 2


@pytest.mark.parametrize(
    ("stdout", "stderr", "code", "state", "words"),
    [
        ("", ["bash: line 1: mltui: command not found"], 127, "no_mltui", "no `mltui`"),
        ("", ["/usr/bin/sh: 1: /opt/x/mltui: not found"], 127, "no_mltui", "not found"),
        (
            "",
            ["bash: /v/bin/mltui: /gone/python3: bad interpreter: No such file or directory"],
            126,
            "no_mltui",
            "Python is missing",
        ),
        (
            "",
            ["bash: line 1: /v/bin/mltui: cannot execute: required file not found"],
            127,
            "no_mltui",
            "Python is missing",
        ),
        ("", ["ModuleNotFoundError: No module named 'probes'"], 1, "no_mltui", "not installed"),
        ("Segmentation fault", ["core dumped"], 139, "failed", "exit 139"),
        ('{"a": 1}', [], 0, "failed", "not an mltui check report"),
        ('{"nvml": ', [], 0, "failed", "not valid JSON"),
        ("", [], 0, "failed", "printed no report"),
    ],
)
def test_a_node_without_a_report_says_why(
    stdout: str, stderr: list[str], code: int, state: str, words: str
) -> None:
    row = node_from_output("n1", stdout, stderr, code, command="mltui")
    assert row.state == state
    assert row.check is None
    assert words in (row.reason or "")
    if state == "no_mltui":
        assert row.fix and "--remote-mltui" in row.fix


def test_parse_check_skips_a_banner_before_the_report(local_check_json: dict[str, Any]) -> None:
    parsed = parse_check("Welcome to node7\n" + json.dumps(local_check_json))
    assert not isinstance(parsed, str)


def perf_report(gpu_gemms: list[float], cpu_gemm: float | None = None) -> PerfReport:
    """A perf report with one best GEMM per GPU (FLOP/s), and the CPU's when given."""
    devices = [
        DevicePerf(
            device=f"cuda:{index}",
            measurements=[
                Measurement("torch", f"cuda:{index}", "gemm", "fp32", value / 4),
                Measurement("torch", f"cuda:{index}", "gemm", "bf16", value),
                Measurement("torch", f"cuda:{index}", "copy", None, 3e12, "B/s"),
            ],
        )
        for index, value in enumerate(gpu_gemms)
    ]
    if cpu_gemm is not None:
        devices.append(
            DevicePerf("cpu", measurements=[Measurement("numpy", "cpu", "gemm", "fp32", cpu_gemm)])
        )
    return PerfReport(devices=devices)


def test_perf_runs_first_and_its_figure_reaches_the_row(local_check_json: dict[str, Any]) -> None:
    command = NodeCommand(mltui=["/v/mltui"], perf=True, perf_seconds=20)
    assert command.shell() == (
        f"/v/mltui perf --json --seconds 20; echo {PERF_MARK}; /v/mltui check --json --timeout 120"
    )
    assert NodeCommand().shell() == "mltui check --json --timeout 120"
    perf = to_json(perf_report([400e12, 420e12, 380e12], cpu_gemm=2e12), indent=2)
    stdout = f"{perf}\n{PERF_MARK}\n{json.dumps(local_check_json, indent=2)}"
    row = node_from_output("n1", stdout, [], 0)
    assert row.state in ("ok", "findings")
    assert (row.throughput, row.throughput_unit) == (400.0, "TFLOP/s")  # median of 3 GPUs
    assert row.check is not None and row.check.perf is not None
    # A node without GPUs: the CPU's figure.
    cpu_only = node_from_output(
        "n2",
        f"{to_json(perf_report([], cpu_gemm=98.2e9))}\n{PERF_MARK}\n"
        + json.dumps(local_check_json),
        [],
        0,
    )
    assert (cpu_only.throughput, cpu_only.throughput_unit) == (98.2, "GFLOP/s")
    # perf failed on the node: the check still counts, the row says what perf did.
    broken = node_from_output(
        "n3", f"Traceback ...\n{PERF_MARK}\n{json.dumps(local_check_json)}", [], 0
    )
    assert broken.check is not None and broken.throughput is None
    assert broken.reason == "mltui perf printed no JSON report: Traceback ..."


def test_remote_mltui_is_split_like_a_shell() -> None:
    assert parse_remote_mltui("env X='a b' /v/bin/mltui") == ["env", "X=a b", "/v/bin/mltui"]
    with pytest.raises(FleetError):
        parse_remote_mltui("  ")
    with pytest.raises(FleetError):
        parse_remote_mltui("'unclosed")


# ------------------------------------------------------------------------------------ skew


def fleet_of(base: dict[str, Any], count: int, changes: dict[str, Any]) -> FleetAggregate:
    fleet = FleetAggregate("ssh", "test")
    for k in range(1, count + 1):
        name = f"node{k}"
        fleet.add(recorded_node(base, name, changes.get(name)))
    return fleet


def test_a_node_with_another_driver_is_named(local_check_json: dict[str, Any]) -> None:
    fleet = fleet_of(local_check_json, 5, {"node3": other_driver})
    skew = fleet.skew()
    assert [(f.kind, f.node) for f in skew] == [("driver", "node3")]
    assert skew[0].text == "node3: driver 550.54.15 where 4 nodes have 565.57.01"


def test_a_node_with_a_gpu_fewer_is_named(local_check_json: dict[str, Any]) -> None:
    fleet = fleet_of(local_check_json, 4, {"node2": one_gpu_fewer})
    skew = fleet.skew()
    assert [(f.kind, f.node, f.value, f.majority_value) for f in skew] == [
        ("gpu_count", "node2", "1", "2")
    ]
    assert skew[0].text == "node2: 1 GPU where 3 nodes have 2"
    assert fleet.majority_gpus() == 2


def test_expected_gpus_beat_the_majority(local_check_json: dict[str, Any]) -> None:
    fleet = FleetAggregate("ssh", expected_gpus=8)
    for k in range(3):
        fleet.add(recorded_node(local_check_json, f"n{k}"))
    skew = fleet.skew()
    assert {f.node for f in skew} == {"n0", "n1", "n2"}
    assert all(f.text.endswith("where 8 are expected") for f in skew)


def test_a_slow_node_is_found_against_its_model(local_check_json: dict[str, Any]) -> None:
    # The figures as throughput_of() takes them from each node's `mltui perf`, set on real reports.
    fleet = FleetAggregate("ssh")
    for k, figure in enumerate([1000.0, 990.0, 1010.0, 850.0, 905.0]):
        row = recorded_node(local_check_json, f"n{k}")
        row.throughput, row.throughput_unit = figure, "TFLOP/s"
        fleet.add(row)
    a100 = recorded_node(local_check_json, "a1", fixture="a100_sxm4_x8")
    a100.throughput = 300.0  # alone on its model: compared with nothing, so never "slow"
    fleet.add(a100)
    slow = [f for f in fleet.skew() if f.kind == "throughput"]
    assert [f.node for f in slow] == ["n3"]  # 850 is 14 % below 990; 905 is 8.6 % below
    assert "14 % below the median 990 TFLOP/s" in slow[0].text


def test_every_difference_in_one_fleet(local_check_json: dict[str, Any]) -> None:
    fleet = fleet_of(local_check_json, 6, {"node2": other_driver, "node4": one_gpu_fewer})
    odd = recorded_node(local_check_json, "node6")
    assert odd.check is not None
    sklearn = next(lib for lib in odd.check.libraries if lib.name == "sklearn")
    sklearn.status, sklearn.version = "ok", "1.3.2"  # another release on one node
    fleet.add(odd)
    fleet.add(NodeResult("node7", "unreachable", "ssh: connect to host node7: No route"))
    by_node = {(f.node, f.kind) for f in fleet.skew()}
    assert by_node == {("node2", "driver"), ("node4", "gpu_count"), ("node6", "library_version")}
    counts = fleet.counts()
    assert (counts.total, counts.failed, counts.answered) == (7, 1, 6)


def test_a_tie_has_no_majority(local_check_json: dict[str, Any]) -> None:
    fleet = fleet_of(local_check_json, 2, {"node2": other_driver})
    texts = [f.text for f in fleet.skew()]
    assert len(texts) == 2
    assert all("no majority" in text for text in texts)


def test_a_fleet_that_agrees_has_no_skew(local_check_json: dict[str, Any]) -> None:
    assert fleet_of(local_check_json, 3, {}).skew() == []


def test_a_later_row_replaces_the_earlier_one(local_check_json: dict[str, Any]) -> None:
    fleet = fleet_of(local_check_json, 3, {"node3": other_driver})
    assert fleet.skew()
    fleet.add(recorded_node(local_check_json, "node3"))
    assert fleet.skew() == []
    assert len(fleet) == 3


# ---------------------------------------------------------------------------------- schema


def test_committed_fleet_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == fleet_schema(), (
        "probes/fleet/fleet.schema.json is stale: regenerate it with "
        "`mltui fleet --schema > probes/fleet/fleet.schema.json` (and bump "
        "FLEET_SCHEMA_VERSION in probes/fleet/model.py if a field was removed or changed meaning)"
    )
    jsonschema.Draft202012Validator.check_schema(committed)


def test_a_report_fits_the_schema_and_a_broken_one_does_not(
    local_check_json: dict[str, Any],
) -> None:
    fleet = fleet_of(local_check_json, 3, {"node1": other_driver})
    fleet.add(NodeResult("node9", "down", "Slurm says drained: bad gpu"))
    data = json.loads(to_json(fleet.report()))
    jsonschema.validate(data, fleet_schema())
    data["nodes"][0]["state"] = "sleepy"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, fleet_schema())


# ------------------------------------------------------------------------ launcher details


def test_hosts_file_comments_repeats_and_bad_names() -> None:
    assert parse_hosts("# rack 1\ngpu1\n gpu2  # spare\n\ngpu1\nuser@gpu3 extra\n") == [
        "gpu1",
        "gpu2",
        "user@gpu3",
    ]
    with pytest.raises(FleetError, match="line 1"):
        parse_hosts("-oProxyCommand=evil\n")
    assert read_hosts("a,b,,a") == ["a", "b"]
    with pytest.raises(FleetError, match="cannot read the hosts file"):
        read_hosts("/nonexistent/hosts")


def test_ssh_runs_in_batch_mode_and_ends_options_before_the_host() -> None:
    argv = ssh_argv("gpu1", "mltui check --json", connect_timeout=7.4, config="/c")
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=7"]
    assert argv[-3:] == ["--", "gpu1", "mltui check --json"]
    assert argv[5:7] == ["-F", "/c"]


def test_one_srun_step_for_all_nodes() -> None:
    selection = SlurmSelection(partition="gpu", account="proj", time_limit="5:00")
    argv = srun_argv(selection, ["n1", "n2", "n3"], NodeCommand(mltui=["/shared/mltui"]))
    assert argv[0] == "srun"
    for word in (
        "--label",
        "--nodes=3",
        "--ntasks-per-node=1",
        "--nodelist=n1,n2,n3",
        "--partition=gpu",
        "--account=proj",
        "--time=5:00",
    ):
        assert word in argv
    assert argv[-3:-1] == ["sh", "-c"]
    assert "/shared/mltui check --json" in argv[-1]


@pytest.mark.parametrize(
    ("state", "usable"),
    [
        ("idle", True),
        ("mixed", True),
        ("allocated", True),
        ("idle*", False),
        ("down*", False),
        ("drained", False),
        ("draining", False),
        ("inval", False),
        ("idle~", False),
        ("fail", False),
    ],
)
def test_slurm_states_that_take_no_work(state: str, usable: bool) -> None:
    assert SlurmNode("n1", state, "none").usable is usable


def test_ray_events_become_rows(local_check_json: dict[str, Any]) -> None:
    row = row_from_event({"event": "node", "name": "h", "check": json.dumps(local_check_json)})
    assert row.check is not None
    missing = row_from_event({"event": "node", "name": "h", "check": '{"missing": "psutil"}'})
    assert missing.state == "no_mltui"
    assert missing.fix and "psutil" in missing.fix
    died = row_from_event(
        {"event": "node", "name": "h", "state": "down", "reason": "Ray: NodeDiedError: x"}
    )
    assert (died.state, died.reason) == ("down", "Ray: NodeDiedError: x")
    odd = row_from_event({"event": "node", "name": "h", "state": "exploded"})
    assert odd.state == "failed"


# ---------------------------------------------------------------------------------- the CLI


def mltui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "fleet needs a launcher"),
        (("--hosts", "/nonexistent/hosts"), "cannot read the hosts file"),
        (("--ray", "--partition", "gpu"), "--partition is a Slurm option"),
        (("--hosts", "a,", "--perf-seconds", "0"), "must be above zero"),
        (("--hosts", "a,", "--only", "nosuchlib"), "nosuchlib"),
        (("--hosts=a,-oProxyCommand=x",), "is not a host name"),
        (("--slurm", "--nodes", "0"), "must be above zero"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: tuple[str, ...], words: str) -> None:
    done = mltui("fleet", *args)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_schema_option_prints_the_committed_schema() -> None:
    done = mltui("fleet", "--schema")
    assert done.returncode == 0
    assert json.loads(done.stdout) == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_aggregating_grows_linearly_with_the_reports(local_check_json: dict[str, Any]) -> None:
    """Ten times the reports take about ten times as long (a quadratic step would take a
    hundred): a ratio of runs here and now, not a time limit that depends on this machine's
    speed and load. The bench (bench/fleet.py) times 10,000 against json.loads."""
    template = recorded_node(local_check_json, "x")

    def aggregate(count: int) -> float:
        rows = [
            NodeResult(f"n{k}", "ok", check=template.check, throughput=1000.0 - (k % 7))
            for k in range(count)
        ]
        gc.collect()
        gc.disable()  # a collection landing in one run but not the other is not the code's
        try:
            started = time.process_time()  # CPU seconds: what other programs do is not counted
            fleet = FleetAggregate("slurm")
            fleet.extend(rows)
            report = fleet.report()
            elapsed = time.process_time() - started
        finally:
            gc.enable()
        assert report.counts.total == count
        return elapsed

    small = min(aggregate(400) for _ in range(3))
    large = min(aggregate(4000) for _ in range(3))
    assert large / small < 30, f"4,000 reports took {large / small:.1f}x as long as 400"
