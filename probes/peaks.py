"""Theoretical peaks to hold a measurement against: GPUs from NVML readings, the CPU from cpuinfo.

GPU compute peak = SMs × clock × dense FLOP per clock per SM, keyed by compute capability (NVML's
architecture enum cannot tell GA100 from GA10x), with the product class where the rate depends
on it (GeForce and the L40 run FP16/BF16 with FP32 accumulation at half rate). The clock is the
one NVIDIA's datasheet numbers use: for Hopper and GeForce that is not the NVML maximum (H100 SXM
tensor figures use 1830 MHz, not 1980; an RTX 4090's NVML maximum of 3105 MHz is the overclock
ceiling, its rated boost is 2520), so a per-product table gives it, with the source of each row.
A product outside the table, or one without a sourced figure (RTX PRO 6000, B300), gets no GEMM
peak at all (`no_compute_peak` says why): a guess from its maximum clock would judge it against a
number no datasheet printed (an H20 shares the H100's compute capability at about a quarter of
its rate). Tensor peaks are always the dense ones: a plain GEMM never gets the 2:4-sparsity
figures datasheets print with an asterisk.

Memory peak = NVML max memory clock × 2 × bus width / 8 (NVML reports half the per-pin data
rate for every memory type in scope; GDDR7 is not verified, so that peak is an estimate). Host
link = PCIe generation × width per direction, after 128b/130b encoding. NVLink = active links ×
per-link rate; a peer copy is held to NVLink only where NVML's P2P status says the pair has it.

CPU peak = cores × clock × FP32 FLOP per cycle for its vector ISA. /proc/cpuinfo cannot tell the
number of FMA units or whether 512-bit operations are native, and a VM rarely shows the turbo
clock, so the CPU figure is always "estimated" with its assumptions spelled out.

Sources: ../shared/gpu-peaks.md (NVIDIA datasheets and whitepapers, cuda-samples'
_ConvertSMVer2Cores, public deviceQuery readings; Intel's vpu-count and McCalpin for CPUs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes.model import GpuInfo, SystemInfo
from probes.perf_model import Peak

GIGA = 1e9
TERA = 1e12

#: FP32 lanes (CUDA cores) per SM by compute capability (cuda-samples _ConvertSMVer2Cores).
CORES_PER_SM: dict[str, int] = {
    "7.0": 64,
    "7.2": 64,
    "7.5": 64,
    "8.0": 64,
    "8.6": 128,
    "8.7": 128,
    "8.9": 128,
    "9.0": 128,
    "10.0": 128,
    "10.3": 128,
    "12.0": 128,
}

#: Dense FLOP per clock per SM: compute capability -> data type -> (full rate, GeForce rate).
#: fp32 is the non-tensor rate; tf32/bf16/fp16 are tensor rates with FP32 accumulation; fp8
#: with FP32 accumulation (what torch._scaled_mm does with a bf16 output).
FLOP_PER_CLOCK: dict[str, dict[str, tuple[int, int]]] = {
    "7.0": {"fp32": (128, 128), "fp16": (1024, 1024)},
    "7.5": {"fp32": (128, 128), "fp16": (1024, 512)},
    "8.0": {"fp32": (128, 128), "tf32": (1024, 1024), "bf16": (2048, 2048), "fp16": (2048, 2048)},
    "8.6": {"fp32": (256, 256), "tf32": (512, 256), "bf16": (1024, 512), "fp16": (1024, 512)},
    "8.9": {
        "fp32": (256, 256),
        "tf32": (512, 256),
        "bf16": (1024, 512),
        "fp16": (1024, 512),
        "fp8": (2048, 1024),
    },
    "9.0": {
        "fp32": (256, 256),
        "tf32": (2048, 2048),
        "bf16": (4096, 4096),
        "fp16": (4096, 4096),
        "fp8": (8192, 8192),
    },
    "10.0": {
        "fp32": (256, 256),
        "tf32": (4096, 4096),
        "bf16": (8192, 8192),
        "fp16": (8192, 8192),
        "fp8": (16384, 16384),
    },
}

#: NVLink per-link rate per direction (GB/s) by compute capability.
NVLINK_LINK_GBPS: dict[str, float] = {"7.0": 25.0, "8.0": 25.0, "9.0": 25.0, "10.0": 50.0}

#: PCIe transfer rate per lane (GT/s) by generation; 128b/130b encoding from gen 3 on.
PCIE_GTPS: dict[int, float] = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}


@dataclass(frozen=True)
class Product:
    """What NVML does not say about a GPU model: the datasheet's clocks and the product class.

    A product is judged only against figures with a source: `tensor_clock_mhz` and
    `vector_clock_mhz` reproduce its datasheet's dense tensor and FP32 figures (SMs × clock ×
    the architecture's rate); `dense_tflops` gives figures the architecture's rate cannot
    reproduce (a cut-down part). `no_datasheet` says why a product has no peak to judge by;
    `estimated` marks figures from other than NVIDIA's datasheet (shown, never judged).
    """

    pattern: str  # a regular expression matched against NVML's name (case-insensitive)
    sms: int | None  # SM count (used when neither NVML's core count nor the load script gives it)
    tensor_clock_mhz: int | None  # the clock behind the datasheet's tensor figures
    vector_clock_mhz: int | None  # the clock behind its FP32 figure
    bus_width_bits: int | None
    geforce_rates: bool = False  # FP16/BF16 with FP32 accumulation at half rate
    nvlinks: int = 0
    source: str = ""
    dense_tflops: tuple[tuple[str, float], ...] = ()
    no_datasheet: str | None = None
    estimated: bool = False


#: Datasheet clocks per product (../shared/gpu-peaks.md §1-2, sources S1-S29 there), most
#: specific pattern first: "GH200" before "H200", "H200 NVL" before "H200", "GB200" before
#: "B200". Dense figures only; a clock is the one that reproduces the datasheet's number.
PRODUCTS: tuple[Product, ...] = (
    Product(
        r"H100.*PCIe",
        114,
        1620,
        1755,
        5120,
        source="H100 datasheet 1,513* BF16 / 51 FP32; 1620 MHz tensor clock (H100 whitepaper "
        "table 3, gpu-peaks S1, S5, S12)",
    ),
    Product(
        r"H100 NVL",
        132,
        1545,
        1775,
        None,
        source="H100 NVL 1,671* BF16 / 60 FP32 per GPU (nvidia.com via gpu-peaks S25, S1, S2); "
        "clocks derived",
    ),
    Product(
        r"GH200",
        132,
        1830,
        1980,
        None,
        nvlinks=18,
        source="GH200 datasheet: the H100 SXM's 1,979* BF16 / 67 FP32; 132 SMs at 1980 MHz "
        "(public OpenCL device dump)",
    ),
    Product(
        r"H200 NVL",
        132,
        1545,
        1776,
        6144,
        source="H200 datasheet, NVL column: 1,671* BF16 / 60 FP32 (Lightning _CUDA_FLOPS "
        "'h200 nvl1', gpu-peaks S1); clocks derived, below the SXM's",
    ),
    Product(
        r"\bH20\b",
        None,
        None,
        None,
        6144,
        dense_tflops=(
            ("fp32", 44.0),
            ("tf32", 74.0),
            ("bf16", 148.0),
            ("fp16", 148.0),
            ("fp8", 296.0),
        ),
        estimated=True,
        source="no NVIDIA datasheet is public for the H20; press figures 148 TFLOP/s dense BF16",
    ),
    Product(
        r"H100|H800",
        132,
        1830,
        1980,
        5120,
        nvlinks=18,
        source="H100 SXM datasheet 1,979* BF16 / 67 FP32 at 1830 / 1980 MHz (gpu-peaks S1, S3, "
        "S7, S12)",
    ),
    Product(
        r"H200",
        132,
        1830,
        1980,
        6144,
        nvlinks=18,
        source="H200 SXM datasheet 1,979* BF16 / 67 FP32, the H100 SXM's clocks (gpu-peaks S1, S3)",
    ),
    Product(
        r"GB200",
        148,
        2062,
        None,
        8192,
        nvlinks=18,
        source="GB200 2,500 TFLOP/s dense BF16 per GPU = 148 SMs × 2062 MHz × 8192 (stas00, "
        "gpu-peaks S3); no FP32 figure sourced",
    ),
    Product(
        r"B300",
        None,
        None,
        None,
        8192,
        no_datasheet="no sourced datasheet peak for the B300 yet",
    ),
    Product(
        r"B200",
        148,
        1856,
        1965,
        8192,
        nvlinks=18,
        source="B200 (HGX) 4,500* BF16 / 75 FP32 (gpu-peaks S2, S3, S7, S27); 1856 MHz derived",
    ),
    Product(
        r"RTX PRO 6000",
        None,
        None,
        None,
        512,
        no_datasheet="no sourced datasheet peak for the RTX PRO 6000 (compute capability 12.0)",
    ),
    Product(
        r"RTX 50[5-9]0",
        None,
        None,
        None,
        None,
        geforce_rates=True,
        no_datasheet="no sourced datasheet peak for GeForce RTX 50 cards (compute capability 12.0)",
    ),
    Product(r"A100.*PCIe", 108, 1410, 1410, 5120, source="A100 datasheet (gpu-peaks S1, S3, S10)"),
    Product(
        r"A100|A800",
        108,
        1410,
        1410,
        5120,
        nvlinks=12,
        source="A100 datasheet 624* BF16 / 19.5 FP32 (gpu-peaks S1, S3, S10)",
    ),
    Product(r"A10\b", 72, 1695, 1695, 384, source="A10 datasheet 250* BF16 / 31.2 FP32 (S1, S10)"),
    Product(
        r"L40S",
        142,
        2520,
        2520,
        384,
        source="L40S datasheet 733* BF16 / 91.6 FP32; 2520 MHz (366 dense, gpu-peaks note 2; S11)",
    ),
    Product(
        r"L40\b",
        142,
        2490,
        2490,
        384,
        geforce_rates=True,
        source="L40 datasheet 181.05 BF16 at 2490 MHz (gpu-peaks S1, S11)",
    ),
    Product(r"\bL4\b", 58, 2040, 2040, 192, source="L4 datasheet 242* BF16 / 30.3 FP32 (S1, S10)"),
    Product(
        r"RTX 4090",
        128,
        2520,
        2520,
        384,
        geforce_rates=True,
        source="Ada whitepaper 165.2 BF16 at the rated 2520 MHz boost (gpu-peaks S14, S4)",
    ),
    Product(
        r"RTX 3090",
        82,
        1695,
        1695,
        384,
        geforce_rates=True,
        source="GA102 whitepaper 71 BF16 at the rated 1695 MHz boost (gpu-peaks S13, S4)",
    ),
    Product(
        r"V100",
        80,
        1530,
        1530,
        4096,
        nvlinks=6,
        source="V100 SXM2 datasheet 125 FP16 / 15.7 FP32 (gpu-peaks S1, S4, S10)",
    ),
    Product(r"\bT4\b", 40, 1590, 1590, 256, source="T4 datasheet 65 FP16 / 8.1 FP32 (S1, S10)"),
)


def find_product(name: str | None) -> Product | None:
    """The product table's entry for an NVML device name, or None."""
    if not name:
        return None
    for product in PRODUCTS:
        if re.search(product.pattern, name, re.IGNORECASE):
            return product
    return None


