"""Pick the Python the libraries are probed and the samples run in: a discovered one, or a path."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from probes.model import TargetPython
from probes.target import MIN_PYTHON, TargetError
from tui.presentation import ACCENT, ERROR, ERROR_STRONG, MUTED, SUCCESS, WARNING_STRONG
from tui.safe_text import inert, inert_line, notify, safe_assemble, safe_join, safe_text
from tui.services import Services


def unusable_reason(env: Any) -> str | None:
    """Why mltui cannot use this environment's Python, said before it is chosen; None if it can.

    Too old for the probes (below MIN_PYTHON), no version found (not a Python mltui can read),
    or no executable file at its path.
    """
    python = str(getattr(env, "python", "") or "")
    if not python or not os.path.isfile(python) or not os.access(python, os.X_OK):
        return "no Python executable at this path"
    version = getattr(env, "version", None)
    if not version:
        return "its Python version could not be read"
    match = re.match(r"(\d+)\.(\d+)", str(version))
    if match is None:
        return f"not a Python version mltui knows ({inert(version)})"
    if (int(match.group(1)), int(match.group(2))) < MIN_PYTHON:
        return f"Python {inert(version)} is too old (mltui needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+)"
    return None


def environment_label(env: Any, current: TargetPython) -> Text:
    """Two lines for one environment: kind, name, version and libraries; then its python's path.

    'venv    .venv  Python 3.11  (current target)' over '        /path/bin/python'; on a
    narrow screen each line wraps on its own instead of running the path into the libraries.
    """
    python = inert(getattr(env, "python", ""))
    label = Text()
    reason = unusable_reason(env)
    label.append(f"{inert_line(getattr(env, 'kind', '?')):<8}", style="bold")
    label.append(f"{inert_line(getattr(env, 'name', '') or '-')}  ")
    label.append(f"Python {inert_line(getattr(env, 'version', None) or '?')}", style=ACCENT)
    if python == current.executable:
        label.append("  (current target)", style=WARNING_STRONG)
    if reason is not None:
        label.append(f"  cannot use: {reason}", style=ERROR_STRONG)
    libraries = getattr(env, "libraries", None) or {}
    installed = [inert(name) for name, version in libraries.items() if version]
    if installed:
        label.append("  " + safe_join(sorted(installed)), style=SUCCESS)
    label.append("\n        " + inert_line(python), style=MUTED)
    if reason is not None:
        label.stylize(MUTED, 0, len(label))
    return label


class InterpreterScreen(ModalScreen[TargetPython | None]):
    """Lists the Python environments found on this machine; enter picks one, or type a path."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", tooltip="Keep the current interpreter")]

    def __init__(self, services: Services, current: TargetPython) -> None:
        super().__init__()
        self.services = services
        self.current = current
        self.environments: list[Any] = []

    def compose(self) -> ComposeResult:
        """Environment list, path input, hint."""
        with Vertical(id="interpreter-frame", classes="dialog"):
            yield Static(
                safe_assemble(
                    ("target now: ", "bold"),
                    self.current.executable,
                    f" (Python {self.current.version})",
                ),
                id="interpreter-current",
            )
            yield OptionList(
                Option(Text("looking for environments...", style=MUTED), disabled=True),
                id="environments",
            )
            yield Input(
                placeholder="or type a path to a python or an environment folder",
                id="interpreter-path",
            )
            yield Static("enter: use it   tab: type a path   escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        """Title the frame and look for environments in a worker."""
        self.query_one("#interpreter-frame").border_title = "switch interpreter"
        self.query_one("#environments").focus()
        self._discover()

    @work(thread=True, exclusive=True, group="discover-envs", exit_on_error=False)
    def _discover(self) -> None:
        try:
            environments = list(self.services.discover_environments())
            error = None
        except Exception as exc:  # shown in the list; a path can still be typed
            environments, error = [], str(exc)
        self.app.call_from_thread(self._show_environments, environments, error)

    def _show_environments(self, environments: Sequence[Any], error: str | None) -> None:
        self.environments = list(environments)
        options = self.query_one("#environments", OptionList)
        options.clear_options()
        for position, env in enumerate(self.environments):
            # An unusable one stays listed, saying why, but cannot be picked.
            usable = unusable_reason(env) is None
            label = environment_label(env, self.current)
            options.add_option(Option(label, id=str(position), disabled=not usable))
        if error:
            options.add_option(
                Option(safe_text(f"discovery failed: {error}", style=ERROR), disabled=True)
            )
        elif not self.environments:
            options.add_option(
                Option(Text("no other environment found", style=MUTED), disabled=True)
            )

    @on(OptionList.OptionSelected, "#environments")
    def _on_pick(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is None:
            return
        env = self.environments[int(event.option.id)]
        self.choose(str(getattr(env, "python", "")))

    @on(Input.Submitted, "#interpreter-path")
    def _on_path(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.choose(event.value.strip())

    @work(thread=True, exclusive=True, group="resolve-target", exit_on_error=False)
    def choose(self, path: str) -> None:
        """Check a path is a usable Python (in a worker: it runs it) and close with it."""
        try:
            target = self.services.resolve_target(path)
        except TargetError as exc:
            self.app.call_from_thread(notify, self, exc, title="not usable", severity="error")
            return
        self.app.call_from_thread(self.dismiss, target)

    def action_dismiss_none(self) -> None:
        """Close without changing the target."""
        self.dismiss(None)
