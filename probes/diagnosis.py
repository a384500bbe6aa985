"""Compare NVML's view of the GPUs with what each ML library sees, and say what is wrong.

Each rule is a small function taking the whole picture (`_Context`) and returning findings, each
with a severity, the evidence it rests on, and the fix a person should apply. `diagnose` runs
them all. Library build details follow the contract of the library probe (all keys optional):
torch {is_cuda_build, cuda_version, cudnn_version, hip_version, arch_list, cuda_available},
tensorflow {is_cuda_build, cuda_version, cudnn_version, distribution, gpus_listed},
theano {device, c_backend, c_backend_error}, pytensor {c_backend, c_backend_error}.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from probes.gpu_builds import is_cpu_only
from probes.model import (
    Finding,
    GpuInfo,
    LibraryReport,
    NvmlReport,
    SystemInfo,
    TargetPython,
    severity_rank,
)
from probes.nvml import FIELD_FUNCTIONS
from probes.scripts.mltui_gpu_uuid import select_visible, uuid_key, visible_entries
from probes.wording import phrase, shown

#: CUDA major version -> the oldest driver branch that runs it through minor-version compatibility.
MINOR_COMPAT_DRIVER = {11: 450, 12: 525, 13: 580}
#: Library ids whose GPU use goes through CUDA and that report a CUDA build.
CUDA_LIBRARIES = ("torch", "tensorflow")
_RAN = ("ok", "degraded")
#: Statuses of a library that was meant to be checked and did not run as it should.
DID_NOT_RUN = ("crashed", "timeout", "bad_output", "import_error")
#: The verdict when there is no finding at all (said by the CLI and the dashboard alike).
ALL_CLEAR = "No problems found: every library checked ran and sees what the driver shows."


@dataclass
class _Context:
    nvml: NvmlReport
    libraries: Sequence[LibraryReport]
    system: SystemInfo | None
    environ: Mapping[str, str]
    target: TargetPython | None = None
    #: physical GPU indices CUDA can see after CUDA_VISIBLE_DEVICES (None: variable unset)
    visible: list[int] | None = None
    visible_problem: str | None = None
    mig_requested: set[int] = field(default_factory=set)

    @property
    def working_gpus(self) -> list[GpuInfo]:
        return [g for g in self.nvml.gpus if g.state == "ok"] if self.nvml.status == "ok" else []

    def library(self, name: str) -> LibraryReport | None:
        for lib in self.libraries:
            if lib.name == name and lib.status in _RAN:
                return lib
        return None


def _version(text: object) -> tuple[int, int] | None:
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?", str(text or ""))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def _display(lib: LibraryReport) -> str:
    return lib.display_name or lib.name


# ------------------------------------------------------------------ CUDA_VISIBLE_DEVICES


def resolve_visible_devices(
    value: str, gpus: Sequence[GpuInfo]
) -> tuple[list[int], str | None, set[int]]:
    """Map CUDA_VISIBLE_DEVICES to physical GPU indices, as the CUDA runtime reads it.

    Returns (indices, problem, GPUs given by MIG UUID). The value is read by the one reading of
    the variable the replay stand-in uses too (probes/scripts/mltui_gpu_uuid.py, after torch's
    `_parse_visible_devices`): indices, or GPU-/MIG- UUIDs (a unique prefix is enough);
    enumeration stops at the first entry that matches nothing; a repeated entry hides all.
    """
    keys = [g.uuid or f"#{g.index}" for g in gpus]
    owner = dict(zip(keys, (g.index for g in gpus), strict=True))
    mig_owner = {m.uuid: g.index for g in gpus for m in g.mig_devices if m.uuid}
    chosen = select_visible(value, keys, [*keys, *mig_owner])
    visible: list[int] = []
    mig: set[int] = set()
    for key in chosen:
        index = owner[key] if key in owner else mig_owner[key]
        if key in mig_owner:
            mig.add(index)
        if index not in visible:
            visible.append(index)
    entries = value.split(",")
    if not value.startswith(("GPU-", "MIG-")):
        entries = [e.strip() for e in entries]
    if value.strip() == "" or entries == ["-1"]:
        return [], None, mig
    if not chosen and len(visible_entries(value) or []) == 0 and len(set(entries)) < len(entries):
        return [], "an entry is repeated, so CUDA sees no GPU at all", mig
    if len(chosen) < len(entries):
        position = len(chosen)
        entry, ignored = entries[position], entries[position + 1 :]
        problem = f"entry {entry!r} matches no GPU"
        if ignored:
            problem += f", so CUDA stops there and also ignores {', '.join(ignored)}"
        return visible, problem, mig
    return visible, None, mig


def rule_cuda_visible_devices(ctx: _Context) -> list[Finding]:
    """CUDA_VISIBLE_DEVICES that hides GPUs, is empty, or holds an entry matching no GPU."""
    value = ctx.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = ctx.working_gpus
    if value is None or not gpus:
        return []
    findings: list[Finding] = []
    visible = ctx.visible or []
    hidden = [g.index for g in gpus if g.index not in visible]
    order_note = ""
    names = {g.name for g in gpus}
    if len(names) > 1 and ctx.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        order_note = (
            " Note: numbers count in CUDA's fastest-first order, not nvidia-smi's; set "
            "CUDA_DEVICE_ORDER=PCI_BUS_ID or use GPU UUIDs."
        )
    if ctx.visible_problem:
        findings.append(
            Finding(
                rule="cuda_visible_devices_invalid",
                severity="warning",
                title="CUDA_VISIBLE_DEVICES has an entry that matches no GPU",
                evidence=f"CUDA_VISIBLE_DEVICES={value!r}: {ctx.visible_problem}.",
                fix="Use indices 0.."
                f"{len(gpus) - 1} or GPU-/MIG- UUIDs from `nvidia-smi -L`.{order_note}",
            )
        )
    if not visible:
        findings.append(
            Finding(
                rule="cuda_visible_devices_hides_all",
                severity="warning",
                title="CUDA_VISIBLE_DEVICES hides every GPU",
                evidence=f"CUDA_VISIBLE_DEVICES={value!r} leaves none of the {len(gpus)} GPUs "
                "visible to CUDA.",
                fix="Unset CUDA_VISIBLE_DEVICES, or list the GPUs to use (e.g. "
                "CUDA_VISIBLE_DEVICES=0).",
            )
        )
    elif hidden:
        findings.append(
            Finding(
                rule="cuda_visible_devices_hides",
                severity="info",
                title=f"CUDA_VISIBLE_DEVICES hides {len(hidden)} of {len(gpus)} GPUs",
                evidence=f"CUDA_VISIBLE_DEVICES={value!r}: CUDA sees GPU "
                f"{', '.join(map(str, visible))}; hidden: {', '.join(map(str, hidden))}.",
                fix="Nothing to do if that is deliberate; otherwise unset it or add the GPUs."
                + order_note,
            )
        )
    return findings


# ------------------------------------------------------------------ library vs driver


def _cuda_wheel_hint(driver_cuda: tuple[int, int] | None) -> str:
    tags = [
        (12, 8, "cu128"),
        (12, 6, "cu126"),
        (12, 4, "cu124"),
        (12, 1, "cu121"),
        (11, 8, "cu118"),
    ]
    for major, minor, tag in tags:
        if driver_cuda and driver_cuda >= (major, minor):
            return f"pip install torch --index-url https://download.pytorch.org/whl/{tag}"
    return (
        "pip install torch --index-url https://download.pytorch.org/whl/<cuXYZ> (see pytorch.org)"
    )


def rule_cpu_only_build(ctx: _Context) -> list[Finding]:
    """A CPU-only build of torch or TensorFlow on a machine where NVML sees GPUs."""
    gpus = ctx.working_gpus
    if not gpus:
        return []
    findings = []
    for name in CUDA_LIBRARIES:
        lib = ctx.library(name)
        if lib is None or not is_cpu_only(lib):
            continue
        if name == "torch" and lib.build.get("hip_version"):
            continue
        if name == "torch":
            fix = (
                f"Install a CUDA build: {_cuda_wheel_hint(_version(ctx.nvml.cuda_driver_version))}"
            )
            evidence = f"torch {shown(lib.version)} has no CUDA (torch.version.cuda is None)"
        else:
            dist = lib.build.get("distribution")
            fix = "pip install 'tensorflow[and-cuda]' (Linux; on Windows use WSL2)"
            if dist and dist != "tensorflow":
                fix = f"pip uninstall {dist}; " + fix
            evidence = f"TensorFlow {shown(lib.version)} is not a CUDA build" + (
                f" (distribution {dist})" if dist else ""
            )
            if lib.build.get("is_cuda_build"):
                evidence = (
                    f"TensorFlow {shown(lib.version)} is a CUDA build installed without the CUDA "
                    "libraries it loads from pip (no nvidia-cudnn-cu* wheel), so it lists no GPU "
                    "and computes on the CPU"
                )
        findings.append(
            Finding(
                rule="cpu_only_build",
                severity="warning",
                title=f"{_display(lib)} is a CPU-only build on a machine with {len(gpus)} NVIDIA "
                "GPU(s)",
                evidence=evidence + f"; NVML sees {len(gpus)} GPU(s).",
                fix=fix,
                library=name,
            )
        )
    return findings


def rule_driver_too_old(ctx: _Context) -> list[Finding]:
    """The driver supports an older CUDA than the library was built for."""
    driver_cuda = _version(ctx.nvml.cuda_driver_version)
    if ctx.nvml.status != "ok" or driver_cuda is None:
        return []
    driver_branch = _version(ctx.nvml.driver_version)
    findings = []
    for name in CUDA_LIBRARIES:
        lib = ctx.library(name)
        build = _version(lib.build.get("cuda_version")) if lib else None
        if lib is None or build is None or build <= driver_cuda:
            continue
        needed = MINOR_COMPAT_DRIVER.get(build[0])
        evidence = (
            f"{_display(lib)} was built for CUDA {build[0]}.{build[1]}; the driver "
            f"{shown(ctx.nvml.driver_version)} supports CUDA up to "
            f"{shown(ctx.nvml.cuda_driver_version)}."
        )
        if build[0] > driver_cuda[0] or (
            needed is not None and driver_branch is not None and driver_branch[0] < needed
        ):
            severity = "error"
            title = f"NVIDIA driver too old for {_display(lib)}'s CUDA {build[0]}.{build[1]}"
        else:
            severity = "warning"
            title = (
                f"{_display(lib)} needs CUDA {build[0]}.{build[1]}, the driver gives "
                f"{shown(ctx.nvml.cuda_driver_version)} (minor-version compatibility)"
            )
            evidence += (
                f" CUDA {build[0]}.x minor-version compatibility"
                + phrase(" (driver >= {})", needed)
                + " lets most "
                "code run, but PTX JIT and features newer than the driver fail."
            )
        findings.append(
            Finding(
                rule="driver_too_old",
                severity=severity,  # type: ignore[arg-type]
                title=title,
                evidence=evidence,
                fix=f"Update the NVIDIA driver to one supporting CUDA {build[0]}.{build[1]}, or "
                f"install a {_display(lib)} build for CUDA "
                f"{shown(ctx.nvml.cuda_driver_version)} or older.",
                library=name,
            )
        )
    return findings


def rule_cuda_build_without_driver(ctx: _Context) -> list[Finding]:
    """A CUDA build of a library, but no NVIDIA driver to run it on."""
    if ctx.nvml.status != "no_driver":
        return []
    findings = []
    pci = ctx.system.pci if ctx.system is not None else None
    no_gpu_here = pci is not None and pci.readable and not pci.nvidia_gpus
    for name in CUDA_LIBRARIES:
        lib = ctx.library(name)
        if lib is None or not lib.build.get("is_cuda_build"):
            continue
        if no_gpu_here and pci is not None:
            # The PCI bus has no NVIDIA GPU: nothing to install, the CUDA build simply idles.
            findings.append(
                Finding(
                    rule="cuda_build_without_driver",
                    severity="info",
                    title=f"{_display(lib)} is a CUDA build; this machine has no NVIDIA GPU",
                    evidence=f"{_display(lib)} {shown(lib.version)} built for CUDA "
                    f"{shown(lib.build.get('cuda_version'))}; PCI: {pci.device_count} devices, "
                    "none NVIDIA.",
                    fix="Nothing to do: it computes on the CPU here. A CPU build would be "
                    "smaller (e.g. tensorflow-cpu, torch's +cpu wheel).",
                    library=name,
                )
            )
            continue
        findings.append(
            Finding(
                rule="cuda_build_without_driver",
                severity="warning",
                title=f"{_display(lib)} is a CUDA build but there is no NVIDIA driver",
                evidence=f"{_display(lib)} {shown(lib.version)} built for CUDA "
                f"{shown(lib.build.get('cuda_version'))}; "
                f"NVML: {shown(ctx.nvml.reason, 'no driver')}.",
                fix="Install the NVIDIA driver if this machine has a GPU"
                + (f" ({ctx.nvml.explanations[0]})" if ctx.nvml.explanations else "")
                + "; otherwise it runs on the CPU only.",
                library=name,
            )
        )
    return findings


def _expected_cuda_gpus(ctx: _Context) -> list[GpuInfo]:
    gpus = [g for g in ctx.working_gpus if not g.mig_mode]
    if ctx.visible is not None:
        gpus = [g for g in gpus if g.index in ctx.visible]
    return gpus


def rule_fewer_gpus(ctx: _Context) -> list[Finding]:
    """A CUDA build of a library seeing fewer GPUs than NVML (after CUDA_VISIBLE_DEVICES)."""
    expected = _expected_cuda_gpus(ctx)
    if not expected:
        return []
    findings = []
    for name in CUDA_LIBRARIES:
        lib = ctx.library(name)
        if lib is None or not lib.build.get("is_cuda_build") or is_cpu_only(lib):
            continue  # a CPU-only build is rule_cpu_only_build's state, with its fix
        seen = [d for d in lib.devices if d.kind == "cuda"]
        if len(seen) >= len(expected):
            continue
        uuids = {uuid_key(d.uuid) for d in seen} - {None}
        missing = (
            [g for g in expected if uuid_key(g.uuid) not in uuids]
            if uuids
            else expected[len(seen) :]
        )
        findings.append(
            Finding(
                rule="fewer_gpus_than_nvml",
                severity="error" if not seen else "warning",
                title=f"{_display(lib)} sees {len(seen)} of the {len(expected)} GPU(s) NVML sees",
                evidence=f"NVML: {len(expected)} usable GPU(s)"
                + (" after CUDA_VISIBLE_DEVICES" if ctx.visible is not None else "")
                + f"; {_display(lib)}: {len(seen)}"
                + (f" ({lib.error})" if lib.error else "")
                + (f"; not seen: GPU {', '.join(str(g.index) for g in missing)}" if seen else "")
                + ".",
                fix="Check the other findings (driver version, CUDA_VISIBLE_DEVICES, compute "
                "mode); "
                "run the library's probe with CUDA_LAUNCH_BLOCKING=1 to see the CUDA error.",
                library=name,
            )
        )
    return findings


def rule_cudnn_missing(ctx: _Context) -> list[Finding]:
    """A CUDA build whose cuDNN cannot be loaded."""
    if not ctx.working_gpus:
        return []
    findings = []
    for name in CUDA_LIBRARIES:
        lib = ctx.library(name)
        if lib is None or not lib.build.get("is_cuda_build") or lib.build.get("cudnn_version"):
            continue
        if name == "torch":
            fix = "Reinstall the CUDA wheel so its nvidia-cudnn-cu* dependency comes with it."
        else:
            fix = "pip install 'tensorflow[and-cuda]' (brings the matching nvidia-cudnn wheel)."
        findings.append(
            Finding(
                rule="cudnn_missing",
                severity="warning",
                title=f"cuDNN not available to {_display(lib)}",
                evidence=f"{_display(lib)} {shown(lib.version)} is a CUDA "
                f"{shown(lib.build.get('cuda_version'))} build but reports no cuDNN version.",
                fix=fix + " Check LD_LIBRARY_PATH for an older libcudnn that wins.",
                library=name,
            )
        )
    return findings


def rule_arch_not_in_build(ctx: _Context) -> list[Finding]:
    """A GPU whose compute capability torch's build has no kernels for."""
    lib = ctx.library("torch")
    arch_list = lib.build.get("arch_list") if lib else None
    if lib is None or not arch_list or not lib.build.get("is_cuda_build"):
        return []
    sm: set[tuple[int, int]] = set()
    ptx: set[tuple[int, int]] = set()
    for arch in arch_list:
        match = re.fullmatch(r"(sm|compute)_(\d+?)(\d)a?", str(arch))
        if match:
            (sm if match.group(1) == "sm" else ptx).add((int(match.group(2)), int(match.group(3))))
    findings = []
    for gpu in ctx.working_gpus:
        cc = _version(gpu.compute_capability)
        if cc is None:
            continue
        if any(major == cc[0] and minor <= cc[1] for major, minor in sm):
            continue
        jit = any(p <= cc for p in ptx)
        findings.append(
            Finding(
                rule="arch_not_in_build",
                severity="warning" if jit else "error",
                title=f"torch has no sm_{cc[0]}{cc[1]} kernels for GPU {gpu.index}"
                + phrase(" ({})", gpu.name),
                evidence=f"GPU {gpu.index} has compute capability {gpu.compute_capability}; "
                f"torch.cuda.get_arch_list() = {shown(', '.join(arch_list), 'nothing')}."
                + (" Only PTX can be JIT-compiled: the first run is very slow." if jit else ""),
                fix="Install a torch build that includes this architecture (a newer CUDA wheel "
                "from pytorch.org, or build with TORCH_CUDA_ARCH_LIST).",
                library="torch",
                gpu_index=gpu.index,
            )
        )
    return findings


