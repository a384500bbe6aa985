"""NVML variants for the perf tests, derived from the recorded fixtures in tests/fixtures/nvml/.

Each variant starts from a real recording (an 8× H100 SXM or 8× A100 SXM node) and changes only
what the case is about: another product's identity and maxima (the readings public deviceQuery
and nvidia-smi dumps show for it, ../shared/gpu-peaks.md §2-3), reduced clocks, a degraded PCIe
link, a power brake, more GPUs of the same model.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from tests.fake_nvml import FIXTURES, FakeNvml

#: NVML readings of other products, as public deviceQuery / nvidia-smi dumps show them:
#: name, compute capability, CUDA cores (SMs × cores per SM), max SM and memory clocks,
#: bus width, PCIe generation and width.
PRODUCTS: dict[str, dict[str, Any]] = {
    "h100_sxm": {
        "name": "NVIDIA H100 80GB HBM3",
        "cc": (9, 0),
        "cores": 132 * 128,
        "sm_max": 1980,
        "mem_max": 2619,
        "bus": 5120,
        "pcie": (5, 16),
    },
    "h100_pcie": {
        "name": "NVIDIA H100 PCIe",
        "cc": (9, 0),
        "cores": 114 * 128,
        "sm_max": 1755,
        "mem_max": 1593,
        "bus": 5120,
        "pcie": (5, 16),
    },
    "a100_sxm": {
        "name": "NVIDIA A100-SXM4-80GB",
        "cc": (8, 0),
        "cores": 108 * 64,
        "sm_max": 1410,
        "mem_max": 1593,
        "bus": 5120,
        "pcie": (4, 16),
    },
    "l4": {
        "name": "NVIDIA L4",
        "cc": (8, 9),
        "cores": 7424,
        "sm_max": 2040,
        "mem_max": 6251,
        "bus": 192,
        "pcie": (4, 16),
    },
    "l40s": {
        "name": "NVIDIA L40S",
        "cc": (8, 9),
        "cores": 142 * 128,
        "sm_max": 2520,
        "mem_max": 9001,
        "bus": 384,
        "pcie": (4, 16),
    },
    "h200_sxm": {
        "name": "NVIDIA H200",
        "cc": (9, 0),
        "cores": 132 * 128,
        "sm_max": 1980,
        "mem_max": 3201,
        "bus": 6144,
        "pcie": (5, 16),
    },
    "h200_nvl": {
        "name": "NVIDIA H200 NVL",
        "cc": (9, 0),
        "cores": 132 * 128,
        "sm_max": 1785,
        "mem_max": 3201,
        "bus": 6144,
        "pcie": (5, 16),
    },
    "gh200": {
        "name": "NVIDIA GH200 480GB",
        "cc": (9, 0),
        "cores": 132 * 128,
        "sm_max": 1980,
        "mem_max": 2619,
        "bus": 6144,
        "pcie": (5, 16),
    },
    "b200": {
        "name": "NVIDIA B200",
        "cc": (10, 0),
        "cores": 148 * 128,
        "sm_max": 1965,
        "mem_max": 3996,
        "bus": 8192,
        "pcie": (5, 16),
    },
    "gb200": {
        "name": "NVIDIA GB200",
        "cc": (10, 0),
        "cores": 148 * 128,
        "sm_max": 2062,
        "mem_max": 3996,
        "bus": 8192,
        "pcie": (5, 16),
    },
    "h20": {
        "name": "NVIDIA H20",
        "cc": (9, 0),
        "cores": 78 * 128,
        "sm_max": 1980,
        "mem_max": 2619,
        "bus": 6144,
        "pcie": (5, 16),
    },
    "rtx_pro_6000": {
        "name": "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "cc": (12, 0),
        "cores": 188 * 128,
        "sm_max": 2617,
        "mem_max": 14001,
        "bus": 512,
        "pcie": (5, 16),
    },
    "rtx4090": {
        "name": "NVIDIA GeForce RTX 4090",
        "cc": (8, 9),
        "cores": 128 * 128,
        "sm_max": 3105,
        "mem_max": 10501,
        "bus": 384,
        "pcie": (4, 16),
    },
}


T = 1e12
G = 1e9

#: NVIDIA's datasheet figures (dense: the 2:4-sparse figures ÷ 2), in FLOP/s and B/s (memory
#: bandwidth; PCIe per direction), per product of PRODUCTS (../shared/gpu-peaks.md §1, §4).
DATASHEET: dict[str, dict[str, float]] = {
    "h100_sxm": {
        "gemm:fp32": 67 * T,
        "gemm:tf32": 494.5 * T,
        "gemm:bf16": 989.5 * T,
        "gemm:fp16": 989.5 * T,
        "gemm:fp8": 1979 * T,
        "copy": 3350 * G,
        "h2d": 63 * G,
    },
    "h100_pcie": {
        "gemm:fp32": 51 * T,
        "gemm:tf32": 378 * T,
        "gemm:bf16": 756.5 * T,
        "gemm:fp16": 756.5 * T,
        "gemm:fp8": 1513 * T,
        "copy": 2000 * G,
        "h2d": 63 * G,
    },
    "a100_sxm": {
        "gemm:fp32": 19.5 * T,
        "gemm:tf32": 156 * T,
        "gemm:bf16": 312 * T,
        "gemm:fp16": 312 * T,
        "copy": 2039 * G,
        "h2d": 31.5 * G,
    },
    "l4": {
        "gemm:fp32": 30.3 * T,
        "gemm:tf32": 60 * T,
        "gemm:bf16": 121 * T,
        "gemm:fp16": 121 * T,
        "gemm:fp8": 242.5 * T,
        "copy": 300 * G,
        "h2d": 31.5 * G,
    },
    "l40s": {
        "gemm:fp32": 91.6 * T,
        "gemm:tf32": 183 * T,
        "gemm:bf16": 362.05 * T,
        "gemm:fp16": 362.05 * T,
        "gemm:fp8": 733 * T,
        "copy": 864 * G,
        "h2d": 31.5 * G,
    },
    "h200_sxm": {
        "gemm:fp32": 67 * T,
        "gemm:tf32": 494.5 * T,
        "gemm:bf16": 989.5 * T,
        "gemm:fp16": 989.5 * T,
        "gemm:fp8": 1979 * T,
        "copy": 4800 * G,
        "h2d": 63 * G,
    },
    "h200_nvl": {
        "gemm:fp32": 60 * T,
        "gemm:tf32": 417.5 * T,
        "gemm:bf16": 835.5 * T,
        "gemm:fp16": 835.5 * T,
        "gemm:fp8": 1670.5 * T,
        "copy": 4800 * G,
        "h2d": 63 * G,
    },
    "gh200": {
        "gemm:fp32": 67 * T,
        "gemm:bf16": 989.5 * T,
        "gemm:fp8": 1979 * T,
        "copy": 4000 * G,  # 96 GB HBM3: NVML 6144 bit x 2619 MHz = 4,023 (gpu-peaks.md §3)
    },
    "b200": {
        "gemm:fp32": 75 * T,
        "gemm:tf32": 1125 * T,
        "gemm:bf16": 2250 * T,
        "gemm:fp16": 2250 * T,
        "gemm:fp8": 4500 * T,
        "copy": 8000 * G,
    },
    "gb200": {
        "gemm:bf16": 2500 * T,
        "gemm:fp16": 2500 * T,
        "copy": 8000 * G,
    },
    "rtx4090": {
        "gemm:fp32": 82.6 * T,
        "gemm:tf32": 82.6 * T,
        "gemm:bf16": 165.2 * T,  # FP32 accumulation, GeForce rate
        "gemm:fp16": 165.2 * T,
        "gemm:fp8": 330.3 * T,
        "copy": 1008 * G,
        "h2d": 31.5 * G,
    },
}


def datasheet_for(name: str | None) -> dict[str, float] | None:
    """The datasheet figures of an NVML device name, when it is one of PRODUCTS."""
    for key, spec in PRODUCTS.items():
        if name == spec["name"]:
            return DATASHEET[key]
    return None


def readings(name: str) -> dict[str, Any]:
    """The raw readings of a recorded fixture."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def node(
    base: str = "h100_sxm_x8", count: int | None = None, product: str | None = None
) -> FakeNvml:
    """A fake NVML of `count` GPUs copied from the fixture's first GPU, as `product` if given.

    Every GPU gets its own UUID and bus id; no GPU has processes on it.
    """
    data = readings(base)
    first = data["devices"][0]
    count = count or len(data["devices"])
    devices = []
    for index in range(count):
        device = copy.deepcopy(first)
        device["nvmlDeviceGetUUID"] = f"GPU-perf-test-{index:04d}"
        device["nvmlDeviceGetPciInfo"] = {**first["nvmlDeviceGetPciInfo"]}
        device["nvmlDeviceGetPciInfo"]["busId"] = f"00000000:{0x10 + index:02X}:00.0"
        for function in (
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetGraphicsRunningProcesses_v3",
            "nvmlDeviceGetComputeRunningProcesses_v2",
            "nvmlDeviceGetGraphicsRunningProcesses_v2",
        ):
            if function in device:
                device[function] = []
        device["nvmlDeviceGetComputeRunningProcesses_v3"] = []
        device["nvmlDeviceGetGraphicsRunningProcesses_v3"] = []
        devices.append(device)
    data["devices"] = devices
    data["system"]["nvmlDeviceGetCount"] = count
    fake = FakeNvml(data)
    if product is not None:
        for index in range(count):
            as_product(fake, index, product)
    return fake


