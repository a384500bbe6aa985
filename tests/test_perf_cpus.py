"""The CPU's estimated peak and the BF16/AMX choice, run on recorded CPUs instead of this host.

Each fixture in tests/fixtures/cpus/ is a real machine's /proc/cpuinfo or lscpu output, with its
public source in tests/fixtures/cpus/SOURCES.md: Zen 1, Zen 4, Sapphire Rapids, Ice Lake (two
lscpu layouts), Graviton3 (Neoverse V1), an Apple M1 under Linux, and an Apple M1 under macOS,
which has no /proc/cpuinfo at all. Core counts and clocks are given here, so nothing depends on
the CPU, clock, load or core count of the machine the suite runs on (issue 21, item 1).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from probes.peaks import (
    BF16_FLAGS,
    CpuSpecs,
    cpu_flop_per_cycle,
    cpu_peak_missing,
    cpu_peaks,
    parse_cpuinfo,
)
from probes.perf.plan import PerfOptions, cpu_turns
from probes.perf.run import run_perf
from probes.target import current_target
from tests.fake_nvml import FakeNvml
from tests.support import fixed_system
from tui.presentation import human_rate

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cpus"


def cpuinfo_from_lscpu(text: str) -> str:
    """The /proc/cpuinfo fields an lscpu output holds (its Flags may be wrapped at any column)."""
    names = {
        "Vendor ID": "vendor_id",
        "Model name": "model name",
        "CPU family": "cpu family",
        "Model": "model",
        "Flags": "flags",
    }
    fields: dict[str, str] = {}
    last: str | None = None
    column = 0
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() in names:
            last = names[key.strip()]
            column = len(line) - len(value.lstrip())
            fields[last] = value.strip()
        elif last == "flags" and line[:column].strip() == "" and len(line) > column:
            fields[last] += line[column:].rstrip("\n")  # a wrap may split a word: join as is
        else:
            last = None
    return "".join(f"{name}\t: {value.strip()}\n" for name, value in fields.items())


def recorded(name: str) -> CpuSpecs:
    """A recorded CPU's specs (lscpu outputs read through their /proc/cpuinfo fields)."""
    text = (FIXTURES / name).read_text()
    return parse_cpuinfo(cpuinfo_from_lscpu(text) if name.endswith(".lscpu") else text)


@dataclass(frozen=True)
class Expected:
    """What the estimate must make of one recorded CPU."""

    model: str
    per_cycle: int
    assumption: str
    #: The BF16 GEMM is measured (the CPU has BF16 arithmetic).
    bf16_measured: bool
    #: What the BF16 peak is derived from ("AMX", "AVX512_BF16"), None without one.
    bf16_peak: str | None
    #: Why there is no estimate at all (None: there is one).
    no_peak: str | None = None


