"""A check as Markdown to paste into a bug report or a ticket (`mltui check --format md`).

What people run `python -m torch.utils.collect_env` for, for every library at once: the machine,
the GPUs and driver, each library's version, build, devices and whether a computation ran, the
findings with their fixes, and the error text of what failed (in folded blocks). Written once
here; the dashboard's export writes the same text.

Everything that came from outside mltui is made inert (tui.safe_text) and escaped for Markdown:
`|` in table cells, code fences longer than any run of backticks in the text they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from probes.diagnosis import verdict
from probes.headline import check_headline, no_nvidia_gpu_words
from probes.model import CheckResult, DeviceResult, GpuInfo, severity_rank
from tui.presentation import (
    build_text,
    container_text,
    cpu_backend_text,
    cpu_threads_text,
    environment_rows,
    human_bytes,
    library_status_words,
    vector_extensions_text,
)
from tui.safe_text import inert, inert_line

#: Markdown characters that would change a table cell or inline text.
_CELL_SPECIAL = re.compile(r"([\\|`*_<>\[\]])")


def cell(value: object) -> str:
    """Untrusted text for one Markdown table cell: one line, inert, `|` and friends escaped."""
    text = inert_line(value).replace("\\x0a", " ")
    return _CELL_SPECIAL.sub(r"\\\1", text) or " "


def code_block(lines: Iterable[str], language: str = "text") -> list[str]:
    """Lines as a fenced block whose fence no line of the content can close."""
    body = [inert(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *body, fence]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _na(value: object, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value}{suffix}"


def _system(result: CheckResult) -> list[str]:
    system = result.system
    cpu, memory, box = system.cpu, system.memory, system.container
    target = result.target
    python = (
        f"{target.implementation} {target.version} `{target.executable}`"
        if target is not None
        else system.python_version
    )
    rows = [
        ("Host", cell(system.hostname or "n/a")),
        ("OS", cell(" ".join(p for p in (system.os, system.kernel) if p) or "n/a")),
        ("Python (target)", python.replace("|", "\\|")),
        (
            "CPU",
            cell(
                f"{cpu.model or 'unknown model'}, {_na(cpu.physical_cores)} cores / "
                f"{_na(cpu.logical_cores)} threads"
            ),
        ),
        (
            "Memory",
            f"{human_bytes(memory.total_bytes)} total, "
            f"{human_bytes(memory.available_bytes)} available",
        ),
    ]
    rows.append(("Vector extensions", cell(vector_extensions_text(cpu))))
    if box.in_container:
        rows.append(("Container", cell(container_text(box))))
    return ["## System", "", *_table(["", ""], rows), ""]


def _cpu_backends(result: CheckResult) -> list[str]:
    out = ["## On the CPU", ""]
    ran = [lib for lib in result.libraries if lib.status != "not_installed"]
    if ran:
        rows = [
            [
                cell(lib.display_name or lib.name),
                cell(cpu_backend_text(lib)),
                cell(cpu_threads_text(lib)),
            ]
            for lib in ran
        ]
        out += [*_table(["Library", "BLAS / oneDNN", "Threads"], rows), ""]
    environment = environment_rows(result.system.environment)
    if environment:
        out += ["Environment that changes results:", ""]
        out += [*_table(["Variable", "Value"], ((cell(n), cell(v)) for n, v in environment)), ""]
    return out


def _gpu_row(gpu: GpuInfo) -> list[str]:
    if gpu.state == "lost":
        return [str(gpu.index), cell(gpu.name or "?"), "lost (fell off the bus)", "", "", ""]
    memory = (
        f"{human_bytes(gpu.memory_used_bytes)} / {human_bytes(gpu.memory_total_bytes)}"
        if gpu.memory_total_bytes is not None
        else "n/a"
    )
    return [
        str(gpu.index),
        cell(gpu.name or "n/a"),
        cell(_na(gpu.compute_capability)),
        memory,
        _na(gpu.utilization_gpu_percent, " %"),
        _na(gpu.temperature_c, " C"),
    ]


def _gpus(result: CheckResult) -> list[str]:
    nvml = result.nvml
    out = ["## GPUs", ""]
    bus_words = no_nvidia_gpu_words(result.system.pci)
    if nvml.status != "ok" and bus_words is not None:
        out.append(f"**No NVIDIA GPU in this machine** ({cell(bus_words)})")
        if nvml.reason:
            out += ["", f"NVML: {cell(nvml.reason)}"]
        return [*out, ""]
    if nvml.status != "ok":
        headline = "No NVIDIA GPU visible" if nvml.status == "no_driver" else "NVML failed"
        out.append(f"**{headline}**" + (f": {cell(nvml.reason)}" if nvml.reason else ""))
        out += [f"- {cell(line)}" for line in nvml.explanations]
        return [*out, ""]
    out.append(
        f"Driver {cell(_na(nvml.driver_version))}, CUDA driver API "
        f"{cell(_na(nvml.cuda_driver_version))}, NVML {cell(_na(nvml.nvml_version))}"
    )
    out.append("")
    if not nvml.gpus:
        return [*out, "NVML works but lists no GPU.", ""]
    header = ["#", "Name", "Compute capability", "Memory used", "Util", "Temp"]
    return [*out, *_table(header, (_gpu_row(g) for g in nvml.gpus)), ""]


def _device_words(device: DeviceResult) -> str:
    label = device.kind if device.index is None else f"{device.kind}:{device.index}"
    if device.computation_ok is True:
        return f"{label} ok"
    if device.computation_ok is False:
        return f"{label} FAILED"
    return f"{label} not run"


def _libraries(result: CheckResult) -> list[str]:
    out = ["## Libraries", ""]
    if not result.libraries:
        return [*out, "No library was checked.", ""]
    header = ["Library", "Status", "Version", "Build", "Computation per device"]
    rows = [
        [
            cell(lib.display_name or lib.name),
            cell(library_status_words(lib.status)),
            cell(lib.version or ""),
            cell(build_text(lib, detailed=True)),
            cell(", ".join(_device_words(d) for d in lib.devices)),
        ]
        for lib in result.libraries
    ]
    out += [*_table(header, rows), ""]
    for lib in result.libraries:
        details = [f"error: {lib.error}"] if lib.error else []
        details += [f"{_device_words(d)}: {d.error}" for d in lib.devices if d.error]
        details += list(lib.stderr_tail)
        if not details:
            continue
        out += [
            "<details><summary>" + cell(lib.display_name or lib.name) + ": what it said</summary>",
            "",
        ]
        if lib.location:
            out += [f"Location: `{inert_line(lib.location).replace('`', '')}`", ""]
        out += [*code_block(details), "", "</details>", ""]
    return out


def _findings(result: CheckResult) -> list[str]:
    out = ["## Findings", ""]
    if not result.findings:
        return [*out, "No problems found.", ""]
    ordered = sorted(result.findings, key=lambda f: severity_rank(f.severity))
    for finding in ordered:
        out.append(f"- **{finding.severity}**: {cell(finding.title)}")
        out.append(f"  - evidence: {cell(finding.evidence)}")
        out.append(f"  - fix: {cell(finding.fix)}")
    return [*out, ""]


def check_markdown(result: CheckResult) -> str:
    """The whole check as a Markdown document (ends with a newline)."""
    host = result.system.hostname or "this machine"
    took = f"{result.elapsed_s:.1f} s" if result.elapsed_s is not None else "n/a"
    lines = [
        f"# mltui check: {cell(host)}",
        "",
        f"**{cell(result.headline or check_headline(result))}**",
        "",
        f"mltui {cell(result.mltui_version or '?')}, checked {cell(result.created_at or '?')} "
        f"in {took}: {verdict(result.findings)}",
        "",
        *_system(result),
        *_gpus(result),
        *_libraries(result),
        *_cpu_backends(result),
        *_findings(result),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
