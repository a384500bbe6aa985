"""NVML variants for the perf tests, derived from the recorded fixtures in tests/fixtures/nvml/.

Each variant starts from a real recording (an 8× H100 SXM or 8× A100 SXM node) and changes only
what the case is about: another product's identity and maxima (the readings public deviceQuery
and nvidia-smi dumps show for it, ../shared/gpu-peaks.md §2-3), reduced clocks, a degraded PCIe
link, a power brake, more GPUs of the same model.
"""

from __future__ import annotations

import copy
import json
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
