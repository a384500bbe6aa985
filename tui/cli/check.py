"""`mltui check`: probe the machine and every library, print the report with Rich or as JSON.

Exit status: 0 when no finding is an error, 1 when one is, 2 on bad usage (raised to `tui.cli`).
Words, styles and figures come from `tui.presentation`, the dashboard's vocabulary too.
Live progress goes to stderr, and only when stderr is a terminal, so `--json` output on stdout is
pure JSON. Rich honours NO_COLOR. No Textual here: the check must start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from probes.cache import describe_cache_dir
from probes.catalog import LIBRARIES, LibrarySpec, parse_library_list
from probes.check import run_check_sync, save_result
from probes.diagnosis import ALL_CLEAR, verdict
from probes.headline import check_headline, no_nvidia_gpu_words
from probes.limits import PROBE_TIMEOUT_S
from probes.model import (
    CheckResult,
    GpuInfo,
    LibraryReport,
    NvmlReport,
    PciBus,
    SystemInfo,
    json_schema,
    severity_rank,
    to_json,
)
from probes.target import resolve_target
from tui.check_markdown import check_markdown
from tui.cli.console import SIMPLE_HEAD, LiveProgress, make_console, print_plain
from tui.exit_codes import EXIT_FINDINGS, EXIT_OK
from tui.presentation import (
    ACCENT,
    ERROR,
    MUTED,
    SUCCESS,
    build_text,
    container_text,
    cpu_backend_text,
    cpu_threads_text,
    duration,
    environment_rows,
    human_bytes,
    library_status_style,
    library_status_words,
    severity_style,
    vector_extensions_text,
)
from tui.safe_text import inert, inert_line, safe_text


def cmd_check(args: argparse.Namespace) -> int:
    """Run `mltui check` with parsed arguments; returns the exit status."""
    if getattr(args, "schema", False):
        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    target = resolve_target(getattr(args, "python", None))
    only = getattr(args, "only", None)
    specs = parse_library_list(only) if only else None
    timeout = float(getattr(args, "timeout", PROBE_TIMEOUT_S) or PROBE_TIMEOUT_S)

    progress = _Progress(specs or list(LIBRARIES)) if sys.stderr.isatty() else None
    if progress is None:
        result = run_check_sync(target, specs, timeout=timeout, save=False)
    else:
        with progress:
            result = run_check_sync(
                target,
                specs,
                timeout=timeout,
                on_library=progress.library_done,
                on_phase=progress.phase,
                save=False,
            )
    if save_result(result, partial=specs is not None) is None:
        print(
            f"mltui: warning: cannot save the check in {describe_cache_dir()}; "
            "the next start will probe again",
            file=sys.stderr,
        )
    output = "json" if getattr(args, "json", False) else getattr(args, "format", None) or "text"
    if output == "json":
        # UTF-8 where stdout takes it: a long non-ASCII error stays one character per
        # character, not six (a fleet reads this report from each node).
        utf8 = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
        sys.stdout.write(to_json(result, indent=2, ensure_ascii=not utf8) + "\n")
    elif output == "md":
        print_plain(check_markdown(result))
    else:
        make_console().print(render_report(result))
    return EXIT_FINDINGS if result.has_errors else EXIT_OK


# --------------------------------------------------------------------------------- progress


class _Progress(LiveProgress):
    """A live table on stderr: each library's probe phase, then its outcome."""

    def __init__(self, specs: list[LibrarySpec]) -> None:
        self.specs = specs
        self.state: dict[str, str] = {spec.id: "starting" for spec in specs}
        super().__init__()

    def phase(self, library_id: str, phase: str) -> None:
        with self.lock:
            self.state[library_id] = {"find": "looking", "import": "importing"}.get(phase, phase)
        self.redraw()

    def library_done(self, report: LibraryReport) -> None:
        with self.lock:
            label = inert(library_status_words(report.status))
            elapsed = f" ({duration(report.elapsed_s)})" if report.elapsed_s is not None else ""
            self.state[report.name] = f"done: {label}{elapsed}"
        self.redraw()

    def _render(self) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column(min_width=24)  # steady width while the states change
        with self.lock:
            for spec in self.specs:
                state = self.state[spec.id]
                style = SUCCESS if state.startswith("done") else ACCENT
                table.add_row(Text(spec.display_name), Text(state, style=style))
        return Panel(table, title="probing libraries", box=box.ROUNDED, expand=False)


# -------------------------------------------------------------------------------- rendering


def _na(value: Any, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value}{suffix}"