def as_product(fake: FakeNvml, index: int, product: str) -> None:
    """Give GPU `index` another product's identity and maxima."""
    spec = PRODUCTS[product]
    fake.set_reading(index, "nvmlDeviceGetName", spec["name"])
    fake.set_reading(index, "nvmlDeviceGetCudaComputeCapability", list(spec["cc"]))
    fake.set_reading(index, "nvmlDeviceGetNumGpuCores", spec["cores"])
    fake.set_reading(index, "nvmlDeviceGetMemoryBusWidth", spec["bus"])
    for clock, value in ((0, spec["sm_max"]), (1, spec["sm_max"]), (2, spec["mem_max"])):
        fake.set_reading(index, "nvmlDeviceGetMaxClockInfo", value, (clock,))
    gen, width = spec["pcie"]
    fake.set_reading(index, "nvmlDeviceGetMaxPcieLinkGeneration", gen)
    fake.set_reading(index, "nvmlDeviceGetMaxPcieLinkWidth", width)
    fake.set_reading(index, "nvmlDeviceGetCurrPcieLinkGeneration", gen)
    fake.set_reading(index, "nvmlDeviceGetCurrPcieLinkWidth", width)


def under_load(
    fake: FakeNvml,
    index: int,
    *,
    sm_mhz: int = 1980,
    power_w: float = 650.0,
    reasons: int = 0,
    util: int = 100,
    pcie: tuple[int, int] | None = None,
    temperature_c: int = 62,
) -> None:
    """What GPU `index` reads while a GEMM runs on it (clocks, power, reasons, link)."""
    fake.set_reading(index, "nvmlDeviceGetClockInfo", sm_mhz, (1,))
    fake.set_reading(index, "nvmlDeviceGetClockInfo", sm_mhz, (0,))
    fake.set_reading(index, "nvmlDeviceGetPowerUsage", int(power_w * 1000))
    fake.set_reading(index, "nvmlDeviceGetCurrentClocksEventReasons", reasons)
    fake.set_reading(index, "nvmlDeviceGetUtilizationRates", {"gpu": util, "memory": 40})
    fake.set_reading(index, "nvmlDeviceGetTemperature", temperature_c, (0,))
    if pcie is not None:
        fake.set_reading(index, "nvmlDeviceGetCurrPcieLinkGeneration", pcie[0])
        fake.set_reading(index, "nvmlDeviceGetCurrPcieLinkWidth", pcie[1])


