"""Perf figures taken on a busy machine say so (issue 19 §3): the load average before and during
the run, against the CPUs mltui may use, with the run's own load allowed for."""

from __future__ import annotations

import asyncio

import pytest

from probes.perf.busy import busy_reason, note_load
from probes.perf.plan import PerfOptions
from probes.perf.run import run_perf
from probes.perf_model import PerfReport
from probes.target import current_target
from tests.fake_nvml import FakeNvml


def _report(loads: list[float], cpus: int) -> PerfReport:
    report = PerfReport()
    note_load(report, loads, cpus)
    return report


@pytest.mark.parametrize(
    ("loads", "cpus", "expected"),
    [
        ([15.0, 16.0], 2, "load 16 on 2 CPUs: figures are low"),  # the issue's own case
        ([0.1, 2.0], 2, None),  # the run's own GEMM on both CPUs
        ([0.1, 2.9], 2, None),  # its own load and a little more
        ([1.5, 1.6], 2, "load 2 on 2 CPUs: figures are low"),  # busy before it started
        ([0.0, 40.0], 64, None),  # a big machine: 40 runnable of 64
        ([0.0, 100.0], 64, "load 100 on 64 CPUs: figures are low"),
        ([0.7, 1.2], 1, "load 1 on 1 CPU: figures are low"),
        ([], 8, None),  # no load average on this system
    ],
)
def test_busy_reason(loads: list[float], cpus: int, expected: str | None) -> None:
    assert busy_reason(_report(loads, cpus)) == expected


@pytest.mark.frameworks
@pytest.mark.parametrize("load", [1000.0, 0.0])
def test_a_real_run_records_the_load_and_says_when_it_was_busy(load: float) -> None:
    report = asyncio.run(
        run_perf(
            current_target(),
            PerfOptions(devices="cpu", seconds=30, libraries=("numpy",)),
            nvml=FakeNvml.no_driver(),
            load=lambda: load,
        )
    )
    assert report.load_before == load and report.load_peak == load and report.usable_cpus
    busy = [r for r in report.reasons if "figures are low" in r]
    cpu = report.devices[0]
    if load:
        assert len(busy) == 1 and busy[0].startswith(f"load 1000 on {report.usable_cpus} CPU")
        assert busy[0] in cpu.reasons
    else:
        assert busy == [] and not any("figures are low" in r for r in cpu.reasons)
