"""`mltui health`: the baseline, the verdict, and each host's contract as the host reads it.

Nodes are this machine's real check with NVML readings recorded on real GPU servers
(tests/fleet_reports.py); the CLI runs for real in a subprocess with its own cache folder, and the
Prometheus textfile is read back with prometheus_client's own parser. The real Slurm cluster
(HealthCheckProgram, Prolog) is in tests/test_health_slurm.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from probes.fleet.model import FleetReport, NodeResult
from probes.health.baseline import NoBaselineError, baseline_from_fleet, baseline_from_nodes
from probes.health.model import (
    Baseline,
    BaselineError,
    HealthReport,
    baseline_schema,
    load_baseline,
    parse_baseline,
)
from probes.health.run import HealthOptions, run_health
from probes.health.verdict import judge
from probes.model import CheckResult, Finding, TargetPython, from_dict, to_dict, to_json
from probes.target import current_target
from tests.fake_nvml import FakeNvml
from tests.fleet_reports import local_check_data, one_gpu_fewer, other_driver, recorded_node
from tui.health_contracts import npd_message, prometheus_text, slurm_line

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "probes" / "health" / "baseline.schema.json"
FIXTURE = ROOT / "tests" / "fixtures" / "nvml" / "h100_sxm_x8.json"
#: GPUs in the recording the nodes are made of.
GPUS = len(FakeNvml.from_fixture(FIXTURE).readings["devices"])


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    """This machine's real check (sklearn and caffe probed), as data."""
    return local_check_data()


def no_gpus(fake: Any) -> None:
    """The node shows no GPU (a CPU-only node, or a GPU node whose GPUs are gone)."""
    fake.readings["devices"].clear()
    fake.readings["system"]["nvmlDeviceGetCount"] = 0


def gpu_fleet(base: dict[str, Any], *changed: NodeResult) -> list[NodeResult]:
    """Four recorded H100 nodes that agree, then the changed ones."""
    return [recorded_node(base, f"gpu{k}") for k in range(1, 5)] + list(changed)


def fact(baseline: Baseline, kind: str, library: str | None = None) -> Any:
    return next(f for f in baseline.facts if f.kind == kind and f.library == library)


# ---------------------------------------------------------------------------------- baseline


def test_baseline_holds_what_the_majority_has(base: dict[str, Any]) -> None:
    odd = recorded_node(base, "gpu9", other_driver)
    baseline = baseline_from_nodes(gpu_fleet(base, odd))
    driver = fact(baseline, "driver")
    assert driver.value != "550.54.15" and (driver.nodes, driver.compared) == (4, 5)
    assert fact(baseline, "gpu_count").value == str(GPUS)
    assert "H100" in fact(baseline, "gpu_model").value
    sklearn = fact(baseline, "library_version", "sklearn")
    assert sklearn.value == next(
        lib["version"] for lib in base["libraries"] if lib["name"] == "sklearn"
    )
    assert fact(baseline, "library_gpu", "sklearn").value == "does not run"
    assert baseline.libraries == ["sklearn", "caffe"]
    assert baseline.nodes == 5 and not baseline.undecided


def test_an_even_split_is_left_out_and_named(base: dict[str, Any]) -> None:
    nodes = [recorded_node(base, "a"), recorded_node(base, "b", other_driver)]
    baseline = baseline_from_nodes(nodes)
    assert not [f for f in baseline.facts if f.kind == "driver"]
    assert any(u.startswith("driver: no majority") for u in baseline.undecided)


def test_perf_floor_is_a_fraction_of_the_median_per_model(base: dict[str, Any]) -> None:
    nodes = gpu_fleet(base)
    for node, value in zip(nodes, (100.0, 110.0, 90.0, 120.0), strict=True):
        node.throughput, node.throughput_unit = value, "TFLOP/s"
    (floor,) = baseline_from_nodes(nodes).perf_floors
    assert floor.median == 105.0 and floor.floor == pytest.approx(94.5) and floor.nodes == 4
    assert "H100" in floor.gpu_model and floor.unit == "TFLOP/s"