def render_system(system: SystemInfo, result: CheckResult) -> RenderableType:
    """The System panel: OS, Python, CPU, memory, container limits."""
    cpu = system.cpu
    mem = system.memory
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Host", safe_text(system.hostname or "n/a"))
    grid.add_row("OS", safe_text(" ".join(p for p in (system.os, system.kernel) if p) or "n/a"))
    target = result.target
    python = (
        f"{target.implementation} {target.version}  {target.executable}"
        if target
        else system.python_version
    )
    grid.add_row("Python", safe_text(python))
    cores = f"{_na(cpu.physical_cores)} physical / {_na(cpu.logical_cores)} logical"
    freq = ""
    if cpu.frequency_current_mhz:
        freq = f", {cpu.frequency_current_mhz:.0f} MHz"
        if cpu.frequency_max_mhz:
            freq += f" (max {cpu.frequency_max_mhz:.0f})"
    grid.add_row("CPU", safe_text(f"{cpu.model or 'unknown model'}  {cores}{freq}"))
    if cpu.load_average:
        grid.add_row("Load", " ".join(f"{v:.2f}" for v in cpu.load_average))
    grid.add_row(
        "Memory",
        f"{human_bytes(mem.total_bytes)} total, {human_bytes(mem.available_bytes)} available; "
        f"swap {human_bytes(mem.swap_used_bytes)} of {human_bytes(mem.swap_total_bytes)}",
    )
    grid.add_row("Vector", safe_text(vector_extensions_text(cpu)))
    if system.container.in_container:
        grid.add_row("Container", safe_text(container_text(system.container)))
    return Panel(grid, title="System", box=box.ROUNDED)


def render_cpu_backends(result: CheckResult) -> RenderableType:
    """What each library computes with on the CPU, and the environment that changes results."""
    table = Table(box=SIMPLE_HEAD, expand=False, pad_edge=False)
    table.add_column("Library", style="bold", no_wrap=True)
    table.add_column("BLAS / oneDNN")
    table.add_column("Threads")
    for report in result.libraries:
        if report.status == "not_installed":
            continue
        table.add_row(
            safe_text(report.display_name or report.name),
            safe_text(cpu_backend_text(report)),
            safe_text(cpu_threads_text(report)),
        )
    environment = Table.grid(padding=(0, 2))
    environment.add_column(style="bold", no_wrap=True)
    environment.add_column(overflow="fold")
    for name, value in environment_rows(result.system.environment):
        environment.add_row(name, safe_text(value, style=MUTED if value == "unset" else ""))
    parts: list[RenderableType] = [table] if table.row_count else []
    if result.system.environment:
        parts += [Text("Environment that changes results", style=MUTED), environment]
    if not parts:
        parts = [Text("no library ran", style=MUTED)]
    return Panel(Group(*parts), title="On the CPU", box=box.ROUNDED)


def _gpu_row(gpu: GpuInfo) -> list[str | Text]:
    if gpu.state == "lost":
        lost: list[str | Text] = [str(gpu.index), safe_text(gpu.name or "?")]
        return [*lost, Text("lost (fell off the bus)", style=ERROR), *[""] * 5]
    memory = (
        f"{human_bytes(gpu.memory_used_bytes)} / {human_bytes(gpu.memory_total_bytes)}"
        if gpu.memory_total_bytes is not None
        else "n/a"
    )
    util = _na(gpu.utilization_gpu_percent, " %")
    temp = _na(gpu.temperature_c, " °C")
    power = (
        f"{gpu.power_draw_w:.0f} / {gpu.power_limit_w:.0f} W"
        if gpu.power_draw_w is not None and gpu.power_limit_w is not None
        else _na(gpu.power_draw_w, " W")
    )
    pcie = (
        f"gen {_na(gpu.pcie_generation)}/{_na(gpu.pcie_generation_max)} "
        f"x{_na(gpu.pcie_width)}/{_na(gpu.pcie_width_max)}"
    )
    processes = "n/a" if gpu.processes is None else str(len(gpu.processes))
    return [
        str(gpu.index),
        safe_text(gpu.name or "n/a"),
        memory,
        util,
        temp,
        power,
        pcie,
        processes,
    ]


