"""TensorFlow that cannot use the GPU of a GPU box is a known state with its fix, not a failure.

`pip install tensorflow` on Linux installs a CUDA build that loads CUDA and cuDNN from pip wheels
(`tensorflow[and-cuda]`); without them it lists no GPU. The check said "ERROR TensorFlow sees 0 of
the 8 GPU(s)" with advice about CUDA_LAUNCH_BLOCKING, and the headline "(no GPU visible)".
"""

from __future__ import annotations

from typing import Any

import pytest

from probes.diagnosis import diagnose
from probes.headline import libraries_on_gpus
from probes.model import DeviceResult, LibraryReport
from tests.test_diagnosis import _nvml, rules, torch


def _tensorflow(**build: Any) -> LibraryReport:
    base = {
        "is_cuda_build": True,
        "cuda_version": "12.5.1",
        "cudnn_version": "9",
        "distribution": "tensorflow",
        "gpus_listed": 0,
        "cuda_wheels": [],
    }
    return LibraryReport(
        name="tensorflow",
        display_name="TensorFlow",
        status="ok",
        version="2.21.0",
        build={**base, **build},
        devices=[DeviceResult(kind="cpu", computation_ok=True)],
    )


@pytest.mark.parametrize(
    "build",
    [
        {},  # the CUDA wheel without its CUDA libraries
        {"is_cuda_build": False},  # a CPU build
        {"is_cuda_build": False, "distribution": "tensorflow-cpu"},
    ],
)
def test_a_tensorflow_that_cannot_use_the_gpus_is_a_cpu_build_with_its_fix(
    build: dict[str, Any],
) -> None:
    lib = _tensorflow(**build)
    found = rules(diagnose(_nvml(), [torch(cuda="12.0"), lib], environ={}))
    assert "fewer_gpus_than_nvml" not in found, found.get("fewer_gpus_than_nvml")
    (cpu,) = found["cpu_only_build"]
    assert cpu.severity == "warning" and "tensorflow[and-cuda]" in cpu.fix
    assert libraries_on_gpus([lib], 8) == "tensorflow sees none (CPU build)"


def test_a_tensorflow_with_its_cuda_libraries_that_sees_no_gpu_is_still_an_error() -> None:
    lib = _tensorflow(cuda_wheels=["nvidia-cudnn-cu12"])
    found = rules(diagnose(_nvml(), [lib], environ={}))
    assert "cpu_only_build" not in found
    assert found["fewer_gpus_than_nvml"][0].severity == "error"
    assert libraries_on_gpus([lib], 8) == "tensorflow sees none (no GPU visible)"


def test_an_older_probe_without_the_wheel_list_is_not_called_a_cpu_build() -> None:
    lib = _tensorflow()
    del lib.build["cuda_wheels"]
    assert "cpu_only_build" not in rules(diagnose(_nvml(), [lib], environ={}))