# ------------------------------------------------------------------ GPU health


def rule_lost_gpu(ctx: _Context) -> list[Finding]:
    """A GPU that has fallen off the bus."""
    return [
        Finding(
            rule="gpu_lost",
            severity="error",
            title=f"GPU {gpu.index} is lost",
            evidence=f"NVML answers {gpu.errors.get('state', 'GpuIsLost')} for GPU {gpu.index}"
            + (f" ({gpu.name}, {shown(gpu.pci_bus_id, 'bus id unknown')})" if gpu.name else "")
            + ".",
            fix="The GPU fell off the bus: check `dmesg` for Xid 79, then reset it "
            "(nvidia-smi -r) or reboot; if it recurs, check power and cooling or replace it.",
            gpu_index=gpu.index,
        )
        for gpu in ctx.nvml.gpus
        if gpu.state == "lost"
    ]


def rule_compute_mode(ctx: _Context) -> list[Finding]:
    """Compute mode Prohibited, or Exclusive_Process with a process already on the GPU."""
    findings = []
    for gpu in ctx.working_gpus:
        holders = [p for p in gpu.processes or [] if "compute" in p.kind]
        if gpu.compute_mode == "Prohibited":
            findings.append(
                Finding(
                    rule="compute_mode",
                    severity="error",
                    title=f"GPU {gpu.index} is in compute mode Prohibited",
                    evidence=f"nvmlDeviceGetComputeMode = Prohibited on GPU {gpu.index}: no CUDA "
                    "context may be created on it.",
                    fix=f"sudo nvidia-smi -i {gpu.index} -c DEFAULT",
                    gpu_index=gpu.index,
                )
            )
        elif gpu.compute_mode in ("Exclusive_Process", "Exclusive_Thread") and holders:
            pids = ", ".join(
                f"{p.pid}" + (f" ({p.command})" if p.visible and p.command else "") for p in holders
            )
            findings.append(
                Finding(
                    rule="compute_mode",
                    severity="warning",
                    title=f"GPU {gpu.index} is exclusive and already taken",
                    evidence=f"Compute mode {gpu.compute_mode}; held by PID {pids}.",
                    fix="Wait for that process, pick another GPU, or "
                    f"`sudo nvidia-smi -i {gpu.index} -c DEFAULT`.",
                    gpu_index=gpu.index,
                )
            )
    return findings


