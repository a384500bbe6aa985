"""The dashboard's panes, each declared once: the app builds its tabs, keys and palette from here.

A pane is a widget in a module of its own (a `tui.widgets.pane.Pane`) plus one `PaneSpec` in
`PANES`. The app gives every pane a tab titled "<key> <title>", binds its key, offers "Go to
<title>" in the command palette, builds it when first needed (`lazy`) or with the first frame,
and focuses the pane's `main_widget()` when it is shown (a method, not a selector: what takes the
keys can depend on the pane's state). A pane follows the app's state itself
(`self.watch(self.app, "check_state", ...)`, `"target"`, `"active_pane"`); the app talks to a
pane only by messages (`MltuiApp.tell_pane`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probes.model import TargetPython
from tui.services import Services
from tui.widgets.pane import Pane


@dataclass(frozen=True)
class PaneContext:
    """What a pane is built with: the services, the target at build time, and display choices."""

    services: Services
    target: TargetPython
    refresh_s: float
    ascii: bool


@dataclass(frozen=True)
class PaneSpec:
    """One pane of the dashboard."""

    #: The tab's id (and the name `show_pane` takes).
    id: str
    #: The key that shows it.
    key: str
    #: The tab's title (after the key) and the palette's "Go to <title>".
    title: str
    #: One line on what it shows (the palette's help for it).
    description: str
    #: Makes the pane's widget; its module is imported inside, so a lazy pane costs nothing early.
    build: Callable[[PaneContext], Pane]
    #: Built when first shown or told something, instead of with the first frame.
    lazy: bool = True


#: The ids of the panes the app's verbs address (`run_sample` shows the Run pane, ...).
RUN_PANE = "run"
KNOWLEDGE_PANE = "knowledge"


def _hardware(context: PaneContext) -> Pane:
    from tui.widgets.hardware_pane import HardwarePane

    return HardwarePane(
        context.services, interval=context.refresh_s, ascii=context.ascii, id="hardware-pane"
    )


def _run(context: PaneContext) -> Pane:
    from tui.widgets.run_pane import RunPane

    return RunPane(context.services, context.target, id="run-pane")


def _knowledge(context: PaneContext) -> Pane:
    from tui.widgets.knowledge_pane import KnowledgePane

    return KnowledgePane(id="knowledge-pane")


def _fleet(context: PaneContext) -> Pane:
    from tui.widgets.fleet_pane import FleetPane

    return FleetPane(ascii=context.ascii, id="fleet-pane")


def _perf(context: PaneContext) -> Pane:
    from tui.widgets.perf_pane import PerfPane

    return PerfPane(context.services, context.target, ascii=context.ascii, id="perf-pane")


def check_panes(panes: Sequence[PaneSpec]) -> None:
    """Refuse a registry in which two panes share an id or a key (one would hide the other)."""
    for field in ("id", "key"):
        seen: dict[str, str] = {}
        for spec in panes:
            value = getattr(spec, field)
            if value in seen:
                raise ValueError(
                    f"panes {seen[value]!r} and {spec.id!r} have the same {field} {value!r}"
                )
            seen[value] = spec.id


#: The panes in tab order. The Run and Knowledge panes are lazy: before the first frame they cost
#: it more than half its time (their modules, Markdown, tables, selects and the chooser's data).
PANES: tuple[PaneSpec, ...] = (
    PaneSpec(
        "hardware",
        "1",
        "Hardware",
        "CPU, memory, GPUs and the libraries matrix",
        _hardware,
        lazy=False,
    ),
    PaneSpec(RUN_PANE, "2", "Run", "run the samples", _run),
    PaneSpec(
        KNOWLEDGE_PANE,
        "3",
        "Knowledge",
        "compare the libraries, read their pages, choose one",
        _knowledge,
    ),
    PaneSpec(
        "fleet",
        "4",
        "Fleet",
        "the check on many nodes (Slurm, Ray, SSH) and what differs between them",
        _fleet,
    ),
    PaneSpec(
        "perf",
        "5",
        "Perf",
        "measure each device against its peak, watch the GPUs while it runs",
        _perf,
    ),
)
