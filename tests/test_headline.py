"""The one sentence first (issue 19.1): the PCI bus, the driver and the libraries, in plain words.

The PCI buses are trees under tests/fixtures/sysfs (vm_no_display is this build machine's bus,
recorded by record.py; the others are written with the vendor, device and class ids those
machines list), read by the same code as /sys/bus/pci/devices.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probes.diagnosis import diagnose
from probes.headline import check_headline, gpu_sentence, headline
from probes.model import (
    CheckResult,
    ContainerLimits,
    DeviceResult,
    GpuInfo,
    LibraryReport,
    NvmlReport,
    PciBus,
    SystemInfo,
)
from probes.system import pci_bus_from_listing, read_pci_bus, read_system

SYSFS = Path(__file__).resolve().parent / "fixtures" / "sysfs"
NO_DRIVER = NvmlReport(status="no_driver", reason="no NVIDIA driver: libnvidia-ml.so.1 not found")


def bus(name: str) -> PciBus:
    """The recorded PCI bus `name`."""
    return read_pci_bus(str(SYSFS / name))


def nvml_with(count: int, name: str = "NVIDIA H200", lost: tuple[int, ...] = ()) -> NvmlReport:
    """NVML seeing `count` GPUs of one model (those in `lost` fell off the bus)."""
    addresses = ("18", "2a", "3a", "5d", "9a", "ab", "ba", "db")
    return NvmlReport(
        status="ok",
        driver_version="570.86",
        cuda_driver_version="12.8",
        gpus=[
            GpuInfo(
                index=i,
                name=name,
                state="lost" if i in lost else "ok",
                pci_bus_id=f"00000000:{addresses[i].upper()}:00.0",
                uuid=f"GPU-{i}",
            )
            for i in range(count)
        ],
    )


def cpu_library(name: str, ok: bool = True, **build: object) -> LibraryReport:
    """A library that computed (or not) on the CPU only."""
    return LibraryReport(
        name=name,
        status="ok",
        build=dict(build),
        devices=[DeviceResult(kind="cpu", computation_ok=ok)],
    )


def gpu_library(name: str, computed: int, listed: int | None = None) -> LibraryReport:
    """A library that lists `listed` GPUs and computed on the first `computed` of them."""
    listed = computed if listed is None else listed
    devices = [DeviceResult(kind="cpu", computation_ok=True)] + [
        DeviceResult(kind="cuda", index=i, computation_ok=i < computed) for i in range(listed)
    ]
    return LibraryReport(name=name, status="ok", build={"is_cuda_build": True}, devices=devices)


def eight_cpu_libraries() -> list[LibraryReport]:
    """What this machine's check finds: eight libraries, one of them not installed."""
    names = ("sklearn", "theano", "pytensor", "cv2", "torch", "tensorflow", "jax")
    libraries = [cpu_library(n, is_cuda_build=False) for n in names]
    return [*libraries, LibraryReport(name="caffe", status="not_installed")]


# ------------------------------------------------------------------------------ the bus


def test_the_recorded_buses_read_as_their_machines() -> None:
    no_display = bus("vm_no_display")
    assert (no_display.readable, no_display.device_count, no_display.nvidia_gpus) == (True, 6, [])
    assert no_display.other_displays == []
    virtio = bus("vm_virtio_gpu")
    assert [d.vendor_id for d in virtio.other_displays] == ["0x1af4"]
    h200 = bus("h200_x8")
    # NVSwitches (class 0x0680) are NVIDIA devices but not GPUs; the BMC's VGA is not NVIDIA.
    assert len(h200.nvidia_gpus) == 8
    assert {d.driver for d in h200.nvidia_gpus} == {"nvidia"}
    assert [d.vendor_id for d in h200.other_displays] == ["0x1a03"]
    mixed = bus("mixed_intel_nvidia")
    # The GPU's HDMI audio function (class 0x0403) is not a second GPU.
    assert [d.address for d in mixed.nvidia_gpus] == ["0000:01:00.0"]
    assert [d.driver for d in mixed.other_displays] == ["i915"]
    assert {d.driver for d in bus("gpus_no_driver").nvidia_gpus} == {None}
    assert bus("gpu_nouveau").nvidia_gpus[0].driver == "nouveau"


