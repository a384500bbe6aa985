"""Peaks derived from NVML readings against the datasheets, and the CPU estimate from cpuinfo.

The GPU readings are the recorded H100 SXM and A100 SXM fixtures, and variants of them carrying
the readings public deviceQuery / nvidia-smi dumps show for H100 PCIe, L4, L40S and RTX 4090
(tests/perf_fixtures.py). The datasheet figures are NVIDIA's dense ones (sparse ÷ 2), as
../shared/gpu-peaks.md §1 lists them with their sources.
"""

from __future__ import annotations

import pytest

from probes.nvml import NvmlSession, nvml_extras
from probes.peaks import (
    CpuSpecs,
    GpuSpecs,
    cpu_flop_per_cycle,
    cpu_peaks,
    find_product,
    gpu_peaks,
    no_compute_peak,
    parse_cpuinfo,
    pcie_peak,
    specs_of,
)
from probes.perf_model import Peak
from tests.fake_nvml import FakeNvml
from tests.perf_fixtures import DATASHEET, node


def _derive(fake: FakeNvml, index: int = 0) -> dict[str, Peak]:
    with NvmlSession(fake) as session:
        gpu = session.read().gpus[index]
        extra = nvml_extras(session, index)
    return gpu_peaks(specs_of(gpu, extra))


@pytest.mark.parametrize("product", sorted(DATASHEET))
def test_derived_peaks_match_the_datasheet_within_3_percent(product: str) -> None:
    peaks = _derive(node(count=1, product=product))
    for key, datasheet in DATASHEET[product].items():
        assert key in peaks, f"{product}: no {key} peak"
        assert peaks[key].value == pytest.approx(datasheet, rel=0.03), (product, key)
        assert peaks[key].basis
        assert not peaks[key].estimated, (product, key)


def test_h100_sxm_from_the_recorded_fixture_uses_the_tensor_clock_not_the_max_clock() -> None:
    # The recording has no core count or bus width: the product table supplies them, and says so.
    peaks = _derive(FakeNvml.from_fixture("h100_sxm_x8"))
    bf16 = peaks["gemm:bf16"]
    assert bf16.value == pytest.approx(989.4e12, rel=0.001)  # 132 × 1830 MHz × 4096
    assert "1830 MHz" in bf16.basis and "dense" in bf16.basis
    assert "product table" in bf16.basis
    assert peaks["gemm:fp32"].value == pytest.approx(66.9e12, rel=0.001)  # at 1980 MHz
    assert peaks["h2d"].value == pytest.approx(63.0e9, rel=0.01)
    assert peaks["copy"].value == pytest.approx(3352.3e9, rel=0.001)


def test_a100_from_the_recorded_fixture() -> None:
    peaks = _derive(FakeNvml.from_fixture("a100_sxm4_x8"))
    assert peaks["gemm:bf16"].value == pytest.approx(312e12, rel=0.01)
    assert peaks["gemm:tf32"].value == pytest.approx(156e12, rel=0.01)
    assert "gemm:fp8" not in peaks  # Ampere has no FP8 tensor cores
    assert peaks["copy"].value == pytest.approx(2039e9, rel=0.001)


def test_sparse_figures_are_never_the_peak() -> None:
    peaks = _derive(node(count=1, product="h100_sxm"))
    assert peaks["gemm:bf16"].value < 1100e12  # 1979 is the 2:4-sparse figure
    assert peaks["gemm:fp8"].value < 2100e12


def test_sm_count_from_cuda_wins_over_nvml_cores_and_the_table() -> None:
    fake = node(count=1, product="h100_sxm")
    with NvmlSession(fake) as session:
        gpu = session.read().gpus[0]
        extra = nvml_extras(session, 0)
    assert gpu_peaks(specs_of(gpu, extra))["gemm:bf16"].basis.count("NVML cores") == 1
    extra["sm_count"] = 66  # a MIG-like slice: half the SMs
    half = gpu_peaks(specs_of(gpu, extra))["gemm:bf16"]
    assert half.value == pytest.approx(989.4e12 / 2, rel=0.001)
    assert "SMs from CUDA" in half.basis


