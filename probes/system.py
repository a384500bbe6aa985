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

from probes.model import ContainerLimits, CpuInfo, MemoryInfo, PciBus, PciDevice, SystemInfo
from probes.peaks import parse_cpuinfo

#: cgroup v1 writes this (or a value near it) for "no memory limit".
_V1_UNLIMITED = 1 << 60

#: Where the PCI bus is read from; MLTUI_PCI_ROOT points it at a recorded tree instead.
PCI_ROOT = "/sys/bus/pci/devices"
PCI_ROOT_VARIABLE = "MLTUI_PCI_ROOT"
#: NVIDIA's PCI vendor id.
NVIDIA_VENDOR = "0x10de"
#: The PCI base class of display controllers (VGA, XGA, 3D): the first byte of the class code.
DISPLAY_CLASS = 0x03
#: The environment variables that change what the ML libraries do or see.
RESULT_ENVIRONMENT = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
    "XLA_FLAGS",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_ENABLE_ONEDNN_OPTS",
)
#: /proc/cpuinfo flags -> the name people know, in the order shown (x86, then Arm).
VECTOR_EXTENSIONS = (
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA3"),
    ("avx512f", "AVX-512F"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512_fp16", "AVX-512 FP16"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("amx_tile", "AMX"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("asimd", "NEON"),
    ("sve", "SVE"),
    ("sve2", "SVE2"),
    ("sme", "SME"),
)


def vector_extensions(flags: frozenset[str] | set[str]) -> list[str]:
    """The vector extensions among a CPU's /proc/cpuinfo flags, by the names people know."""
    return [name for flag, name in VECTOR_EXTENSIONS if flag in flags]


def result_environment(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each variable of RESULT_ENVIRONMENT with its value, None where it is unset."""
    env = os.environ if environ is None else environ
    return {name: env.get(name) for name in RESULT_ENVIRONMENT}


def _hex_id(text: str | None) -> str | None:
    """A sysfs id ("0x10de\n") normalised, or None when it is not hex."""
    if not text:
        return None
    text = text.strip().lower()
    try:
        int(text, 16)
    except ValueError:
        return None
    return text if text.startswith("0x") else "0x" + text


@functools.lru_cache(maxsize=1024)
def _pci_identity(device_dir: str) -> tuple[str, str, str] | None:
    """(vendor, device, class) of one PCI device: they never change while it is there."""
    folder = Path(device_dir)
    vendor = _hex_id(_read(folder / "vendor"))
    device = _hex_id(_read(folder / "device"))
    class_code = _hex_id(_read(folder / "class"))
    if vendor is None or class_code is None:
        return None
    return vendor, device or "0x0000", class_code


def _pci_driver(folder: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(folder / "driver")) or None
    except OSError:
        return None


def _add_pci_device(bus: PciBus, entry: PciDevice) -> None:
    """Count one device on `bus`, and keep it when it is a display controller."""
    bus.device_count += 1
    if int(entry.class_code, 16) >> 16 != DISPLAY_CLASS:
        return
    (bus.nvidia_gpus if entry.vendor_id == NVIDIA_VENDOR else bus.other_displays).append(entry)


def pci_bus_from_listing(listing: object, source: str) -> PciBus:
    """A PciBus from a recorded listing: a list of {"address", "vendor", "device", "class",
    "driver"} objects, one per device (what `MLTUI_REPLAY` recordings carry as `pci`).

    An entry that does not fit is left out; a listing that is not a list is an unreadable bus.
    """
    if not isinstance(listing, list):
        return PciBus(
            readable=False, reason=f"{source}: the PCI listing is not a list", source=source
        )
    bus = PciBus(readable=True, source=source)
    for item in listing:
        if not isinstance(item, dict):
            continue
        vendor = _hex_id(str(item.get("vendor") or ""))
        class_code = _hex_id(str(item.get("class") or ""))
        if vendor is None or class_code is None:
            continue
        driver = item.get("driver")
        _add_pci_device(
            bus,
            PciDevice(
                address=str(item.get("address") or f"#{bus.device_count}"),
                vendor_id=vendor,
                device_id=_hex_id(str(item.get("device") or "")) or "0x0000",
                class_code=class_code,
                driver=str(driver) if driver else None,
            ),
        )
    return bus


def _replayed_pci_bus() -> PciBus | None:
    """The PCI bus of the recording MLTUI_REPLAY names, when one is replayed (else None)."""
    from probes import replay

    if replay.replay_path() is None:
        return None
    try:
        recording = replay.active_recording()
    except replay.ReplayError as exc:
        return PciBus(readable=False, reason=str(exc), source="MLTUI_REPLAY")
    if recording is None:
        return None
    if "pci" not in recording.data:
        return PciBus(
            readable=False,
            reason=f"the replayed recording {recording.machine} has no PCI listing",
            source=recording.path,
        )
    return pci_bus_from_listing(recording.data["pci"], recording.path)


def read_pci_bus(root: str | None = None) -> PciBus:
    """The devices on the PCI bus: their count, NVIDIA's GPUs and other display controllers.

    `root` (default: $MLTUI_PCI_ROOT, else the replayed recording's listing under MLTUI_REPLAY,
    else /sys/bus/pci/devices) may be a recorded tree: one folder per device holding `vendor`,
    `device` and `class` files and a `driver` link. Reads only what Linux lists anyway, no device
    is opened; a bus that cannot be read is a state with its reason.
    """
    where = root or os.environ.get(PCI_ROOT_VARIABLE)
    if where is None:
        replayed = _replayed_pci_bus()
        if replayed is not None:
            return replayed
        where = PCI_ROOT
    try:
        names = sorted(os.listdir(where))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return PciBus(readable=False, reason=f"{where}: {reason}", source=where)
    bus = PciBus(readable=True, source=where)
    for name in names:
        folder = Path(where) / name
        identity = _pci_identity(str(folder))
        if identity is None:
            continue
        vendor, device, class_code = identity
        _add_pci_device(
            bus,
            PciDevice(
                address=name,
                vendor_id=vendor,
                device_id=device,
                class_code=class_code,
                driver=_pci_driver(folder),
            ),
        )
    return bus


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


@functools.lru_cache(maxsize=8)
def _cpu_extensions(proc_root: str) -> tuple[str, ...]:
    return tuple(vector_extensions(parse_cpuinfo(_read(Path(proc_root) / "cpuinfo") or "").flags))


def _cpu(proc_root: str) -> CpuInfo:
    model, vendor = _cpu_identity(proc_root)
    physical, logical = _core_counts()
    cpu = CpuInfo(
        model=model,
        vendor=vendor,
        architecture=platform.machine() or None,
        physical_cores=physical,
        logical_cores=logical,
        vector_extensions=list(_cpu_extensions(proc_root)),
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


def read_system(
    cgroup_root: str = "/sys/fs/cgroup", proc_root: str = "/proc", pci_root: str | None = None
) -> SystemInfo:
    """Everything about this machine that mltui shows, read now (`pci_root`: see read_pci_bus)."""
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
        pci=read_pci_bus(pci_root),
        environment=result_environment(),
    )
