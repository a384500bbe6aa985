"""A whole check: system and NVML read beside the library probes, diagnosis, cache, schema."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from probes.cache import load_check
from probes.catalog import get_library
from probes.check import run_check, run_check_sync
from probes.model import CheckResult, LibraryReport, from_json, json_schema, to_dict, to_json
from probes.target import current_target
from tests.fake_nvml import FIXTURES, FakeNvml

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "probes" / "check.schema.json"
QUICK = [get_library("cv2"), get_library("caffe")]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(folder))
    return folder


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == json_schema(), (
        "probes/check.schema.json is stale: regenerate it with "
        "`mltui check --schema > probes/check.schema.json` (and bump SCHEMA_VERSION in "
        "probes/model.py if a field was removed or changed meaning)"
    )
    jsonschema.Draft202012Validator.check_schema(committed)


async def test_check_with_a_recorded_gpu_machine(private_cache: Path) -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    seen: list[str] = []
    result = await run_check(
        current_target(), QUICK, timeout=120, nvml=fake, on_library=lambda r: seen.append(r.name)
    )
    assert sorted(seen) == ["caffe", "cv2"]
    assert [r.name for r in result.libraries] == ["cv2", "caffe"]
    assert result.nvml.status == "ok"
    recorded = json.loads((FIXTURES / "h100_sxm_x8.json").read_text())
    assert len(result.nvml.gpus) == len(recorded["devices"]) > 0
    assert result.system.cpu.logical_cores
    assert result.target == current_target()
    assert result.created_at.endswith("Z") and result.created_at[:2] == "20"
    assert result.elapsed_s is not None and result.elapsed_s > 0
    # The diagnosis compared the fake's eight H100s with what the libraries saw.
    assert all(f.rule and f.fix for f in result.findings)
    jsonschema.validate(json.loads(to_json(result)), json_schema())
    cached = load_check(current_target())
    assert cached is not None and to_dict(cached.result) == to_dict(result)


def test_check_without_driver_is_a_state() -> None:
    result = run_check_sync(current_target(), QUICK, nvml=FakeNvml.no_driver())
    assert result.nvml.status == "no_driver"
    assert result.nvml.reason
    assert result.nvml.gpus == []
    statuses = {r.name: r.status for r in result.libraries}
    assert statuses == {"cv2": "ok", "caffe": "not_installed"}
    assert not result.has_errors, result.findings


async def test_nvml_is_read_while_the_libraries_are_probed() -> None:
    """The NVML read blocks until a library report arrives: only a concurrent check finishes."""
    release = threading.Event()
    inflight_when_library_done: list[bool] = []

    class SlowNvml(FakeNvml):
        started = False

        def nvmlInit(self) -> None:
            self.started = True
            release.wait(30)
            super().nvmlInit()

    fake = SlowNvml.from_fixture("a100_sxm4_x8")

    def library_done(report: LibraryReport) -> None:
        inflight_when_library_done.append(fake.started and not fake.initialised)
        release.set()

    started = time.monotonic()
    result = await run_check(
        current_target(), [get_library("caffe")], nvml=fake, on_library=library_done
    )
    assert inflight_when_library_done == [True]
    assert time.monotonic() - started < 25
    assert result.nvml.status == "ok"


def test_unwritable_cache_does_not_fail_the_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(blocker / "mltui"))
    result = run_check_sync(current_target(), [get_library("caffe")], nvml=FakeNvml.no_driver())
    assert [r.status for r in result.libraries] == ["not_installed"]


def test_result_round_trips_through_json() -> None:
    result = run_check_sync(current_target(), QUICK, nvml=FakeNvml.from_fixture("a100_sxm4_x8"))
    again = from_json(CheckResult, to_json(result))
    assert to_dict(again) == to_dict(result)