def rule_mig(ctx: _Context) -> list[Finding]:
    """MIG enabled, but no MIG device named in CUDA_VISIBLE_DEVICES."""
    findings = []
    for gpu in ctx.working_gpus:
        if not gpu.mig_mode or gpu.index in ctx.mig_requested:
            continue
        if gpu.mig_devices:
            example = gpu.mig_devices[0].uuid or "MIG-<uuid>"
            evidence = (
                f"MIG is on for GPU {gpu.index} with {len(gpu.mig_devices)} instance(s); "
                "a CUDA process uses one instance, chosen by MIG UUID."
            )
            fix = f"Set CUDA_VISIBLE_DEVICES={example} (see `nvidia-smi -L`)."
        else:
            evidence = (
                f"MIG is on for GPU {gpu.index} but no MIG instance exists: CUDA cannot use it."
            )
            fix = (
                "Create instances (sudo nvidia-smi mig -cgi <profile> -C) or turn MIG off "
                f"(sudo nvidia-smi -i {gpu.index} -mig 0)."
            )
        findings.append(
            Finding(
                rule="mig_without_device",
                severity="warning",
                title=f"GPU {gpu.index} is in MIG mode but no MIG device is selected",
                evidence=evidence,
                fix=fix,
                gpu_index=gpu.index,
            )
        )
    return findings