RECORDED = {
    "zen1-epyc-7301.cpuinfo": Expected(
        "AMD EPYC 7301 16-Core Processor", 16, "Zen 1: 2 × 128-bit FMA", False, None
    ),
    "zen4-epyc-9654.cpuinfo": Expected(
        "AMD EPYC 9654 96-Core Processor", 32, "Zen 4", True, "AVX512_BF16"
    ),
    "sapphire-rapids-xeon-8480.cpuinfo": Expected(
        "Intel(R) Xeon(R) Platinum 8480+", 64, "2 FMA units assumed (server part)", True, "AMX"
    ),
    "icelake-xeon-8380.lscpu": Expected(
        "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz",
        64,
        "2 FMA units assumed (server part)",
        False,
        None,
    ),
    "icelake-xeon-5318y.lscpu": Expected(
        "Intel(R) Xeon(R) Gold 5318Y CPU @ 2.10GHz",
        64,
        "2 FMA units assumed (server part)",
        False,
        None,
    ),
    "graviton3-neoverse-v1.cpuinfo": Expected("", 32, "Neoverse V1", True, None),
    "apple-m1-asahi.cpuinfo": Expected("", 8, "128-bit SIMD", False, None),
    "apple-m1-macos.sysctl": Expected(
        "",
        2,
        "no vector ISA recognised",
        False,
        None,
        "no peak estimated: the CPU's vector extensions are unknown (no cpuinfo flags)",
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_estimate_of_each_recorded_cpu(name: str) -> None:
    expected = RECORDED[name]
    specs = recorded(name)
    assert specs.model_name == expected.model
    per_cycle, assumption = cpu_flop_per_cycle(specs)
    assert per_cycle == expected.per_cycle
    assert expected.assumption in assumption
    specs.cores, specs.clock_mhz, specs.clock_source = 4, 2000.0, "the test's clock"
    peaks = cpu_peaks(specs)
    if expected.no_peak:
        assert peaks == {} and cpu_peak_missing(specs) == expected.no_peak
        return
    assert cpu_peak_missing(specs) is None
    fp32 = peaks["gemm:fp32"]
    assert fp32.estimated and fp32.value == pytest.approx(4 * 2e9 * expected.per_cycle)
    assert assumption in fp32.basis and "4 cores × 2.00 GHz" in fp32.basis
    bf16 = peaks.get("gemm:bf16")
    if expected.bf16_peak is None:
        assert bf16 is None
    else:
        assert bf16 is not None and expected.bf16_peak in bf16.basis and bf16.estimated
        assert bf16.value > fp32.value


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_bf16_is_measured_only_where_the_recorded_cpu_has_it(name: str) -> None:
    specs = recorded(name)
    assert bool(specs.flags & BF16_FLAGS) == RECORDED[name].bf16_measured
    (numpy,), (torch,) = cpu_turns(
        ["numpy", "torch"], specs, PerfOptions(), fixed_system(), slice_s=0.1
    )
    dtypes = ("fp32", "bf16") if RECORDED[name].bf16_measured else ("fp32",)
    assert tuple(numpy.dtypes) == dtypes and tuple(torch.dtypes) == dtypes


def test_the_peak_prints_with_the_precision_it_has() -> None:
    """Zen 1's estimate on two cores at the clock a VM reports is ~63.9, not a round number:
    the CLI's test must not expect one (the defect of issue 21, item 1)."""
    specs = recorded("zen1-epyc-7301.cpuinfo")
    specs.cores, specs.clock_mhz = 2, 1996.25
    assert human_rate(cpu_peaks(specs)["gemm:fp32"].value, "FLOP/s") == "63.9 GFLOP/s"


def test_the_lscpu_reading_joins_wrapped_flags() -> None:
    wrapped = recorded("icelake-xeon-5318y.lscpu").flags
    single = recorded("icelake-xeon-8380.lscpu").flags
    for flag in ("avx512f", "avx512_vnni", "avx512bw", "nonstop_tsc", "dca", "tsc_deadline_timer"):
        assert flag in wrapped
    assert {"avx512f", "avx512_vnni", "fma", "avx2"} <= single
    assert not any(flag.startswith("avx512_") and flag.endswith("_") for flag in wrapped)


@pytest.mark.frameworks
def test_a_cpu_without_flags_is_measured_but_not_judged() -> None:
    """A Mac (no /proc/cpuinfo): NumPy's figure is shown, and no guessed peak calls it healthy."""
    report = asyncio.run(
        run_perf(
            current_target(),
            PerfOptions(devices="cpu", seconds=90, libraries=("numpy",)),
            nvml=FakeNvml.no_driver(),
            cpuinfo_text=(FIXTURES / "apple-m1-macos.sysctl").read_text(),
        )
    )
    (cpu,) = report.devices
    assert cpu.peaks == {}
    assert any(m.value for m in cpu.measurements)
    assert cpu.verdict == "unjudged"
    assert cpu.reasons[0] == (
        "not judged: no peak estimated: the CPU's vector extensions are unknown (no cpuinfo flags)"
    )
    assert report.verdict != "healthy"
