"""What is kept of a perf run (issue 17 class 8): a run cut short or covering fewer devices never
replaces complete figures; the one rule (`probes.perf.keep`) holds for every way a run can end.

Reports are built from the canned two-H100 + CPU run and variants of it (cancelled, a library
that timed out or failed, a budget that ran out, fewer devices, a CPU-only run); the cache is a
real folder; one vector is a real cancelled CPU run of this machine's libraries.
"""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path

import pytest

from probes.cache import load_perf, perf_path, save_perf
from probes.perf.events import Measured, PerfEvent
from probes.perf.keep import incomplete_reasons, keep_perf, merge_perf
from probes.perf.plan import PerfOptions
from probes.perf.run import run_perf
from probes.perf_model import LibraryRun, Measurement, PerfReport
from probes.target import current_target
from tests.fake_nvml import FakeNvml
from tests.perf_fixtures import canned_report
from tui.perf_view import comparison_rows, measured_by_library


def _complete() -> PerfReport:
    report: PerfReport = canned_report()
    assert not incomplete_reasons(report)
    return report


def _later(report: PerfReport, stamp: str = "2026-12-05T06:00:00Z") -> PerfReport:
    later = copy.deepcopy(report)
    later.created_at = stamp
    return later


def _cpu_figure(report: PerfReport) -> float | None:
    cpu = next(d for d in report.devices if d.device == "cpu")
    return next(m.value for m in cpu.measurements if m.kind == "gemm")


def _cut_short(how: str) -> PerfReport:
    """A later run of the same node ended `how`: the CPU measured a little, the GPUs nothing."""
    report = _later(_complete())
    for device in report.devices:
        if device.device != "cpu":
            device.measurements = []
            device.verdict, device.reasons = "skipped", ["not measured: the run was cut short"]
    cpu = next(d for d in report.devices if d.device == "cpu")
    cpu.measurements = [Measurement("numpy", "cpu", "gemm", dtype="fp32", value=1e9, unit="FLOP/s")]
    if how == "cancelled":
        report.cancelled = True
        for run in report.libraries:
            run.status = "cancelled"
    elif how == "timeout":
        report.libraries[1].status = "timeout"
    elif how == "failed":
        report.libraries[1].status = "failed"
        report.libraries[1].error = "killed by SIGSEGV"
    return report


@pytest.mark.parametrize("how", ["cancelled", "timeout", "failed"])
def test_a_run_cut_short_never_replaces_a_complete_one(how: str) -> None:
    complete = _complete()
    kept = merge_perf(_cut_short(how), complete)
    assert kept is complete  # nothing of the cut-short run improves on it
    assert measured_by_library(kept)  # the Knowledge table's measured column keeps its rows
    assert comparison_rows(kept)


def test_a_library_missing_is_its_state_not_a_run_cut_short() -> None:
    new = _later(_complete())
    new.libraries[2] = LibraryRun(library="tensorflow", status="not_installed")
    new.libraries[3] = LibraryRun(library="jax", status="import_error", error="no module")
    assert not incomplete_reasons(new)
    assert merge_perf(new, _complete()) is new


def test_a_complete_run_replaces_the_kept_one() -> None:
    new = _later(_complete())
    assert merge_perf(new, _complete()) is new
    assert merge_perf(new, None) is new


def test_a_complete_run_that_finds_a_failure_replaces_healthy_figures() -> None:
    new = _later(_complete())
    gpu = new.devices[0]
    gpu.measurements = [Measurement("torch", gpu.device, "gemm", dtype="bf16", error="Xid 79")]
    gpu.verdict, gpu.reasons = "failed", ["nothing was measured on this device"]
    kept = merge_perf(new, _complete())
    assert kept is new and kept.devices[0].verdict == "failed"


def test_a_cpu_only_run_after_a_gpu_run_keeps_the_gpus_figures() -> None:
    complete = _complete()
    new = _later(complete)
    new.devices = [copy.deepcopy(d) for d in complete.devices if d.device == "cpu"]
    new.allreduce = None
    kept = merge_perf(new, complete)
    assert [d.device for d in kept.devices] == ["cpu", "cuda:0", "cuda:1"]
    assert kept.devices[0] is new.devices[0] and kept.devices[0].measured_at is None
    assert {d.measured_at for d in kept.devices[1:]} == {complete.created_at}
    assert kept.created_at == new.created_at
    assert kept.verdict == "slow"  # judged again over the devices it holds: cuda:1 is slow


