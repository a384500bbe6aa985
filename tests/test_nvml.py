"""NvmlSession replaying real GPUs' readings (transcribed nvidia-smi -q dumps) through FakeNvml."""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pynvml
import pytest

from probes.model import NvmlReport, to_dict
from probes.nvml import (
    FIELD_FUNCTIONS,
    NvmlSession,
    decode_clock_event_reasons,
    explain_missing_gpu,
    read_nvml,
)
from tests.fake_nvml import FIXTURES, FakeNvml

DUMPS = ["h100_sxm_x8", "a100_sxm4_x8"]
MIB = 1024 * 1024

# nvidia-smi's labels for the clock event reasons and the bit each stands for in nvml.h.
SMI_REASON_BITS = {
    "Idle": pynvml.nvmlClocksEventReasonGpuIdle,
    "Applications Clocks Setting": pynvml.nvmlClocksEventReasonApplicationsClocksSetting,
    "SW Power Cap": pynvml.nvmlClocksEventReasonSwPowerCap,
    "HW Slowdown": pynvml.nvmlClocksEventReasonHwSlowdown,
    "Sync Boost": pynvml.nvmlClocksEventReasonSyncBoost,
    "SW Thermal Slowdown": pynvml.nvmlClocksEventReasonSwThermalSlowdown,
    "HW Thermal Slowdown": pynvml.nvmlClocksEventReasonHwThermalSlowdown,
    "HW Power Brake Slowdown": pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
    "Display Clock Setting": pynvml.nvmlClocksEventReasonDisplayClockSetting,
}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"nvml_fixture_{name}", FIXTURES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


transcribe = _load("transcribe")
record = _load("record")