def rule_pcie(ctx: _Context) -> list[Finding]:
    """PCIe link below its maximum generation or width."""
    findings = []
    for gpu in ctx.working_gpus:
        gen, gen_max = gpu.pcie_generation, gpu.pcie_generation_max
        width, width_max = gpu.pcie_width, gpu.pcie_width_max
        low_gen = gen is not None and gen_max is not None and gen < gen_max
        low_width = width is not None and width_max is not None and width < width_max
        if not (low_gen or low_width):
            continue
        busy = (gpu.utilization_gpu_percent or 0) >= 10
        # Idle GPUs drop the PCIe generation to save power; only a busy one is worth a warning.
        severity = "warning" if low_width or busy else "info"
        parts = []
        if low_gen:
            parts.append(f"Gen{gen} of Gen{gen_max}")
        if low_width:
            parts.append(f"x{width} of x{width_max}")
        findings.append(
            Finding(
                rule="pcie_link_degraded",
                severity=severity,  # type: ignore[arg-type]
                title=f"GPU {gpu.index} PCIe link runs at {' and '.join(parts)}",
                evidence=f"Link Gen{gen} x{width}, max Gen{gen_max} x{width_max}, "
                f"utilisation {gpu.utilization_gpu_percent}%."
                + (
                    ""
                    if busy or low_width
                    else " The GPU is idle, so a lower generation is normal power saving."
                ),
                fix="Check it under load; if it stays low, reseat the card, check the slot and "
                "riser, and the BIOS PCIe setting.",
                gpu_index=gpu.index,
            )
        )
    return findings


