"""Issue 18's done-when, through the real command line: every command runs on a recorded machine.

`MLTUI_REPLAY=<recording> mltui check --json` and `mltui run torch --device cuda` run to the end
on this CPU machine with the real CPU torch, and show the recorded GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from probes.replay import REPLAY_VARIABLE, STATE_VARIABLE, busy_processes
from tests.test_replay_cuda import STANDIN

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"
MACHINES = sorted(p.stem for p in GPUS.glob("*.json"))


def _recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GPUS / f"{name}.json").read_text())
    return data


def _mltui(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "MLTUI_"))}
    env[REPLAY_VARIABLE] = str(GPUS / f"{name}.json")
    env[STATE_VARIABLE] = str(tmp_path / "state")
    env["MLTUI_CACHE_DIR"] = str(tmp_path / "cache")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["COLUMNS"] = "120"
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _cuda_devices(data: dict[str, Any]) -> list[dict[str, Any]]:
    """What CUDA enumerates by default: whole GPUs, one MIG instance for a MIG GPU."""
    found: list[dict[str, Any]] = []
    for device in data["cuda"]["devices"]:
        found += device["mig"][:1] if device.get("mig_enabled") else [device]
    return found


@pytest.mark.parametrize("name", MACHINES)
def test_check_json_shows_the_recorded_machine(name: str, tmp_path: Path) -> None:
    data = _recording(name)
    done = _mltui(name, tmp_path, "check", "--json", "--only", "torch")
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: findings, not a failure
    result = json.loads(done.stdout)
    nvml = result["nvml"]
    assert nvml["status"] == "ok"
    assert nvml["driver_version"] == data["nvml"]["system"]["nvmlSystemGetDriverVersion"]
    recorded = data["nvml"]["devices"]
    assert [g["name"] for g in nvml["gpus"]] == [d["nvmlDeviceGetName"] for d in recorded]
    assert [g["uuid"] for g in nvml["gpus"]] == [d["nvmlDeviceGetUUID"] for d in recorded]
    assert all(g["state"] == "ok" for g in nvml["gpus"])
    (torch,) = [lib for lib in result["libraries"] if lib["name"] == "torch"]
    assert torch["status"] == "ok"
    assert torch["build"]["cuda_available"] is True
    assert torch["build"]["cuda_version"] == data["cuda"]["version"]
    gpus = [d for d in torch["devices"] if d["kind"] == "cuda"]
    expected = _cuda_devices(data)
    assert sorted(d["name"] for d in gpus) == sorted(e["name"] for e in expected)
    assert sorted(d["memory_total_bytes"] for d in gpus) == sorted(
        e["total_memory"] for e in expected
    )
    assert all(d["computation_ok"] for d in gpus), gpus
    # No GPU is left "busy" once the probe has ended (a process that skipped its exit
    # handlers leaves a note that the replayed NVML drops, as its pid is gone).
    assert busy_processes(str(tmp_path / "state")) == []


def test_check_lists_mig_instances_and_their_parent(tmp_path: Path) -> None:
    data = _recording("a100-mig")
    result = json.loads(_mltui("a100-mig", tmp_path, "check", "--json", "--only", "torch").stdout)
    parent, normal = result["nvml"]["gpus"]
    assert parent["mig_mode"] is True and normal["mig_mode"] is False
    slices = data["cuda"]["devices"][0]["mig"]
    assert [m["uuid"] for m in parent["mig_devices"]] == [m["uuid"] for m in slices]
    assert [m["name"] for m in parent["mig_devices"]] == [m["name"] for m in slices]


def test_the_eight_gpu_box_and_the_cpu_only_jax_and_tensorflow(tmp_path: Path) -> None:
    done = _mltui("h100-sxm-8", tmp_path, "check", "--json", "--only", "torch,jax,tensorflow")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert len(result["nvml"]["gpus"]) == 8
    libraries = {lib["name"]: lib for lib in result["libraries"]}
    assert len([d for d in libraries["torch"]["devices"] if d["kind"] == "cuda"]) == 8
    for name in ("jax", "tensorflow"):
        # As installed: CPU only, a library state (it ran, on the CPU), never a lost GPU.
        assert libraries[name]["status"] == "ok"
        assert [d["kind"] for d in libraries[name]["devices"]] == ["cpu"]
    assert all(g["state"] == "ok" for g in result["nvml"]["gpus"])


@pytest.mark.parametrize("name", MACHINES)
def test_run_torch_on_cuda_runs_to_the_end_on_the_recorded_gpu(name: str, tmp_path: Path) -> None:
    data = _recording(name)
    # cuda:0 is CUDA's first device: the fastest one (CUDA_DEVICE_ORDER=FASTEST_FIRST).
    physical = STANDIN._physical_devices(data["cuda"], data["nvml"])
    expected = STANDIN.visible_devices(physical, {})[0].props
    done = _mltui(name, tmp_path, "run", "torch", "--device", "cuda")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"device: cuda:0 ({expected['name']}" in done.stdout
    verdict = [line for line in done.stdout.splitlines() if line.startswith('{"verdict"')]
    assert verdict and json.loads(verdict[-1])["verdict"] == "pass"
    assert json.loads(verdict[-1])["device"] == "cuda:0"


def test_perf_reads_the_recorded_gpu_and_sees_its_load(tmp_path: Path) -> None:
    """Replay reaches `mltui perf`: its devices are the recording's, its NVML sampler sees the
    card busy (power-capped, as recorded under load) while the load process works on it.
    Judging the figures is perf's business (tests/test_perf*.py)."""
    data = _recording("h200-sxm-1")
    done = _mltui("h200-sxm-1", tmp_path, "perf", "--json", "--device", "cuda", "--seconds", "20")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    (device,) = report["devices"]
    assert device["name"] == "NVIDIA H200"
    assert device["uuid"] == data["nvml"]["devices"][0]["nvmlDeviceGetUUID"]
    load = data["nvml"]["devices"][0]["under_load"]
    samples = device["watch"]["samples"]
    busy = [s for s in samples if s["clock_event_reasons"] == ["software power cap"]]
    assert busy, "the sampler never saw the replayed load"
    assert {s["sm_clock_mhz"] for s in busy} == {load["nvmlDeviceGetClockInfo"]["by_args"]["1"]}


@pytest.mark.parametrize(
    ("name", "device", "visible"),
    [
        ("h200-sxm-1", "cuda:7", None),
        ("h200-sxm-1", "cuda:1", None),
        ("h100-sxm-8", "cuda:8", None),
        ("h100-sxm-8", "cuda:1", "5"),  # CUDA_VISIBLE_DEVICES leaves one GPU: cuda:0
        ("h100-sxm-8", "cuda:0", "0,0"),  # a repeated entry: CUDA sees none
        ("a100-mig", "cuda:2", None),  # one MIG instance and the normal A100
    ],
)
def test_run_on_a_cuda_device_the_machine_lacks_is_one_line_and_exit_2(
    name: str, device: str, visible: str | None, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "MLTUI_"))}
    env.update({REPLAY_VARIABLE: str(GPUS / f"{name}.json"), "COLUMNS": "120"})
    env["MLTUI_CACHE_DIR"] = str(tmp_path / "cache")
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "run", "torch", "--device", device],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout[-2000:]
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mltui: --device {device}: "), lines