def is_geforce(name: str | None) -> bool:
    """True for consumer cards, whose FP16/BF16 tensor rate with FP32 accumulation is halved."""
    if not name:
        return False
    product = find_product(name)
    if product is not None:
        return product.geforce_rates
    return "geforce" in name.lower() or bool(re.search(r"\bRTX [2-5]0[5-9]0", name))


@dataclass
class GpuSpecs:
    """What the peak derivation reads about one GPU (NVML fields, plus the SM count if known)."""

    name: str | None = None
    compute_capability: str | None = None
    #: nvmlDeviceGetNumGpuCores (CUDA cores), None on MIG or old drivers.
    cuda_cores: int | None = None
    #: the SM count from CUDA (the load script reports torch's multi_processor_count).
    sm_count: int | None = None
    clock_sm_max_mhz: int | None = None
    clock_memory_max_mhz: int | None = None
    memory_bus_width_bits: int | None = None
    pcie_generation_max: int | None = None
    pcie_width_max: int | None = None
    nvlink_active_links: int | None = None
    notes: list[str] = field(default_factory=list)


def specs_of(gpu: GpuInfo, extra: dict[str, Any] | None = None) -> GpuSpecs:
    """The peak-derivation input of a GPU from its NVML reading and what CUDA reported."""
    extra = extra or {}
    return GpuSpecs(
        name=gpu.name,
        compute_capability=gpu.compute_capability or extra.get("compute_capability"),
        cuda_cores=extra.get("cuda_cores"),
        sm_count=extra.get("sm_count"),
        clock_sm_max_mhz=gpu.clock_sm_max_mhz,
        clock_memory_max_mhz=gpu.clock_memory_max_mhz,
        memory_bus_width_bits=extra.get("memory_bus_width_bits"),
        pcie_generation_max=gpu.pcie_generation_max,
        pcie_width_max=gpu.pcie_width_max,
        nvlink_active_links=extra.get("nvlink_active_links"),
    )


