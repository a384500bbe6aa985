"""The machine mltui runs on: OS, kernel, Python, CPU, memory, and container limits.

Cheap enough to call every second: what never changes (CPU model, core counts, max frequency) is
read once per process; the rest comes from psutil and a few small files under /proc and cgroups.
Container CPU and memory limits are reported only when they are below what the host has, because
that is when they change what a job can use.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import psutil

from probes.model import ContainerLimits, CpuInfo, MemoryInfo, SystemInfo

#: cgroup v1 writes this (or a value near it) for "no memory limit".
_V1_UNLIMITED = 1 << 60


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _cpu_identity(proc_root: str) -> tuple[str | None, str | None]:
    """(model, vendor) from /proc/cpuinfo, falling back to the platform module."""
    model = vendor = None
    text = _read(Path(proc_root) / "cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "hardware", "cpu model") and not model and value:
            model = value
        elif key in ("vendor_id", "cpu implementer", "vendor") and not vendor and value:
            vendor = _ARM_IMPLEMENTERS.get(value, value)
    if not model:
        model = platform.processor() or None
    return model, vendor


_ARM_IMPLEMENTERS = {"0x41": "ARM", "0x4e": "NVIDIA", "0x61": "Apple", "0x51": "Qualcomm"}


@functools.lru_cache(maxsize=1)
def _core_counts() -> tuple[int | None, int | None]:
    return psutil.cpu_count(logical=False), psutil.cpu_count(logical=True)


@functools.lru_cache(maxsize=1)
def _static_platform() -> tuple[str, str, str]:
    if sys.platform.startswith("linux"):
        try:
            import platform as _p

            info = _p.freedesktop_os_release()
            os_name = info.get("PRETTY_NAME") or f"Linux {info.get('VERSION_ID', '')}".strip()
        except OSError:
            os_name = "Linux"
    elif sys.platform == "darwin":
        os_name = f"macOS {platform.mac_ver()[0]}"
    else:
        os_name = f"{platform.system()} {platform.release()}"
    return os_name, platform.release(), socket.gethostname()


def _cpu(proc_root: str) -> CpuInfo:
    model, vendor = _cpu_identity(proc_root)
    physical, logical = _core_counts()
    cpu = CpuInfo(
        model=model,
        vendor=vendor,
        architecture=platform.machine() or None,
        physical_cores=physical,
        logical_cores=logical,
    )
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):
        freq = None
    if freq is not None:
        cpu.frequency_current_mhz = float(freq.current) if freq.current else None
        cpu.frequency_max_mhz = float(freq.max) if freq.max else None
    # interval=None compares with the previous call: no sleeping, so a 1 s refresh stays cheap.
    cpu.per_core_percent = [float(p) for p in psutil.cpu_percent(interval=None, percpu=True)]
    try:
        cpu.load_average = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        cpu.load_average = None
    return cpu


def _memory() -> MemoryInfo:
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return MemoryInfo(
        total_bytes=int(vm.total),
        used_bytes=int(vm.total - vm.available),
        available_bytes=int(vm.available),
        swap_total_bytes=int(swap.total),
        swap_used_bytes=int(swap.used),
    )


def _own_cgroup_dirs(cgroup_root: Path, proc_root: Path, controller: str | None) -> list[Path]:
    """This process's cgroup directory and its ancestors, innermost first, that exist."""
    text = _read(proc_root / "self" / "cgroup") or ""
    relative = "/"
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers = parts[1].split(",")
        if (controller is None and parts[0] == "0" and parts[1] == "") or (
            controller is not None and controller in controllers
        ):
            relative = parts[2]
            break
    base = cgroup_root if controller is None else cgroup_root / controller
    dirs: list[Path] = []
    current = Path(relative)
    while True:
        candidate = base / str(current).lstrip("/")
        if candidate.is_dir() and candidate not in dirs:
            dirs.append(candidate)
        if current == current.parent:
            break
        current = current.parent
    if base.is_dir() and base not in dirs:
        dirs.append(base)
    return dirs