def test_fleet_without_an_answer_has_no_baseline() -> None:
    report = FleetReport(nodes=[NodeResult("n1", "unreachable", reason="refused")])
    with pytest.raises(NoBaselineError, match="no node sent a report"):
        baseline_from_fleet(report)


def test_baseline_round_trips_and_fits_the_committed_schema(base: dict[str, Any]) -> None:
    baseline = baseline_from_fleet(
        FleetReport(launcher="slurm", target="p gpu", nodes=gpu_fleet(base))
    )
    assert baseline.source == "mltui fleet over slurm: p gpu"
    again = parse_baseline(json.loads(to_json(baseline)))
    assert again == baseline
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == baseline_schema(), (
        "probes/health/baseline.schema.json is stale: regenerate it with "
        "`mltui health --schema baseline > probes/health/baseline.schema.json`"
    )


BAD_BASELINES: list[tuple[str, Any]] = [
    ("not json", b"{nope"),
    ("a list", b"[]"),
    ("another schema version", {"schema_version": 99}),
    ("a check, not a baseline", None),
    ("NaN", b'{"schema_version": 1, "nodes": NaN}'),
    ("deep", b"[" * 10000),
    ("facts of the wrong type", {"facts": "driver"}),
    ("a fact of an unknown kind", {"facts": [{"kind": "moon"}]}),
    ("not UTF-8", b"\xff\xfe{}"),
    # Valid to the schema, but it would judge nothing (every node healthy) or fail every node.
    ("no facts", {"facts": []}),
    ("no nodes", {"nodes": 0}),
    ("negative nodes", {"nodes": -4}),
    ("a fact no node holds", {"facts": [{"nodes": 0}]}),
    ("more holders than compared", {"facts": [{"nodes": 9, "compared": 2}]}),
    ("a GPU count that is no count", {"facts": [{"kind": "gpu_count", "value": "-1"}]}),
    ("a GPU count in other digits", {"facts": [{"kind": "gpu_count", "value": "\u0668"}]}),
]


def _baseline_bytes(base: dict[str, Any], what: Any) -> bytes:
    if isinstance(what, bytes):
        return what
    if what is None:
        return json.dumps(base).encode()
    good = to_dict(baseline_from_nodes([recorded_node(base, "a")]))
    if "facts" in what and isinstance(what["facts"], list) and what["facts"]:
        what = {
            "facts": [
                {
                    **to_dict(baseline_from_nodes([recorded_node(base, "a")]).facts[0]),
                    **what["facts"][0],
                }
            ]
        }
    return json.dumps({**good, **what}).encode()


@pytest.mark.parametrize(("label", "what"), BAD_BASELINES, ids=[b[0] for b in BAD_BASELINES])
def test_a_bad_baseline_file_is_one_line(
    tmp_path: Path, base: dict[str, Any], label: str, what: Any
) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(_baseline_bytes(base, what))
    with pytest.raises(BaselineError) as caught:
        load_baseline(str(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value), label


@pytest.mark.parametrize("kind", ["missing", "folder", "fifo", "huge"])
def test_a_baseline_that_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "baseline.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        path.write_bytes(b" " * (5 * 1024 * 1024))
    with pytest.raises(BaselineError, match="baseline"):
        load_baseline(str(path))


# ---------------------------------------------------------------------------------- verdict


def check_of(node: NodeResult) -> CheckResult:
    assert node.check is not None
    return node.check


def test_the_same_node_is_healthy(base: dict[str, Any]) -> None:
    baseline = baseline_from_nodes(gpu_fleet(base))
    report = judge(check_of(recorded_node(base, "gpu7")), baseline, node="gpu7")
    assert (report.verdict, report.reason, report.errors) == ("healthy", "healthy", [])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (other_driver, "driver 550.54.15 where the baseline has"),
        (one_gpu_fewer, f"GPU count {GPUS - 1} where the baseline has {GPUS}"),
    ],
)
def test_a_difference_from_the_baseline_is_an_error(
    base: dict[str, Any], change: Any, words: str
) -> None:
    baseline = baseline_from_nodes(gpu_fleet(base))
    report = judge(check_of(recorded_node(base, "gpu7", change)), baseline, node="gpu7")
    assert report.verdict == "unhealthy"
    assert report.reason.startswith(words), report.reason
    assert all(f.severity == "error" for f in report.errors)