def _sm_count(specs: GpuSpecs, product: Product | None) -> tuple[int | None, str]:
    if specs.sm_count:
        return specs.sm_count, "SMs from CUDA"
    per_sm = CORES_PER_SM.get(specs.compute_capability or "")
    if specs.cuda_cores and per_sm:
        return specs.cuda_cores // per_sm, f"SMs = NVML cores {specs.cuda_cores} / {per_sm}"
    if product is not None:
        return product.sms, "SMs from the product table"
    return None, "SM count unknown"


def no_compute_peak(specs: GpuSpecs) -> str | None:
    """Why a GPU has no GEMM peak to be judged by ("no datasheet peak for X"), or None."""
    product = find_product(specs.name)
    name = specs.name or "this GPU"
    if product is None:
        return f"no datasheet peak for {name} (not in mltui's product table)"
    if product.no_datasheet:
        return f"no datasheet peak for {name}: {product.no_datasheet}"
    if product.estimated:
        return f"no datasheet peak for {name}: {product.source}"
    return None


def gpu_compute_peaks(specs: GpuSpecs) -> dict[str, Peak]:
    """Dense GEMM peaks per data type ("gemm:bf16" ...) in FLOP/s, from the product table.

    A product outside the table, or one without a sourced figure, gets no peak (see
    `no_compute_peak`): a guess from its maximum clock would judge it against a number no
    datasheet printed. Figures from other than a datasheet come back marked `estimated`.
    """
    product = find_product(specs.name)
    if product is None or product.no_datasheet:
        return {}
    cc = specs.compute_capability or ""
    sms, sm_basis = _sm_count(specs, product)
    peaks: dict[str, Peak] = {}
    for dtype, tflops in product.dense_tflops:
        share = sms / product.sms if sms and product.sms and sms < product.sms else 1.0
        peaks[f"gemm:{dtype}"] = Peak(
            value=tflops * TERA * share,
            unit="FLOP/s",
            basis=f"{tflops:g} TFLOP/s dense{f' × {share:.2f} of the SMs' if share < 1 else ''}"
            f" ({product.source})",
            estimated=product.estimated,
        )
    rates = FLOP_PER_CLOCK.get(cc)
    if rates is None and cc.split(".")[0] == "10":
        rates = FLOP_PER_CLOCK["10.0"]
    if rates is None or sms is None:
        return peaks
    geforce = is_geforce(specs.name)
    for dtype, (full, reduced) in rates.items():
        per_clock = reduced if geforce else full
        tensor = dtype != "fp32"
        clock = product.tensor_clock_mhz if tensor else product.vector_clock_mhz
        if clock is None or f"gemm:{dtype}" in peaks:
            continue
        value = sms * clock * 1e6 * per_clock
        kind = "tensor, dense" if tensor else "non-tensor"
        peaks[f"gemm:{dtype}"] = Peak(
            value=value,
            unit="FLOP/s",
            basis=(
                f"{sms} SMs × {clock} MHz (datasheet clock) × {per_clock} FLOP/clock/SM "
                f"({kind}; CC {cc}{', GeForce rate' if geforce and per_clock != full else ''}; "
                f"{sm_basis}; {product.source})"
            ),
            estimated=product.estimated,
        )
    return peaks