@pytest.mark.parametrize(
    ("name", "cc"),
    [
        ("NVIDIA Future Card", "9.0"),  # a Hopper rate and a max clock would make up a peak
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "12.0"),
        ("NVIDIA GeForce RTX 5090", "12.0"),
        ("NVIDIA B300 SXM6 AC", "10.3"),
        ("NVIDIA A10G", "8.6"),
        ("NVIDIA A40", "8.6"),
    ],
)
def test_a_gpu_without_a_datasheet_peak_gets_no_gemm_peak_and_says_why(name: str, cc: str) -> None:
    specs = GpuSpecs(name=name, compute_capability=cc, cuda_cores=100 * 128, clock_sm_max_mhz=2000)
    peaks = gpu_peaks(specs)
    assert not [key for key in peaks if key.startswith("gemm:")], peaks
    reason = no_compute_peak(specs)
    assert reason is not None and reason.startswith(f"no datasheet peak for {name}")


def test_rtx_pro_6000_memory_peak_is_an_estimate_and_it_has_no_gemm_peak() -> None:
    peaks = _derive(node(count=1, product="rtx_pro_6000"))
    assert not [key for key in peaks if key.startswith("gemm:")]
    assert peaks["copy"].estimated and "GDDR7" in peaks["copy"].basis


def test_h20_is_not_judged_against_the_h100_rate() -> None:
    # Same compute capability (9.0) as an H100; the rate per SM is cut: the derivation from
    # CC would give about 4x the H20's figure.
    fake = node(count=1, product="h20")
    peaks = _derive(fake)
    assert peaks["gemm:bf16"].value == pytest.approx(148e12)
    assert all(p.estimated for key, p in peaks.items() if key.startswith("gemm:"))
    with NvmlSession(fake) as session:
        specs = specs_of(session.read().gpus[0], nvml_extras(session, 0))
    assert (no_compute_peak(specs) or "").startswith("no datasheet peak for NVIDIA H20")


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 datasheet, NVL"),
        ("NVIDIA GH200 480GB", "GH200"),
        ("NVIDIA GB200", "GB200"),
        ("NVIDIA B200", "B200 (HGX)"),
        ("NVIDIA H20", "H20"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L40", "L40 datasheet"),
        ("NVIDIA L4", "L4 datasheet"),
        ("NVIDIA A10", "A10 datasheet"),
        ("Tesla T4", "T4 datasheet"),
        ("Tesla V100-SXM2-32GB", "V100"),
    ],
)
def test_each_product_is_its_own_row(name: str, source: str) -> None:
    # "H200" is in "GH200" and "H200 NVL", "B200" in "GB200", "L4" in "L40S".
    product = find_product(name)
    assert product is not None and source in product.source, (name, product)


def test_gb200_h200_nvl_and_the_sxm_parts_have_distinct_peaks() -> None:
    h200 = _derive(node(count=1, product="h200_sxm"))["gemm:bf16"].value
    nvl = _derive(node(count=1, product="h200_nvl"))["gemm:bf16"].value
    assert nvl == pytest.approx(835.5e12, rel=0.01) and h200 == pytest.approx(989.5e12, rel=0.01)
    gb200 = _derive(node(count=1, product="gb200"))["gemm:bf16"].value
    b200 = _derive(node(count=1, product="b200"))["gemm:bf16"].value
    assert gb200 == pytest.approx(2500e12, rel=0.01) and b200 == pytest.approx(2250e12, rel=0.01)


def test_h200_peaks_match_the_datasheet() -> None:
    peaks = _derive(node(count=1, product="h200_sxm"))
    assert peaks["gemm:bf16"].value == pytest.approx(989e12, rel=0.03)
    assert peaks["copy"].value == pytest.approx(4.8e12, rel=0.03)
    assert not peaks["gemm:bf16"].estimated and not peaks["copy"].estimated


def test_unknown_architecture_or_sm_count_gives_no_compute_peak() -> None:
    assert "gemm:bf16" not in gpu_peaks(GpuSpecs(name="x", compute_capability="6.1"))
    assert "gemm:bf16" not in gpu_peaks(GpuSpecs(name="x", compute_capability="9.0"))