def test_a_baseline_of_another_kind_of_node_is_no_verdict(base: dict[str, Any]) -> None:
    """A baseline saved over CPU-only nodes (login nodes) made every GPU node 'differ' (GPU
    count 8 where the baseline has 0) and --drain drained the whole partition."""
    cpu_only = baseline_from_nodes([recorded_node(base, f"login{k}", no_gpus) for k in (1, 2)])
    assert fact(cpu_only, "gpu_count").value == "0"
    report = judge(check_of(recorded_node(base, "gpu7")), cpu_only, node="gpu7")
    assert report.verdict == "unknown", report.reason
    assert "baseline is of nodes without GPUs" in report.reason
    # A node that lost its GPUs is still held to a GPU baseline: that is what it is for.
    gpus = baseline_from_nodes(gpu_fleet(base))
    lost = judge(check_of(recorded_node(base, "gpu8", no_gpus)), gpus, node="gpu8")
    assert lost.verdict == "unhealthy" and lost.reason.startswith("GPU count 0 where")


def test_a_library_version_difference_names_both_versions(base: dict[str, Any]) -> None:
    baseline = baseline_from_nodes(gpu_fleet(base))
    check = check_of(recorded_node(base, "gpu7"))
    sklearn = next(lib for lib in check.libraries if lib.name == "sklearn")
    sklearn.version = "0.1.0"
    report = judge(check, baseline, node="gpu7")
    assert report.reason.startswith("scikit-learn version 0.1.0 where the baseline has ")


def test_a_timeout_is_not_a_verdict(base: dict[str, Any]) -> None:
    baseline = baseline_from_nodes(gpu_fleet(base))
    check = check_of(recorded_node(base, "gpu7"))
    for lib in check.libraries:
        if lib.name == "sklearn":
            lib.status, lib.version = "timeout", None
    check.findings.append(
        Finding("library_did_not_run", "error", "scikit-learn timed out", "", "", library="sklearn")
    )
    report = judge(check, baseline, node="gpu7")
    assert report.verdict == "unknown" and report.reason.startswith("no verdict: ")
    # ...but a real difference beside it still decides
    other = check_of(recorded_node(base, "gpu8", one_gpu_fewer))
    other.libraries = check.libraries
    assert judge(other, baseline, node="gpu8").verdict == "unhealthy"


def test_own_errors_count_unless_the_majority_shares_them(base: dict[str, Any]) -> None:
    ecc = Finding(
        "ecc_uncorrected", "error", "cuda:3 has uncorrected ECC errors", "", "", gpu_index=3
    )
    shared = Finding("cpu_only_build", "error", "torch is a CPU build", "", "", library="torch")
    nodes = gpu_fleet(base)
    for node in nodes:
        check_of(node).findings.append(shared)
    baseline = baseline_from_nodes(nodes)
    assert [(a.rule, a.library) for a in baseline.accepted_findings] == [
        ("cpu_only_build", "torch")
    ]
    sick = check_of(recorded_node(base, "gpu7"))
    sick.findings += [shared, ecc]
    report = judge(sick, baseline, node="gpu7")
    assert report.verdict == "unhealthy" and report.errors == [ecc]
    assert judge(sick, None, node="gpu7").errors == [shared, ecc]  # no baseline: own findings