def _dump(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = transcribe.parse_nvidia_smi_q(
        (FIXTURES / f"{name}.nvidia-smi.txt").read_text()
    )
    return parsed


def _num(text: str) -> float:
    return float(text.split()[0].rstrip("x%"))


def _read(fake: FakeNvml, **kwargs: Any) -> NvmlReport:
    with NvmlSession(fake, **kwargs) as session:
        return session.read()


@pytest.fixture(params=DUMPS)
def dump_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_fixture_files_name_their_source(dump_name: str) -> None:
    data = json.loads((FIXTURES / f"{dump_name}.json").read_text())
    assert data["provenance"] == "transcribed from nvidia-smi -q"
    assert "GitHub" in data["source"] and "commit" in data["source"]
    assert (FIXTURES / f"{dump_name}.nvidia-smi.txt").exists()


def test_session_reads_what_the_dump_shows(dump_name: str) -> None:
    dump = _dump(dump_name)
    report = _read(FakeNvml.from_fixture(dump_name))
    assert report.status == "ok"
    assert report.driver_version == dump["header"]["Driver Version"]
    assert report.cuda_driver_version == dump["header"]["CUDA Version"]
    assert len(report.gpus) == len(dump["gpus"])
    for gpu, shown in zip(report.gpus, dump["gpus"], strict=True):
        assert gpu.state == "ok"
        assert gpu.name == shown["Product Name"]
        assert gpu.uuid == shown["GPU UUID"]
        assert gpu.pci_bus_id == shown["_bus_id"] == shown["PCI"]["Bus Id"]
        assert gpu.architecture == shown["Product Architecture"]
        fb = shown["FB Memory Usage"]
        assert gpu.memory_total_bytes == _num(fb["Total"]) * MIB
        assert gpu.memory_used_bytes == _num(fb["Used"]) * MIB
        assert gpu.memory_free_bytes == _num(fb["Free"]) * MIB
        assert gpu.memory_reserved_bytes == _num(fb["Reserved"]) * MIB
        assert gpu.utilization_gpu_percent == _num(shown["Utilization"]["Gpu"])
        assert gpu.utilization_memory_percent == _num(shown["Utilization"]["Memory"])
        assert gpu.temperature_c == _num(shown["Temperature"]["GPU Current Temp"])
        power = shown.get("GPU Power Readings") or shown["Power Readings"]
        assert gpu.power_draw_w == pytest.approx(_num(power["Power Draw"]))
        limit = power.get("Enforced Power Limit") or power["Current Power Limit"]
        assert gpu.power_limit_w == pytest.approx(_num(limit))
        assert gpu.clock_sm_mhz == _num(shown["Clocks"]["SM"])
        assert gpu.clock_memory_mhz == _num(shown["Clocks"]["Memory"])
        assert gpu.clock_sm_max_mhz == _num(shown["Max Clocks"]["SM"])
        assert gpu.clock_memory_max_mhz == _num(shown["Max Clocks"]["Memory"])
        link = shown["PCI"]["GPU Link Info"]
        assert gpu.pcie_generation == _num(link["PCIe Generation"]["Current"])
        assert gpu.pcie_generation_max == _num(link["PCIe Generation"]["Max"])
        assert gpu.pcie_width == _num(link["Link Width"]["Current"])
        assert gpu.pcie_width_max == _num(link["Link Width"]["Max"])
        assert shown["Fan Speed"] == "N/A"
        assert gpu.fan_percent is None and gpu.errors["fan_percent"] == "NotSupported"
        assert gpu.performance_state == shown["Performance State"]
        assert gpu.persistence_mode is (shown["Persistence Mode"] == "Enabled")
        assert gpu.compute_mode == shown["Compute Mode"]
        ecc = shown.get("ECC Mode") or shown["Ecc Mode"]
        assert gpu.ecc_mode is (ecc["Current"] == "Enabled")
        uncorrected = [
            int(v) for k, v in shown["ECC Errors"]["Volatile"].items() if "Uncorrectable" in k
        ]
        assert gpu.ecc_uncorrected_volatile == sum(uncorrected)
        rows = shown["Remapped Rows"]
        assert gpu.remapped_rows_pending is (rows["Pending"] == "Yes")
        assert gpu.remapped_rows_failed is (rows["Remapping Failure Occurred"] == "Yes")
        assert gpu.mig_mode is (shown["MIG Mode"]["Current"] == "Enabled")
        assert gpu.mig_devices == []
        reasons_shown = shown.get("Clocks Event Reasons") or shown["Clocks Throttle Reasons"]
        active = 0
        stack = [reasons_shown]
        while stack:
            for label, value in stack.pop().items():
                if isinstance(value, dict):
                    stack.append(value)
                    value = value.get("_value")
                if value == "Active":
                    active |= SMI_REASON_BITS[label]
        assert gpu.clock_event_reasons == decode_clock_event_reasons(active)
        assert "clock_event_reasons" not in gpu.errors


def test_processes_match_the_dump_and_host_pids_are_labelled(dump_name: str) -> None:
    dump = _dump(dump_name)
    report = _read(FakeNvml.from_fixture(dump_name))
    for gpu, shown in zip(report.gpus, dump["gpus"], strict=True):
        entries = shown["Processes"]
        if entries == "None":
            assert gpu.processes == []
            continue
        listed = entries["Process ID"]
        listed = listed if isinstance(listed, list) else [listed]
        kinds = {"C": "compute", "G": "graphics", "C+G": "compute+graphics"}
        expected = {
            int(e["_value"]): (kinds[e["Type"]], _num(e["Used GPU Memory"]) * MIB) for e in listed
        }
        assert gpu.processes is not None
        assert {p.pid: (p.kind, p.used_memory_bytes) for p in gpu.processes} == expected
        for proc in gpu.processes:
            # These PIDs belong to the recorded host; whether this machine has them decides.
            assert proc.visible is psutil.pid_exists(proc.pid)
            if not proc.visible:
                assert proc.command == "host PID not visible in this container"


def test_processes_visible_pid_gets_user_and_command_line() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    me = os.getpid()
    fake.set_reading(
        0, "nvmlDeviceGetComputeRunningProcesses_v3", [{"pid": me, "usedGpuMemory": 5 * MIB}]
    )
    fake.set_reading(
        0, "nvmlDeviceGetGraphicsRunningProcesses_v3", [{"pid": me, "usedGpuMemory": 5 * MIB}]
    )
    absent = 2**31 - 2  # above any pid_max
    fake.set_reading(
        1, "nvmlDeviceGetComputeRunningProcesses_v3", [{"pid": absent, "usedGpuMemory": 7 * MIB}]
    )
    report = _read(fake)
    (mine,) = report.gpus[0].processes or []
    assert mine.kind == "compute+graphics" and mine.visible
    assert mine.user == psutil.Process(me).username()
    assert mine.command == " ".join(psutil.Process(me).cmdline())
    (ghost,) = report.gpus[1].processes or []
    assert ghost.pid == absent and ghost.visible is False and ghost.used_memory_bytes == 7 * MIB


def test_processes_fall_back_from_v3_to_v2() -> None:
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    fake.make_unsupported(0, "nvmlDeviceGetComputeRunningProcesses_v3", "FunctionNotFound")
    fake.set_reading(
        0, "nvmlDeviceGetComputeRunningProcesses_v2", [{"pid": 4242, "usedGpuMemory": MIB}]
    )
    report = _read(fake, process_lookup=lambda pid: None)
    assert [(p.pid, p.kind) for p in report.gpus[0].processes or []] == [(4242, "compute")]
    fake.make_unsupported(0, "nvmlDeviceGetComputeRunningProcesses_v2", "NoPermission")
    fake.make_unsupported(0, "nvmlDeviceGetGraphicsRunningProcesses_v3", "NoPermission")
    report = _read(fake)
    assert report.gpus[0].processes is None
    assert report.gpus[0].errors["processes"] == "NoPermission"


def test_one_unsupported_field_leaves_the_others(dump_name: str) -> None:
    baseline = to_dict(_read(FakeNvml.from_fixture(dump_name)).gpus[0])
    fake = FakeNvml.from_fixture(dump_name)
    fake.make_unsupported(0, "nvmlDeviceGetPowerUsage", "NoPermission")
    fake.make_unsupported(0, "nvmlDeviceGetCurrPcieLinkWidth", "NotSupported")
    gpu = to_dict(_read(fake).gpus[0])
    assert gpu["power_draw_w"] is None and gpu["errors"]["power_draw_w"] == "NoPermission"
    assert gpu["pcie_width"] is None and gpu["errors"]["pcie_width"] == "NotSupported"
    changed = {k for k in gpu if gpu[k] != baseline[k]}
    assert changed == {"power_draw_w", "pcie_width", "errors"}


def test_thresholds_only_where_the_dump_shows_absolute_values() -> None:
    a100 = _read(FakeNvml.from_fixture("a100_sxm4_x8")).gpus[0]
    shown = _dump("a100_sxm4_x8")["gpus"][0]["Temperature"]
    assert a100.temperature_slowdown_c == _num(shown["GPU Slowdown Temp"])
    assert a100.temperature_shutdown_c == _num(shown["GPU Shutdown Temp"])
    h100 = _read(FakeNvml.from_fixture("h100_sxm_x8")).gpus[0]
    assert h100.temperature_slowdown_c is None
    assert h100.errors["temperature_slowdown_c"] == "NoData"


def test_memory_falls_back_to_v1_and_unified_memory_is_named() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.make_unsupported(0, "nvmlDeviceGetMemoryInfo_v2", "FunctionNotFound")
    fake.set_reading(
        0, "nvmlDeviceGetMemoryInfo", {"total": 80 * 2**30, "free": 79 * 2**30, "used": 2**30}
    )
    fake.set_reading(
        1, "nvmlDeviceGetMemoryInfo_v2", {"total": 0, "reserved": 0, "free": 0, "used": 0}
    )
    first, second = _read(fake).gpus
    assert first.memory_total_bytes == 80 * 2**30 and first.memory_used_bytes == 2**30
    assert first.memory_reserved_bytes is None
    assert first.errors["memory_reserved_bytes"] == "FunctionNotFound"
    assert second.memory_total_bytes is None
    assert second.errors["memory_total_bytes"] == "UnifiedMemory"


def test_clock_reasons_fall_back_to_the_throttle_function() -> None:
    # The A100 dump's driver (525) has no ...ClocksEventReasons: the older call answers.
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    fake.set_reading(1, "nvmlDeviceGetCurrentClocksThrottleReasons", 0x4 | 0x40)
    gpu = _read(fake).gpus[1]
    assert gpu.clock_event_reasons == ["software power cap", "hardware thermal slowdown"]
    fake.remove_function("nvmlDeviceGetCurrentClocksEventReasons")
    fake.remove_function("nvmlDeviceGetCurrentClocksThrottleReasons")
    gpu = _read(fake).gpus[1]
    assert gpu.clock_event_reasons is None
    assert gpu.errors["clock_event_reasons"] == "FunctionNotFound"


def test_decode_clock_event_reasons_words_and_unknown_bits() -> None:
    mask = pynvml.nvmlClocksEventReasonGpuIdle | pynvml.nvmlClocksEventReasonSwThermalSlowdown
    assert decode_clock_event_reasons(mask) == ["idle", "software thermal slowdown"]
    assert decode_clock_event_reasons(0) == []
    assert decode_clock_event_reasons(0x8000)[-1] == "unknown reason 0x8000"


def test_lost_gpu_at_start_is_a_placeholder_and_others_read() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.lose_gpu(0)
    lost, other = _read(fake).gpus
    assert lost.state == "lost" and lost.errors == {"state": "GpuIsLost"}
    assert other.state == "ok" and other.name == "NVIDIA H100 80GB HBM3"


def test_gpu_lost_mid_session_keeps_its_identity() -> None:
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    with NvmlSession(fake) as session:
        before = session.read()
        fake.lose_gpu(1)
        after = session.read()
    assert after.gpus[1].state == "lost"
    assert after.gpus[1].uuid == before.gpus[1].uuid
    assert after.gpus[1].pci_bus_id == before.gpus[1].pci_bus_id
    assert after.gpus[1].memory_total_bytes is None
    assert [g.state for g in after.gpus] == ["ok", "lost", "ok"]
    assert fake.init_calls == 1 and fake.shutdown_calls == 1


def test_handle_error_unknown_is_lost_too() -> None:
    """No handle means nothing of the GPU can be read: that one is a placeholder."""
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.make_unsupported(1, "nvmlDeviceGetHandleByIndex", "Unknown")
    gpus = _read(fake).gpus
    assert [g.state for g in gpus] == ["ok", "lost"]
    assert gpus[1].errors == {"state": "Unknown"}


# Issue 18 item 2.8: a field that answers any NVML error degrades that field only. Every field
# function mltui reads, with every error a driver gives for one field, must leave the GPU "ok"
# and every other field as it was.
FIELD_ERRORS = ["NotSupported", "Unknown", "NoPermission", "InvalidArgument", "Timeout", "NoData"]
FIELD_CASES = [
    (field, functions) for field, functions in FIELD_FUNCTIONS.items() if field != "processes"
]


def _without_errors(gpu: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in gpu.items() if k != "errors"}


@pytest.mark.parametrize("error", FIELD_ERRORS)
@pytest.mark.parametrize(("field", "functions"), FIELD_CASES)
def test_one_field_error_degrades_that_field_only(
    field: str, functions: tuple[str, ...], error: str
) -> None:
    baseline = to_dict(_read(FakeNvml.from_fixture("a100_sxm4_x8")).gpus[0])
    fake = FakeNvml.from_fixture("a100_sxm4_x8")
    for function in functions:
        fake.make_unsupported(0, function, error)
    gpus = _read(fake).gpus
    gpu = to_dict(gpus[0])
    assert [g.state for g in gpus] == ["ok", "ok", "ok"]
    assert gpu[field] is None
    assert gpu["errors"][field] == error
    changed = {k for k in _without_errors(gpu) if gpu[k] != baseline[k]}
    # Fields read by the same call fail with it; nothing else changes.
    siblings = {f for f, fns in FIELD_FUNCTIONS.items() if set(fns) & set(functions)}
    siblings |= {"utilization_memory_percent"} if field == "utilization_gpu_percent" else set()
    siblings |= {"memory_used_bytes", "memory_free_bytes"} if "memory" in field else set()
    assert changed <= siblings | {field}


@pytest.mark.parametrize("error", ["Unknown", "NotSupported", "NoPermission"])
def test_every_field_failing_at_once_still_is_no_lost_gpu(error: str) -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    for functions in FIELD_FUNCTIONS.values():
        for function in functions:
            fake.make_unsupported(1, function, error)
    gpus = _read(fake).gpus
    assert [g.state for g in gpus] == ["ok", "ok"]
    assert gpus[1].name is None and gpus[1].errors["name"] == error
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"


def test_field_error_in_the_sampler_keeps_the_handle() -> None:
    """device_call (the perf sampler's reading) forgets a handle only for a lost GPU."""
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.make_unsupported(0, "nvmlDeviceGetPowerUsage", "Unknown")
    with NvmlSession(fake) as session:
        assert session.device_call(0, "nvmlDeviceGetPowerUsage") == (False, "Unknown")
        assert session.device_call(0, "nvmlDeviceGetPowerUsage") == (False, "Unknown")
        ok, _ = session.device_call(0, "nvmlDeviceGetTemperature", 0)
    handles = [c for c in fake.calls if c[0] == "nvmlDeviceGetHandleByIndex"]
    assert ok and len(handles) == 1


def test_mig_devices_are_listed() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.set_reading(0, "nvmlDeviceGetMigMode", [1, 1])
    fake.set_reading(0, "nvmlDeviceGetMaxMigDeviceCount", 7)
    fake.set_reading(
        0,
        "mig_devices",
        {
            "2": {
                "nvmlDeviceGetName": "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
                "nvmlDeviceGetUUID": "MIG-11111111-2222-3333-4444-555555555555",
                "nvmlDeviceGetMemoryInfo": {"total": 40 * 2**30, "free": 40 * 2**30, "used": 0},
            }
        },
    )
    gpu = _read(fake).gpus[0]
    assert gpu.mig_mode is True
    assert [(m.index, m.uuid, m.memory_total_bytes) for m in gpu.mig_devices] == [
        (2, "MIG-11111111-2222-3333-4444-555555555555", 40 * 2**30)
    ]


def test_no_driver_is_a_state_with_explanations() -> None:
    fake = FakeNvml.no_driver()
    report = _read(fake, explain=lambda error: [f"checked ({error})"])
    assert report.status == "no_driver"
    assert report.reason == "no NVIDIA driver: libnvidia-ml.so.1 could not be loaded"
    assert report.explanations == ["checked (LibraryNotFound)"]
    assert report.gpus == []
    mismatch = _read(FakeNvml.no_driver("LibRmVersionMismatch"))
    assert mismatch.status == "error" and "mismatch" in (mismatch.reason or "")


def test_real_binding_on_this_machine_without_a_driver() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver")
    report = read_nvml()
    assert report.status == "no_driver"
    assert report.reason == "no NVIDIA driver: libnvidia-ml.so.1 could not be loaded"
    assert any("libnvidia-ml.so.1 was not found" in line for line in report.explanations)


def test_recorder_output_replays_identically(dump_name: str) -> None:
    original = FakeNvml.from_fixture(dump_name)
    recorded = record.record_readings(original, dump_name, "test")
    json.dumps(recorded)  # what the recorder writes must be plain JSON
    assert original.initialised is False  # it shut NVML down again
    lookup = lambda pid: None  # noqa: E731
    expected = to_dict(_read(FakeNvml.from_fixture(dump_name), process_lookup=lookup))
    replayed = to_dict(_read(FakeNvml(recorded), process_lookup=lookup))
    assert replayed == expected


# ------------------------------------------------------------------ why is there no GPU?


def _tree(tmp_path: Path, *paths: str) -> str:
    for path in paths:
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")
    return str(tmp_path)


def _explain(root: str, **kwargs: Any) -> list[str]:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("site_dirs", [])
    return explain_missing_gpu(root=root, **kwargs)


def test_explain_no_library_and_no_kernel_module(tmp_path: Path) -> None:
    lines = _explain(_tree(tmp_path))
    assert any(line.startswith("libnvidia-ml.so.1 was not found") for line in lines)
    assert any("/proc/driver/nvidia/version" in line for line in lines)


def test_explain_nothing_wrong_when_driver_is_there(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "/dev/nvidiactl", "/dev/nvidia0"
    )
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  565.57.01  Thu Oct 10 2024\n"
    )
    assert _explain(root) == []


