"""A health report in each host system's words: Slurm/NHC, node-problem-detector, Prometheus.

One mapping of verdicts to exit statuses serves every contract: healthy 0, unhealthy 1, no
verdict 2 (Slurm/NHC: silent 0, else one `ERROR: mltui: <reason>` line; node-problem-detector's
custom plugin: 0 OK, 1 NonOK, 2 Unknown; a bad usage or a missing baseline is 2 as well). Every
piece of outside text that goes into a one-line contract (a version string from a node, a path)
passes `contract_line()`: control characters and newlines made visible (`tui.safe_text`), so a
reason is always exactly one line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from probes.health.model import HealthReport, HealthVerdict
from probes.model import CheckResult
from tui.safe_text import inert_line

#: The exit status of each verdict, for every format.
VERDICT_EXIT: dict[HealthVerdict, int] = {"healthy": 0, "unhealthy": 1, "unknown": 2}
#: The longest message node-problem-detector is given, in bytes of UTF-8 (its max_output_length
#: is the real cap, counted in bytes).
NPD_MAX_CHARS = 160
#: The longest `ERROR: mltui: …` line (slurmd puts it whole in its log; a reason quotes outside
#: text, e.g. a baseline's 10 kB version string).
SLURM_MAX_CHARS = 300
#: Prefix of the line slurmd logs and NHC-style wrappers look for.
SLURM_PREFIX = "ERROR: mltui: "
#: The gauge value of each verdict in `mltui_health`.
VERDICT_GAUGE: dict[HealthVerdict, int] = {"healthy": 1, "unhealthy": 0, "unknown": -1}


def contract_line(text: object) -> str:
    """Outside text made one safe line: controls visible, newlines and tabs too."""
    return inert_line(text).replace("\t", "\\x09")


def bounded_line(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis saying it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slurm_line(report: HealthReport) -> str | None:
    """The Slurm/NHC output: None (print nothing) when healthy, else the one ERROR line."""
    if report.verdict == "healthy":
        return None
    return bounded_line(SLURM_PREFIX + contract_line(report.reason), SLURM_MAX_CHARS)


def npd_message(report: HealthReport) -> str:
    """node-problem-detector's short message (stdout of a custom plugin), at most NPD_MAX_CHARS
    bytes of UTF-8: NPD cuts its plugins' output by bytes (Go's len), so a cut by characters
    left it to split a multi-byte character and drop the ellipsis."""
    text = "mltui: " + contract_line(report.reason)
    if len(text.encode("utf-8")) <= NPD_MAX_CHARS:
        return text
    room = NPD_MAX_CHARS - len("…".encode())
    cut = text.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + "…"


# ------------------------------------------------------------------------------ Prometheus


def _label(value: object) -> str:
    """A label value in the text exposition format (backslash, quote and newline escaped)."""
    text = contract_line(value)
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    inner = ",".join(f'{name}="{_label(value)}"' for name, value in pairs)
    return "{" + inner + "}"


class _Metrics:
    """Metric families in the order they are added; each with HELP, TYPE and its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def gauge(
        self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, object], float]]
    ) -> None:
        """Add one gauge family (a family without samples is left out)."""
        rows = list(samples)
        if not rows:
            return
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in rows:
            self.lines.append(f"{name}{_labels(labels.items())} {_number(value)}")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def computing_libraries(check: CheckResult) -> tuple[int, int]:
    """(libraries that computed on any device, libraries that computed on a GPU)."""
    anywhere = sum(1 for lib in check.libraries if any(d.computation_ok for d in lib.devices))
    on_gpu = sum(1 for lib in check.libraries if any(d.computation_ok for d in lib.gpu_devices))
    return anywhere, on_gpu


def _made_at(report: HealthReport) -> float:
    """When the report was made (its created_at), else now."""
    try:
        made = datetime.fromisoformat(report.created_at.replace("Z", "+00:00"))
    except ValueError:
        return time.time()
    return made.timestamp() if made.tzinfo is not None else time.time()