_THERMAL = {"software thermal slowdown", "hardware thermal slowdown"}
_POWER_HW = {"hardware slowdown", "hardware power brake slowdown"}


def rule_throttling(ctx: _Context) -> list[Finding]:
    """Thermal or power throttling active now."""
    findings = []
    for gpu in ctx.working_gpus:
        reasons = set(gpu.clock_event_reasons or [])
        thermal = sorted(reasons & _THERMAL)
        power_hw = sorted(reasons & _POWER_HW)
        if thermal or power_hw:
            findings.append(
                Finding(
                    rule="throttling",
                    severity="warning",
                    title=f"GPU {gpu.index} is slowed down by "
                    + ("heat" if thermal else "a hardware power/slowdown signal"),
                    evidence=f"Clock event reasons: {', '.join(sorted(reasons))}; temperature "
                    f"{gpu.temperature_c} C (slowdown at {gpu.temperature_slowdown_c} C).",
                    fix="Improve cooling/airflow, check fans and the power supply; "
                    "`nvidia-smi -q -d PERFORMANCE` shows the counters.",
                    gpu_index=gpu.index,
                )
            )
        elif "software power cap" in reasons:
            findings.append(
                Finding(
                    rule="throttling",
                    severity="info",
                    title=f"GPU {gpu.index} is held at its power cap",
                    evidence=f"Power draw {gpu.power_draw_w} W of {gpu.power_limit_w} W; "
                    "reason: software power cap.",
                    fix="Normal at full load; raise the limit (nvidia-smi -pl) only if cooling "
                    "and the power supply allow.",
                    gpu_index=gpu.index,
                )
            )
    return findings


def rule_memory_health(ctx: _Context) -> list[Finding]:
    """Uncorrected ECC errors and pending or failed row remapping."""
    findings = []
    for gpu in ctx.working_gpus:
        if gpu.ecc_uncorrected_volatile:
            findings.append(
                Finding(
                    rule="ecc_uncorrected",
                    severity="error",
                    title=f"GPU {gpu.index} had uncorrected ECC errors since the driver loaded",
                    evidence=f"Volatile uncorrected ECC count: {gpu.ecc_uncorrected_volatile}.",
                    fix="Results on this GPU may be wrong: drain it, reset it (nvidia-smi -r) and "
                    "run DCGM diagnostics; RMA if they return.",
                    gpu_index=gpu.index,
                )
            )
        elif gpu.ecc_uncorrected_aggregate:
            findings.append(
                Finding(
                    rule="ecc_uncorrected",
                    severity="warning",
                    title=f"GPU {gpu.index} has had uncorrected ECC errors in its lifetime",
                    evidence=f"Aggregate uncorrected ECC count: {gpu.ecc_uncorrected_aggregate}.",
                    fix="Watch it; run DCGM diagnostics and check remapped rows.",
                    gpu_index=gpu.index,
                )
            )
        if gpu.remapped_rows_failed:
            findings.append(
                Finding(
                    rule="remapped_rows",
                    severity="error",
                    title=f"GPU {gpu.index} failed to remap a memory row",
                    evidence="Remapped rows: remapping failure occurred.",
                    fix="The GPU memory is out of spare rows: RMA the GPU.",
                    gpu_index=gpu.index,
                )
            )
        elif gpu.remapped_rows_pending:
            findings.append(
                Finding(
                    rule="remapped_rows",
                    severity="warning",
                    title=f"GPU {gpu.index} has a memory row remap pending",
                    evidence="Remapped rows: pending.",
                    fix="Reset the GPU (nvidia-smi -r) or reboot to apply the remap.",
                    gpu_index=gpu.index,
                )
            )
    return findings