def test_an_unreadable_bus_is_a_state_with_its_reason(tmp_path: Path) -> None:
    missing = read_pci_bus(str(tmp_path / "nowhere"))
    assert not missing.readable
    assert missing.reason is not None and "nowhere" in missing.reason
    sentence = headline(NO_DRIVER, missing, [])
    assert "could not be read" in sentence
    assert "No NVIDIA GPU in this machine" not in sentence  # never claimed without the bus


def test_a_device_folder_with_junk_is_left_out(tmp_path: Path) -> None:
    junk = tmp_path / "0000:00:09.0"
    junk.mkdir()
    (junk / "vendor").write_text("not hex\n")
    (junk / "class").write_text("0x030000\n")
    good = tmp_path / "0000:00:0a.0"
    good.mkdir()
    (good / "vendor").write_text("0x10de\n")
    (good / "class").write_text("0x030200\n")
    result = read_pci_bus(str(tmp_path))
    assert result.device_count == 1
    assert [d.address for d in result.nvidia_gpus] == ["0000:00:0a.0"]


def test_the_root_can_be_pointed_at_a_recorded_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTUI_PCI_ROOT", str(SYSFS / "gpus_no_driver"))
    system = read_system()
    assert system.pci is not None and len(system.pci.nvidia_gpus) == 2


def test_a_recorded_listing_reads_like_the_tree() -> None:
    listing = [
        {"address": "0000:18:00.0", "vendor": "0x10de", "device": "0x2335", "class": "0x030200"},
        {"address": "0000:00:00.0", "vendor": "0x8086", "class": "0x060000"},
        {"vendor": "zzz", "class": "0x030000"},
        "not an object",
    ]
    result = pci_bus_from_listing(listing, "recording.json")
    assert (result.readable, result.device_count, len(result.nvidia_gpus)) == (True, 2, 1)
    assert not pci_bus_from_listing({"pci": 1}, "recording.json").readable


def test_a_replayed_recording_with_a_pci_listing_is_the_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probes import replay

    listing = [
        {"address": f"0000:{b}:00.0", "vendor": "0x10de", "device": "0x2335", "class": "0x030200"}
        for b in ("18", "2a")
    ]

    class FakeRecording:
        path = str(tmp_path / "rec.json")
        machine = "2x H200"
        data = {"pci": listing}

    monkeypatch.delenv("MLTUI_PCI_ROOT", raising=False)
    monkeypatch.setattr(replay, "replay_path", lambda environ=None: FakeRecording.path)
    monkeypatch.setattr(replay, "active_recording", lambda environ=None: FakeRecording())
    assert len(read_pci_bus().nvidia_gpus) == 2
    FakeRecording.data = {}
    without = read_pci_bus()
    assert not without.readable and "no PCI listing" in (without.reason or "")


# ------------------------------------------------------------------------------ the sentence


def test_this_machine_without_a_gpu_says_so_plainly() -> None:
    sentence = headline(NO_DRIVER, bus("vm_no_display"), eight_cpu_libraries())
    assert sentence == (
        "No NVIDIA GPU in this machine (PCI: 6 devices, none NVIDIA). "
        "8 libraries checked, 7 compute on the CPU, 1 not installed."
    )


def test_a_vm_with_only_a_virtio_display_names_it() -> None:
    sentence = headline(NO_DRIVER, bus("vm_virtio_gpu"), eight_cpu_libraries())
    assert sentence.startswith("No NVIDIA GPU in this machine (PCI: 4 devices, none NVIDIA;")
    assert "display: virtio" in sentence


def test_gpus_without_a_driver() -> None:
    sentence = headline(NO_DRIVER, bus("gpus_no_driver"), eight_cpu_libraries())
    assert sentence.startswith("2 NVIDIA GPUs on the PCI bus, but no driver is loaded.")
    nouveau = gpu_sentence(NO_DRIVER, bus("gpu_nouveau"))
    assert nouveau == "1 NVIDIA GPU on the PCI bus, but the nouveau driver holds it, not NVIDIA's."
    contained = gpu_sentence(NO_DRIVER, bus("gpus_no_driver"), in_container=True)
    assert "container" in contained


def test_eight_gpus_and_what_each_library_does_with_them() -> None:
    libraries = [
        gpu_library("torch", 8),
        gpu_library("jax", 8),
        cpu_library("tensorflow", is_cuda_build=False),
        cpu_library("sklearn"),
    ]
    sentence = headline(nvml_with(8), bus("h200_x8"), libraries)
    assert sentence == (
        "8 × H200, driver 570.86, CUDA 12.8: torch, jax compute on all 8; "
        "tensorflow sees none (CPU build)."
    )
    partly = headline(nvml_with(8), bus("h200_x8"), [gpu_library("torch", 5, listed=8)])
    assert partly.endswith("torch computes on 5 of 8.")