async def test_run_health_reads_the_machine_afresh(
    base: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real quick check (real probes, recorded NVML) against a baseline of recorded nodes."""
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path))
    baseline = baseline_from_nodes(gpu_fleet(base))
    options = HealthOptions(baseline=baseline, node="gpu7", max_age_s=3600)
    healthy = await run_health(current_target(), options, nvml=FakeNvml.from_fixture(FIXTURE))
    assert healthy.verdict == "healthy", healthy.reason
    assert healthy.reused_age_s is None and healthy.check is not None
    assert sorted(lib.name for lib in healthy.check.libraries) == ["caffe", "sklearn"]
    fake = FakeNvml.from_fixture(FIXTURE)
    one_gpu_fewer(fake)
    sick = await run_health(current_target(), options, nvml=fake)
    assert sick.verdict == "unhealthy" and f"GPU count {GPUS - 1}" in sick.reason
    assert sick.reused_age_s is not None  # the libraries came from the cache; NVML did not


async def test_a_hanging_probe_gives_no_verdict_by_the_deadline(
    tmp_path: Path, base: dict[str, Any]
) -> None:
    hang = tmp_path / "python"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    target = TargetPython(str(hang), "3.11", prefix=str(tmp_path))
    baseline = baseline_from_nodes([recorded_node(base, "a")])
    options = HealthOptions(baseline=baseline, deadline_s=1.5, max_age_s=0, node="n")
    report = await asyncio.wait_for(
        run_health(target, options, nvml=FakeNvml.from_fixture(FIXTURE)), 20
    )
    assert report.verdict == "unknown"
    assert "did not finish within 1.5 s" in report.reason
    done = subprocess.run(["pgrep", "-f", f"{hang} "], capture_output=True, check=False)
    assert done.stdout == b"", "a probe outlived the deadline"


# ---------------------------------------------------------------------------------- contracts


def test_contract_lines_stay_one_line_whatever_the_reason() -> None:
    report = HealthReport(node="n", verdict="unhealthy", reason="driver 1\n\x1b]0;pwn\x07 where 2")
    line = slurm_line(report)
    assert line is not None and line.startswith("ERROR: mltui: driver 1")
    assert "\n" not in line and "\x1b" not in line and "\\x1b" in line
    assert slurm_line(HealthReport(verdict="healthy", reason="healthy")) is None
    long = HealthReport(verdict="unhealthy", reason="x" * 1000)
    assert len(npd_message(long)) <= 160 and "\n" not in npd_message(long)
    # NPD cuts by bytes: a reason of multi-byte characters stays within 160 bytes, whole.
    wide = npd_message(HealthReport(verdict="unhealthy", reason="é" * 300 + "✓"))
    assert len(wide.encode("utf-8")) <= 160 and wide.endswith("…") and "é" * 70 in wide
    # A reason quoting outside text (a baseline's version string) is bounded on Slurm's line too.
    flood = HealthReport(verdict="unhealthy", reason="x 1 where the baseline has " + "A" * 10_000)
    line = slurm_line(flood)
    assert line is not None and line.startswith("ERROR: mltui: x 1 where") and line.endswith("…")
    assert len(line) <= 300


def test_prometheus_text_parses_with_prometheus_client(base: dict[str, Any]) -> None:
    baseline = baseline_from_nodes(gpu_fleet(base))
    report = judge(
        check_of(recorded_node(base, 'gpu"7\\\n', one_gpu_fewer)), baseline, node='gpu"7\\\n'
    )
    report.throughput, report.throughput_unit, report.perf_floor = 88.5, "TFLOP/s", 94.5
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(report, now=1.5))}
    samples = {f.name: f.samples for f in families.values()}
    assert samples["mltui_health"][0].value == 0
    assert samples["mltui_health"][0].labels == {"node": 'gpu"7\\\\x0a'}
    verdicts = {s.labels["verdict"]: s.value for s in samples["mltui_health_verdict"]}
    assert verdicts == {"healthy": 0, "unhealthy": 1, "unknown": 0}
    errors = next(s for s in samples["mltui_findings"] if s.labels["severity"] == "error")
    assert errors.value == len(report.errors) >= 1
    assert samples["mltui_gpus"][0].value == GPUS - 1
    computing = {s.labels["on"]: s.value for s in samples["mltui_libraries_computing"]}
    assert computing["gpu"] == 0 and computing["any"] >= 1
    assert samples["mltui_perf_throughput"][0].value == 88.5
    assert samples["mltui_perf_floor"][0].value == 94.5
    assert samples["mltui_health_timestamp_seconds"][0].value == 1.5
    assert all(f.type == "gauge" for f in families.values())


# ---------------------------------------------------------------------------------- the CLI


def mltui(
    *args: str, cache: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "MLTUI_CACHE_DIR": str(cache), **(env or {})}
    environ.pop("SLURMD_NODENAME", None) if env is None or "SLURMD_NODENAME" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory, base: dict[str, Any]) -> dict[str, Path]:
    """A baseline of this machine (as it is) and one it differs from, and a warm cache."""
    folder = tmp_path_factory.mktemp("health")
    node = NodeResult("here", "ok", check=from_dict(CheckResult, base))
    baseline = baseline_from_nodes([node])
    (folder / "good.json").write_text(to_json(baseline))
    for item in baseline.facts:
        if item.kind == "library_version" and item.library == "sklearn":
            item.value = "0.0.1\n\x1b[31mred"
    (folder / "other.json").write_text(to_json(baseline))
    cache = folder / "cache"
    mltui("health", "--baseline", str(folder / "good.json"), cache=cache)  # warms the cache
    return {"good": folder / "good.json", "other": folder / "other.json", "cache": cache}


def test_slurm_format_is_silent_when_healthy(here: dict[str, Path]) -> None:
    done = mltui(
        "health", "--baseline", str(here["good"]), "--max-age", "3600", cache=here["cache"]
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_slurm_format_is_one_error_line_when_unhealthy(here: dict[str, Path]) -> None:
    done = mltui(
        "health", "--baseline", str(here["other"]), "--max-age", "3600", cache=here["cache"]
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("ERROR: mltui: scikit-learn version ")
    assert "where the baseline has 0.0.1\\x0a\\x1b[31mred" in line


@pytest.mark.parametrize("fmt", ["slurm", "npd", "json"])
def test_a_missing_baseline_is_no_verdict_exit_2(here: dict[str, Path], fmt: str) -> None:
    done = mltui(
        "health", "--baseline", "/nonexistent/b.json", "--format", fmt, cache=here["cache"]
    )
    assert done.returncode == 2
    if fmt == "json":
        assert json.loads(done.stdout)["verdict"] == "unknown"
    else:
        (line,) = done.stdout.splitlines()
        assert "no verdict: baseline /nonexistent/b.json" in line
    assert "Traceback" not in done.stderr


def test_npd_format_exit_statuses(here: dict[str, Path]) -> None:
    ok = mltui(
        "health",
        "--baseline",
        str(here["good"]),
        "--format",
        "npd",
        "--max-age",
        "3600",
        cache=here["cache"],
    )
    bad = mltui(
        "health",
        "--baseline",
        str(here["other"]),
        "--format",
        "npd",
        "--max-age",
        "3600",
        cache=here["cache"],
    )
    assert (ok.returncode, ok.stdout) == (0, "mltui: healthy\n")
    assert bad.returncode == 1 and bad.stdout.startswith("mltui: scikit-learn version")
    assert len(bad.stdout.splitlines()) == 1


def test_json_format_is_the_report(here: dict[str, Path]) -> None:
    done = mltui(
        "health",
        "--baseline",
        str(here["other"]),
        "--format",
        "json",
        "--max-age",
        "3600",
        cache=here["cache"],
    )
    data = json.loads(done.stdout)
    assert done.returncode == 1 and data["verdict"] == "unhealthy"
    assert data["findings"][0]["rule"] == "baseline_library_version"
    assert data["check"]["libraries"] and data["reused_age_s"] is not None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--max-age", "-1"), "must be zero or more"),
        (("--timeout", "0"), "must be above zero"),
        (("--format", "xml"), "invalid choice"),
        (("--level", "deep"), "invalid choice"),
        (("--drain",), "--drain needs the node's name"),
        (("--python", "/nonexistent/python"), "no such file"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    here: dict[str, Path], args: tuple[str, ...], words: str
) -> None:
    done = mltui("health", *args, cache=here["cache"])
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stdout == ""


def test_prometheus_file_is_replaced_whole(here: dict[str, Path], tmp_path: Path) -> None:
    prom = tmp_path / "mltui.prom"
    prom.write_text("old\n")
    before = prom.stat().st_ino
    done = mltui(
        "health",
        "--baseline",
        str(here["other"]),
        "--max-age",
        "3600",
        "--prometheus",
        str(prom),
        cache=here["cache"],
    )
    assert done.returncode == 1
    assert prom.stat().st_ino != before  # renamed into place, not written over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mltui.prom"]  # no temporary file left
    names = {f.name for f in text_string_to_metric_families(prom.read_text())}
    assert {"mltui_health", "mltui_findings", "mltui_gpus", "mltui_libraries_computing"} <= names


def test_prometheus_into_a_missing_folder_is_one_line_and_keeps_the_verdict(
    here: dict[str, Path],
) -> None:
    done = mltui(
        "health",
        "--baseline",
        str(here["good"]),
        "--max-age",
        "3600",
        "--prometheus",
        "/proc/no/x.prom",
        cache=here["cache"],
    )
    assert done.returncode == 0
    assert (
        done.stderr.startswith("mltui: --prometheus /proc/no/x.prom")
        and len(done.stderr.splitlines()) == 1
    )


def test_prometheus_into_a_folder_that_is_not_there_makes_no_folder(
    here: dict[str, Path], tmp_path: Path
) -> None:
    """A typo in the textfile folder: the folder was made, the metrics written where
    node_exporter never looks, and nothing said so."""
    typo = tmp_path / "textfile_colector" / "mltui.prom"
    done = mltui(
        "health",
        "--baseline",
        str(here["good"]),
        "--max-age",
        "3600",
        "--prometheus",
        str(typo),
        cache=here["cache"],
    )
    assert done.returncode == 0 and not typo.parent.exists()
    assert done.stderr.startswith(f"mltui: --prometheus {typo}: ") and "No such file" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def _duration(text: str) -> float:
    assert text.endswith("s"), text
    return float(text[:-1])


def test_the_documented_npd_plugin_config_keeps_npds_contract(here: dict[str, Path]) -> None:
    """docs/node-problem-detector/mltui-health-monitor.json, run as NPD runs its rule: path and
    args, exit 0 OK / 1 NonOK / 2 Unknown, a message within max_output_length on stdout."""
    config = json.loads(
        (ROOT / "docs" / "node-problem-detector" / "mltui-health-monitor.json").read_text()
    )
    assert config["plugin"] == "custom"
    plugin = config["pluginConfig"]
    conditions = {c["type"] for c in config["conditions"]}
    (rule,) = config["rules"]
    assert rule["condition"] in conditions and rule["type"] == "permanent"
    assert _duration(rule["timeout"]) <= _duration(plugin["timeout"])  # NPD refuses it otherwise
    args = list(rule["args"])
    assert args[:3] == ["health", "--format", "npd"]
    assert float(args[args.index("--timeout") + 1]) < _duration(rule["timeout"])
    for baseline, status in ((here["good"], 0), (here["other"], 1), (Path("/nonexistent"), 2)):
        args[args.index("--baseline") + 1] = str(baseline)
        done = mltui(*args, cache=here["cache"])
        assert done.returncode == status, done.stdout + done.stderr
        (message,) = done.stdout.splitlines()
        assert len(message) <= plugin["max_output_length"]


async def test_perf_level_holds_the_node_to_its_models_floor(
    base: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--level perf: a real short perf run on this CPU against the baseline's floor for nodes
    without a GPU: an unreachable floor fails the node, a low one passes it."""
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path))
    node = NodeResult("here", "ok", check=from_dict(CheckResult, base))
    node.throughput, node.throughput_unit = 1e9, "GFLOP/s"
    high = baseline_from_nodes([node])
    options = HealthOptions(baseline=high, level="perf", perf_seconds=8, deadline_s=60, node="n")
    report = await run_health(current_target(), options)
    assert report.throughput is not None and report.throughput_unit == "GFLOP/s"
    assert report.perf_floor == pytest.approx(0.9e9)
    assert report.verdict == "unhealthy" and report.reason.startswith("throughput "), report.reason
    assert "below the floor" in report.reason
    node.throughput = report.throughput / 10
    low = baseline_from_nodes([node])
    options.baseline, options.max_age_s = low, 3600
    again = await run_health(current_target(), options)
    assert again.verdict == "healthy", again.reason
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(again))}
    assert families["mltui_perf_throughput"].samples[0].value == again.throughput
    ratios = families["mltui_perf_ratio_to_peak"].samples
    assert {s.labels["device"] for s in ratios} == {"cpu"} and all(s.value > 0 for s in ratios)


