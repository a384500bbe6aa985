"""One plain sentence first: what is in this machine, and do the libraries use it.

In the spirit of nvidia-smi's header, the first line of `mltui check` (CLI, `--json`'s `headline`,
Markdown) and of the Hardware pane. It rests on three readings that each say something the others
cannot: the PCI bus (is there an NVIDIA GPU at all?), NVML (does the driver see it?) and each
library's probe (does it compute on it?). For example:

- "No NVIDIA GPU in this machine (PCI: 6 devices, none NVIDIA). 8 libraries checked, 7 compute
  on the CPU."
- "2 NVIDIA GPUs on the PCI bus, but no driver is loaded."
- "8 × H200, driver 570.86, CUDA 12.8: torch, jax compute on all 8; tensorflow sees none (CPU
  build)."

A sentence never claims more than its readings: a bus that could not be read makes the GPU
count "unknown", a library that did not run is named as such, and a check under way says how
many libraries are done ("3 of 8 checked").
"""

from __future__ import annotations

from collections.abc import Sequence

from probes.gpu_builds import is_cpu_only
from probes.model import CheckResult, LibraryReport, NvmlReport, PciBus, PciDevice

#: PCI vendor ids of display controllers one meets where there is no NVIDIA GPU.
DISPLAY_VENDORS = {
    "0x1af4": "virtio",
    "0x1234": "QEMU",
    "0x1b36": "QEMU",
    "0x15ad": "VMware",
    "0x1414": "Hyper-V",
    "0x1013": "Cirrus",
    "0x8086": "Intel",
    "0x1002": "AMD",
    "0x102b": "Matrox",
    "0x1a03": "ASPEED",
    "0x19e5": "Huawei",
    "0x10de": "NVIDIA",
}
#: Libraries that reach a GPU through CUDA (or ROCm) and are named even when they see none.
GPU_LIBRARIES = ("torch", "tensorflow", "jax")
_RAN = ("ok", "degraded")


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _gpu_name(name: str | None) -> str:
    text = (name or "unknown GPU").strip()
    for prefix in ("NVIDIA ", "Tesla "):
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
    return text


def _models(nvml: NvmlReport) -> str:
    """'8 × H200' or '4 × A100-SXM4-80GB, 2 × T4', in the order NVML lists them."""
    counts: dict[str, int] = {}
    for gpu in nvml.gpus:
        name = _gpu_name(gpu.name) if gpu.state == "ok" else "lost GPU"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{count} × {name}" for name, count in counts.items())


def _display_words(devices: Sequence[PciDevice]) -> str:
    names: list[str] = []
    for device in devices:
        name = DISPLAY_VENDORS.get(device.vendor_id, f"vendor {device.vendor_id}")
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _bus_words(pci: PciBus) -> str:
    """'PCI: 6 devices, none NVIDIA' (with the display controllers there are, if any)."""
    words = f"PCI: {_plural(pci.device_count, 'device')}, none NVIDIA"
    if pci.other_displays:
        words += f"; display: {_display_words(pci.other_displays)}"
    return words


def no_nvidia_gpu_words(pci: PciBus | None) -> str | None:
    """'PCI: 6 devices, none NVIDIA' when the bus was read and holds no NVIDIA GPU, else None.

    Then a missing driver is no fault, and the driver checks are beside the point.
    """
    if pci is None or not pci.readable or pci.nvidia_gpus:
        return None
    return _bus_words(pci)


def _driver_bound(pci: PciBus) -> str | None:
    """The one non-NVIDIA kernel driver bound to the bus's NVIDIA GPUs (nouveau, vfio-pci)."""
    drivers = {gpu.driver for gpu in pci.nvidia_gpus if gpu.driver and gpu.driver != "nvidia"}
    return drivers.pop() if len(drivers) == 1 else None


def gpu_sentence(nvml: NvmlReport | None, pci: PciBus | None, *, in_container: bool = False) -> str:
    """The hardware half of the headline: the GPUs there are and whether the driver sees them.

    Ends without a full stop when the libraries' words may follow after a colon.
    """
    on_bus = len(pci.nvidia_gpus) if pci is not None and pci.readable else None
    if nvml is None:
        if on_bus:
            return f"{_plural(on_bus, 'NVIDIA GPU')} on the PCI bus; reading the driver..."
        return "Reading the GPUs..."
    if nvml.status == "ok" and nvml.gpus:
        words = _models(nvml)
        if nvml.driver_version:
            words += f", driver {nvml.driver_version}"
        if nvml.cuda_driver_version:
            words += f", CUDA {nvml.cuda_driver_version}"
        lost = [gpu.index for gpu in nvml.gpus if gpu.state != "ok"]
        if lost:
            words += f" ({_plural(len(lost), 'GPU')} lost: {', '.join(map(str, lost))})"
        if on_bus is not None and on_bus > len(nvml.gpus):
            words += f"; the PCI bus has {on_bus}, the driver sees {len(nvml.gpus)}"
        return words
    if nvml.status == "ok":
        if on_bus:
            return f"{_plural(on_bus, 'NVIDIA GPU')} on the PCI bus, but the driver sees none."
        return "The NVIDIA driver is loaded but sees no GPU."
    if on_bus:
        head = f"{_plural(on_bus, 'NVIDIA GPU')} on the PCI bus, but "
        bound = _driver_bound(pci) if pci is not None else None
        if nvml.status == "error":
            return head + f"NVML fails: {(nvml.reason or 'unknown error').rstrip('.')}."
        if bound:
            return (
                head + f"the {bound} driver holds {'it' if on_bus == 1 else 'them'}, not NVIDIA's."
            )
        if in_container:
            return head + "no NVIDIA driver can be reached from this container."
        return head + "no driver is loaded."
    if pci is not None and pci.readable:
        if nvml.status == "error":
            return (
                f"No NVIDIA GPU on the PCI bus ({_bus_words(pci)}), yet NVML is installed and "
                f"fails: {(nvml.reason or 'unknown error').rstrip('.')}."
            )
        return f"No NVIDIA GPU in this machine ({_bus_words(pci)})."
    unknown = f" (the PCI bus could not be read: {pci.reason})" if pci and pci.reason else ""
    if nvml.status == "error":
        return f"NVML is installed but fails: {(nvml.reason or 'unknown error').rstrip('.')}."
    return f"No NVIDIA driver here{unknown}, so no NVIDIA GPU can be used."