def rule_persistence(ctx: _Context) -> list[Finding]:
    """Persistence mode off (the driver tears down between jobs; first use is slower)."""
    off = [g.index for g in ctx.working_gpus if g.persistence_mode is False]
    if not off:
        return []
    return [
        Finding(
            rule="persistence_off",
            severity="info",
            title=f"Persistence mode is off on GPU {', '.join(map(str, off))}",
            evidence="nvmlDeviceGetPersistenceMode = disabled: the driver state is unloaded "
            "when no process uses the GPU, so each job starts slower.",
            fix="Enable the nvidia-persistenced service (or sudo nvidia-smi -pm 1).",
        )
    ]


def rule_binding_functions(ctx: _Context) -> list[Finding]:
    """NVML functions that the binding or driver does not have (FunctionNotFound)."""
    missing: dict[str, list[int]] = {}
    for gpu in ctx.working_gpus:
        for field_name, error in gpu.errors.items():
            if error == "FunctionNotFound":
                function = FIELD_FUNCTIONS.get(field_name, (field_name,))[0]
                missing.setdefault(function, []).append(gpu.index)
    if not missing:
        return []
    return [
        Finding(
            rule="nvml_function_not_found",
            severity="info",
            title="Some NVML readings are missing: FunctionNotFound",
            evidence="Not found: "
            + "; ".join(f"{fn} (GPU {', '.join(map(str, idx))})" for fn, idx in missing.items())
            + f". Driver {shown(ctx.nvml.driver_version)}.",
            fix="pip install -U nvidia-ml-py (an old binding lacks newer functions); if the "
            "binding is current, the driver is older than the function.",
        )
    ]


def rule_nvml_error(ctx: _Context) -> list[Finding]:
    """NVML present but failing (version mismatch, permissions, ...)."""
    if ctx.nvml.status != "error":
        return []
    return [
        Finding(
            rule="nvml_error",
            severity="error",
            title="NVML is installed but does not work",
            evidence=ctx.nvml.reason or "NVML failed",
            fix=ctx.nvml.explanations[0]
            if ctx.nvml.explanations
            else "Reinstall the NVIDIA driver and nvidia-ml-py.",
        )
    ]


def _bus_address(text: str | None) -> str:
    """A PCI address as "bus:device.function" in lower case (NVML pads the domain to 8 digits)."""
    return (
        (text or "").lower().rpartition(":")[0].rpartition(":")[2]
        + ":"
        + ((text or "").lower().rpartition(":")[2])
    )


def rule_pci_gpus_without_driver(ctx: _Context) -> list[Finding]:
    """NVIDIA GPUs on the PCI bus that the driver does not see (none loaded, or fewer seen)."""
    pci = ctx.system.pci if ctx.system is not None else None
    if pci is None or not pci.readable or not pci.nvidia_gpus:
        return []
    on_bus = pci.nvidia_gpus
    addresses = ", ".join(gpu.address for gpu in on_bus)
    if ctx.nvml.status == "no_driver":
        bound = sorted({gpu.driver for gpu in on_bus if gpu.driver and gpu.driver != "nvidia"})
        in_container = ctx.system is not None and ctx.system.container.in_container
        if "nouveau" in bound:
            fix = (
                "The open-source nouveau driver holds the GPU: blacklist it "
                "(echo 'blacklist nouveau' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf; "
                "sudo update-initramfs -u), install the NVIDIA driver, and reboot."
            )
        elif "vfio-pci" in bound:
            fix = (
                "vfio-pci holds the GPU (it is reserved for a virtual machine): unbind it from "
                "vfio-pci and install the NVIDIA driver, or use the GPU from that VM."
            )
        elif in_container:
            fix = (
                "Start the container with GPU access (docker run --gpus all, or the NVIDIA "
                "Container Toolkit's runtime in Kubernetes); the host needs the NVIDIA driver."
            )
        else:
            fix = (
                "Install the NVIDIA driver (Ubuntu: sudo ubuntu-drivers install; or the CUDA "
                "repository's nvidia-driver package) and load it (sudo modprobe nvidia) or "
                "reboot; nvidia-smi should then list the GPUs."
            )
        held = f"; bound to {', '.join(bound)}" if bound else "; no kernel driver bound"
        return [
            Finding(
                rule="pci_gpu_without_driver",
                severity="error",
                title=f"{len(on_bus)} NVIDIA GPU(s) on the PCI bus, but no NVIDIA driver is loaded",
                evidence=f"PCI {addresses}{held}; NVML: {ctx.nvml.reason or 'no driver'}.",
                fix=fix,
            )
        ]
    if ctx.nvml.status != "ok" or len(ctx.nvml.gpus) >= len(on_bus):
        return []
    seen = {_bus_address(gpu.pci_bus_id) for gpu in ctx.nvml.gpus if gpu.pci_bus_id}
    missing = [gpu.address for gpu in on_bus if _bus_address(gpu.address) not in seen]
    unseen = f"; not seen: {', '.join(missing)}" if seen and missing else ""
    return [
        Finding(
            rule="pci_gpus_not_seen_by_driver",
            severity="error",
            title=f"the driver sees {len(ctx.nvml.gpus)} of the {len(on_bus)} NVIDIA GPUs on "
            "the PCI bus",
            evidence=f"PCI: {len(on_bus)} NVIDIA GPU(s) ({addresses}); NVML: "
            f"{len(ctx.nvml.gpus)}{unseen}.",
            fix="A GPU the driver does not see has usually fallen off the bus or failed to "
            "start: look for Xid 79 or 'RmInitAdapter failed' in `sudo dmesg | grep -i nvrm`, "
            "reset it (sudo nvidia-smi -r -i N) or reboot; if it stays missing, reseat or "
            "replace it.",
        )
    ]


