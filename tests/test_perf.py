"""`mltui perf`: verdicts from figures, peaks and NVML; the sampler; the real CPU path; launcher.

The verdict tests feed figures a GPU would measure to the same logic the check runs, with what
NVML shows replayed from the recorded fixtures and variants of them (reduced clocks, a degraded
PCIe link, a power brake, a slow sibling). The CPU path, the load scripts and the all-reduce
launcher (torch.distributed with gloo, two processes) run for real; cancelling or timing out
either leaves no process behind.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psutil
import pytest

from probes.model import from_json, perf_json_schema, to_json
from probes.nvml import NvmlSession, nvml_extras
from probes.peaks import gpu_peaks, specs_of
from probes.perf.devices import PerfUsageError, select_devices
from probes.perf.events import Measured, PerfEvent
from probes.perf.judge import judge_device, judge_siblings, overall
from probes.perf.load import LoadPlan, run_allreduce, run_load
from probes.perf.plan import PerfOptions, gpu_turns
from probes.perf.run import run_perf
from probes.perf.sampler import NvmlSampler
from probes.perf_model import DevicePerf, Measurement, PerfReport
from probes.target import current_target
from tests.fake_nvml import FakeNvml
from tests.perf_fixtures import (
    HW_SLOWDOWN,
    POWER_BRAKE,
    POWER_CAP,
    THERMAL,
    carrying,
    marked_environment,
    node,
    under_load,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "probes" / "perf.schema.json"
MARKER = "MLTUI_PERF_TEST_MARKER"


# ------------------------------------------------------------------------------ helpers


def _gpu_device(
    fake: FakeNvml, index: int, figures: dict[str, float], *, samples: int = 12
) -> DevicePerf:
    """A measured GPU: its peaks from NVML, the figures as shares of them, NVML sampled."""
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
    for key, share in figures.items():
        kind, _, dtype = key.partition(":")
        peak = device.peaks[key].value
        device.measurements.append(
            Measurement(
                library="torch",
                device=device.device,
                kind=kind,  # type: ignore[arg-type]
                dtype=dtype or None,
                value=share * peak,
                unit="FLOP/s" if kind == "gemm" else "B/s",
                result_ok=True,
            )
        )
    judge_device(device, extra)
    return device


HEALTHY = {"gemm:bf16": 0.75, "gemm:fp32": 0.8, "copy": 0.85, "h2d": 0.8, "d2h": 0.82}


# ------------------------------------------------------------------------------ verdicts


def test_a_healthy_h100_under_load() -> None:
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1980, power_w=620)
    device = _gpu_device(fake, 0, HEALTHY)
    assert device.verdict == "healthy", device.reasons
    bf16 = next(m for m in device.measurements if m.dtype == "bf16")
    assert bf16.ratio == pytest.approx(0.75, abs=1e-3)
    assert bf16.peak == pytest.approx(989.4e12, rel=0.001)


def test_reduced_clocks_and_power_brake_explain_a_slow_gemm() -> None:
    # The example: BF16 at 58 % of peak; SM clock 1.1 of 1.98 GHz; power brake; 700 W.
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1100, power_w=700, reasons=POWER_BRAKE | HW_SLOWDOWN)
    device = _gpu_device(fake, 0, {**HEALTHY, "gemm:bf16": 0.30})
    assert device.verdict == "slow"
    text = "; ".join(device.reasons)
    assert device.reasons[0] == "BF16 GEMM at 30% of peak"
    assert "SM clock 1.10 of 1.98 GHz" in text
    assert "power brake active" in text
    assert "700 W limit reached" in text


def test_a_power_cap_set_below_the_default_is_named() -> None:
    fake = node(count=1, product="h100_sxm")
    fake.set_reading(0, "nvmlDeviceGetEnforcedPowerLimit", 300_000)
    fake.set_reading(0, "nvmlDeviceGetPowerManagementDefaultLimit", 700_000)
    under_load(fake, 0, sm_mhz=1250, power_w=299, reasons=POWER_CAP)
    device = _gpu_device(fake, 0, {**HEALTHY, "gemm:bf16": 0.4})
    assert device.verdict == "slow"
    text = "; ".join(device.reasons)
    assert "power cap reached" in text
    assert "power limit set to 300 of 700 W" in text
    assert "300 W limit reached" in text


def test_a_degraded_pcie_link_explains_slow_host_copies() -> None:
    fake = node(count=1, product="h100_pcie")
    under_load(fake, 0, sm_mhz=1755, pcie=(4, 8))
    device = _gpu_device(fake, 0, {**HEALTHY, "h2d": 0.22, "d2h": 0.23})
    assert device.verdict == "slow"
    assert "host → device at 22% of peak" in device.reasons
    assert "PCIe link gen 4 x8 under load (the card supports gen 5 x16)" in device.reasons


def test_a_healthy_card_keeps_what_nvml_saw_as_notes() -> None:
    # Power-capped at 1.7 GHz is how an H100 SXM runs a GEMM: normal, not even a note; a
    # thermal slowdown on a card that still delivers is noted.
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1700, reasons=POWER_CAP, power_w=699)
    device = _gpu_device(fake, 0, HEALTHY)
    assert device.verdict == "healthy"
    assert device.reasons == []
    under_load(fake, 0, sm_mhz=1700, reasons=POWER_CAP | THERMAL, power_w=699)
    device = _gpu_device(fake, 0, HEALTHY)
    assert device.verdict == "healthy"
    assert device.reasons == ["seen: thermal slowdown in 100% of samples"]


def test_thermal_slowdown_names_the_temperature() -> None:
    fake = node(count=1, product="a100_sxm", base="a100_sxm4_x8")
    fake.set_reading(0, "nvmlDeviceGetCurrentClocksThrottleReasons", 0x040)
    under_load(fake, 0, sm_mhz=1005, power_w=250, temperature_c=88)
    fake.set_reading(0, "nvmlDeviceGetCurrentClocksThrottleReasons", 0x040)
    device = _gpu_device(fake, 0, {**HEALTHY, "gemm:bf16": 0.45})
    assert device.verdict == "slow"
    text = "; ".join(device.reasons)
    assert "SM clock 1.00 of 1.41 GHz" in text
    assert "88 °C, slowdown at" in text


@pytest.mark.parametrize("outlier_share", [0.60, 0.64])
def test_a_sibling_more_than_10_percent_below_the_median_is_slow(outlier_share: float) -> None:
    # Every card is above the peak threshold: only its siblings show GPU 5 is off.
    fake = node(count=8, product="h100_sxm")
    devices = []
    for index in range(8):
        under_load(
            fake, index, sm_mhz=1500 if index == 5 else 1980, reasons=POWER_BRAKE * (index == 5)
        )
        share = outlier_share if index == 5 else 0.75 + 0.002 * index
        devices.append(_gpu_device(fake, index, {**HEALTHY, "gemm:bf16": share}))
    assert [d.verdict for d in devices] == ["healthy"] * 8
    judge_siblings(devices)
    assert [d.verdict for d in devices] == ["healthy"] * 5 + ["slow"] + ["healthy"] * 2
    assert "below the median of its 8 NVIDIA H100 80GB HBM3 siblings" in devices[5].reasons[0]
    assert not any(r.startswith("seen: ") for r in devices[5].reasons)
    assert "power brake active in 100% of samples" in devices[5].reasons
    assert "SM clock 1.50 of 1.98 GHz" in devices[5].reasons
    median = sorted([outlier_share] + [0.75 + 0.002 * i for i in range(8) if i != 5])[3:5]
    below = 1 - outlier_share / (sum(median) / 2)
    assert devices[5].reasons[0].startswith(f"BF16 GEMM {below:.0%} below")


def test_siblings_within_10_percent_are_all_healthy() -> None:
    fake = node(count=4, product="h100_sxm")
    devices = [
        _gpu_device(fake, index, {**HEALTHY, "gemm:bf16": 0.70 + 0.02 * index})
        for index in range(4)
    ]
    judge_siblings(devices)
    assert {d.verdict for d in devices} == {"healthy"}


def test_a_wrong_result_fails_the_device() -> None:
    fake = node(count=1, product="h100_sxm")
    device = DevicePerf(device="cuda:0", name="NVIDIA H100 80GB HBM3")
    with NvmlSession(fake) as session:
        gpu = session.read().gpus[0]
        device.peaks = gpu_peaks(specs_of(gpu, nvml_extras(session, 0)))
    device.measurements = [
        Measurement("torch", "cuda:0", "gemm", "bf16", value=7e14, result_ok=False),
        Measurement("torch", "cuda:0", "gemm", "fp32", value=5e13, result_ok=True),
    ]
    judge_device(device)
    assert device.verdict == "failed"
    assert device.reasons[0] == "torch BF16 GEMM gave a wrong result"


def test_errors_fail_a_device_only_when_no_library_measured_that_figure() -> None:
    device = DevicePerf(device="cpu")
    device.measurements = [
        Measurement("numpy", "cpu", "gemm", "fp32", value=1e11, result_ok=True),
        Measurement("tensorflow", "cpu", "gemm", "fp32", error="OOM"),
    ]
    judge_device(device)
    # Not failed (NumPy measured it), but not a plain healthy either: TensorFlow's run is short.
    assert device.verdict == "incomplete"
    assert device.reasons == ["incomplete: tensorflow FP32 GEMM: OOM"]
    device = DevicePerf(device="cuda:0")
    device.measurements = [
        Measurement("torch", "cuda:0", "gemm", "fp32", error="torch sees no CUDA device")
    ]
    judge_device(device)
    assert device.verdict == "failed"
    assert "torch FP32 GEMM: torch sees no CUDA device" in device.reasons
    assert "nothing was measured on this device" in device.reasons


def test_overall_is_never_healthy_when_a_device_was_skipped() -> None:
    healthy = DevicePerf(device="cuda:0", verdict="healthy")
    skipped = DevicePerf(device="cuda:1", verdict="skipped", reasons=["busy: PIDs 7"])
    assert overall([healthy])[0] == "healthy"
    verdict, reasons = overall([healthy, skipped])
    assert verdict == "skipped"
    assert reasons == ["cuda:1: skipped: busy: PIDs 7"]
    assert overall([healthy, skipped, DevicePerf(device="cpu", verdict="slow")])[0] == "slow"
    assert overall([DevicePerf(device="cpu", verdict="failed"), skipped])[0] == "failed"
    assert overall([])[0] == "skipped"


def test_exit_rule_a_slow_gpu_is_an_error_a_slow_cpu_estimate_is_not() -> None:
    figure = [Measurement("numpy", "cpu", "gemm", "fp32", value=1e11)]
    report = PerfReport(devices=[DevicePerf(device="cpu", verdict="slow", measurements=figure)])
    assert not report.has_errors
    report.devices.append(DevicePerf(device="cuda:0", verdict="slow"))
    assert report.has_errors
    assert PerfReport(devices=[DevicePerf(device="cpu", verdict="failed")]).has_errors


# ------------------------------------------------------------------------------ selection


def test_device_selection() -> None:
    with NvmlSession(node(count=4)) as session:
        gpus = session.read().gpus
    assert select_devices(None, gpus) == ["cpu", "cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert select_devices("cuda", gpus) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert select_devices("cpu,2,cuda:1,2", gpus) == ["cpu", "cuda:2", "cuda:1"]
    assert select_devices("all", []) == ["cpu"]
    for bad, words in [
        ("cuda:9", "no GPU 9"),
        ("tpu", "unknown device"),
        ("gpu:x", "unknown device"),
    ]:
        with pytest.raises(PerfUsageError, match=words):
            select_devices(bad, gpus)
    with pytest.raises(PerfUsageError, match="no NVIDIA GPU"):
        select_devices("cuda", [])


# ------------------------------------------------------------------------------ the sampler


def test_sampler_runs_at_about_ten_hertz_and_records_the_trace() -> None:
    fake = node(count=2, product="h100_sxm")
    under_load(fake, 1, sm_mhz=1500, reasons=POWER_BRAKE)
    with NvmlSession(fake) as session:
        gpus = session.read().gpus
        seen: list[int] = []
        sampler = NvmlSampler(session, gpus, on_readings=lambda readings: seen.extend(readings))
        sampler.start()
        deadline = time.monotonic() + 10
        while sampler.rounds < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        rounds = sampler.rounds
        while time.monotonic() - started < 0.6:
            time.sleep(0.05)
        rate = (sampler.rounds - rounds) / (time.monotonic() - started)
        watches = sampler.stop()
    assert 4 <= rate <= 13, rate
    assert len(watches) == 2 and seen.count(0) == seen.count(1) > 0
    last = watches[1].samples[-1]
    assert last.sm_clock_mhz == 1500
    assert last.clock_event_reasons == ["hardware power brake slowdown"]
    assert watches[0].samples[-1].clock_event_reasons == ["idle"]
    assert watches[0].sm_clock_max_mhz == 1980


def test_sampler_names_processes_that_appear_and_keeps_field_errors() -> None:
    fake = node(count=1, product="h100_sxm")
    fake.make_unsupported(0, "nvmlDeviceGetPowerUsage")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with NvmlSession(fake) as session:
            gpus = session.read().gpus
            sampler = NvmlSampler(session, gpus, process_every=1)
            sampler.sample_once()
            # A process of this PID namespace that is not mltui's (not its descendant)...
            other = {"pid": 1, "usedGpuMemory": 1 << 30}
            # ...mltui's own load (a child of this process)...
            ours = {"pid": stranger.pid, "usedGpuMemory": 1 << 30}
            # ...and a host PID a container does not see.
            host = {"pid": 4_000_000, "usedGpuMemory": 1 << 30}
            fake.set_reading(0, "nvmlDeviceGetComputeRunningProcesses_v3", [other, ours, host])
            sampler.sample_once()
            (watch,) = sampler.stop()
    finally:
        stranger.kill()
        stranger.wait()
    assert watch.other_pids == [1]
    assert watch.errors["processes"].startswith("1 PID(s) NVML lists are not visible here")
    assert watch.samples[0].power_w is None
    assert watch.errors["nvmlDeviceGetPowerUsage"] == "NotSupported"


def test_sampler_falls_back_to_the_throttle_reasons_of_older_drivers() -> None:
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    with NvmlSession(fake) as session:
        gpus = session.read(with_processes=False).gpus[:1]
        sampler = NvmlSampler(session, gpus)
        sampler.sample_once()
        (watch,) = sampler.stop()
    assert watch.samples[0].clock_event_reasons == []  # the recording: no reason active
    assert "nvmlDeviceGetCurrentClocksEventReasons" not in watch.errors


def test_sampler_survives_a_gpu_lost_mid_run() -> None:
    fake = node(count=2, product="h100_sxm")
    with NvmlSession(fake) as session:
        gpus = session.read().gpus
        sampler = NvmlSampler(session, gpus)
        sampler.sample_once()
        fake.lose_gpu(0)
        sampler.sample_once()
        watches = sampler.stop()
    assert watches[0].samples[-1].sm_clock_mhz is None
    assert watches[0].errors["nvmlDeviceGetClockInfo"] == "GpuIsLost"
    assert watches[1].samples[-1].sm_clock_mhz == 345


# ------------------------------------------------------------------------------ processes


@pytest.fixture
def marker() -> Iterator[dict[str, str]]:
    """An environment marker; after the test no live process may carry it."""
    for word in marked_environment(MARKER):
        yield {MARKER: word}


def _carrying(word: str) -> list[psutil.Process]:
    return carrying(MARKER, word)


def _nothing_left(word: str, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while _carrying(word) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _carrying(word) == []


@pytest.mark.frameworks
def test_allreduce_launcher_runs_for_real_with_gloo(marker: dict[str, str]) -> None:
    run, measurement = asyncio.run(
        run_allreduce(
            current_target(),
            ["cpu", "cpu"],
            backend="gloo",
            nbytes=8 << 20,
            slice_s=0.2,
            timeout=120,
        )
    )
    assert run.status == "ok", (run.error, run.stderr_tail)
    assert measurement.kind == "allreduce" and measurement.result_ok is True
    assert measurement.value is not None and measurement.value > 1e7  # > 10 MB/s
    assert measurement.size == 8 << 20 and (measurement.repeats or 0) >= 1
    assert measurement.device == "2×cpu"
    _nothing_left(marker[MARKER])


async def _wait_for_workers(word: str, count: int, timeout: float = 60.0) -> None:
    """Until `count` processes carry the marker (launcher + workers)."""
    deadline = time.monotonic() + timeout
    while len(_carrying(word)) < count:
        assert time.monotonic() < deadline, "the workers never started"
        await asyncio.sleep(0.05)


@pytest.mark.frameworks
def test_allreduce_cancel_kills_launcher_and_workers(marker: dict[str, str]) -> None:
    async def scenario() -> tuple[object, float]:
        cancel = asyncio.Event()
        task = asyncio.create_task(
            run_allreduce(
                current_target(),
                ["cpu", "cpu"],
                backend="gloo",
                nbytes=64 << 20,
                slice_s=30.0,  # would run for long
                timeout=120,
                cancel=cancel,
            )
        )
        await _wait_for_workers(marker[MARKER], 3)
        cancelled_at = time.monotonic()
        cancel.set()
        run, _ = await task
        return run, time.monotonic() - cancelled_at

    run, took = asyncio.run(scenario())
    assert run.status == "cancelled"  # type: ignore[attr-defined]
    assert took < 8.0
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_allreduce_timeout_kills_launcher_and_workers(marker: dict[str, str]) -> None:
    async def scenario() -> tuple[object, object]:
        return await run_allreduce(
            current_target(),
            ["cpu", "cpu"],
            backend="gloo",
            nbytes=64 << 20,
            slice_s=60.0,
            timeout=4.0,
        )

    started = time.monotonic()
    run, measurement = asyncio.run(scenario())
    assert time.monotonic() - started < 15
    assert run.status == "timeout"  # type: ignore[attr-defined]
    assert measurement.error  # type: ignore[attr-defined]
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_allreduce_worker_that_dies_fails_the_run(marker: dict[str, str]) -> None:
    # A device that does not exist makes one rank fail: the launcher stops the other.
    run, measurement = asyncio.run(
        run_allreduce(current_target(), ["cpu", "cuda:7"], backend="gloo", timeout=60, slice_s=0.1)
    )
    assert run.status == "failed"
    assert measurement.value is None and "rank 1" in (measurement.error or "")
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_load_cancel_while_waiting_for_its_turn(marker: dict[str, str], tmp_path: Path) -> None:
    async def scenario() -> str:
        cancel = asyncio.Event()
        plan = LoadPlan("numpy", ["cpu"], ["fp32"])
        task = asyncio.create_task(
            run_load(current_target(), plan, timeout=60, go=tmp_path / "never", cancel=cancel)
        )
        await _wait_for_workers(marker[MARKER], 1)
        await asyncio.sleep(0.3)  # waits-for: the load under way, not only its process started
        cancel.set()
        run, found, _ = await task
        assert found == []
        return run.status

    assert asyncio.run(scenario()) == "cancelled"
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_load_timeout_keeps_what_was_measured(marker: dict[str, str], tmp_path: Path) -> None:
    plan = LoadPlan("numpy", ["cpu"], ["fp32"], kinds=("gemm",), slice_s=0.05)
    # The go file appears late: the budget ends while the script waits.
    run, found, _ = asyncio.run(run_load(current_target(), plan, timeout=1.5, go=tmp_path / "late"))
    assert run.status == "timeout" and "budget" in (run.error or "")
    assert found == []
    _nothing_left(marker[MARKER])


def test_a_missing_library_is_a_state_not_a_failure(tmp_path: Path) -> None:
    for helper in (ROOT / "probes" / "scripts").glob("*.py"):  # what the load script imports
        (tmp_path / helper.name).write_bytes(helper.read_bytes())
    script = tmp_path / "fake_load.py"
    script.write_text(
        (ROOT / "probes" / "scripts" / "perf_load.py")
        .read_text()
        .replace('"numpy": ("numpy", ("numpy",)),', '"numpy": ("no_such_module_xyz", ("x",)),')
    )
    run, found, _ = asyncio.run(
        run_load(current_target(), LoadPlan("numpy", ["cpu"], ["fp32"]), timeout=30, script=script)
    )
    assert run.status == "not_installed" and found == []


def test_a_crashing_load_script_is_failed_with_its_last_words(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import json, sys\n"
        "print(json.dumps({'event': 'library', 'library': 'numpy', 'status': 'ok'}))\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('Illegal instruction in the BLAS\\n')\n"
        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    run, _, _ = asyncio.run(
        run_load(current_target(), LoadPlan("numpy", ["cpu"], ["fp32"]), timeout=30, script=script)
    )
    assert run.status == "failed" and run.error == "killed by SIGSEGV"
    assert run.stderr_tail == ["Illegal instruction in the BLAS"]


# ------------------------------------------------------------------------------ whole runs


@pytest.mark.frameworks
def test_cpu_check_for_real_every_installed_library(marker: dict[str, str]) -> None:
    started = time.monotonic()
    report = asyncio.run(
        run_perf(
            current_target(), PerfOptions(devices="cpu", seconds=120), nvml=FakeNvml.no_driver()
        )
    )
    took = time.monotonic() - started
    assert [d.device for d in report.devices] == ["cpu"]
    cpu = report.devices[0]
    assert cpu.verdict in ("healthy", "slow"), cpu.reasons  # a shared CI box may be slow
    assert cpu.peaks["gemm:fp32"].estimated
    gemms = {m.library: m for m in cpu.measurements if m.kind == "gemm" and m.dtype == "fp32"}
    runs = {r.library: r for r in report.libraries}
    for library in ("numpy", "torch", "tensorflow", "jax"):
        assert runs[library].status == "ok", runs[library]
        m = gemms[library]
        assert m.value and m.value > 1e9 and m.result_ok is True, m
        assert m.ratio == pytest.approx(m.value / cpu.peaks["gemm:fp32"].value, rel=1e-3)
    copies = [m for m in cpu.measurements if m.kind == "copy" and m.value]
    assert {m.library for m in copies} == {"numpy", "torch"}
    assert report.comparison("cpu") == [m for m in cpu.measurements if m.kind == "gemm" and m.value]
    assert report.verdict == cpu.verdict and report.elapsed_s is not None
    # The budget bounds the run (a generous one: every library must finish even on a busy
    # machine); stopping the processes at its end takes a moment more.
    assert took < 120 + 15
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_gpus_the_target_cannot_use_fail_and_busy_ones_are_skipped(
    marker: dict[str, str],
) -> None:
    # NVML (replayed) shows two H100s, one busy; this machine's torch is a CPU build.
    fake = node(count=2, product="h100_sxm")
    busy = {"pid": 4_000_001, "usedGpuMemory": 1 << 30}
    fake.set_reading(1, "nvmlDeviceGetComputeRunningProcesses_v3", [busy])
    options = PerfOptions(devices="cuda", seconds=60, libraries=("torch",))
    report = asyncio.run(run_perf(current_target(), options, nvml=fake))
    gpu0, gpu1 = report.devices
    # A CPU-only torch is a state of the library (issue 18, 2.1), never a fault of the GPU; but
    # nothing was proved of the GPU: skipped, and a run that measured nothing exits 1.
    version = next(r.version for r in report.libraries if r.library == "torch")
    assert gpu0.verdict == "skipped"
    assert gpu0.reasons == [f"not measured: torch: torch {version} is a CPU-only build"]
    torch_run = next(r for r in report.libraries if r.library == "torch")
    assert (
        torch_run.status == "no_gpu" and torch_run.error == f"torch {version} is a CPU-only build"
    )
    assert not any("SM clock" in r for r in gpu0.reasons)  # an idle GPU says nothing of load
    assert gpu1.verdict == "skipped"
    assert gpu1.reasons == ["busy: PIDs 4000001 (--force measures anyway)"]
    assert gpu0.watch is not None and gpu0.watch.samples  # NVML was read during the load
    assert report.verdict == "skipped" and report.has_errors
    forced = asyncio.run(
        run_perf(
            current_target(),
            PerfOptions(devices="cuda", seconds=60, libraries=("torch",), force=True),
            nvml=fake,
        )
    )
    # Two GPUs: a torch process per GPU at once, then one for the host and peer copies.
    assert [d.verdict for d in forced.devices] == ["skipped", "skipped"]
    assert forced.devices[1].busy_pids == [4_000_001]
    found = [m for d in forced.devices for m in d.measurements]
    assert found and all(m.skipped and not m.error for m in found)
    assert [r.library for r in forced.libraries] == ["torch"]
    assert forced.allreduce is None  # no two GPUs measured anything
    _nothing_left(marker[MARKER])


@pytest.mark.frameworks
def test_cancel_of_a_whole_run_stops_at_once(marker: dict[str, str]) -> None:
    async def scenario() -> tuple[PerfReport, float]:
        cancel = asyncio.Event()

        def on_event(event: PerfEvent) -> None:
            if isinstance(event, Measured):
                cancel.set()

        task = asyncio.create_task(
            run_perf(
                current_target(),
                PerfOptions(devices="cpu", seconds=60),
                nvml=FakeNvml.no_driver(),
                cancel=cancel,
                on_event=on_event,
            )
        )
        await cancel.wait()
        at = time.monotonic()
        report = await task
        return report, time.monotonic() - at

    report, took = asyncio.run(scenario())
    assert report.cancelled and report.verdict != "healthy"
    assert report.reasons[0].startswith("cancelled")
    assert took < 5.0
    # The libraries import side by side: every one of them was under way, and was stopped.
    assert {r.status for r in report.libraries} == {"cancelled"}
    _nothing_left(marker[MARKER])


def test_bad_device_is_a_usage_error() -> None:
    with pytest.raises(PerfUsageError, match="no GPU 3"):
        asyncio.run(
            run_perf(current_target(), PerfOptions(devices="cuda:3"), nvml=FakeNvml.no_driver())
        )


# ------------------------------------------------------------------------------ schema


def test_committed_perf_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == perf_json_schema(), (
        "probes/perf.schema.json is stale: regenerate it with "
        "`mltui perf --schema > probes/perf.schema.json` (and bump PERF_SCHEMA_VERSION if a "
        "field was removed or changed meaning)"
    )


def test_a_report_round_trips_and_validates() -> None:
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1100, power_w=700, reasons=POWER_BRAKE)
    device = _gpu_device(fake, 0, {**HEALTHY, "gemm:bf16": 0.58})
    report = PerfReport(hostname="node", devices=[device], verdict="slow", reasons=["x"])
    data = json.loads(to_json(report))
    jsonschema.validate(data, perf_json_schema())
    again = from_json(PerfReport, to_json(report))
    assert again == report


# ------------------------------------------------------------------------------ recordings

PERF_FIXTURES = sorted((ROOT / "tests" / "fixtures" / "perf").glob("*.json"))


@pytest.mark.parametrize("path", PERF_FIXTURES, ids=[p.stem for p in PERF_FIXTURES])
def test_recorded_perf_runs_validate_and_judge_the_same(path: Path) -> None:
    # bench/gpu_session.sh records `mltui perf --json` on a GPU machine; none is recorded yet.
    data = json.loads(path.read_text())
    jsonschema.validate(data, perf_json_schema())
    report = from_json(PerfReport, path.read_text())
    verdicts = [d.verdict for d in report.devices]
    for device in report.devices:
        if device.verdict != "skipped":
            device.verdict, device.reasons = "skipped", []
            judge_device(device)
    judge_siblings(report.devices)
    assert [d.verdict for d in report.devices] == verdicts


def test_the_datasheet_comparison_of_a_perf_json(tmp_path: Path) -> None:
    fake = node(count=1, product="h100_sxm")
    under_load(fake, 0)
    device = _gpu_device(fake, 0, {"gemm:bf16": 0.7, "copy": 0.85, "h2d": 0.85})
    path = tmp_path / "perf.json"
    path.write_text(to_json(PerfReport(hostname="n", devices=[device])))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "perf_compare.py"), str(path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {row["figure"]: row for row in json.loads(done.stdout)}
    assert rows["BF16 GEMM"]["of_derived"] == pytest.approx(0.7, abs=1e-3)
    # derived 989.4 (1830 MHz) vs datasheet 989.5: the same fraction
    assert rows["BF16 GEMM"]["of_datasheet"] == pytest.approx(0.7, abs=2e-3)
    assert rows["memory copy"]["of_datasheet"] == pytest.approx(0.85 * 3352.3 / 3350, abs=2e-3)
    assert rows["host → device"]["datasheet"] == pytest.approx(63e9)


def test_gpu_work_in_turns_one_gpu_and_eight() -> None:
    one = gpu_turns(["torch", "tensorflow", "jax"], ["cuda:0"], 0.25, 1 << 30)
    assert [[(p.library, tuple(p.devices), tuple(p.kinds)) for p in t] for t in one] == [
        [("torch", ("cuda:0",), ("gemm", "copy", "host"))],
        [("tensorflow", ("cuda:0",), ("gemm",))],
        [("jax", ("cuda:0",), ("gemm",))],
    ]
    assert all(p.slice_s == pytest.approx(0.15) for t in one for p in t)
    devices = [f"cuda:{i}" for i in range(8)]
    eight = gpu_turns(["torch", "jax"], devices, 0.25, 1 << 30)
    assert [len(t) for t in eight] == [8, 1, 1]
    assert [p.devices for p in eight[0]] == [[d] for d in devices]  # one process per GPU, at once
    host = eight[1][0]
    assert host.devices == devices and host.kinds == ("host",) and host.p2p
    assert tuple(host.dtypes) == ()
    assert gpu_turns(["jax"], devices, 0.25, 1 << 30)[0][0].devices == ["cuda:0"]


@pytest.mark.frameworks
def test_bf16_on_the_cpu_only_where_the_cpu_has_it(marker: dict[str, str]) -> None:
    old_cpu = (
        "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 63\n"
        "model name\t: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz\ncpu MHz\t\t: 2500.000\n"
        "flags\t\t: sse2 avx avx2 fma\n\n"
    )
    options = PerfOptions(devices="cpu", seconds=60, libraries=("torch",))
    report = asyncio.run(
        run_perf(current_target(), options, nvml=FakeNvml.no_driver(), cpuinfo_text=old_cpu)
    )
    (cpu,) = report.devices
    assert {m.dtype for m in cpu.measurements if m.kind == "gemm"} == {"fp32"}
    assert set(cpu.peaks) == {"gemm:fp32"}
    assert "32 FP32 FLOP/cycle (AVX2 + FMA3" in cpu.peaks["gemm:fp32"].basis


def test_the_sampler_hands_over_every_reading_once_in_batches() -> None:
    fake = node(count=2, product="h100_sxm")
    under_load(fake, 1, sm_mhz=1500)
    batches: list[dict[int, list[object]]] = []
    with NvmlSession(fake) as session:
        sampler = NvmlSampler(session, session.read().gpus, on_readings=batches.append)
        for _ in range(12):
            sampler.sample_once()
        assert [len(b[0]) for b in batches] == [5, 5]  # two a second at 10 Hz, not one per GPU
        watches = sampler.stop()
    assert [len(b[1]) for b in batches] == [5, 5, 2]  # stop hands over the rest
    for watch in watches:
        handed = [s for b in batches for s in b[watch.gpu_index]]
        assert handed == watch.samples  # each reading once, in order
