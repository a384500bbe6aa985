"""How mltui says things, the same on the command line and in the dashboard.

One vocabulary for both views: the words for a library's state and a sample's outcome, the
severities of findings and how they are ordered, figures (bytes, ages, durations), the text for a
library's CUDA build, and the *style names* everything is coloured with.

A style name (`ERROR`, `WARNING`, `SUCCESS`, `ACCENT`, `MUTED` and their `*_STRONG` forms) means
the same in both views but is coloured by each view's theme:

- the dashboard builds a Rich theme from the Textual theme's variables (`$error`, `$warning`,
  `$success`, `$accent`) with `dashboard_theme`, so choosing another theme (ctrl+p) recolours it;
- the command line uses `terminal_theme`, the same names on the terminal's own colours.

Widgets never name a colour; they name one of these styles. Untrusted text is made safe by
`tui.safe_text`, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from rich.theme import Theme

from probes.model import ContainerLimits, CpuInfo, LibraryReport

Tone = Literal["error", "warning", "success", "accent", "muted"]

#: The style names, as used in Rich `Text(..., style=...)` in both views.
ERROR = "mltui.error"
WARNING = "mltui.warning"
SUCCESS = "mltui.success"
ACCENT = "mltui.accent"
MUTED = "mltui.muted"
ERROR_STRONG = "mltui.error.strong"
WARNING_STRONG = "mltui.warning.strong"
SUCCESS_STRONG = "mltui.success.strong"
ACCENT_STRONG = "mltui.accent.strong"

TONES: tuple[Tone, ...] = ("error", "warning", "success", "accent", "muted")

#: Each coloured tone's Textual theme variable (the dashboard) and terminal colour (the CLI).
_THEME_VARIABLE: dict[Tone, str] = {
    "error": "error",
    "warning": "warning",
    "success": "success",
    "accent": "accent",
}
_TERMINAL_COLOUR: dict[Tone, str] = {
    "error": "red",
    "warning": "yellow",
    "success": "green",
    "accent": "cyan",
}


def style(tone: Tone, *, strong: bool = False) -> str:
    """The style name of a tone: 'mltui.error', or 'mltui.error.strong' (bold) when `strong`."""
    return f"mltui.{tone}.strong" if strong else f"mltui.{tone}"


def _theme(colours: Mapping[Tone, str]) -> Theme:
    styles: dict[str, str] = {MUTED: "dim", "mltui.muted.strong": "bold dim"}
    for tone, colour in colours.items():
        styles[style(tone)] = colour
        styles[style(tone, strong=True)] = f"bold {colour}"
    return Theme(styles, inherit=True)


def terminal_theme() -> Theme:
    """The style names on the terminal's own colours, for the command line's Rich consoles."""
    return _theme(_TERMINAL_COLOUR)


def dashboard_theme(variables: Mapping[str, str]) -> Theme:
    """The style names on a Textual theme's colours (`App.get_css_variables()`)."""
    colours: dict[Tone, str] = {}
    for tone, variable in _THEME_VARIABLE.items():
        value = variables.get(variable, _TERMINAL_COLOUR[tone])
        # Rich takes '#rrggbb' but not the '#rrggbbaa' a theme may give.
        colours[tone] = value[:7] if value.startswith("#") else value
    return _theme(colours)


# ----------------------------------------------------------------------------- library states

#: What each probe status is called, and its tone.
LIBRARY_STATUS: dict[str, tuple[str, Tone]] = {
    "ok": ("yes", "success"),
    "degraded": ("degraded", "warning"),
    "not_installed": ("not installed", "muted"),
    "import_error": ("import error", "error"),
    "timeout": ("timed out", "error"),
    "crashed": ("crashed", "error"),
    "bad_output": ("bad output", "error"),
}
#: Shorter words where a column is narrow (the dashboard's libraries matrix).
SHORT_LIBRARY_STATUS = {"not_installed": "no"}


def _words(states: Mapping[str, tuple[str, Tone]], state: str) -> str:
    """A state's words from a table of states; the state itself when it has none."""
    return states[state][0] if state in states else state


def _style(states: Mapping[str, tuple[str, Tone]], state: str, strong: bool) -> str:
    """A state's style from a table of states; muted when it has none."""
    return style(states[state][1] if state in states else "muted", strong=strong)


def library_status_words(status: str, *, short: bool = False) -> str:
    """'yes', 'import error', ...; the status itself when it has no words."""
    if short and status in SHORT_LIBRARY_STATUS:
        return SHORT_LIBRARY_STATUS[status]
    return _words(LIBRARY_STATUS, status)


def library_status_style(status: str, *, strong: bool = False) -> str:
    """The style a library's probe status is shown in."""
    return _style(LIBRARY_STATUS, status, strong)