def rule_theano_c_backend(ctx: _Context) -> list[Finding]:
    """Theano or PyTensor whose C backend does not compile: pure-Python mode, very slow."""
    findings = []
    for name in ("theano", "pytensor"):
        lib = ctx.library(name)
        if lib is None or lib.build.get("c_backend") is not False:
            continue
        error = lib.build.get("c_backend_error")
        findings.append(
            Finding(
                rule="c_backend_missing",
                severity="warning",
                title=f"{_display(lib)} runs in pure-Python mode (its C backend does not compile)",
                evidence=f"{_display(lib)} {shown(lib.version)}: C backend unavailable"
                + (f" ({error})" if error else "")
                + "; graphs run through Python, many times slower.",
                fix=_c_backend_fix(name, lib),
                library=name,
            )
        )
    return findings


def _c_backend_fix(name: str, lib: LibraryReport) -> str:
    if not lib.build.get("cxx"):
        return (
            "Install a C++ compiler and Python headers (apt install g++ python3-dev, or "
            "conda install gxx_linux-64), then clear the compile cache."
        )
    if name == "theano":
        # A compiler is there: the failure is Theano's own C code, last released in 2020, which
        # no longer builds against current Python headers. Installing tools will not help.
        return (
            "A C++ compiler is present, so installing one will not help: Theano 1.0.5's C code "
            "no longer builds with this Python. Move to PyTensor, Theano's maintained "
            "successor (pip install pytensor), or keep Theano on the older Python it was "
            "released for."
        )
    return (
        "A C++ compiler is present but the build failed: check the compiler error above, the "
        "Python headers (python3-dev), and clear the compile cache."
    )


# ------------------------------------------------------------------ did the check run at all


_DID_NOT_RUN_WORDS = {
    "crashed": "crashed",
    "timeout": "timed out",
    "bad_output": "printed something that is not a report",
    "import_error": "fails to import",
}


def rule_library_did_not_run(ctx: _Context) -> list[Finding]:
    """A library meant to be checked whose probe crashed, timed out, printed garbage, or whose
    import fails: nothing is known about it, so it is an error, never an all-clear."""
    findings = []
    for lib in ctx.libraries:
        if lib.status not in DID_NOT_RUN:
            continue
        evidence = str(lib.error or "the probe said nothing about why")
        tail = [str(line).strip() for line in lib.stderr_tail if str(line).strip()][-3:]
        if tail and tail[-1] not in evidence:
            evidence += "; last lines on stderr: " + " | ".join(tail)
        if lib.status == "import_error":
            fix = (
                f"Run `{_python(ctx)} -c 'import {lib.name}'` to see the whole error; reinstall "
                "the library or the package it names."
            )
        elif lib.status == "timeout":
            fix = (
                "Run the check again with a longer --timeout; a first import can be slow (a cold "
                "disk, a compile cache), a hang points at the driver or a lock."
            )
        else:
            fix = (
                f"Run `{_python(ctx)} -c 'import {lib.name}'` to see what happens; a crash in the "
                "import points at a broken install or a library built for another CPU or CUDA."
            )
        findings.append(
            Finding(
                rule="library_did_not_run",
                severity="error",
                title=f"{_display(lib)} {_DID_NOT_RUN_WORDS[lib.status]}: it was not checked",
                evidence=evidence,
                fix=fix,
                library=lib.name,
            )
        )
    return findings


# ------------------------------------------------------------------ a verdict is a proof


def _build_errors(lib: LibraryReport) -> list[str]:
    """The errors a probe kept in its build details ('gpu_error: AssertionError')."""
    return [
        f"{key}: {value}"
        for key, value in lib.build.items()
        if key.endswith("_error") and value not in (None, "", False)
    ]