def render_gpus(nvml: NvmlReport, pci: PciBus | None = None) -> RenderableType:
    """The GPUs table, or the no-driver state with what was checked, as a plain state.

    With a PCI bus that holds no NVIDIA GPU, it says that instead of what a driver would need.
    """
    bus_words = no_nvidia_gpu_words(pci)
    if nvml.status != "ok" and bus_words is not None:
        lines = Text()
        lines.append("No NVIDIA GPU in this machine", style="bold")
        lines.append(f" ({inert(bus_words)}): nothing for an NVIDIA driver to drive.")
        if nvml.reason:
            lines.append(f"\nNVML: {inert(nvml.reason)}", style=MUTED)
        return Panel(lines, title="GPUs", box=box.ROUNDED)
    if nvml.status != "ok":
        lines = Text()
        headline = "No NVIDIA GPU visible" if nvml.status == "no_driver" else "NVML failed"
        lines.append(headline, style="bold")
        if nvml.reason:
            lines.append(f": {inert(nvml.reason)}")
        for explanation in nvml.explanations:
            lines.append(f"\n  • {inert(explanation)}")
        return Panel(lines, title="GPUs", box=box.ROUNDED)
    table = Table(box=SIMPLE_HEAD, expand=False)
    for column in ("#", "Name", "Memory used", "Util", "Temp", "Power", "PCIe", "Procs"):
        table.add_column(column)
    for gpu in nvml.gpus:
        table.add_row(*_gpu_row(gpu))
    header = inert(
        f"driver {_na(nvml.driver_version)}, CUDA driver {_na(nvml.cuda_driver_version)}, "
        f"NVML {_na(nvml.nvml_version)}"
    )
    body: RenderableType = table if nvml.gpus else Text("NVML works but lists no GPU.")
    return Panel(Group(Text(header, style=MUTED), body), title="GPUs", box=box.ROUNDED)


def _devices_seen(report: LibraryReport) -> str:
    if not report.devices:
        return ""
    kinds: dict[str, int] = {}
    for device in report.devices:
        kinds[device.kind] = kinds.get(device.kind, 0) + 1
    parts = []
    for kind, count in kinds.items():
        parts.append(kind if kind == "cpu" else f"{count} × {kind}")
    return ", ".join(parts)


def _computation(report: LibraryReport) -> Text:
    text = Text()
    for device in report.devices:
        label = device.kind if device.index is None else f"{device.kind}:{device.index}"
        if text:
            text.append("  ")
        if device.computation_ok is True:
            text.append(f"✓ {inert(label)}", style=SUCCESS)
        elif device.computation_ok is False:
            text.append(f"✗ {inert(label)}", style=ERROR)
        else:
            text.append(f"– {inert(label)}", style=MUTED)
    return text


def render_libraries(libraries: list[LibraryReport]) -> RenderableType:
    """The libraries × devices matrix; fits 80 columns, longer notes go to the findings."""
    table = Table(box=SIMPLE_HEAD, expand=False, pad_edge=False)
    table.add_column("Library", style="bold", no_wrap=True)
    table.add_column("Installed", no_wrap=True)
    table.add_column("Version", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("Build", min_width=12, max_width=18)
    table.add_column("Devices", no_wrap=True)
    table.add_column("Ran on", no_wrap=True)
    table.add_column("Note", overflow="fold")
    for report in libraries:
        label, style = library_status_words(report.status), library_status_style(report.status)
        note = report.error or ""
        table.add_row(
            safe_text(report.display_name or report.name),
            safe_text(label, style=style),
            safe_text(report.version or ""),
            safe_text(build_text(report, detailed=True)),
            safe_text(_devices_seen(report)),
            _computation(report),
            safe_text(note, style=MUTED if report.status == "ok" else ""),
        )
    return Panel(table, title="Libraries", box=box.ROUNDED)


def render_findings(result: CheckResult) -> RenderableType:
    """Each finding with its severity, evidence and fix."""
    if not result.findings:
        return Panel(Text(ALL_CLEAR, style=SUCCESS), title="Findings", box=box.ROUNDED)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for finding in sorted(result.findings, key=lambda f: severity_rank(f.severity)):
        body = Text()
        body.append(inert(finding.title), style="bold")
        body.append("\nevidence: ", style=MUTED)
        body.append(inert(finding.evidence))
        body.append("\nfix: ", style=MUTED)
        body.append(inert(finding.fix))
        severity = Text(finding.severity.upper(), style=severity_style(finding.severity))
        grid.add_row(severity, body)
    headline = Text(verdict(result.findings), style="bold")
    return Panel(Group(headline, grid), title="Findings", box=box.ROUNDED)


def render_report(result: CheckResult) -> RenderableType:
    """The whole `mltui check` report as one Rich renderable."""
    took = duration(result.elapsed_s)
    footer = safe_text(
        f"mltui {result.mltui_version} · checked in {took} at {result.created_at} · "
        f"{verdict(result.findings)}",
        style=MUTED,
    )
    return Group(
        Text(inert_line(result.headline or check_headline(result)), style="bold"),
        render_system(result.system, result),
        render_gpus(result.nvml, result.system.pci),
        render_libraries(result.libraries),
        render_cpu_backends(result),
        render_findings(result),
        footer,
    )
