"""`mltui perf` on GPUs (issue 18 §2, issue 17 class 3): judging, identity, links, states, exits.

Unit tests feed the judging figures a GPU would give, with NVML replayed from the recorded
fixtures (tests/perf_fixtures.py); end-to-end tests run the real `mltui perf --json` on the
recorded machines of tests/fixtures/gpus/ (MLTUI_REPLAY: NVML replayed in mltui's process, the
CUDA stand-in over this machine's real CPU torch in the load processes; TensorFlow and JAX stay
the CPU-only builds they are here). A replayed GPU computes on this CPU, so its figures are
this CPU's: the end-to-end tests check what is judged against what, never a verdict of speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from probes.model import SystemInfo
from probes.nvml import NvmlSession, nvlink_pairs, nvml_extras
from probes.peaks import gpu_peaks, no_compute_peak, pair_peaks, specs_of
from probes.perf.devices import select_devices
from probes.perf.judge import judge_device, judge_siblings, overall
from probes.perf.plan import PerfOptions, plan_run
from probes.perf.sampler import NvmlSampler
from probes.perf_model import DevicePerf, Measurement, PerfReport
from probes.replay import replay_environment
from tests.fake_nvml import FakeNvml
from tests.perf_fixtures import (
    HW_SLOWDOWN,
    POWER_BRAKE,
    POWER_CAP,
    THERMAL,
    node,
    under_load,
)

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"
LOAD_SCRIPT = ROOT / "probes" / "scripts" / "perf_load.py"
MLTUI = ROOT / ".venv" / "bin" / "mltui"
if not MLTUI.exists():  # an environment other than the repo's .venv
    MLTUI = Path(sys.executable).parent / "mltui"
T = 1e12
G = 1e9


# ------------------------------------------------------------------------------ helpers


def _device(
    fake: FakeNvml,
    index: int,
    figures: dict[str, float],
    *,
    samples: int = 12,
    absolute: bool = False,
) -> tuple[DevicePerf, dict[str, Any]]:
    """A GPU with figures (shares of its peaks, or absolute values), NVML sampled."""
    with NvmlSession(fake) as session:
        gpu = session.read().gpus[index]
        extra = nvml_extras(session, index)
        sampler = NvmlSampler(session, [gpu])
        for _ in range(samples):
            sampler.sample_once()
        (watch,) = sampler.stop()
    device = DevicePerf(device=f"cuda:{index}", name=gpu.name, uuid=gpu.uuid)
    device.peaks = gpu_peaks(specs_of(gpu, extra))
    device.watch = watch
    for key, figure in figures.items():
        kind, _, dtype = key.partition(":")
        value = figure if absolute else figure * device.peaks[key].value
        device.measurements.append(
            Measurement(
                "torch",
                device.device,
                kind,  # type: ignore[arg-type]
                dtype or None,
                value=value,
                unit="FLOP/s" if kind == "gemm" else "B/s",
                result_ok=True,
            )
        )
    return device, extra


def _mltui(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "120"}
    environ.update(env)
    return subprocess.run(
        [str(MLTUI), "perf", *args],
        capture_output=True,
        text=True,
        timeout=400,
        env=environ,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _replayed(tmp_path: Path, recording: Path | str, *args: str) -> tuple[int, dict[str, Any]]:
    done = _mltui(tmp_path, "--json", *args, MLTUI_REPLAY=str(recording))
    assert done.stdout.strip(), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


def _recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GPUS / name).read_text())
    return data


HEALTHY = {"gemm:bf16": 0.72, "gemm:fp32": 0.8, "copy": 0.85, "h2d": 0.8, "d2h": 0.82}


# ------------------------------------------------- 2.1: a library without a GPU is a state


def test_a_library_that_sees_no_gpu_is_not_a_device_failure() -> None:
    fake = node(count=1, product="h100_sxm")
    device, extra = _device(fake, 0, HEALTHY)
    for library, reason in (
        ("jax", "JAX 0.10.2 has no GPU backend (platforms: cpu)"),
        ("tensorflow", "TensorFlow 2.21.0 sees no GPU (a CPU-only build)"),
    ):
        device.measurements.append(Measurement(library, "cuda:0", "gemm", skipped=reason))
    judge_device(device, extra)
    assert device.verdict == "healthy", device.reasons
    assert not any("failed" in r or "nothing" in r for r in device.reasons)


def test_a_gpu_no_library_could_use_is_skipped_with_each_reason_never_failed() -> None:
    device = DevicePerf(device="cuda:0", name="NVIDIA H200")
    device.measurements = [
        Measurement("torch", "cuda:0", "gemm", skipped="torch 2.13.0+cpu is a CPU-only build"),
        Measurement("jax", "cuda:0", "gemm", skipped="JAX has no GPU backend"),
    ]
    judge_device(device)
    assert device.verdict == "skipped"
    assert device.reasons == [
        "not measured: torch: torch 2.13.0+cpu is a CPU-only build; jax: JAX has no GPU backend"
    ]
    assert PerfReport(devices=[device]).has_errors  # nothing measured: not an all-clear exit


@pytest.mark.frameworks
@pytest.mark.parametrize("library", ["jax", "tensorflow", "torch"])
def test_the_load_script_reports_a_cpu_only_build_as_a_library_state(library: str) -> None:
    done = subprocess.run(
        [sys.executable, str(LOAD_SCRIPT), library, "--devices", "cuda:0", "--dtypes", "fp32"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    states = [e for e in events if e["event"] == "library"]
    assert states[-1]["status"] == "no_gpu" and states[-1]["error"], states
    assert not [e for e in events if e["event"] == "error"], events
    (skip,) = [e for e in events if e["event"] == "skip"]
    assert skip["device"] == "cuda:0" and skip["reason"] == states[-1]["error"]


# ------------------------------------------------------- 2.2: GPU 0's extras are not lost


@pytest.mark.frameworks
def test_a_lowered_power_limit_of_gpu_0_is_reported(tmp_path: Path) -> None:
    # One GPU, its power limit set to 450 of 700 W: GPU 0's NVML extras (the default limit)
    # must reach its verdict (`extras.get(index or -1)` lost them for index 0).
    data = _recording("h200-sxm-1.json")
    device = data["nvml"]["devices"][0]
    for function in ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit"):
        device[function] = 450000
    recording = tmp_path / "h200-450w.json"
    recording.write_text(json.dumps(data))
    _, report = _replayed(tmp_path, recording, "--device", "cuda:0", "--seconds", "90")
    (gpu,) = report["devices"]
    assert gpu["verdict"] in ("slow", "incomplete")  # a replayed GPU computes on this CPU
    assert "power limit set to 450 of 700 W" in gpu["reasons"], gpu["reasons"]


# ------------------------------------------------------------ 2.3: pinned by UUID, checked


def _script_under_replay(recording: str, devices: str, uuids: str, visible: str) -> list[Any]:
    env = replay_environment({**os.environ, "MLTUI_REPLAY": str(GPUS / recording)})
    env["CUDA_VISIBLE_DEVICES"] = visible
    done = subprocess.run(
        [
            sys.executable,
            str(LOAD_SCRIPT),
            "torch",
            *("--devices", devices, "--uuids", uuids, "--dtypes", "fp32", "--kinds", "gemm"),
            *("--gpu-size", "128", "--slice", "0.01"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.frameworks
def test_each_load_runs_on_the_gpu_it_was_pinned_to_and_a_mismatch_is_an_error() -> None:
    uuids = [d["nvmlDeviceGetUUID"] for d in _recording("h100-sxm-8.json")["nvml"]["devices"]]
    # mltui pins cuda:5 (NVML index 5) by its UUID: CUDA's device 0 of the process is GPU 5.
    events = _script_under_replay("h100-sxm-8.json", "cuda:5", uuids[5], uuids[5])
    (figure,) = [e for e in events if e["event"] == "measure"]
    assert figure["device"] == "cuda:5" and figure["uuid"] == uuids[5]
    (device,) = [e for e in events if e["event"] == "device"]
    assert device["uuid"] == uuids[5]
    # CUDA shows another GPU than the one named: an error, nothing measured on the wrong GPU.
    events = _script_under_replay("h100-sxm-8.json", "cuda:5", uuids[5], uuids[3])
    assert not [e for e in events if e["event"] == "measure"]
    (error,) = [e for e in events if e["event"] == "error"]
    assert uuids[5] in error["error"] and "pinned" in error["error"]


# --------------------------------------------------------------- 2.4: peer peak per pair


def test_peer_copies_are_judged_against_their_pairs_link() -> None:
    # Four H100s with 18 NVLinks each; NVML: 0-1 over NVLink, 0-2 not (PCIe), 0-3 unknown.
    fake = node(count=4, product="h100_sxm")
    for link in range(18):
        fake.set_reading(0, "nvmlDeviceGetNvLinkState", 1, (link,))
    fake.set_reading(0, "nvmlDeviceGetP2PStatus", 0, (1, 2))
    fake.set_reading(0, "nvmlDeviceGetP2PStatus", 5, (2, 2))
    with NvmlSession(fake) as session:
        links = nvlink_pairs(session, [0, 1, 2, 3])
        gpu = session.read().gpus[0]
        specs = specs_of(gpu, nvml_extras(session, 0))
    assert [links[(0, peer)] for peer in (1, 2, 3)] == [True, False, None]
    peers = {f"cuda:{j}": links[(0, j)] for j in (1, 2, 3)}
    peaks = pair_peaks(specs, peers)
    assert peaks["p2p:cuda:1"].value == pytest.approx(450 * G)
    assert peaks["p2p:cuda:2"].value == pytest.approx(63 * G, rel=0.01)
    assert "no NVLink to cuda:2" in peaks["p2p:cuda:2"].basis
    assert "p2p:cuda:3" not in peaks  # NVML could not say: not judged against a guess
    device = DevicePerf(device="cuda:0", name=gpu.name, peaks={**gpu_peaks(specs), **peaks})
    device.peaks.pop("p2p")
    figures = {"cuda:1": 390 * G, "cuda:2": 52 * G, "cuda:3": 40 * G}
    device.measurements = [
        Measurement("torch", "cuda:0", "p2p", value=v, unit="B/s", peer=peer, result_ok=True)
        for peer, v in figures.items()
    ]
    judge_device(device)
    assert device.verdict == "healthy", device.reasons  # 52 GB/s over PCIe gen 5 is fine
    ratios = {m.peer: m.ratio for m in device.measurements}
    assert ratios["cuda:2"] == pytest.approx(52 / 63, rel=0.01) and ratios["cuda:3"] is None
    device.measurements[1].value = 20 * G  # a PCIe pair at a third of its link
    device.verdict, device.reasons = "skipped", []
    judge_device(device)
    assert device.verdict == "slow"
    assert device.reasons[0] == "peer copy → cuda:2 at 32% of peak"


# ------------------------------------------------- 2.5: no datasheet peak, not judged


@pytest.mark.parametrize("product", ["rtx_pro_6000", "h20"])
@pytest.mark.parametrize("share", [0.05, 0.9])
def test_a_gpu_without_a_datasheet_peak_is_not_judged(product: str, share: float) -> None:
    fake = node(count=1, product=product)
    with NvmlSession(fake) as session:
        gpu = session.read().gpus[0]
        specs = specs_of(gpu, nvml_extras(session, 0))
    device = DevicePerf(device="cuda:0", name=gpu.name, peaks=gpu_peaks(specs))
    # BF16 at `share` of what an H100 SXM would do: never slow or healthy against a guess.
    device.measurements = [
        Measurement("torch", "cuda:0", "gemm", "bf16", value=share * 989 * T, result_ok=True)
    ]
    judge_device(device, no_peak=no_compute_peak(specs))
    assert device.verdict == "unjudged"
    assert device.reasons[0].startswith(f"not judged: no datasheet peak for {gpu.name}")
    assert device.reasons[0].endswith("(BF16 GEMM)")
    assert overall([device])[0] == "unjudged"
    assert not PerfReport(devices=[device]).has_errors


def test_siblings_still_judge_gpus_without_a_datasheet_peak() -> None:
    devices = []
    for index, share in enumerate([1.0, 1.0, 0.6, 0.98]):
        device = DevicePerf(device=f"cuda:{index}", name="NVIDIA RTX PRO 6000 Blackwell")
        device.measurements = [
            Measurement("torch", device.device, "gemm", "bf16", value=share * 400 * T)
        ]
        judge_device(device)
        devices.append(device)
    assert {d.verdict for d in devices} == {"unjudged"}
    judge_siblings(devices)
    assert [d.verdict for d in devices] == ["unjudged", "unjudged", "slow", "unjudged"]
    assert "below the median of its 4" in devices[2].reasons[0]


# ----------------------------------------------------- 2.6: clock reasons as real cards


def test_power_capped_clocks_are_normal_until_a_figure_falls_short() -> None:
    # A real H100 SXM under a GEMM: 1.7 GHz, power cap, at its 700 W limit. Healthy: no word of it.
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1700, power_w=699, reasons=POWER_CAP)
    device, extra = _device(fake, 0, HEALTHY)
    judge_device(device, {**extra, "tensor_clock_mhz": 1830})
    assert (device.verdict, device.reasons) == ("healthy", [])
    # Slow at 1.2 GHz under the power cap: now the clock and the cap explain it, clock first.
    under_load(fake, 0, sm_mhz=1200, power_w=699, reasons=POWER_CAP)
    device, extra = _device(fake, 0, {**HEALTHY, "gemm:bf16": 0.4})
    judge_device(device, {**extra, "tensor_clock_mhz": 1830})
    assert device.verdict == "slow"
    assert device.reasons[:4] == [
        "BF16 GEMM at 40% of peak",
        "SM clock 1.20 of 1.98 GHz",
        "power cap reached in 100% of samples",
        "700 W limit reached",
    ]


def test_reasons_are_ranked_by_what_explains_the_shortfall() -> None:
    fake = node(count=1, product="h100_sxm")
    # A hardware slowdown explains a slow GEMM better than the power cap or the clock.
    under_load(fake, 0, sm_mhz=1650, power_w=699, reasons=POWER_CAP | HW_SLOWDOWN)
    device, extra = _device(fake, 0, {**HEALTHY, "gemm:bf16": 0.3})
    judge_device(device, {**extra, "tensor_clock_mhz": 1830})
    assert device.reasons[1].startswith("hardware slowdown")
    assert device.reasons.index("SM clock 1.65 of 1.98 GHz") > 1
    # Slow host copies: the link that trained at gen 4 x8 comes first, not the clock.
    under_load(fake, 0, sm_mhz=1200, power_w=699, reasons=POWER_CAP, pcie=(4, 8))
    device, extra = _device(fake, 0, {**HEALTHY, "h2d": 0.2, "d2h": 0.21})
    judge_device(device, extra)
    assert device.reasons[2].startswith("PCIe link gen 4 x8 under load"), device.reasons


def test_a_sibling_outlier_gets_its_normal_readings_back_as_ranked_reasons() -> None:
    fake = node(count=4, product="h100_sxm")
    devices, extras = [], {}
    for index in range(4):
        slow = index == 2
        under_load(
            fake,
            index,
            sm_mhz=1350 if slow else 1720,
            power_w=699,
            reasons=POWER_CAP | (THERMAL if slow else 0),
        )
        share = 0.55 if slow else 0.74
        device, extra = _device(fake, index, {**HEALTHY, "gemm:bf16": share})
        extras[device.device] = {**extra, "tensor_clock_mhz": 1830}
        judge_device(device, extras[device.device])
        devices.append(device)
    # 1.35 GHz is no longer the normal power-capped clock: seen, like the thermal slowdown.
    assert devices[2].reasons == [
        "seen: thermal slowdown in 100% of samples",
        "seen: SM clock 1.35 of 1.98 GHz",
    ]
    judge_siblings(devices, extras)
    assert [d.verdict for d in devices] == ["healthy", "healthy", "slow", "healthy"]
    reasons = devices[2].reasons
    assert "below the median of its 4" in reasons[0]
    assert reasons[1] == "thermal slowdown in 100% of samples"
    assert (
        "SM clock 1.35 of 1.98 GHz" in reasons and "power cap reached in 100% of samples" in reasons
    )
    assert [d.reasons for d in devices if d is not devices[2]] == [[], [], []]


def test_a_power_brake_outranks_the_power_cap() -> None:
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1100, power_w=699, reasons=POWER_BRAKE | POWER_CAP)
    device, extra = _device(fake, 0, {**HEALTHY, "gemm:bf16": 0.3})
    judge_device(device, extra)
    assert device.reasons[1] == "power brake active in 100% of samples"


# -------------------------------------------- 17.3: an incomplete run is never healthy


def test_a_library_that_timed_out_makes_the_device_incomplete_not_healthy() -> None:
    fake = node(count=1, product="h100_sxm")
    device, extra = _device(fake, 0, HEALTHY)
    judge_device(device, extra, incomplete=["tensorflow timeout: stopped at the time budget"])
    assert device.verdict == "incomplete"
    assert device.reasons == ["incomplete: tensorflow timeout: stopped at the time budget"]
    report = PerfReport(devices=[device])
    assert overall([device, DevicePerf("cpu", verdict="healthy")])[0] == "incomplete"
    assert report.has_errors
    # A failure still wins over an incomplete run.
    device, extra = _device(fake, 0, {**HEALTHY, "gemm:bf16": 0.2})
    judge_device(device, extra, incomplete=["jax failed: killed by SIGSEGV"])
    assert (
        device.verdict == "slow" and "incomplete: jax failed: killed by SIGSEGV" in device.reasons
    )


def test_an_error_of_one_library_leaves_the_device_incomplete() -> None:
    fake = node(count=1, product="h100_sxm")
    device, extra = _device(fake, 0, HEALTHY)
    device.measurements.append(
        Measurement("jax", "cuda:0", "gemm", "bf16", error="XlaRuntimeError: RESOURCE_EXHAUSTED")
    )
    judge_device(device, extra)
    assert device.verdict == "incomplete"
    assert device.reasons == ["incomplete: jax BF16 GEMM: XlaRuntimeError: RESOURCE_EXHAUSTED"]


def test_a_wrong_result_says_where_it_was_wrong() -> None:
    fake = node(count=1, product="h100_sxm")
    device, extra = _device(fake, 0, HEALTHY)
    device.measurements[0].result_ok = False
    device.measurements[0].result_check = "row 17 of C v is off by 3.2 (error scale 0.01)"
    judge_device(device, extra)
    assert device.verdict == "failed"
    assert device.reasons[0] == (
        "torch BF16 GEMM gave a wrong result: row 17 of C v is off by 3.2 (error scale 0.01)"
    )


@pytest.mark.parametrize("words", ["", ",", " , ,"])
def test_an_empty_device_list_is_a_usage_error(tmp_path: Path, words: str) -> None:
    done = _mltui(tmp_path, "--device", words)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "names no device" in done.stderr


def test_a_run_that_measured_no_device_does_not_exit_0(tmp_path: Path) -> None:
    # The recorded H200 with another user's process on it: skipped as busy; nothing measured.
    data = _recording("h200-sxm-1.json")
    busy = [{"pid": 4_000_001, "usedGpuMemory": 1 << 30}]
    data["nvml"]["devices"][0]["nvmlDeviceGetComputeRunningProcesses_v3"] = busy
    recording = tmp_path / "h200-busy.json"
    recording.write_text(json.dumps(data))
    status, report = _replayed(tmp_path, recording, "--device", "cuda")
    (gpu,) = report["devices"]
    assert gpu["verdict"] == "skipped" and gpu["reasons"][0].startswith("busy: PIDs 4000001")
    assert report["verdict"] == "skipped"
    assert status == 1


# ------------------------------------------------------------------ 2.3: MIG instances


def test_a_mig_parent_is_skipped_and_its_instances_are_planned_by_their_mig_uuids() -> None:
    fake = FakeNvml.from_recording("a100-mig")
    with NvmlSession(fake) as session:
        report = session.read()
        options = PerfOptions(devices="cuda", seconds=60, libraries=("torch",))
        chosen = select_devices("cuda", report.gpus)
        plan = plan_run(options, chosen, report, SystemInfo(), session)
    parent = plan.devices["cuda:0"]
    assert parent.verdict == "skipped" and parent.reasons[0].startswith("MIG parent")
    migs = report.gpus[0].mig_devices
    labels = [f"cuda:0/mig:{m.index}" for m in migs]
    assert list(plan.mig) == labels and len(labels) == 3
    assert [plan.devices[label].uuid for label in labels] == [m.uuid for m in migs]
    assert all(plan.devices[label].uuid.startswith("MIG-") for label in labels)
    # One process per instance (CUDA shows a process one MIG instance), in one turn.
    (mig_turn,) = [turn for turn in plan.gpu_turns if turn[0].devices[0] in labels]
    assert [load.devices for load in mig_turn] == [[label] for label in labels]
    assert plan.judged(plan.devices[labels[0]]) and not plan.judged(parent)
    assert plan.gpu_devices == ["cuda:1"]  # the whole GPU beside it


@pytest.mark.frameworks
def test_a100_mig_end_to_end_measures_each_instance_on_its_own_slice(tmp_path: Path) -> None:
    _, report = _replayed(tmp_path, GPUS / "a100-mig.json", "--device", "0", "--seconds", "120")
    parent, *instances = report["devices"]
    assert parent["device"] == "cuda:0" and parent["verdict"] == "skipped"
    assert parent["reasons"][0].startswith("MIG parent: MIG mode is on")
    recorded = _recording("a100-mig.json")["cuda"]["devices"][0]["mig"]
    assert [d["uuid"] for d in instances] == [m["uuid"] for m in recorded]
    for device, mig in zip(instances, recorded, strict=True):
        figures = [m for m in device["measurements"] if m["value"] is not None]
        assert figures and {m["uuid"] for m in figures} == {mig["uuid"]}
        # Held to its own SMs (28 of the A100's 108), not the whole GPU's peak.
        bf16 = device["peaks"]["gemm:bf16"]["value"]
        assert bf16 == pytest.approx(312e12 * mig["multi_processor_count"] / 108, rel=0.01)
        assert "copy" not in device["peaks"]  # a slice's memory share is not known


# ------------------------------------------------------- end to end on recorded machines


@pytest.mark.frameworks
def test_h200_end_to_end(tmp_path: Path) -> None:
    status, report = _replayed(tmp_path, GPUS / "h200-sxm-1.json", "--seconds", "90")
    nvml = _recording("h200-sxm-1.json")["nvml"]["devices"][0]
    cpu, gpu = report["devices"]
    assert gpu["uuid"] == nvml["nvmlDeviceGetUUID"]
    peaks = gpu["peaks"]
    assert peaks["gemm:bf16"]["value"] == pytest.approx(989e12, rel=0.03)
    assert peaks["copy"]["value"] == pytest.approx(4.8e12, rel=0.03)
    assert not peaks["gemm:bf16"]["estimated"]
    figures = [m for m in gpu["measurements"] if m["value"] is not None]
    assert {m["dtype"] for m in figures if m["kind"] == "gemm"} >= {"fp32", "bf16", "fp8"}
    assert {m["uuid"] for m in figures} == {nvml["nvmlDeviceGetUUID"]}  # every figure
    assert all(m["result_ok"] for m in figures)
    (fp8,) = [m for m in figures if m["dtype"] == "fp8"]
    assert fp8["mode"] in ("fast accumulation", "FP32 accumulation")
    libraries = {r["library"]: r for r in report["libraries"]}
    for library in ("tensorflow", "jax"):  # CPU-only here: a state, not a failed GPU
        assert libraries[library]["status"] == "no_gpu", libraries[library]
    assert gpu["verdict"] != "failed"
    assert not any("tensorflow" in r or "jax" in r for r in gpu["reasons"]), gpu["reasons"]
    assert status == (
        1
        if report["verdict"] in ("failed", "incomplete")
        or any(d["verdict"] == "slow" and d["device"] != "cpu" for d in report["devices"])
        else 0
    )
    assert cpu["device"] == "cpu"


@pytest.mark.frameworks
def test_h100_sxm_8_end_to_end_judges_every_pair(tmp_path: Path) -> None:
    status, report = _replayed(
        tmp_path, GPUS / "h100-sxm-8.json", "--device", "cuda", "--seconds", "200"
    )
    devices = report["devices"]
    assert [d["device"] for d in devices] == [f"cuda:{i}" for i in range(8)]
    uuids = {d["nvmlDeviceGetUUID"] for d in _recording("h100-sxm-8.json")["nvml"]["devices"]}
    assert {d["uuid"] for d in devices} == uuids
    pairs = {
        (d["device"], m["peer"]): m
        for d in devices
        for m in d["measurements"]
        if m["kind"] == "p2p" and m["value"] is not None
    }
    assert len(pairs) == 28
    for (device, peer), m in pairs.items():
        assert m["ratio"] is not None and m["peak"] == pytest.approx(450e9), (device, peer)
        assert m["uuid"] in uuids
    # This CPU torch has no NCCL: the all-reduce fails, and every GPU's run is incomplete.
    allreduce = next(r for r in report["libraries"] if r["library"] == "torch all-reduce")
    assert allreduce["status"] == "failed"
    for device in devices:
        assert any(r.startswith("incomplete: torch all-reduce") for r in device["reasons"])
    assert status == 1


@pytest.mark.frameworks
def test_rtx_pro_6000_end_to_end_is_not_judged(tmp_path: Path) -> None:
    _, report = _replayed(
        tmp_path, GPUS / "rtx-pro-6000.json", "--device", "cuda", "--seconds", "90"
    )
    (gpu,) = report["devices"]
    assert not [k for k in gpu["peaks"] if k.startswith("gemm:")]
    assert gpu["verdict"] in ("unjudged", "slow", "incomplete")  # slow only against its copy peak
    assert any(
        r.startswith(f"not judged: no datasheet peak for {gpu['name']}") for r in gpu["reasons"]
    ), gpu["reasons"]
    assert not any("GEMM at" in r for r in gpu["reasons"])  # no GEMM called slow


def test_perf_exit_statuses_are_said_once_in_help_and_readme(tmp_path: Path) -> None:
    from tui.exit_codes import PERF_EXIT_STATUSES, perf_exit_status_help

    helped = subprocess.run(
        [str(MLTUI), "perf", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert helped.returncode == 0 and perf_exit_status_help() in helped.stdout
    (row,) = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `mltui perf [")
    ]
    said = "; ".join(f"{code} {meaning}" for code, meaning in PERF_EXIT_STATUSES)
    assert row.rstrip(" |").endswith(said), row


def test_the_fp8_accumulation_mode_is_said_with_the_figure() -> None:
    fast = Measurement("torch", "cuda:0", "gemm", "fp8", value=1.5e15, mode="fast accumulation")
    assert fast.label == "FP8 GEMM (fast accumulation)" and fast.key == "gemm:fp8"
    assert Measurement("torch", "cuda:0", "gemm", "bf16").label == "BF16 GEMM"


def test_fp8_without_fast_accumulation_is_shown_not_judged() -> None:
    fake = node(count=1, product="h100_sxm")
    device, extra = _device(fake, 0, HEALTHY)
    peak = device.peaks["gemm:fp8"].value
    device.measurements.append(
        Measurement("torch", "cuda:0", "gemm", "fp8", value=0.3 * peak, mode="FP32 accumulation")
    )
    judge_device(device, extra)
    assert device.verdict == "healthy"
    assert device.reasons == [
        "FP8 GEMM (FP32 accumulation) not judged: the datasheet's FP8 rate assumes fast "
        "accumulation"
    ]
    device.measurements[-1].mode = "fast accumulation"
    device.verdict, device.reasons = "skipped", []
    judge_device(device, extra)
    assert device.verdict == "slow"
    assert device.reasons[0] == "FP8 GEMM (fast accumulation) at 30% of peak"