def test_explain_stub_library(tmp_path: Path) -> None:
    root = _tree(tmp_path, "/usr/local/cuda/lib64/stubs/libnvidia-ml.so")
    lines = _explain(root, environ={"LD_LIBRARY_PATH": "/usr/local/cuda/lib64/stubs"})
    assert any("stub" in line and "stubs/libnvidia-ml.so" in line for line in lines)


def test_explain_version_mismatch(tmp_path: Path) -> None:
    lib_dir = tmp_path / "usr/lib/x86_64-linux-gnu"
    lib_dir.mkdir(parents=True)
    (lib_dir / "libnvidia-ml.so.570.86.15").write_text("x")
    (lib_dir / "libnvidia-ml.so.1").symlink_to("libnvidia-ml.so.570.86.15")
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  565.57.01  Thu Oct 10 2024\n"
    )
    lines = _explain(str(tmp_path))
    assert any("mismatch" in line and "565.57.01" in line and "570.86.15" in line for line in lines)


def test_explain_nouveau_wsl_container_and_permissions(tmp_path: Path) -> None:
    root = _tree(tmp_path, "/sys/module/nouveau/version", "/.dockerenv")
    (tmp_path / "usr/lib/wsl/lib").mkdir(parents=True)
    lines = _explain(root, environ={"NVIDIA_VISIBLE_DEVICES": "void"})
    assert any("nouveau" in line for line in lines)
    assert any(line.startswith("This is WSL") for line in lines)
    assert any("without GPU access" in line and "'void'" in line for line in lines)
    root = _tree(tmp_path, "/dev/nvidia0", "/dev/nvidiactl")
    denied = _explain(root, access=lambda path, mode: not path.endswith("nvidia0"))
    assert any(line.startswith("No access to /dev/nvidia0") for line in denied)
    assert not any("without GPU access" in line for line in denied)


