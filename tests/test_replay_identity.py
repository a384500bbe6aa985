"""GPU identity: one rule (probes/scripts/mltui_gpu_uuid.py) compares a UUID from CUDA with NVML's.

CUDA (torch's `str(props.uuid)`) gives a UUID bare, whole GPU or MIG instance alike; NVML writes
`GPU-...` or `MIG-...`. The probe once prefixed every bare UUID with `GPU-`, so a MIG instance was
reported as a GPU that does not exist. These tests drive many forms through every path that
compares UUIDs: the probe, the perf load script, the replay stand-in, the diagnosis.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from probes.diagnosis import resolve_visible_devices
from probes.model import GpuInfo, MigDevice
from probes.scripts.mltui_gpu_uuid import is_mig_uuid, same_uuid, uuid_key, uuid_text
from tests.test_replay_cli import _mltui

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "probes" / "scripts"
MIG = "MIG-29bc79e4-04d3-0795-d983-cdcef95dcd7c"
GPU = "GPU-31515c3d-1414-7c2c-004a-f86a898946ac"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"identity_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (MIG, MIG[4:]),  # NVML's MIG form against torch's bare form
        (GPU, GPU[4:]),
        (GPU, GPU.upper().replace("GPU-", "gpu-")),  # case
        (MIG, "  " + MIG[4:] + "\n"),  # whitespace around
        (GPU, bytes.fromhex(GPU[4:].replace("-", ""))),  # cudaDeviceProp.uuid's 16 bytes
        (MIG, MIG[4:].replace("-", "")),  # no dashes
    ],
)
def test_every_form_of_one_uuid_has_one_key(first: object, second: object) -> None:
    assert same_uuid(first, second)


@pytest.mark.parametrize(
    ("first", "second"),
    [(GPU, MIG), ("GPU-", "MIG-"), ("", ""), (None, None), ("GPU-", GPU), (b"short", b"short")],
)
def test_different_or_empty_uuids_never_match(first: object, second: object) -> None:
    assert not same_uuid(first, second)


def test_the_probe_never_invents_a_prefix() -> None:
    probe = _script("probe_library")
    assert probe.gpu_uuid(MIG[4:]) == MIG[4:]
    assert not probe.gpu_uuid(MIG[4:]).startswith("GPU-")
    assert probe.gpu_uuid(MIG) == MIG and probe.gpu_uuid(GPU) == GPU
    assert probe.gpu_uuid(None) is None and probe.gpu_uuid("  ") is None
    assert uuid_text(" x ") == "x" and is_mig_uuid(MIG) and not is_mig_uuid(GPU[4:])


def test_the_load_script_records_a_mig_instance_as_it_is() -> None:
    load = _script("perf_load")
    load.pin_devices(["cuda:0"], [MIG])
    assert load.check_identity("cuda:0", MIG[4:]) is None  # pinned MIG, CUDA's bare form
    assert load._RAN_ON["cuda:0"] == MIG
    assert load.check_identity("cuda:0", GPU[4:]) is not None  # another device: an error
    unpinned = _script("perf_load")
    unpinned.pin_devices(["cuda:0"], [])
    assert unpinned.check_identity("cuda:0", MIG[4:]) is None
    assert not unpinned._RAN_ON["cuda:0"].startswith("GPU-")


def test_the_diagnosis_finds_a_mig_instance_by_its_uuid_or_a_prefix() -> None:
    gpus = [
        GpuInfo(index=0, name="A100", uuid=GPU, mig_devices=[MigDevice(index=0, uuid=MIG)]),
        GpuInfo(index=1, name="A100", uuid="GPU-72d87681-01db-370e-567d-41afcf20fad0"),
    ]
    for entry in (MIG, MIG[:12]):
        assert resolve_visible_devices(entry, gpus) == ([0], None, {0})
    visible, problem, _ = resolve_visible_devices("1,1", gpus)
    assert visible == [] and problem and "repeated" in problem


def test_check_reports_each_mig_instance_by_a_uuid_nvml_knows(tmp_path: Path) -> None:
    """End to end: torch on the A100 MIG box sees a MIG instance; the check's UUID for it is
    the MIG instance's (never a `GPU-` one no GPU has), and the whole GPU's is its own."""
    done = _mltui("a100-mig", tmp_path, "check", "--json", "--only", "torch")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    result = json.loads(done.stdout)
    nvml_gpus = result["nvml"]["gpus"]
    migs = {uuid_key(m["uuid"]) for g in nvml_gpus for m in g["mig_devices"]}
    wholes = {uuid_key(g["uuid"]) for g in nvml_gpus}
    (torch,) = [lib for lib in result["libraries"] if lib["name"] == "torch"]
    cuda = [d for d in torch["devices"] if d["kind"] == "cuda"]
    assert len(cuda) == 2
    kinds = []
    for device in cuda:
        key = uuid_key(device["uuid"])
        assert key in migs | wholes, device["uuid"]
        if key in migs:
            assert not device["uuid"].startswith("GPU-"), device["uuid"]
        kinds.append("mig" if key in migs else "gpu")
    assert sorted(kinds) == ["gpu", "mig"]