def _gpus_computed(lib: LibraryReport) -> tuple[int, int]:
    """(GPUs the library lists, GPUs its computation ran on)."""
    gpus = lib.gpu_devices
    return len(gpus), sum(1 for device in gpus if device.computation_ok)


def _why_none(lib: LibraryReport) -> str:
    build = lib.build
    if is_cpu_only(lib):
        return "CPU build"
    if (
        lib.name == "jax"
        and isinstance(build.get("devices_listed"), dict)
        and not build.get("gpu_error")
    ):
        return "no CUDA plugin"
    return "no GPU visible"


def _join_group(names: list[str], singular: str, plural: str) -> str:
    return f"{', '.join(names)} {singular if len(names) == 1 else plural}"


def libraries_on_gpus(libraries: Sequence[LibraryReport], gpu_count: int) -> str:
    """'torch, jax compute on all 8; tensorflow sees none (CPU build)' ('' if none applies)."""
    groups: dict[str, list[str]] = {}
    for lib in libraries:
        if lib.status == "not_installed":
            continue
        if lib.status not in _RAN:
            if lib.name in GPU_LIBRARIES:
                groups.setdefault(f"did not run ({lib.status.replace('_', ' ')})", []).append(
                    lib.name
                )
            continue
        listed, computed = _gpus_computed(lib)
        if not listed and lib.name not in GPU_LIBRARIES:
            continue  # a CPU library (scikit-learn, Caffe here): nothing to say about GPUs
        if computed:
            where = "all" if computed >= gpu_count else f"{computed} of"
            key = f"compute on {where} {gpu_count}"
        elif listed:
            key = f"see {listed} but compute on none"
        else:
            key = f"see none ({_why_none(lib)})"
        groups.setdefault(key, []).append(lib.name)
    parts = []
    for key, names in groups.items():
        if key.startswith("compute"):
            parts.append(_join_group(names, "computes" + key[7:], key))
        elif key.startswith("see "):
            parts.append(_join_group(names, "sees" + key[3:], key))
        else:
            parts.append(_join_group(names, key, key))
    return "; ".join(parts)


def libraries_on_cpu(libraries: Sequence[LibraryReport]) -> str:
    """'8 libraries checked, 7 compute on the CPU' (with those not installed or failed)."""
    installed = [lib for lib in libraries if lib.status != "not_installed"]
    on_cpu = sum(
        1
        for lib in installed
        if any(device.kind == "cpu" and device.computation_ok for device in lib.devices)
    )
    failed = [lib.name for lib in installed if lib.status not in _RAN]
    words = f"{_plural(len(libraries), 'library', 'libraries')} checked, {on_cpu} "
    words += "computes on the CPU" if on_cpu == 1 else "compute on the CPU"
    missing = len(libraries) - len(installed)
    if missing:
        words += f", {missing} not installed"
    if failed:
        words += f"; {', '.join(failed)} did not run"
    return words


def _then(first: str, second: str) -> str:
    """Two sentences, the second capitalised ('...' ends the first without a full stop)."""
    second = second[0].upper() + second[1:]
    if first.endswith("..."):
        return f"{first} {second}"
    return f"{first.rstrip('.')}. {second}"


def headline(
    nvml: NvmlReport | None,
    pci: PciBus | None,
    libraries: Sequence[LibraryReport] | None,
    *,
    in_container: bool = False,
    expected_libraries: int | None = None,
) -> str:
    """The one sentence: the GPUs, then what the libraries do with them (or with the CPU).

    `libraries` None: not checked yet. With `expected_libraries` above the reports there are,
    the check is under way and the sentence says how far ("3 of 8 libraries checked").
    """
    gpus = gpu_sentence(nvml, pci, in_container=in_container)
    reports = list(libraries or [])
    total = max(expected_libraries or 0, len(reports))
    if libraries is None or (total and len(reports) < total):
        progress = (
            f"{len(reports)} of {_plural(total, 'library', 'libraries')} checked"
            if total
            else "libraries not checked yet"
        )
        return _then(gpus, progress + "...")
    usable = nvml is not None and nvml.status == "ok" and any(g.state == "ok" for g in nvml.gpus)
    if usable and nvml is not None:
        on_gpus = libraries_on_gpus(reports, sum(1 for g in nvml.gpus if g.state == "ok"))
        if on_gpus:
            return f"{gpus}: {on_gpus}."
    if not reports:
        return gpus if gpus.endswith(".") else gpus + "."
    return _then(gpus, libraries_on_cpu(reports) + ".")


def check_headline(result: CheckResult) -> str:
    """The headline of a whole check."""
    return headline(
        result.nvml,
        result.system.pci,
        result.libraries,
        in_container=result.system.container.in_container,
    )