def proof_problem(lib: LibraryReport) -> str | None:
    """Why a library that ran has not proved itself, or None when it has.

    A library is proven only when it claims at least one device and a computation ran, and
    checked out, on each device it claims. A "degraded" report is never proven. This is the one
    test every verdict on a library goes through (its status via `require_proof`, the check's
    findings via `rule_library_unproven`).
    """
    if lib.status not in _RAN:
        return None
    if not lib.devices:
        errors = _build_errors(lib)
        reason = "no device ran a computation"
        return f"{reason} ({'; '.join(errors)})" if errors else reason
    unproven = [d for d in lib.devices if d.computation_ok is not True]
    if unproven:
        parts = []
        for device in unproven:
            where = device.kind if device.index is None else f"{device.kind}:{device.index}"
            why = device.error or (
                "its computation gave a wrong result"
                if device.computation_ok is False
                else "no computation ran on it"
            )
            parts.append(f"{where}: {why}")
        return "; ".join(parts)
    if lib.status == "degraded":
        return lib.error or "the probe reported it degraded"
    return None


def require_proof(lib: LibraryReport) -> LibraryReport:
    """Make an "ok" report that proved nothing "degraded", with the reason as its error."""
    problem = proof_problem(lib)
    if problem is not None and lib.status == "ok":
        lib.status = "degraded"
        lib.error = f"{lib.error}; {problem}" if lib.error else problem
    return lib


def rule_library_unproven(ctx: _Context) -> list[Finding]:
    """A library that imported but did not prove a computation on each device it claims: an
    error when no device ran one (nothing is known to work), else a warning."""
    findings = []
    for lib in ctx.libraries:
        problem = proof_problem(lib)
        if problem is None:
            continue
        none_ran = not any(d.computation_ok is True for d in lib.devices)
        selectors = [
            f"{name}={ctx.environ[name]}"
            for name in ("JAX_PLATFORMS", "JAX_PLATFORM_NAME", "CUDA_VISIBLE_DEVICES")
            if name in ctx.environ
        ]
        fix = f"Run `mltui run {lib.name}` to see the library's own error"
        if selectors:
            fix += f"; this environment selects its backends: {', '.join(selectors)}"
        fix += "."
        findings.append(
            Finding(
                rule="library_unproven",
                severity="error" if none_ran else "warning",
                title=(
                    f"{_display(lib)} ran no computation: it was not proven to work"
                    if none_ran
                    else f"{_display(lib)} did not prove every device it claims"
                ),
                evidence=problem,
                fix=fix,
                library=lib.name,
            )
        )
    return findings


def _python(ctx: _Context) -> str:
    return ctx.target.executable if ctx.target is not None else "python"


def rule_nothing_installed(ctx: _Context) -> list[Finding]:
    """No library of the catalog is installed in the target: nothing was checked."""
    if not ctx.libraries or any(lib.status != "not_installed" for lib in ctx.libraries):
        return []
    where = ctx.target.executable if ctx.target is not None else "the target interpreter"
    names = ", ".join(_display(lib) for lib in ctx.libraries)
    return [
        Finding(
            rule="no_library_installed",
            severity="warning",
            title=f"no ML library installed in {where}: nothing was checked",
            evidence=f"None of {names} is installed for {where}.",
            fix="Point mltui at the environment that has them (mltui --python PATH; `mltui envs` "
            "lists the environments here), or install one there (pip install torch).",
        )
    ]


def verdict(findings: Sequence[Finding]) -> str:
    """One line for a whole check, the same in the CLI and the dashboard.

    Never all-clear when a finding exists; a check where nothing ran carries the
    `no_library_installed` warning, and a library that did not prove a computation on each
    device it claims carries a `library_unproven` finding, so neither is all-clear.
    """
    if not findings:
        return ALL_CLEAR
    counts = []
    for severity, word in (("error", "error"), ("warning", "warning"), ("info", "note")):
        n = sum(1 for f in findings if f.severity == severity)
        if n:
            counts.append(f"{n} {word}{'s' if n != 1 else ''}")
    return ", ".join(counts) + " found."


RULES: tuple[Callable[[_Context], list[Finding]], ...] = (
    rule_library_did_not_run,
    rule_library_unproven,
    rule_nothing_installed,
    rule_nvml_error,
    rule_pci_gpus_without_driver,
    rule_lost_gpu,
    rule_cpu_only_build,
    rule_driver_too_old,
    rule_cuda_build_without_driver,
    rule_cuda_visible_devices,
    rule_fewer_gpus,
    rule_cudnn_missing,
    rule_arch_not_in_build,
    rule_compute_mode,
    rule_mig,
    rule_pcie,
    rule_throttling,
    rule_memory_health,
    rule_theano_c_backend,
    rule_persistence,
    rule_binding_functions,
)


def diagnose(
    nvml: NvmlReport,
    libraries: Sequence[LibraryReport],
    system: SystemInfo | None = None,
    environ: Mapping[str, str] | None = None,
    target: TargetPython | None = None,
) -> list[Finding]:
    """Every finding from every rule, errors first. `environ` defaults to os.environ."""
    env = os.environ if environ is None else environ
    ctx = _Context(nvml=nvml, libraries=libraries, system=system, environ=env, target=target)
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        ctx.visible, ctx.visible_problem, ctx.mig_requested = resolve_visible_devices(
            value, nvml.gpus if nvml.status == "ok" else []
        )
    findings = [finding for rule in RULES for finding in rule(ctx)]
    return sorted(findings, key=lambda f: severity_rank(f.severity))
