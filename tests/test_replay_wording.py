"""A message built from a value that may be missing never shows the hole (probes/wording.py).

The fleet's skew said "1 GPU where  are expected" when the nodes' GPU counts tied (no
majority), and the diagnosis said "the driver None" or "GPU 0 (None)". Every skew line and every
finding puts such a value through `probes.wording.shown`/`phrase`; these tests take each fact
away in turn and read every message.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import pytest

from probes.diagnosis import diagnose
from probes.fleet.aggregate import FleetAggregate
from probes.model import Finding, LibraryReport, NvmlReport
from probes.wording import phrase, shown
from tests.fleet_reports import local_check_data, one_gpu_fewer, other_driver, recorded_node
from tests.test_diagnosis import _no_driver, _nvml, tensorflow, torch

#: What a hole in a sentence looks like. torch's own attribute 'torch.version.cuda is None'
#: is quoted on purpose and taken out before the search.
HOLE = re.compile(r"\bNone\b|\bnan\b|  |\s[.,;:)]|\s\(\s*\)|= \.|where\s+are\b|\bunknown unknown\b")


def _holes(text: str) -> list[str]:
    return HOLE.findall(text.replace("torch.version.cuda is None", "torch.version.cuda is unset"))


def test_the_words_helpers() -> None:
    assert shown(None) == "unknown" and shown("  ", "no driver") == "no driver"
    assert shown(0) == "0" and shown("565.57") == "565.57"
    assert phrase(" ({})", None) == "" and phrase(" ({})", "") == ""
    assert phrase(" ({})", "A100") == " (A100)"


# ----------------------------------------------------------------------------- fleet skew


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return local_check_data()


@pytest.mark.parametrize(
    ("changes", "count"),
    [
        ({"node2": one_gpu_fewer}, 2),  # GPU counts tie 1:1
        ({"node2": one_gpu_fewer, "node4": one_gpu_fewer}, 4),  # 2:2
        ({"node2": other_driver}, 2),  # drivers tie
        ({"node2": one_gpu_fewer, "node3": other_driver}, 2),
    ],
)
def test_a_tie_says_no_majority_and_leaves_no_hole(
    base: dict[str, Any], changes: dict[str, Any], count: int
) -> None:
    fleet = FleetAggregate("ssh", "test")
    for k in range(1, count + 1):
        fleet.add(recorded_node(base, f"node{k}", changes.get(f"node{k}")))
    skew = fleet.skew()
    assert skew
    for finding in skew:
        assert not _holes(finding.text), finding.text
        assert "no majority" in finding.text, finding.text
    if any(f.kind == "gpu_count" for f in skew):
        assert fleet.majority_gpus() is None  # a tie expects no count
        assert fleet.report().expected_gpus is None


# ----------------------------------------------------------------------------- diagnosis


def _libraries() -> list[list[LibraryReport]]:
    return [
        [torch(cuda="12.4")],
        [torch(cuda=None), tensorflow()],
        [torch(cuda="13.0", arch=["sm_50"]), tensorflow(cuda="12.3")],
        [torch(cuda="12.4", gpus=1)],
        [torch(cuda="14.0", arch=[])],
    ]


def _without(nvml: NvmlReport, field: str) -> NvmlReport:
    changed = copy.deepcopy(nvml)
    setattr(changed, field, None)
    return changed


def _gpus_without(nvml: NvmlReport, field: str) -> NvmlReport:
    changed = copy.deepcopy(nvml)
    for gpu in changed.gpus:
        setattr(gpu, field, None)
    return changed


def _variants() -> list[tuple[str, NvmlReport, list[LibraryReport]]]:
    nvml = _nvml()
    reports = [("as read", nvml), ("no driver", _no_driver())]
    reports += [(f"nvml.{f}", _without(nvml, f)) for f in ("driver_version", "reason")]
    optional = [
        f.name
        for f in dataclasses.fields(nvml.gpus[0])
        if f.name not in ("index", "errors", "state", "mig_devices", "processes")
    ]
    reports += [(f"gpu.{f}", _gpus_without(nvml, f)) for f in optional]
    variants = []
    for label, report in reports:
        for libraries in _libraries():
            variants.append((label, report, libraries))
            for i, lib in enumerate(libraries):
                for key in [*lib.build, "version"]:
                    changed = copy.deepcopy(libraries)
                    if key == "version":
                        changed[i].version = None
                    else:
                        changed[i].build[key] = None
                    variants.append((f"{label}, {lib.name}.{key}", report, changed))
    return variants


def _texts(findings: list[Finding]) -> list[str]:
    return [t for f in findings for t in (f.title, f.evidence, f.fix) if t]


@pytest.mark.parametrize(
    "environ", [{}, {"CUDA_VISIBLE_DEVICES": "0,9"}, {"CUDA_DEVICE_ORDER": ""}]
)
def test_no_finding_shows_a_missing_value(environ: dict[str, str]) -> None:
    fired: set[str] = set()
    for label, nvml, libraries in _variants():
        findings = diagnose(nvml, libraries, environ=environ)
        fired.update(f.rule for f in findings)
        for text in _texts(findings):
            assert not _holes(text), f"{label}: {text}"
    # The variants reach the rules whose words hold a driver, a version or a GPU's name.
    assert {"driver_too_old", "cpu_only_build", "arch_not_in_build"} <= fired