async def test_a_run_cut_short_keeps_what_finished_for_the_next(
    tmp_path: Path, base: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """scikit-learn's probe hangs until a file appears; Caffe's ends at once. The first run gives
    no verdict at its deadline but keeps Caffe's result; the next probes only scikit-learn."""
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path / "cache"))
    release = tmp_path / "release"
    python = tmp_path / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *sklearn*) [ -e {release} ] || exec sleep 60;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    target = TargetPython(str(python), "3.11", prefix=str(tmp_path))
    baseline = baseline_from_nodes([recorded_node(base, "a")])
    options = HealthOptions(baseline=baseline, deadline_s=15, max_age_s=3600, node="n")
    first = await run_health(target, options, nvml=FakeNvml.from_fixture(FIXTURE))
    assert first.verdict == "unknown"
    assert "(1 of the libraries did: kept for the next run)" in first.reason
    release.touch()
    options.deadline_s = 120
    second = await run_health(target, options, nvml=FakeNvml.from_fixture(FIXTURE))
    assert second.verdict == "healthy", second.reason
    assert second.check is not None and second.reused_age_s is not None
    stamps = {lib.name: lib.checked_at for lib in second.check.libraries}
    assert stamps["caffe"] == first.created_at != stamps["sklearn"]


def test_save_fleet_baseline_says_what_it_saved_or_why_not(
    base: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli.health import save_fleet_baseline

    nodes = [recorded_node(base, "a"), recorded_node(base, "b", other_driver)]
    report = FleetReport(launcher="ssh", target="2 hosts", nodes=nodes)
    path = tmp_path / "b.json"
    assert save_fleet_baseline(report, str(path)) is None
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"mltui: baseline of 2 nodes saved to {path} (")
    assert err[1].startswith("mltui: baseline leaves out driver: no majority")
    assert load_baseline(str(path)).nodes == 2
    nobody = FleetReport(nodes=[NodeResult("a", "timed_out")])
    assert "no node sent a report" in (save_fleet_baseline(nobody, str(path)) or "")
    problem = save_fleet_baseline(report, "/proc/nowhere/b.json")
    assert problem is not None and problem.startswith("--save-baseline /proc/nowhere/b.json: ")