def test_a_partial_device_set_keeps_the_devices_it_did_not_measure() -> None:
    complete = _complete()
    new = _later(complete)
    new.devices = [d for d in new.devices if d.device == "cuda:0"]
    kept = merge_perf(new, complete)
    devices = {d.device: d for d in kept.devices}
    assert set(devices) == {"cpu", "cuda:0", "cuda:1"}
    assert devices["cuda:0"].measured_at is None
    assert devices["cuda:1"].measured_at == complete.created_at


def test_a_run_cut_short_fills_in_a_device_nothing_was_kept_for() -> None:
    complete = _complete()
    complete.devices = [d for d in complete.devices if d.device != "cpu"]
    new = _cut_short("timeout")
    kept = merge_perf(new, complete)
    devices = {d.device: d for d in kept.devices}
    assert _cpu_figure(kept) == 1e9 and devices["cpu"].measured_at is None
    assert devices["cuda:0"].measured_at == complete.created_at
    assert kept.verdict != "healthy"


def test_the_first_run_is_kept_even_when_cut_short() -> None:
    new = _cut_short("cancelled")
    assert merge_perf(new, None) is new


def test_a_second_run_cut_short_replaces_the_first_cut_short_one() -> None:
    first = _cut_short("cancelled")
    second = _later(_cut_short("timeout"), "2026-12-05T07:00:00Z")
    assert merge_perf(second, first) is second


def test_a_busy_gpu_keeps_its_earlier_figures() -> None:
    complete = _complete()
    new = _later(complete)
    busy = new.devices[1]
    busy.measurements, busy.busy_pids = [], [4242]
    busy.verdict, busy.reasons = "skipped", ["busy: PIDs 4242 (--force measures anyway)"]
    kept = merge_perf(new, complete)
    assert kept.devices[1].measurements and kept.devices[1].measured_at == complete.created_at


def test_keep_perf_through_the_cache(cache_in_tmp: Path) -> None:
    target = current_target()
    complete = _complete()
    assert keep_perf(complete, target).path is not None
    outcome = keep_perf(_cut_short("cancelled"), target)
    assert outcome.path is not None and "kept the run of" in outcome.note
    loaded = load_perf(target)
    assert loaded is not None and loaded.created_at == complete.created_at
    assert measured_by_library(loaded)


def test_keep_perf_on_an_unwritable_cache_is_a_state(cache_in_tmp: Path) -> None:
    target = current_target()
    cache_in_tmp.mkdir(parents=True)
    assert save_perf(_complete(), target) is not None
    perf_path(target).unlink()
    perf_path(target).mkdir()  # the file's place is taken: nothing can be renamed there
    outcome = keep_perf(_cut_short("failed"), target)
    assert outcome.path is None
    assert outcome.report.cancelled is False and incomplete_reasons(outcome.report)


def test_the_unusable_cache_folder_is_a_state_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTUI_CACHE_DIR", "~nosuchuser-mltui/x")
    outcome = keep_perf(_complete(), current_target())
    assert outcome.path is None and outcome.report.devices


@pytest.mark.frameworks
def test_a_real_cancelled_cpu_run_keeps_the_complete_one(cache_in_tmp: Path) -> None:
    target = current_target()
    complete = _complete()
    assert keep_perf(complete, target).path is not None

    async def cancelled_run() -> PerfReport:
        cancel = asyncio.Event()

        def on_event(event: PerfEvent) -> None:
            if isinstance(event, Measured):
                cancel.set()

        return await run_perf(
            target,
            PerfOptions(devices="cpu", seconds=90, libraries=("numpy",)),
            nvml=FakeNvml.no_driver(),
            cancel=cancel,
            on_event=on_event,
        )

    report = asyncio.run(cancelled_run())
    assert report.cancelled
    outcome = keep_perf(report, target)
    assert outcome.report is not report
    loaded = load_perf(target)
    assert loaded is not None and loaded.created_at == complete.created_at
    assert {d.device for d in loaded.devices} == {"cpu", "cuda:0", "cuda:1"}
    assert os.path.exists(perf_path(target))