def _cgroup_limits(cgroup_root: Path, proc_root: Path) -> tuple[float | None, int | None]:
    """(cpu cores, memory bytes): the tightest cgroup limits on this process, None when none."""
    cpu_limits: list[float] = []
    memory_limits: list[int] = []
    if (cgroup_root / "cgroup.controllers").exists():  # cgroup v2
        for directory in _own_cgroup_dirs(cgroup_root, proc_root, None):
            quota_text = _read(directory / "cpu.max")
            if quota_text:
                quota, _, period = quota_text.partition(" ")
                if quota != "max" and period:
                    cpu_limits.append(int(quota) / int(period))
            memory_text = _read(directory / "memory.max")
            if memory_text and memory_text != "max":
                memory_limits.append(int(memory_text))
    else:  # cgroup v1
        for controller in ("cpu", "cpu,cpuacct"):
            for directory in _own_cgroup_dirs(cgroup_root, proc_root, controller):
                quota_text = _read(directory / "cpu.cfs_quota_us")
                period_text = _read(directory / "cpu.cfs_period_us")
                if quota_text and period_text and int(quota_text) > 0 and int(period_text) > 0:
                    cpu_limits.append(int(quota_text) / int(period_text))
        for directory in _own_cgroup_dirs(cgroup_root, proc_root, "memory"):
            memory_text = _read(directory / "memory.limit_in_bytes")
            if memory_text and 0 < int(memory_text) < _V1_UNLIMITED:
                memory_limits.append(int(memory_text))
    return (min(cpu_limits) if cpu_limits else None), (
        min(memory_limits) if memory_limits else None
    )


def _container_runtime(root: Path, proc_root: Path, environ: Mapping[str, str]) -> str | None:
    if "KUBERNETES_SERVICE_HOST" in environ:
        return "kubernetes"
    if (root / ".dockerenv").exists():
        return "docker"
    if (root / "run" / ".containerenv").exists():
        return "podman"
    container_env = environ.get("container")
    if container_env:
        return container_env
    cgroups = (_read(proc_root / "1" / "cgroup") or "") + (
        _read(proc_root / "self" / "cgroup") or ""
    )
    for marker, runtime in (
        ("kubepods", "kubernetes"),
        ("docker", "docker"),
        ("containerd", "containerd"),
        ("libpod", "podman"),
        ("lxc", "lxc"),
    ):
        if marker in cgroups:
            return runtime
    return None


def read_container_limits(
    cgroup_root: str = "/sys/fs/cgroup",
    proc_root: str = "/proc",
    *,
    root: str = "/",
    environ: Mapping[str, str] | None = None,
    host_cpus: float | None = None,
    host_memory_bytes: int | None = None,
) -> ContainerLimits:
    """Whether this is a container, and its CPU/memory limits where they are below the host's.

    `root`, `environ`, `host_cpus` and `host_memory_bytes` stand for /, os.environ and what psutil
    says, so tests can give a fake tree.
    """
    env = os.environ if environ is None else environ
    runtime = _container_runtime(Path(root), Path(proc_root), env)
    try:
        cpu_limit, memory_limit = _cgroup_limits(Path(cgroup_root), Path(proc_root))
    except (ValueError, OSError):
        cpu_limit = memory_limit = None
    cpus = host_cpus if host_cpus is not None else float(os.cpu_count() or 0)
    memory = host_memory_bytes if host_memory_bytes is not None else psutil.virtual_memory().total
    return ContainerLimits(
        in_container=runtime is not None,
        runtime=runtime,
        cpu_limit_cores=round(cpu_limit, 2) if cpu_limit is not None and cpu_limit < cpus else None,
        memory_limit_bytes=memory_limit
        if memory_limit is not None and memory_limit < memory
        else None,
    )


def read_system(cgroup_root: str = "/sys/fs/cgroup", proc_root: str = "/proc") -> SystemInfo:
    """Everything about this machine that mltui shows, read now."""
    os_name, kernel, hostname = _static_platform()
    memory = _memory()
    return SystemInfo(
        hostname=hostname,
        os=os_name,
        kernel=kernel,
        python_version=platform.python_version(),
        python_executable=sys.executable,
        cpu=_cpu(proc_root),
        memory=memory,
        container=read_container_limits(
            cgroup_root, proc_root, host_memory_bytes=memory.total_bytes
        ),
    )