def gpu_memory_peak(specs: GpuSpecs) -> Peak | None:
    """Device memory bandwidth peak (B/s), from the max memory clock and the bus width."""
    product = find_product(specs.name)
    width = specs.memory_bus_width_bits or (product.bus_width_bits if product else None)
    clock = specs.clock_memory_max_mhz
    if not width or not clock:
        return None
    source = "NVML" if specs.memory_bus_width_bits else "the product table"
    # NVML's half-data-rate convention is verified for HBM2-HBM3e and GDDR6/6X only: the GDDR7
    # of compute capability 12 cards is not (../shared/gpu-peaks.md §3).
    unverified = (specs.compute_capability or "").split(".")[0] in {"12", "13"}
    return Peak(
        value=clock * 1e6 * 2 * width / 8,
        unit="B/s",
        basis=f"{clock} MHz × 2 × {width} bit / 8 (bus width from {source})"
        + ("; GDDR7: NVML's clock convention unverified" if unverified else ""),
        estimated=unverified,
    )


def pcie_peak(generation: int | None, width: int | None) -> Peak | None:
    """PCIe bandwidth per direction (B/s) of a link of this generation and width."""
    if not generation or not width or generation not in PCIE_GTPS:
        return None
    encoding = 128 / 130 if generation >= 3 else 8 / 10
    value = PCIE_GTPS[generation] * 1e9 * encoding / 8 * width
    return Peak(value=value, unit="B/s", basis=f"PCIe gen {generation} x{width}, per direction")


