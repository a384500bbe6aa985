"""The data model: JSON round trips, explicit nulls, and the derived schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from probes import model
from probes.model import (
    CheckResult,
    DeviceResult,
    Finding,
    GpuInfo,
    GpuProcess,
    LibraryReport,
    NvmlReport,
    TargetPython,
)


def _sample_result() -> CheckResult:
    gpu = GpuInfo(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        memory_total_bytes=85_520_809_984,
        temperature_c=31,
        fan_percent=None,
        errors={"fan_percent": "NotSupported"},
        processes=[GpuProcess(pid=4242, used_memory_bytes=1 << 30, visible=False)],
    )
    return CheckResult(
        mltui_version="0.1.0",
        created_at="2026-11-26T17:00:00+00:00",
        target=TargetPython(executable="/usr/bin/python3", version="3.11.7"),
        nvml=NvmlReport(status="ok", driver_version="550.54.15", gpus=[gpu]),
        libraries=[
            LibraryReport(
                name="torch",
                status="ok",
                version="2.13.0",
                build={"is_cuda_build": False, "arch_list": []},
                devices=[DeviceResult(kind="cpu", computation_ok=True)],
                phase_timings={"import": 1.5},
            )
        ],
        findings=[Finding("cpu_only_build", "error", "t", "e", "f", library="torch")],
    )


def test_round_trip_keeps_every_value() -> None:
    original = _sample_result()
    restored = model.from_json(CheckResult, model.to_json(original))
    assert restored == original
    assert restored.nvml.gpus[0].processes is not None
    assert restored.nvml.gpus[0].processes[0].visible is False


def test_missing_values_are_explicit_nulls_with_reasons() -> None:
    data = json.loads(model.to_json(_sample_result()))
    gpu = data["nvml"]["gpus"][0]
    assert "fan_percent" in gpu and gpu["fan_percent"] is None
    assert gpu["errors"]["fan_percent"] == "NotSupported"


def test_has_errors_follows_the_findings() -> None:
    result = _sample_result()
    assert result.has_errors
    result.findings[0].severity = "warning"
    assert not result.has_errors


def test_unknown_keys_are_ignored_but_wrong_types_are_not() -> None:
    data = json.loads(model.to_json(_sample_result()))
    data["from_the_future"] = 1
    assert model.from_dict(CheckResult, data).mltui_version == "0.1.0"
    data["libraries"][0]["status"] = "exploded"
    with pytest.raises(ValueError):
        model.from_dict(CheckResult, data)
    data["libraries"][0]["status"] = "ok"
    data["elapsed_s"] = "slow"
    with pytest.raises(ValueError):
        model.from_dict(CheckResult, data)


def test_schema_accepts_a_result_and_rejects_a_broken_one() -> None:
    schema = model.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(model.to_json(_sample_result()))
    jsonschema.validate(data, schema)
    data["nvml"]["gpus"][0]["temperature_c"] = "hot"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    data = json.loads(model.to_json(_sample_result()))
    data["schema_version"] = model.SCHEMA_VERSION + 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