def test_explain_old_pynvml_package_shadows_the_binding(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    (site / "pynvml").mkdir(parents=True)
    (site / "pynvml" / "__init__.py").write_text("")
    (site / "pynvml.py").write_text("")
    lines = explain_missing_gpu(root="/", environ={}, site_dirs=[str(site)])
    assert any("old 'pynvml' package" in line for line in lines)
    (site / "pynvml" / "__init__.py").unlink()
    lines = explain_missing_gpu(root="/", environ={}, site_dirs=[str(site)])
    assert not any("old 'pynvml' package" in line for line in lines)


def test_committed_fixture_is_the_transcription_of_the_dump(dump_name: str) -> None:
    text = (FIXTURES / f"{dump_name}.nvidia-smi.txt").read_text()
    meta = json.loads((FIXTURES / f"{dump_name}.meta.json").read_text())
    committed = json.loads((FIXTURES / f"{dump_name}.json").read_text())
    assert transcribe.transcribe(text, meta) == committed


# ------------------------------------------------- system versions: NVML's errors only (issue 21)


def test_system_versions_are_none_only_when_nvml_cannot_say() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.readings["system"]["nvmlSystemGetCudaDriverVersion_v2"] = {"nvml_error": "NotSupported"}
    fake.readings["system"]["nvmlSystemGetCudaDriverVersion"] = 12040
    fake.readings["system"]["nvmlSystemGetDriverVersion"] = {"nvml_error": "Unknown"}
    report = _read(fake)
    assert report.status == "ok"
    assert report.cuda_driver_version == "12.4"  # the older function answered
    assert report.driver_version is None


def test_a_binding_without_the_v2_function_falls_back_to_the_old_one() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.remove_function("nvmlSystemGetCudaDriverVersion_v2")
    fake.readings["system"]["nvmlSystemGetCudaDriverVersion"] = 12020
    assert _read(fake).cuda_driver_version == "12.2"


@pytest.mark.parametrize(
    "function", ["nvmlSystemGetDriverVersion", "nvmlSystemGetCudaDriverVersion_v2"]
)
@pytest.mark.parametrize("bug", [TypeError("takes 0 arguments"), KeyError("x"), ValueError("y")])
def test_a_broken_binding_reading_a_system_version_leaves_it_unknown(
    function: str, bug: Exception
) -> None:
    """A binding that raises what is no NVML error (a broken or mismatched pynvml) is outside
    mltui: the version is unknown (shown as such), never a traceback, and the GPUs still read."""
    fake = FakeNvml.from_fixture("h100_sxm_x8")

    def broken() -> None:
        raise bug

    setattr(fake, function, broken)
    report = _read(fake)
    assert report.status == "ok" and report.gpus and report.gpus[0].name
    field = "driver_version" if function == "nvmlSystemGetDriverVersion" else "cuda_driver_version"
    assert getattr(report, field) is None


# ------------------------------------------------- hostile readings and a broken binding


class _BrokenBinding(FakeNvml):
    """A binding whose chosen functions raise what no NVML error is (a broken pynvml)."""

    def __init__(self, readings: dict[str, Any], broken: dict[str, BaseException]) -> None:
        super().__init__(readings)
        self.broken = broken

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name in self.broken and self.initialised:
            raise self.broken[name]
        return super()._call(name, args, kwargs)


@pytest.mark.parametrize(
    "error",
    [TypeError("bad argument"), ctypes.ArgumentError("argument 1"), RuntimeError("x"), OSError(5)],
)
def test_a_broken_binding_degrades_only_what_it_breaks(error: BaseException) -> None:
    readings = FakeNvml.from_fixture("h100_sxm_x8").readings
    broken = {
        "nvmlSystemGetDriverVersion": error,
        "nvmlSystemGetCudaDriverVersion_v2": error,
        "nvmlSystemGetCudaDriverVersion": error,
        "nvmlDeviceGetTemperature": error,
        "nvmlDeviceGetComputeRunningProcesses_v3": error,
    }
    report = _read(_BrokenBinding(readings, broken))
    assert report.status == "ok" and report.driver_version is None
    assert len(report.gpus) == len(readings["devices"])
    for gpu in report.gpus:
        assert gpu.state == "ok" and gpu.name and gpu.memory_total_bytes
        assert gpu.temperature_c is None and gpu.errors["temperature_c"] == type(error).__name__


@pytest.mark.parametrize(
    ("function", "value", "fields"),
    [
        ("nvmlDeviceGetTemperature", "hot", ["temperature_c"]),
        ("nvmlDeviceGetTemperature", -40, ["temperature_c"]),
        ("nvmlDeviceGetPowerUsage", float("nan"), ["power_draw_w"]),
        ("nvmlDeviceGetPowerUsage", True, ["power_draw_w"]),
        ("nvmlDeviceGetFanSpeed", 12.5, ["fan_percent"]),
        ("nvmlDeviceGetMemoryInfo", {"total": -1, "used": -5, "free": 3}, ["memory_used_bytes"]),
        ("nvmlDeviceGetMemoryInfo", {"total": "80G", "used": 0, "free": 0}, ["memory_total_bytes"]),
        (
            "nvmlDeviceGetUtilizationRates",
            {"gpu": "x", "memory": None},
            ["utilization_gpu_percent"],
        ),
        ("nvmlDeviceGetComputeRunningProcesses_v3", [{"pid": "x"}, {"pid": -1}], ["processes"]),
    ],
)
def test_a_reading_no_driver_gives_is_unreadable_not_a_crash(
    function: str, value: Any, fields: list[str]
) -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    device = fake.readings["devices"][0]
    for name in (function, f"{function}_v2"):
        if name in device or name == function:
            if isinstance(device.get(name), dict) and "by_args" in device[name]:
                device[name]["by_args"] = dict.fromkeys(device[name]["by_args"], value)
            else:
                device[name] = value
    report = _read(fake)
    gpu = report.gpus[0]
    assert gpu.state == "ok" and gpu.name
    for field in fields:
        assert gpu.errors.get(field) == "Unreadable", (field, gpu.errors)
        assert getattr(gpu, field, None) in (None, []), getattr(gpu, field)
    assert report.gpus[1].errors.get(fields[0]) != "Unreadable"  # the others read as recorded


@pytest.mark.parametrize("count", [-1, 10**9, "8", 2.5])
def test_a_device_count_no_machine_has_is_an_error_not_a_hang(count: Any) -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.readings["system"]["nvmlDeviceGetCount"] = count
    report = _read(fake)
    assert report.status == "error" and "could not count" in (report.reason or "")
    assert report.gpus == []