def nvlink_peak(specs: GpuSpecs) -> Peak | None:
    """NVLink bandwidth per direction (B/s): active links × the per-link rate."""
    rate = NVLINK_LINK_GBPS.get(specs.compute_capability or "")
    links = specs.nvlink_active_links
    if not rate or not links:
        return None
    return Peak(
        value=links * rate * GIGA,
        unit="B/s",
        basis=f"{links} active NVLinks × {rate:g} GB/s per direction",
    )


def pair_peaks(specs: GpuSpecs, peers: dict[str, bool | None]) -> dict[str, Peak]:
    """The peer-copy peak per pair ("p2p:cuda:3"): NVLink where NVML says the pair talks over
    NVLink, else the PCIe link; no peak where NVML could not say (None). On NVLink-bridged
    PCIe cards only the bridged pairs have NVLink: the others are judged against PCIe."""
    peaks: dict[str, Peak] = {}
    nvlink = nvlink_peak(specs)
    link = pcie_peak(specs.pcie_generation_max, specs.pcie_width_max)
    for peer, nvlinked in peers.items():
        if nvlinked and nvlink is not None:
            peaks[f"p2p:{peer}"] = nvlink
        elif nvlinked is False and link is not None:
            peaks[f"p2p:{peer}"] = Peak(
                value=link.value,
                unit="B/s",
                basis=f"{link.basis} (NVML: no NVLink to {peer})",
            )
    return peaks