# ----------------------------------------------------------------------------- sample runs

#: The tone of each outcome of a sample run (and of a run under way).
RUN_STATUS_TONE: dict[str, Tone] = {
    "pass": "success",
    "fail": "error",
    "error": "error",
    "timeout": "error",
    "cancelled": "warning",
    "running": "accent",
}


def run_status_style(status: str, *, strong: bool = False) -> str:
    """The style a sample's outcome ('pass', 'fail', ...) is shown in."""
    return style(RUN_STATUS_TONE.get(status, "muted"), strong=strong)


# ----------------------------------------------------------------------------- fleet nodes

#: What each state of a fleet node (`probes.fleet.model.NodeState`) is called, and its tone.
NODE_STATE: dict[str, tuple[str, Tone]] = {
    "ok": ("ok", "success"),
    "findings": ("errors", "error"),
    "unreachable": ("unreachable", "error"),
    "timed_out": ("timed out", "error"),
    "down": ("down", "error"),
    "no_mltui": ("no mltui", "warning"),
    "failed": ("failed", "error"),
}


def node_state_words(state: str) -> str:
    """'ok', 'unreachable', 'no mltui', ...; the state itself when it has no words."""
    return _words(NODE_STATE, state)


def node_state_style(state: str, *, strong: bool = False) -> str:
    """The style a fleet node's state is shown in."""
    return _style(NODE_STATE, state, strong)


# ----------------------------------------------------------------------------- findings

#: Severities of findings (and of the chooser's notes about this machine), most serious first,
#: and their tones.
SEVERITY_TONE: dict[str, Tone] = {
    "error": "error",
    "warning": "warning",
    "info": "accent",
    "ok": "success",
}
#: A one-character mark per severity, for lists where colour may not show.
SEVERITY_MARK = {"error": "x", "warning": "!", "info": "-", "ok": "+"}


def severity_style(severity: str, *, strong: bool = True) -> str:
    """The style a severity is shown in (bold unless `strong` is false)."""
    return style(SEVERITY_TONE.get(severity, "muted"), strong=strong)


# ----------------------------------------------------------------------------- levels


def level_style(percent: float | None, warn: float, alert: float) -> str:
    """The style of a percentage: success below `warn`, warning below `alert`, error above."""
    if percent is None:
        return MUTED
    if percent >= alert:
        return ERROR
    if percent >= warn:
        return WARNING
    return SUCCESS


def utilisation_style(percent: float | None) -> str:
    """Style of GPU or CPU utilisation (the usual 10 / 75 % steps)."""
    return level_style(percent, 10, 75)


def memory_style(percent: float | None) -> str:
    """Style of memory use (the usual 10 / 80 % steps)."""
    return level_style(percent, 10, 80)


def temperature_style(celsius: int | None, slowdown_c: int | None) -> str:
    """Error at the slowdown threshold, warning within five degrees of it; 85 °C without one."""
    if celsius is None:
        return MUTED
    limit = slowdown_c if slowdown_c is not None else 85
    if celsius >= limit:
        return ERROR
    if celsius >= limit - 5:
        return WARNING
    return SUCCESS


# ----------------------------------------------------------------------------- figures


def human_bytes(value: int | float | None) -> str:
    """Bytes as a short figure with a binary unit: '1.5 GiB', '512 KiB'; 'n/a' when unknown."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024:
            return f"{amount:.0f} {unit}" if unit in ("B", "KiB") else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def human_age(seconds: float | None) -> str:
    """An age for a person: 'just now', '42 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    if seconds is None:
        return "age unknown"
    if seconds < 5:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def duration(seconds: float | None, *, digits: int = 1) -> str:
    """A duration in seconds: '3.2 s' ('?' when unknown)."""
    return "?" if seconds is None else f"{seconds:.{digits}f} s"


# ----------------------------------------------------------------------------- builds


def container_text(container: ContainerLimits) -> str:
    """A container and its limits: 'docker, limited to 8 CPUs, 16.0 GiB memory'."""
    limits = []
    if container.cpu_limit_cores is not None:
        limits.append(f"{container.cpu_limit_cores:g} CPUs")
    if container.memory_limit_bytes is not None:
        limits.append(f"{human_bytes(container.memory_limit_bytes)} memory")
    runtime = container.runtime or "container"
    return runtime + (f", limited to {', '.join(limits)}" if limits else "")


