"""The System/CPU probe: the real machine, and container limits from fake cgroup trees."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from probes.system import read_container_limits, read_system
from tests.support import forbid_waits_and_processes

GIB = 2**30


def _write(root: Path, files: dict[str, str]) -> str:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(root)


def test_read_system_describes_this_machine() -> None:
    info = read_system()
    assert info.python_executable == sys.executable
    assert info.python_version == ".".join(map(str, sys.version_info[:3]))
    assert info.kernel == os.uname().release
    # Compared with psutil's own view of this machine, whatever its CPUs (offline ones included).
    assert info.cpu.logical_cores == psutil.cpu_count(logical=True)
    assert len(info.cpu.per_core_percent) == len(psutil.cpu_times(percpu=True))
    assert all(0.0 <= p <= 100.0 for p in info.cpu.per_core_percent)
    assert info.memory.total_bytes == psutil.virtual_memory().total
    assert 0 < info.memory.available_bytes <= info.memory.total_bytes
    assert info.cpu.load_average is not None and len(info.cpu.load_average) == 3


def test_read_system_is_cheap_enough_for_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap by construction (files and psutil's counters: no process, no sampling interval,
    no sleep), not by a time limit that would depend on this machine's load."""
    read_system()  # the first CPU-percent reading needs an earlier one
    intervals: list[object] = []
    cpu_percent = psutil.cpu_percent

    def no_blocking_interval(*args: Any, **kwargs: Any) -> Any:
        intervals.append(kwargs.get("interval", args[0] if args else None))
        return cpu_percent(*args, **kwargs)

    monkeypatch.setattr(psutil, "cpu_percent", no_blocking_interval)
    forbid_waits_and_processes(monkeypatch)
    for _ in range(3):
        read_system()
    assert intervals and all(not interval for interval in intervals)


def test_cpu_model_and_vendor_from_cpuinfo(tmp_path: Path) -> None:
    proc = _write(
        tmp_path / "proc",
        {
            "cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
            "model name\t: AMD EPYC 9654 96-Core Processor\n",
            "self/cgroup": "0::/\n",
        },
    )
    info = read_system(cgroup_root=str(tmp_path / "cgroup"), proc_root=proc)
    assert info.cpu.model == "AMD EPYC 9654 96-Core Processor"
    assert info.cpu.vendor == "AuthenticAMD"


def test_cgroup_v2_limits_below_the_host(tmp_path: Path) -> None:
    cgroup = _write(
        tmp_path / "cg",
        {"cgroup.controllers": "cpu memory", "cpu.max": "150000 100000", "memory.max": str(GIB)},
    )
    proc = _write(tmp_path / "proc", {"self/cgroup": "0::/\n"})
    limits = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={}, host_cpus=8, host_memory_bytes=64 * GIB
    )
    assert limits.cpu_limit_cores == 1.5
    assert limits.memory_limit_bytes == GIB
    roomy = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={}, host_cpus=1, host_memory_bytes=GIB // 2
    )
    assert roomy.cpu_limit_cores is None and roomy.memory_limit_bytes is None


def test_cgroup_v2_unlimited_and_nested_job(tmp_path: Path) -> None:
    cgroup = _write(
        tmp_path / "cg",
        {
            "cgroup.controllers": "cpu memory",
            "cpu.max": "max 100000",
            "memory.max": "max",
            "job/cpu.max": "400000 100000",
            "job/step/memory.max": str(4 * GIB),
        },
    )
    proc = _write(tmp_path / "proc", {"self/cgroup": "0::/job/step\n"})
    limits = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={}, host_cpus=64, host_memory_bytes=512 * GIB
    )
    assert limits.cpu_limit_cores == 4.0
    assert limits.memory_limit_bytes == 4 * GIB
    proc_top = _write(tmp_path / "proc2", {"self/cgroup": "0::/\n"})
    top = read_container_limits(
        cgroup, proc_top, root=str(tmp_path), environ={}, host_cpus=64, host_memory_bytes=GIB
    )
    assert top.cpu_limit_cores is None and top.memory_limit_bytes is None


def test_cgroup_v1_limits_and_unlimited_marker(tmp_path: Path) -> None:
    cgroup = _write(
        tmp_path / "cg",
        {
            "cpu/cpu.cfs_quota_us": "200000",
            "cpu/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": str(2 * GIB),
        },
    )
    proc = _write(tmp_path / "proc", {"self/cgroup": "4:memory:/\n1:cpu:/\n"})
    limits = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={}, host_cpus=16, host_memory_bytes=32 * GIB
    )
    assert (limits.cpu_limit_cores, limits.memory_limit_bytes) == (2.0, 2 * GIB)
    (tmp_path / "cg/cpu/cpu.cfs_quota_us").write_text("-1")
    (tmp_path / "cg/memory/memory.limit_in_bytes").write_text("9223372036854771712")
    unlimited = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={}, host_cpus=16, host_memory_bytes=32 * GIB
    )
    assert (unlimited.cpu_limit_cores, unlimited.memory_limit_bytes) == (None, None)


def test_container_detection(tmp_path: Path) -> None:
    proc = _write(tmp_path / "proc", {"self/cgroup": "0::/\n", "1/cgroup": "0::/\n"})
    cgroup = str(tmp_path / "cg")
    bare = read_container_limits(cgroup, proc, root=str(tmp_path), environ={})
    assert (bare.in_container, bare.runtime) == (False, None)
    k8s = read_container_limits(
        cgroup, proc, root=str(tmp_path), environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    )
    assert (k8s.in_container, k8s.runtime) == (True, "kubernetes")
    _write(tmp_path, {".dockerenv": ""})
    docker = read_container_limits(cgroup, proc, root=str(tmp_path), environ={})
    assert (docker.in_container, docker.runtime) == (True, "docker")