def gpu_peaks(specs: GpuSpecs) -> dict[str, Peak]:
    """Every peak derivable for a GPU, keyed like the measurements: gemm:DTYPE, copy, h2d, d2h,
    p2p (NVLink when links are active, else the PCIe link)."""
    peaks = gpu_compute_peaks(specs)
    memory = gpu_memory_peak(specs)
    if memory is not None:
        peaks["copy"] = memory
    link = pcie_peak(specs.pcie_generation_max, specs.pcie_width_max)
    if link is not None:
        peaks["h2d"] = link
        peaks["d2h"] = link
        peaks["p2p"] = link
    nvlink = nvlink_peak(specs)
    if nvlink is not None:
        peaks["p2p"] = nvlink
    return peaks


# ------------------------------------------------------------------------------------ CPU

#: cpuinfo flags of a CPU with BF16 arithmetic (x86 AVX512_BF16 or AMX, Arm's BF16); elsewhere
#: a BF16 GEMM is emulated and says nothing about the hardware, so only FP32 is measured.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@dataclass
class CpuSpecs:
    """What the CPU estimate reads: /proc/cpuinfo fields, the core count and a clock."""

    model_name: str = ""
    vendor: str = ""
    family: int | None = None
    model: int | None = None
    flags: frozenset[str] = frozenset()
    cores: int | None = None
    clock_mhz: float | None = None
    clock_source: str = ""
    #: Arm's "CPU implementer" and "CPU part" (the core design: 0x41/0xd40 is Neoverse V1).
    implementer: int | None = None
    part: int | None = None


def parse_cpuinfo(text: str) -> CpuSpecs:
    """The fields of the first processor in a /proc/cpuinfo text."""
    specs = CpuSpecs()
    for line in text.splitlines():
        if not line.strip():
            if specs.flags:
                break
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name":
            specs.model_name = value
        elif key == "vendor_id":
            specs.vendor = value
        elif key == "cpu family" and value.isdigit():
            specs.family = int(value)
        elif key == "model" and value.isdigit():
            specs.model = int(value)
        elif key in ("flags", "Features"):
            specs.flags = frozenset(value.split())
        elif key in ("CPU implementer", "CPU part"):
            try:
                number = int(value, 16)
            except ValueError:
                continue
            if key == "CPU implementer":
                specs.implementer = number
            else:
                specs.part = number
        elif key == "cpu MHz" and specs.clock_mhz is None:
            try:
                specs.clock_mhz = float(value)
                specs.clock_source = "the clock /proc/cpuinfo reports (turbo may be higher)"
            except ValueError:
                pass
    return specs


#: FP32 FLOP per cycle per core of Arm core designs, by (CPU implementer, CPU part): FMA pipes ×
#: lanes × 2 (Arm's Software Optimization Guide of each core; Fujitsu's A64FX microarchitecture
#: manual). /proc/cpuinfo names the design only by these numbers.
ARM_CORES: dict[tuple[int, int], tuple[int, str]] = {
    (0x41, 0xD0C): (16, "Neoverse N1: 2 × 128-bit FMA pipes"),
    (0x41, 0xD40): (32, "Neoverse V1: 2 × 256-bit SVE (4 × 128-bit NEON) FMA pipes"),
    (0x41, 0xD49): (16, "Neoverse N2: 2 × 128-bit FMA pipes"),
    (0x41, 0xD4F): (32, "Neoverse V2: 4 × 128-bit FMA pipes"),
    (0x46, 0x001): (64, "A64FX: 2 × 512-bit SVE FMA pipes"),
}