def test_a_degraded_link_lowers_the_host_peak_only_through_the_max_link() -> None:
    # The peak is the card's maximum link; a link that trained lower is a reason, not a peak.
    fake = node(count=1, product="h100_pcie")
    fake.set_reading(0, "nvmlDeviceGetCurrPcieLinkGeneration", 3)
    fake.set_reading(0, "nvmlDeviceGetCurrPcieLinkWidth", 8)
    assert _derive(fake)["h2d"].value == pytest.approx(63e9, rel=0.01)


@pytest.mark.parametrize(
    ("gen", "width", "gbps"),
    [(3, 16, 15.75), (4, 16, 31.5), (5, 16, 63.0), (5, 8, 31.5), (4, 4, 7.88), (2, 16, 8.0)],
)
def test_pcie_per_direction(gen: int, width: int, gbps: float) -> None:
    peak = pcie_peak(gen, width)
    assert peak is not None
    assert peak.value == pytest.approx(gbps * 1e9, rel=0.01)


def test_nvlink_peak_from_active_links() -> None:
    fake = node(count=1, product="h100_sxm")
    for link in range(18):
        fake.set_reading(0, "nvmlDeviceGetNvLinkState", 1 if link < 16 else 0, (link,))
    peaks = _derive(fake)
    assert peaks["p2p"].value == pytest.approx(16 * 25e9)
    assert "16 active NVLinks" in peaks["p2p"].basis


# ------------------------------------------------------------------------------------ CPU

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC 9555 64-Core Processor
cpu MHz\t\t: 2596.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512_bf16 avx_vnni avx512_vp2intersect

processor\t: 1
"""


def _cpuinfo(model_name: str, flags: str, vendor: str = "GenuineIntel", family: int = 6) -> str:
    return (
        f"vendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 85\n"
        f"model name\t: {model_name}\ncpu MHz\t\t: 2000.000\nflags\t\t: {flags}\n\n"
    )


@pytest.mark.parametrize(
    ("text", "per_cycle"),
    [
        (ZEN5, 64),
        (_cpuinfo("AMD Ryzen 9 7950X", "avx2 fma avx512f", "AuthenticAMD", 25), 32),
        (_cpuinfo("AMD EPYC 7763 64-Core Processor", "avx2 fma", "AuthenticAMD", 25), 32),
        (_cpuinfo("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", "avx2 fma avx512f"), 64),
        (_cpuinfo("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", "avx2 fma avx512f"), 32),
        (_cpuinfo("Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz", "avx2 fma avx512f"), 32),
        (_cpuinfo("Intel(R) Xeon(R) Gold 5222 CPU @ 3.80GHz", "avx2 fma avx512f"), 64),
        (_cpuinfo("Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", "avx avx2 fma"), 32),
        (_cpuinfo("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "sse2 avx"), 16),
    ],
)
def test_cpu_flop_per_cycle_from_the_vector_isa(text: str, per_cycle: int) -> None:
    specs = parse_cpuinfo(text)
    assert cpu_flop_per_cycle(specs)[0] == per_cycle


def test_cpu_peak_is_labelled_estimated_with_its_assumptions() -> None:
    specs = parse_cpuinfo(ZEN5)
    specs.cores = 2
    peaks = cpu_peaks(specs)
    fp32 = peaks["gemm:fp32"]
    assert fp32.estimated
    assert fp32.value == pytest.approx(2 * 2596e6 * 64)
    assert fp32.basis.startswith("estimated")
    assert "2 cores" in fp32.basis and "2.60 GHz" in fp32.basis and "assumed" in fp32.basis
    assert peaks["gemm:bf16"].value == pytest.approx(2 * fp32.value)


def test_cpu_peak_with_amx_and_without_a_clock() -> None:
    specs = CpuSpecs(
        model_name="Intel(R) Xeon(R) Platinum 8480+",
        vendor="GenuineIntel",
        flags=frozenset({"avx2", "fma", "avx512f", "amx_bf16", "amx_tile"}),
        cores=56,
        clock_mhz=2000.0,
    )
    assert cpu_peaks(specs)["gemm:bf16"].value == pytest.approx(56 * 2e9 * 1024)
    specs.clock_mhz = None
    assert cpu_peaks(specs) == {}