def prometheus_text(report: HealthReport, *, now: float | None = None) -> str:
    """The report as node_exporter textfile-collector metrics, all named `mltui_…`."""
    node: dict[str, object] = {"node": report.node}
    metrics = _Metrics()
    metrics.gauge(
        "mltui_health",
        "Health verdict of the node: 1 healthy, 0 unhealthy, -1 no verdict.",
        [(node, VERDICT_GAUGE[report.verdict])],
    )
    metrics.gauge(
        "mltui_health_verdict",
        "1 for the node's current verdict, 0 for the others.",
        [
            ({**node, "verdict": verdict}, int(report.verdict == verdict))
            for verdict in VERDICT_GAUGE
        ],
    )
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in report.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    metrics.gauge(
        "mltui_findings",
        "Findings of the node's health check, by severity.",
        [({**node, "severity": severity}, count) for severity, count in counts.items()],
    )
    metrics.gauge(
        "mltui_health_unknown",
        "Subjects the last check could not judge (a probe that timed out is not a verdict).",
        [(node, len(report.unknown))],
    )
    metrics.gauge(
        "mltui_health_timestamp_seconds",
        "When the verdict was made, seconds since the epoch.",
        [(node, round(_made_at(report) if now is None else now, 3))],
    )
    if report.elapsed_s is not None:
        metrics.gauge(
            "mltui_health_duration_seconds",
            "How long the health check took.",
            [(node, report.elapsed_s)],
        )
    if report.reused_age_s is not None:
        metrics.gauge(
            "mltui_health_reused_result_age_seconds",
            "Age of the library results reused from the cached check.",
            [(node, report.reused_age_s)],
        )
    check = report.check
    if check is not None:
        gpus = sum(1 for gpu in check.nvml.gpus if gpu.state == "ok")
        metrics.gauge("mltui_gpus", "GPUs NVML shows on the node and that answer.", [(node, gpus)])
        anywhere, on_gpu = computing_libraries(check)
        metrics.gauge(
            "mltui_libraries_computing",
            "Libraries whose computation ran and was right, on any device / on a GPU.",
            [({**node, "on": "any"}, anywhere), ({**node, "on": "gpu"}, on_gpu)],
        )
        metrics.gauge(
            "mltui_library_computes",
            "1 when the library's computation ran and was right on some device, else 0.",
            [
                ({**node, "library": lib.name}, int(any(d.computation_ok for d in lib.devices)))
                for lib in check.libraries
                if lib.status != "not_installed"
            ],
        )
    _perf_metrics(metrics, report, node)
    return "\n".join(metrics.lines) + "\n"


def _perf_metrics(metrics: _Metrics, report: HealthReport, node: dict[str, object]) -> None:
    if report.throughput is not None:
        unit = report.throughput_unit or ""
        metrics.gauge(
            "mltui_perf_throughput",
            "The node's throughput: median over its GPUs of each GPU's best GEMM (TFLOP/s), "
            "or the CPU's (GFLOP/s).",
            [({**node, "unit": unit}, report.throughput)],
        )
        if report.perf_floor is not None:
            metrics.gauge(
                "mltui_perf_floor",
                "The baseline's floor for the node's GPU model, in the throughput's unit.",
                [({**node, "unit": unit}, report.perf_floor)],
            )
    perf = report.check.perf if report.check is not None else None
    if perf is None:
        return
    from probes.perf import best_figures

    rows: list[tuple[Mapping[str, object], float]] = []
    for device in perf.devices:
        for key, measurement in sorted(best_figures(device).items()):
            if measurement.ratio is not None:
                rows.append(({**node, "device": device.device, "measure": key}, measurement.ratio))
    metrics.gauge(
        "mltui_perf_ratio_to_peak",
        "Best figure of each measure of the last mltui perf, as a fraction of its peak.",
        rows,
    )