def cpu_flop_per_cycle(specs: CpuSpecs) -> tuple[int, str]:
    """FP32 FLOP per cycle per core for the CPU's vector ISA, and the assumption behind it."""
    flags = specs.flags
    if specs.implementer is not None and specs.part is not None:
        known = ARM_CORES.get((specs.implementer, specs.part))
        if known is not None:
            return known
    name = specs.model_name
    amd = specs.vendor == "AuthenticAMD"
    if "avx512f" in flags:
        if amd:
            if (specs.family or 0) >= 0x1A and "Ryzen AI" not in name:
                return 64, "Zen 5: 2 native 512-bit FMA units assumed"
            return 32, "Zen 4 (or Zen 5 mobile): 512-bit FMA on 256-bit datapaths"
        if re.search(r"(Silver|Bronze)|Gold 5[12]\d\d", name) and not re.search(
            r"Gold 5[12]22", name
        ):
            return 32, "AVX-512 with 1 FMA unit (Xeon Silver/Bronze/Gold 5xxx)"
        if re.search(r"Xeon|Core\(TM\) i[79]-\d{4,5}X", name):
            return 64, "AVX-512 with 2 FMA units assumed (server part)"
        return 32, "AVX-512 with 1 FMA unit assumed (client part)"
    if "avx2" in flags and "fma" in flags:
        if amd and specs.family == 0x17 and (specs.model or 0) < 0x30:
            return 16, "Zen 1: 2 × 128-bit FMA"
        return 32, "AVX2 + FMA3, 2 × 256-bit FMA units assumed"
    if "avx" in flags:
        return 16, "AVX without FMA: one 256-bit add and one multiply per cycle"
    if "sse2" in flags or "asimd" in flags:
        return 8, "128-bit SIMD, one add and one multiply per cycle assumed"
    return 2, "no vector ISA recognised: scalar FMA assumed"


def cpu_peak_missing(specs: CpuSpecs) -> str | None:
    """Why the CPU's peak cannot be estimated (None when it can)."""
    if not specs.flags and (specs.implementer, specs.part) not in ARM_CORES:
        # macOS has no /proc/cpuinfo; a guess of scalar code would be off sixteenfold.
        return "no peak estimated: the CPU's vector extensions are unknown (no cpuinfo flags)"
    if not specs.cores or not specs.clock_mhz:
        return "no peak estimated: the CPU's clock is unknown"
    return None


def cpu_peaks(specs: CpuSpecs) -> dict[str, Peak]:
    """Estimated CPU GEMM peaks (fp32, and bf16 where the ISA has it); empty when
    `cpu_peak_missing` says why."""
    if cpu_peak_missing(specs) is not None or not specs.cores or not specs.clock_mhz:
        return {}
    per_cycle, assumption = cpu_flop_per_cycle(specs)
    base = specs.cores * specs.clock_mhz * 1e6
    clock = f"{specs.clock_mhz / 1000:.2f} GHz ({specs.clock_source})"
    peaks = {
        "gemm:fp32": Peak(
            value=base * per_cycle,
            unit="FLOP/s",
            basis=f"estimated: {specs.cores} cores × {clock} × {per_cycle} FP32 FLOP/cycle "
            f"({assumption})",
            estimated=True,
        )
    }
    if "amx_bf16" in specs.flags:
        peaks["gemm:bf16"] = Peak(
            value=base * 1024,
            unit="FLOP/s",
            basis=f"estimated: {specs.cores} cores × {clock} × 1024 BF16 FLOP/cycle "
            "(AMX tile unit)",
            estimated=True,
        )
    elif "avx512_bf16" in specs.flags:
        peaks["gemm:bf16"] = Peak(
            value=base * per_cycle * 2,
            unit="FLOP/s",
            basis=f"estimated: {specs.cores} cores × {clock} × {per_cycle * 2} BF16 FLOP/cycle "
            "(AVX512_BF16 dot products: twice the FP32 rate)",
            estimated=True,
        )
    return peaks


def read_cpu_specs(system: SystemInfo, cpuinfo_text: str | None = None) -> CpuSpecs:
    """The CPU estimate's input: /proc/cpuinfo, the usable cores, the best clock known."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo_text = ""
    specs = parse_cpuinfo(cpuinfo_text)
    cores = system.cpu.physical_cores or system.cpu.logical_cores
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores or 10**6, len(os.sched_getaffinity(0)))
    limit = system.container.cpu_limit_cores
    if limit and cores:
        cores = max(1, min(cores, int(limit)))
    specs.cores = cores
    max_mhz = system.cpu.frequency_max_mhz
    if max_mhz:
        specs.clock_mhz = max_mhz
        specs.clock_source = "the maximum clock cpufreq reports"
    if not specs.model_name:
        specs.model_name = system.cpu.model or ""
    return specs