def test_a_gpu_fallen_off_the_bus() -> None:
    seven = headline(nvml_with(7), bus("h200_x8"), [gpu_library("torch", 7)])
    assert "the PCI bus has 8, the driver sees 7" in seven
    lost = gpu_sentence(nvml_with(8, lost=(3,)), bus("h200_x8"))
    assert "1 GPU lost: 3" in lost


def test_a_mixed_machine_counts_only_the_nvidia_gpu() -> None:
    nvml = nvml_with(1, name="NVIDIA GeForce RTX 4060 Laptop GPU")
    nvml.gpus[0].pci_bus_id = "00000000:01:00.0"
    sentence = headline(nvml, bus("mixed_intel_nvidia"), [gpu_library("torch", 1)])
    assert sentence.startswith("1 × GeForce RTX 4060 Laptop GPU, driver 570.86")
    assert "PCI bus has" not in sentence
    assert diagnose(nvml, [], system=SystemInfo(pci=bus("mixed_intel_nvidia")), environ={}) == []


def test_a_check_under_way_says_how_far() -> None:
    sentence = headline(
        NO_DRIVER, bus("vm_no_display"), eight_cpu_libraries()[:3], expected_libraries=8
    )
    assert sentence.endswith("3 of 8 libraries checked...")
    assert headline(None, None, None) == "Reading the GPUs... Libraries not checked yet..."


def test_libraries_that_did_not_run_are_named() -> None:
    libraries = [*eight_cpu_libraries()[:6], LibraryReport(name="jax", status="timeout")]
    sentence = headline(NO_DRIVER, bus("vm_no_display"), libraries)
    assert "6 compute on the CPU" in sentence and "jax did not run" in sentence
    on_gpus = headline(nvml_with(2), None, [gpu_library("torch", 2), libraries[-1]])
    assert "jax did not run (timeout)" in on_gpus


# ------------------------------------------------------------------------------ the findings


def _rules(nvml: NvmlReport, name: str, in_container: bool = False) -> dict[str, str]:
    system = SystemInfo(pci=bus(name), container=ContainerLimits(in_container=in_container))
    return {
        f.rule: f.fix
        for f in diagnose(nvml, [], system=system, environ={})
        if f.severity == "error"
    }


def test_a_gpu_on_the_bus_without_a_driver_is_an_error_with_its_fix() -> None:
    assert (
        "Install the NVIDIA driver" in _rules(NO_DRIVER, "gpus_no_driver")["pci_gpu_without_driver"]
    )
    assert "blacklist" in _rules(NO_DRIVER, "gpu_nouveau")["pci_gpu_without_driver"]
    assert "--gpus all" in _rules(NO_DRIVER, "gpus_no_driver", True)["pci_gpu_without_driver"]
    assert _rules(NO_DRIVER, "vm_no_display") == {}
    assert _rules(NO_DRIVER, "vm_virtio_gpu") == {}


def test_a_driver_seeing_fewer_gpus_than_the_bus_is_an_error_naming_the_missing_one() -> None:
    system = SystemInfo(pci=bus("h200_x8"))
    findings = diagnose(nvml_with(7), [], system=system, environ={})
    missing = [f for f in findings if f.rule == "pci_gpus_not_seen_by_driver"]
    assert len(missing) == 1 and missing[0].severity == "error"
    assert "not seen: 0000:db:00.0" in missing[0].evidence
    assert "Xid 79" in missing[0].fix
    all_seen = diagnose(nvml_with(8), [], system=system, environ={})
    assert not [f for f in all_seen if f.rule.startswith("pci_")]


def test_the_check_carries_the_headline_in_its_json() -> None:
    result = CheckResult(
        system=SystemInfo(pci=bus("vm_no_display")), nvml=NO_DRIVER, libraries=eight_cpu_libraries()
    )
    result.headline = check_headline(result)
    from probes.model import parse_check, to_json

    again = parse_check(json.loads(to_json(result)))
    assert again.headline.startswith("No NVIDIA GPU in this machine")
    assert again.system.pci is not None and again.system.pci.device_count == 6