def build_text(report: LibraryReport, *, detailed: bool = False) -> str:
    """What the library was built for: 'CUDA 12.1', 'ROCm 6.0', 'CPU-only', 'C backend', ...

    `detailed` adds the cuDNN version where the library reports one. A library that says nothing
    about its build is 'CPU library' when it imported, '-' otherwise.
    """
    build = report.build
    if build.get("hip_version"):
        return f"ROCm {build['hip_version']}"
    if build.get("is_rocm_build"):
        return "ROCm"
    if "is_cuda_build" in build or "cuda_version" in build:
        if not build.get("is_cuda_build", bool(build.get("cuda_version"))):
            return "CPU-only"
        text = f"CUDA {build.get('cuda_version') or '?'}"
        if detailed and build.get("cudnn_version"):
            text += f", cuDNN {build['cudnn_version']}"
        return text
    if "cuda_enabled_devices" in build:
        return "CUDA" if build.get("cuda_enabled_devices") else "no CUDA"
    if "c_backend" in build:
        return "C backend" if build.get("c_backend") else "pure Python"
    return "CPU library" if report.status in ("ok", "degraded") else "-"


def cpu_backend_text(report: LibraryReport) -> str:
    """What a library computes with on the CPU: 'MKL 2024.2 + oneDNN 3.12.0', 'OpenBLAS 0.3.27'.

    '-' for a library that did not run, 'not reported' for a probe that did not say.
    """
    build = report.build
    if report.status not in ("ok", "degraded"):
        return "-"
    parts = [str(value) for value in (build.get("blas"), build.get("onednn")) if value]
    return " + ".join(parts) or "not reported"


def cpu_threads_text(report: LibraryReport) -> str:
    """A library's CPU thread count and where it comes from: '2 (torch.get_num_threads())'."""
    if report.status not in ("ok", "degraded"):
        return "-"
    threads = report.build.get("threads")
    if threads is None:
        return "not reported"
    source = report.build.get("threads_from")
    return f"{threads} ({source})" if source else str(threads)


def vector_extensions_text(cpu: CpuInfo) -> str:
    """'AVX2, AVX-512F, AMX-BF16' or 'none of AVX2, AVX-512, AMX, NEON, SVE found'."""
    if cpu.vector_extensions:
        return ", ".join(cpu.vector_extensions)
    return "none of AVX2, AVX-512, AMX, NEON, SVE found"


def environment_rows(environment: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """(name, value) for each variable that changes results: its value, or 'unset'."""
    return [(name, "unset" if value is None else value) for name, value in environment.items()]


# ----------------------------------------------------------------------------- performance

#: The tone of each `mltui perf` verdict.
PERF_VERDICT_TONE: dict[str, Tone] = {
    "healthy": "success",
    "slow": "warning",
    "failed": "error",
    "skipped": "muted",
    "incomplete": "warning",
    "unjudged": "muted",
}


def perf_verdict_style(verdict: str, *, strong: bool = True) -> str:
    """The style a perf verdict ('healthy', 'slow', 'failed', 'skipped', 'incomplete',
    'unjudged') is shown in."""
    return style(PERF_VERDICT_TONE.get(verdict, "muted"), strong=strong)


#: What each perf library-run status (`probes.perf_model.LibraryRunStatus`) is called, and its tone.
PERF_RUN_STATUS: dict[str, tuple[str, Tone]] = {
    "ok": ("ok", "success"),
    "not_installed": ("not installed", "muted"),
    "import_error": ("import error", "error"),
    "failed": ("failed", "error"),
    "timeout": ("timed out", "error"),
    "cancelled": ("cancelled", "warning"),
    "not_run": ("not run", "muted"),
    "no_gpu": ("no GPU", "muted"),
}


def perf_run_words(status: str) -> str:
    """'timed out', 'not installed', ... for a library's perf run; the status itself otherwise."""
    return _words(PERF_RUN_STATUS, status)


def perf_run_style(status: str, *, strong: bool = False) -> str:
    """The style a library's perf-run status is shown in."""
    return _style(PERF_RUN_STATUS, status, strong)


def ratio_style(ratio: float | None) -> str:
    """Style of a measured/peak ratio: success from 60 %, warning from 40 %, error below."""
    if ratio is None:
        return MUTED
    if ratio >= 0.6:
        return SUCCESS
    if ratio >= 0.4:
        return WARNING
    return ERROR


def human_rate(value: float | None, unit: str) -> str:
    """A throughput with a decimal prefix: '989 TFLOP/s', '63.0 GB/s', '2.10 GFLOP/s'; 'n/a'.

    `unit` is 'FLOP/s' or 'B/s' (bandwidths in decimal GB/s, as datasheets print them).
    """
    if value is None:
        return "n/a"
    base = "FLOP/s" if unit == "FLOP/s" else "B/s"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            figure = value / scale
            digits = 0 if figure >= 100 else 1 if figure >= 10 else 2
            return f"{figure:.{digits}f} {prefix}{base}"
    return f"{value:.0f} {base}"