def test_prometheus_timestamp_is_when_the_verdict_was_made() -> None:
    report = HealthReport(
        node="n", verdict="healthy", reason="healthy", created_at="2026-12-05T04:40:36Z"
    )
    (family,) = [
        f
        for f in text_string_to_metric_families(prometheus_text(report))
        if f.name == "mltui_health_timestamp_seconds"
    ]
    assert family.samples[0].value == 1796445636.0


def test_a_python_that_hangs_is_inside_the_deadline(here: dict[str, Path], tmp_path: Path) -> None:
    """Finding the target Python counts against --timeout: one that hangs (a stalled NFS venv)
    took a fixed 15 s on top of the 40 s check and the scontrol calls, past slurmd's kill."""
    hang = tmp_path / "python"
    hang.write_text("#!/bin/sh\nexec sleep 120\n")
    hang.chmod(0o755)
    began = time.monotonic()
    done = mltui("health", "--python", str(hang), "--timeout", "8", cache=here["cache"])
    took = time.monotonic() - began
    assert done.returncode == 2 and "did not answer within 2 s" in done.stderr, done.stderr
    assert took < 15.0  # 2 s for the Python, not 15 (startup under load leaves room)
    assert subprocess.run(["pgrep", "-f", f"{hang}"], capture_output=True).stdout == b""
