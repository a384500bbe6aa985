"""What tests, bench/ and docs/ share: a dashboard fed with fixed readings, replayed GPUs, a
canned check, and waiting on a Pilot for a condition.

Everything but NVML is real (the probes, runner and content run for real when a caller asks for
them); what varies between runs (CPU load, clocks, ages) is fixed so snapshots and captures are
stable. Fixtures stay in conftest.py; this module has none, so bench/ and docs/ import it without
pytest's conftest machinery.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from probes.model import (
    CheckResult,
    ContainerLimits,
    CpuInfo,
    DeviceResult,
    Finding,
    LibraryReport,
    MemoryInfo,
    NvmlReport,
    SystemInfo,
    TargetPython,
)
from probes.runner import SampleRef
from tui.services import CachedCheck, NvmlReader, Services

GIB = 1024**3


def fixed_system() -> SystemInfo:
    """A machine reading that never changes (snapshots must not depend on the real load)."""
    return SystemInfo(
        hostname="gpu-node-07",
        os="Linux",
        kernel="6.8.0",
        python_version="3.11.9",
        python_executable="/usr/bin/python3",
        cpu=CpuInfo(
            model="AMD EPYC 7763 64-Core Processor",
            vendor="AuthenticAMD",
            architecture="x86_64",
            physical_cores=8,
            logical_cores=8,
            frequency_current_mhz=2450.0,
            frequency_max_mhz=3525.0,
            per_core_percent=[12.0, 3.0, 97.0, 45.0, 0.0, 66.0, 8.0, 80.0],
            load_average=[2.5, 2.1, 1.9],
        ),
        memory=MemoryInfo(
            total_bytes=256 * GIB,
            used_bytes=96 * GIB,
            available_bytes=160 * GIB,
            swap_total_bytes=8 * GIB,
            swap_used_bytes=1 * GIB,
        ),
        container=ContainerLimits(in_container=True, runtime="docker", cpu_limit_cores=8.0),
    )


def fixed_target() -> TargetPython:
    """The interpreter running the tests, as the target."""
    return TargetPython(executable=sys.executable, version="3.11.9", prefix=sys.prefix)


def canned_check(target: TargetPython | None = None) -> CheckResult:
    """A check as a GPU box with a CPU-only torch would give: some ok, some missing, a finding."""
    cpu = DeviceResult(kind="cpu", computation_ok=True, computation_detail="2x3 sum ok")
    libraries = [
        LibraryReport("sklearn", "scikit-learn", "ok", "1.9.0", devices=[cpu], elapsed_s=0.8),
        LibraryReport("theano", "Theano", "ok", "1.0.5", build={"c_backend": False}, devices=[cpu]),
        LibraryReport("pytensor", "PyTensor", "ok", "3.0.7", devices=[cpu]),
        LibraryReport("caffe", "Caffe", "not_installed"),
        LibraryReport("cv2", "OpenCV DNN (Caffe importer)", "ok", "4.14.0", devices=[cpu]),
        LibraryReport(
            "torch", "PyTorch", "ok", "2.13.0+cpu", build={"is_cuda_build": False}, devices=[cpu]
        ),
        LibraryReport(
            "tensorflow",
            "TensorFlow",
            "ok",
            "2.21.0",
            build={"cuda_version": "12.5", "is_cuda_build": True},
            devices=[
                cpu,
                DeviceResult(
                    kind="cuda", index=0, name="NVIDIA H100 80GB HBM3", computation_ok=True
                ),
            ],
        ),
    ]
    findings = [
        Finding(
            rule="cpu_only_build",
            severity="error",
            title="PyTorch is a CPU-only build on a machine with NVIDIA GPUs",
            evidence="torch 2.13.0+cpu; NVML sees 8 GPUs",
            fix="pip install torch --index-url https://download.pytorch.org/whl/cu124",
            library="torch",
        )
    ]
    return CheckResult(
        mltui_version="0.1.0",
        created_at="2025-01-01T00:00:00Z",
        target=target or fixed_target(),
        libraries=libraries,
        findings=findings,
    )


class StaticNvml:
    """An NvmlReader that returns one fixed report (for a no-driver or hand-made state)."""

    def __init__(self, report: NvmlReport) -> None:
        self.report = report

    def read(self, *, with_processes: bool = True) -> NvmlReport:
        """The fixed report."""
        return self.report

    def close(self) -> None:
        """Nothing to release."""


def fixture_nvml(name: str = "h100_sxm_x8") -> Callable[[], NvmlReader]:
    """A factory of NvmlSessions over a recorded GPU fixture, replayed through the fake."""
    from probes.nvml import NvmlSession
    from tests.fake_nvml import FakeNvml

    def open_session() -> NvmlReader:
        return NvmlSession(nvml=FakeNvml.from_fixture(name))

    return open_session


def make_services(
    *,
    nvml: Callable[[], NvmlReader] | None = None,
    check: CheckResult | None = None,
    cached: CheckResult | None = None,
    cached_age_s: float = 300.0,
    extra_samples: list[SampleRef] | None = None,
    **overrides: Any,
) -> Services:
    """Services with fixed system readings, a fake NVML, a canned check and a frozen clock."""
    result = check if check is not None else canned_check()

    async def run_check(target: TargetPython, **_: Any) -> CheckResult:
        return result

    def load_check(target: TargetPython) -> CachedCheck | None:
        return CachedCheck(cached, cached_age_s) if cached is not None else None

    settings: dict[str, Any] = {
        "read_system": fixed_system,
        "open_nvml": nvml or fixture_nvml(),
        "run_check": run_check,
        "load_check": load_check,
        "clock": lambda: 1000.0,
        "extra_samples": list(extra_samples or []),
    }
    settings.update(overrides)
    return Services(**settings)


def forbid_waits_and_processes(monkeypatch: Any) -> None:
    """Make starting a process or sleeping fail the test (for code that must be cheap enough to
    call every second: reading files only, never waiting for time or another program)."""
    import os
    import subprocess
    import time as time_module

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("started a process or waited, in code that must do neither")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(time_module, "sleep", forbidden)
    for name in ("posix_spawn", "posix_spawnp", "fork", "system", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbidden)


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll predicate until it is true; fail with `what` after timeout seconds (no event loop)."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


async def wait_for(pilot: Any, predicate: Callable[[], object], timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` is true; fail the test after `timeout` seconds."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await pilot.pause(0.05)  # waits-for: the predicate, polled (one step of this loop)


def fresh_check_shown(app: Any) -> bool:
    """Whether the app shows a finished check of its own (not the cached one it starts with)."""
    state = app.check_state
    return (
        state is not None
        and state.result is not None
        and not state.running
        and not state.from_cache
    )


def screen_text(app: Any) -> str:
    """What the app's screen shows now, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