#: nvmlClocksEventReason bits used by the variants.
POWER_CAP = 0x004
POWER_BRAKE = 0x080
HW_SLOWDOWN = 0x008
THERMAL = 0x020


def canned_report() -> Any:
    """A fixed perf report of a node with two H100s and a CPU: GPU 1 slow (power brake, clocks
    down), the CPU healthy against its estimate, every library's GEMM compared on the CPU."""
    from probes.nvml import NvmlSession, nvml_extras
    from probes.peaks import CpuSpecs, cpu_peaks, gpu_peaks, specs_of
    from probes.perf.judge import judge_device, judge_siblings
    from probes.perf.sampler import NvmlSampler
    from probes.perf_model import DevicePerf, LibraryRun, Measurement, PerfReport

    fake = node(count=2, product="h100_sxm")
    under_load(fake, 0, sm_mhz=1980, power_w=640)
    under_load(fake, 1, sm_mhz=1100, power_w=700, reasons=POWER_BRAKE)
    devices = []
    with NvmlSession(fake) as session:
        gpus = session.read().gpus
        sampler = NvmlSampler(session, gpus)
        for _ in range(20):
            sampler.sample_once()
        watches = sampler.stop()
        for gpu, watch, bf16 in zip(gpus, watches, (0.74, 0.58), strict=True):
            extra = nvml_extras(session, gpu.index)
            device = DevicePerf(device=f"cuda:{gpu.index}", name=gpu.name, uuid=gpu.uuid)
            device.peaks = gpu_peaks(specs_of(gpu, extra))
            device.watch = watch
            for key, share in (("gemm:bf16", bf16), ("gemm:fp32", 0.8), ("copy", 0.86)):
                kind, _, dtype = key.partition(":")
                device.measurements.append(
                    Measurement(
                        "torch",
                        device.device,
                        kind,  # type: ignore[arg-type]
                        dtype or None,
                        value=share * device.peaks[key].value,
                        unit="FLOP/s" if kind == "gemm" else "B/s",
                        size=8192 if kind == "gemm" else 1 << 30,
                        result_ok=True,
                    )
                )
            judge_device(device, extra)
            devices.append(device)
    cpu = DevicePerf(device="cpu", name="AMD EPYC 7763 64-Core Processor")
    cpu.peaks = cpu_peaks(
        CpuSpecs(
            model_name="AMD EPYC 7763 64-Core Processor",
            vendor="AuthenticAMD",
            family=25,
            flags=frozenset({"avx2", "fma"}),
            cores=8,
            clock_mhz=3525.0,
            clock_source="the maximum clock cpufreq reports",
        )
    )
    for library, gflops in (
        ("numpy", 410.0),
        ("torch", 520.0),
        ("tensorflow", 470.0),
        ("jax", 505.0),
    ):
        cpu.measurements.append(
            Measurement(
                library, "cpu", "gemm", "fp32", value=gflops * 1e9, size=1024, result_ok=True
            )
        )
    judge_device(cpu)
    report = PerfReport(
        mltui_version="0.1.0",
        created_at="2026-11-27T10:00:00Z",
        hostname="gpu-node-07",
        python="/opt/envs/ml/bin/python",
        cpu_model=cpu.name,
        seconds_budget=60.0,
        elapsed_s=9.4,
        devices=[cpu, *devices],
        libraries=[
            LibraryRun("numpy", "ok", "2.4.6"),
            LibraryRun("torch", "ok", "2.13.0"),
            LibraryRun("tensorflow", "ok", "2.21.0"),
            LibraryRun("jax", "ok", "0.10.2"),
        ],
    )
    judge_siblings(report.devices)
    from probes.perf.judge import overall

    report.verdict, report.reasons = overall(report.devices)
    return report


def carrying(variable: str, word: str) -> list[Any]:
    """Live (not zombie) processes with `variable=word` in their environment: what a test
    started and everything those started (they inherit it)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["status", "environ"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and (
                (proc.info["environ"] or {}).get(variable) == word
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def marked_environment(variable: str) -> Iterator[str]:
    """Body of a fixture: a unique word in `variable` of this process's environment (so every
    process a test starts inherits it); afterwards no live process may carry it (waited for up
    to 5 s, then killed, and the test fails)."""
    import os
    import time
    import uuid

    word = uuid.uuid4().hex
    previous = os.environ.get(variable)
    os.environ[variable] = word
    try:
        yield word
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous
    deadline = time.monotonic() + 5
    while carrying(variable, word) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = carrying(variable, word)
    for proc in left:
        proc.kill()
    assert left == [], "processes left behind"
