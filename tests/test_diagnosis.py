"""Diagnosis rules over recorded inputs: NVML reports replayed from the real GPUs' fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from probes.diagnosis import diagnose, resolve_visible_devices
from probes.model import DeviceResult, Finding, LibraryReport, NvmlReport
from probes.nvml import NvmlSession
from tests.fake_nvml import FakeNvml


def _nvml(name: str = "a100_sxm4_x8", change: Any = None) -> NvmlReport:
    fake = FakeNvml.from_fixture(name)
    if change:
        change(fake)
    with NvmlSession(fake, process_lookup=lambda pid: None) as session:
        return session.read()


def _no_driver() -> NvmlReport:
    with NvmlSession(FakeNvml.no_driver(), explain=lambda e: ["no libnvidia-ml"]) as session:
        return session.read()


def torch(
    *, cuda: str | None = "12.4", gpus: int = 3, arch: list[str] | None = None, cudnn: Any = "90100"
) -> LibraryReport:
    build = {
        "is_cuda_build": cuda is not None,
        "cuda_version": cuda,
        "cudnn_version": cudnn if cuda else None,
        "hip_version": None,
        "arch_list": arch if arch is not None else (["sm_80", "sm_86", "sm_90"] if cuda else []),
        "cuda_available": bool(cuda and gpus),
    }
    devices = [DeviceResult(kind="cpu", computation_ok=True)] + [
        DeviceResult(kind="cuda", index=i, computation_ok=True) for i in range(gpus if cuda else 0)
    ]
    return LibraryReport(
        name="torch",
        display_name="PyTorch",
        status="ok",
        version="2.5.1",
        build=build,
        devices=devices,
    )


def tensorflow(*, cuda: str | None = None, distribution: str = "tensorflow") -> LibraryReport:
    build = {
        "is_cuda_build": cuda is not None,
        "cuda_version": cuda,
        "cudnn_version": "9",
        "distribution": distribution,
        "gpus_listed": 0,
    }
    return LibraryReport(
        name="tensorflow",
        display_name="TensorFlow",
        status="ok",
        version="2.21.0",
        build=build,
        devices=[DeviceResult(kind="cpu")],
    )


def rules(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.rule, []).append(finding)
    return out


def test_healthy_machine_has_no_problem_findings() -> None:
    # The A100 node's driver 525 gives CUDA 12.0: a torch built for 12.0 fits it.
    findings = diagnose(_nvml(), [torch(cuda="12.0")], environ={})
    assert [f for f in findings if f.severity != "info"] == []


def test_cpu_only_builds_on_a_gpu_machine() -> None:
    found = rules(
        diagnose(_nvml(), [torch(cuda=None), tensorflow(distribution="tensorflow-cpu")], environ={})
    )
    by_lib = {f.library: f for f in found["cpu_only_build"]}
    assert "download.pytorch.org/whl/cu" in by_lib["torch"].fix
    assert "pip uninstall tensorflow-cpu" in by_lib["tensorflow"].fix
    assert "cpu_only_build" not in rules(diagnose(_no_driver(), [torch(cuda=None)], environ={}))


@pytest.mark.parametrize(
    ("build_cuda", "driver_cuda", "severity"),
    [("12.4", "12.0", "warning"), ("12.4", "11.8", "error"), ("12.0", "12.0", None)],
)
def test_driver_too_old(build_cuda: str, driver_cuda: str, severity: str | None) -> None:
    major, minor = (int(x) for x in driver_cuda.split("."))
    nvml = _nvml(
        change=lambda f: f.readings["system"].update(
            nvmlSystemGetCudaDriverVersion_v2=major * 1000 + minor * 10
        )
    )
    found = rules(diagnose(nvml, [torch(cuda=build_cuda)], environ={})).get("driver_too_old", [])
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_driver_branch_below_minor_compatibility_floor_is_an_error() -> None:
    nvml = _nvml(
        change=lambda f: f.readings["system"].update(
            nvmlSystemGetDriverVersion="520.61.05", nvmlSystemGetCudaDriverVersion_v2=12000
        )
    )
    (finding,) = rules(diagnose(nvml, [torch(cuda="12.4")], environ={}))["driver_too_old"]
    assert finding.severity == "error"


def test_cuda_visible_devices_mapping() -> None:
    gpus = _nvml().gpus
    uuid1 = gpus[1].uuid or ""
    assert resolve_visible_devices("2,0", gpus) == ([2, 0], None, set())
    assert resolve_visible_devices(uuid1[:12], gpus)[0] == [1]
    visible, problem, _ = resolve_visible_devices("1,7,0", gpus)
    assert visible == [1] and problem and "'7'" in problem and "ignores 0" in problem


def test_cuda_visible_devices_findings() -> None:
    nvml = _nvml()
    hides = rules(diagnose(nvml, [torch(gpus=1)], environ={"CUDA_VISIBLE_DEVICES": "1"}))
    (finding,) = hides["cuda_visible_devices_hides"]
    assert "hidden: 0, 2" in finding.evidence
    assert "fewer_gpus_than_nvml" not in hides  # one visible, torch sees one: explained
    empty = rules(diagnose(nvml, [torch(gpus=0)], environ={"CUDA_VISIBLE_DEVICES": ""}))
    assert "cuda_visible_devices_hides_all" in empty
    bad = rules(diagnose(nvml, [torch(gpus=0)], environ={"CUDA_VISIBLE_DEVICES": "GPU-nope,0"}))
    assert "cuda_visible_devices_invalid" in bad and "cuda_visible_devices_hides_all" in bad
    assert not rules(diagnose(nvml, [torch()], environ={})).get("cuda_visible_devices_hides")


def test_cuda_build_without_driver() -> None:
    found = rules(diagnose(_no_driver(), [torch()], environ={}))
    (finding,) = found["cuda_build_without_driver"]
    assert "no libnvidia-ml" in finding.fix
    assert "cuda_build_without_driver" not in rules(diagnose(_nvml(), [torch()], environ={}))


def test_library_sees_fewer_gpus() -> None:
    none = rules(diagnose(_nvml(), [torch(gpus=0)], environ={}))["fewer_gpus_than_nvml"]
    assert none[0].severity == "error"
    some = rules(diagnose(_nvml(), [torch(gpus=2)], environ={}))["fewer_gpus_than_nvml"]
    assert some[0].severity == "warning" and "2 of the 3" in some[0].title
    assert "fewer_gpus_than_nvml" not in rules(diagnose(_nvml(), [torch(gpus=3)], environ={}))


def test_cudnn_missing() -> None:
    assert "cudnn_missing" in rules(diagnose(_nvml(), [torch(cudnn=None)], environ={}))
    assert "cudnn_missing" not in rules(diagnose(_nvml(), [torch()], environ={}))


def test_arch_not_in_torch_build() -> None:
    h100 = _nvml("h100_sxm_x8")
    found = rules(diagnose(h100, [torch(gpus=2, arch=["sm_70", "sm_80"])], environ={}))
    assert {f.severity for f in found["arch_not_in_build"]} == {"error"}
    assert "sm_90" in found["arch_not_in_build"][0].title
    jit = rules(diagnose(h100, [torch(gpus=2, arch=["sm_80", "compute_80"])], environ={}))
    assert {f.severity for f in jit["arch_not_in_build"]} == {"warning"}
    ok = rules(diagnose(_nvml(), [torch(arch=["sm_80"])], environ={}))  # A100 is 8.0
    assert "arch_not_in_build" not in ok


def test_compute_mode() -> None:
    exclusive = _nvml(change=lambda f: f.set_reading(0, "nvmlDeviceGetComputeMode", 3))
    (finding,) = rules(diagnose(exclusive, [], environ={}))["compute_mode"]
    assert "280058" in finding.evidence and finding.gpu_index == 0  # the dump's process
    idle_exclusive = _nvml(
        change=lambda f: (
            f.set_reading(0, "nvmlDeviceGetComputeMode", 3),
            f.set_reading(0, "nvmlDeviceGetComputeRunningProcesses_v3", []),
        )
    )
    assert "compute_mode" not in rules(diagnose(idle_exclusive, [], environ={}))
    prohibited = _nvml(change=lambda f: f.set_reading(2, "nvmlDeviceGetComputeMode", 2))
    assert rules(diagnose(prohibited, [], environ={}))["compute_mode"][0].severity == "error"


def _mig_on(fake: FakeNvml) -> None:
    fake.set_reading(0, "nvmlDeviceGetMigMode", [1, 1])
    fake.set_reading(0, "nvmlDeviceGetMaxMigDeviceCount", 7)
    fake.set_reading(0, "mig_devices", {"0": {"nvmlDeviceGetUUID": "MIG-aaaa-bbbb"}})


def test_mig_without_device() -> None:
    nvml = _nvml(change=_mig_on)
    (finding,) = rules(diagnose(nvml, [], environ={}))["mig_without_device"]
    assert "MIG-aaaa-bbbb" in finding.fix
    given = diagnose(nvml, [], environ={"CUDA_VISIBLE_DEVICES": "MIG-aaaa-bbbb"})
    assert "mig_without_device" not in rules(given)


def test_pcie_link_degraded_idle_is_info_busy_is_warning() -> None:
    # A100 GPU 0 is at 0 % utilisation in the dump, GPU 1 at 100 %.
    nvml = _nvml(
        change=lambda f: (
            f.set_reading(0, "nvmlDeviceGetCurrPcieLinkGeneration", 1),
            f.set_reading(1, "nvmlDeviceGetCurrPcieLinkGeneration", 3),
        )
    )
    found = {
        f.gpu_index: f.severity for f in rules(diagnose(nvml, [], environ={}))["pcie_link_degraded"]
    }
    assert found == {0: "info", 1: "warning"}
    assert "pcie_link_degraded" not in rules(diagnose(_nvml(), [], environ={}))


def test_throttling() -> None:
    thermal = _nvml(
        change=lambda f: f.set_reading(1, "nvmlDeviceGetCurrentClocksThrottleReasons", 0x40)
    )
    (finding,) = rules(diagnose(thermal, [], environ={}))["throttling"]
    assert finding.severity == "warning" and finding.gpu_index == 1 and "heat" in finding.title
    capped = _nvml(
        change=lambda f: f.set_reading(1, "nvmlDeviceGetCurrentClocksThrottleReasons", 0x4)
    )
    assert rules(diagnose(capped, [], environ={}))["throttling"][0].severity == "info"
    # The H100 dump shows "Idle: Active": idle is not throttling.
    assert "throttling" not in rules(diagnose(_nvml("h100_sxm_x8"), [], environ={}))


def test_ecc_and_remapped_rows() -> None:
    bad = _nvml(
        change=lambda f: (
            f.set_reading(0, "nvmlDeviceGetTotalEccErrors", 3, args=(1, 0)),
            f.set_reading(1, "nvmlDeviceGetRemappedRows", [0, 1, 1, 0]),
            f.set_reading(2, "nvmlDeviceGetRemappedRows", [0, 2, 0, 1]),
        )
    )
    found = rules(diagnose(bad, [], environ={}))
    assert [(f.gpu_index, f.severity) for f in found["ecc_uncorrected"]] == [(0, "error")]
    assert {(f.gpu_index, f.severity) for f in found["remapped_rows"]} == {
        (1, "warning"),
        (2, "error"),
    }
    clean = rules(diagnose(_nvml(), [], environ={}))
    assert "ecc_uncorrected" not in clean and "remapped_rows" not in clean


def test_lost_gpu() -> None:
    found = rules(diagnose(_nvml(change=lambda f: f.lose_gpu(2)), [], environ={}))
    assert [(f.gpu_index, f.severity) for f in found["gpu_lost"]] == [(2, "error")]
    assert "gpu_lost" not in rules(diagnose(_nvml(), [], environ={}))


def test_theano_c_backend() -> None:
    def theano(c_backend: bool) -> LibraryReport:
        return LibraryReport(
            name="theano",
            display_name="Theano",
            status="ok",
            version="1.0.5",
            build={
                "device": "cpu",
                "c_backend": c_backend,
                "c_backend_error": None if c_backend else "g++ not found",
            },
        )

    (finding,) = rules(diagnose(_no_driver(), [theano(False)], environ={}))["c_backend_missing"]
    assert "g++ not found" in finding.evidence
    assert "c_backend_missing" not in rules(diagnose(_no_driver(), [theano(True)], environ={}))
    assert "compiler" in finding.fix and "apt install g++" in finding.fix


def test_theano_c_backend_with_a_compiler_points_to_pytensor() -> None:
    theano = LibraryReport(
        name="theano",
        status="ok",
        version="1.0.5",
        build={"c_backend": False, "c_backend_error": "PyInt_AsLong", "cxx": "/usr/bin/g++"},
    )
    (finding,) = rules(diagnose(_no_driver(), [theano], environ={}))["c_backend_missing"]
    assert "pip install pytensor" in finding.fix
    assert "apt install g++" not in finding.fix


def test_persistence_off_is_info() -> None:
    off = _nvml(change=lambda f: f.set_reading(1, "nvmlDeviceGetPersistenceMode", 0))
    (finding,) = rules(diagnose(off, [], environ={}))["persistence_off"]
    assert finding.severity == "info" and "GPU 1" in finding.title
    assert "persistence_off" not in rules(diagnose(_nvml(), [], environ={}))


def test_function_not_found_suggests_upgrading_the_binding() -> None:
    nvml = _nvml("h100_sxm_x8", change=lambda f: f.remove_function("nvmlDeviceGetRemappedRows"))
    (finding,) = rules(diagnose(nvml, [], environ={}))["nvml_function_not_found"]
    assert "nvmlDeviceGetRemappedRows" in finding.evidence and "nvidia-ml-py" in finding.fix
    assert "nvml_function_not_found" not in rules(diagnose(_nvml("h100_sxm_x8"), [], environ={}))


def test_findings_are_sorted_errors_first() -> None:
    nvml = _nvml(
        change=lambda f: (f.lose_gpu(0), f.set_reading(1, "nvmlDeviceGetPersistenceMode", 0))
    )
    severities = [f.severity for f in diagnose(nvml, [torch(gpus=0)], environ={})]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
