"""The one presentation vocabulary: every state has words and a style, both views resolve them."""

from __future__ import annotations

import typing

import pytest
from rich.console import Console
from rich.text import Text

from probes.fleet.model import NodeState
from probes.model import LibraryReport, LibraryStatus, Severity, severity_rank
from probes.runner import RunStatus
from tests.support import canned_check
from tui.cli.check import render_libraries
from tui.presentation import (
    LIBRARY_STATUS,
    NODE_STATE,
    RUN_STATUS_TONE,
    SEVERITY_TONE,
    TONES,
    build_text,
    dashboard_theme,
    duration,
    human_age,
    human_bytes,
    library_status_style,
    library_status_words,
    node_state_style,
    run_status_style,
    severity_style,
    style,
    terminal_theme,
)
from tui.widgets.libraries_matrix import matrix_row


def test_every_state_of_the_model_has_words_and_a_tone() -> None:
    assert set(typing.get_args(LibraryStatus)) == set(LIBRARY_STATUS)
    assert set(typing.get_args(NodeState)) == set(NODE_STATE)
    assert set(typing.get_args(RunStatus)) <= set(RUN_STATUS_TONE)
    assert set(typing.get_args(Severity)) <= set(SEVERITY_TONE)


@pytest.mark.parametrize(
    "theme",
    [terminal_theme(), dashboard_theme({"error": "#ff0000", "success": "#00ff00aa"})],
    ids=["terminal", "dashboard"],
)
def test_every_style_name_resolves_in_both_views(theme: object) -> None:
    console = Console(theme=theme)  # type: ignore[arg-type]
    names = [style(t) for t in TONES] + [style(t, strong=True) for t in TONES]
    names += [library_status_style(s) for s in LIBRARY_STATUS]
    names += [run_status_style(s, strong=True) for s in RUN_STATUS_TONE]
    names += [severity_style(s) for s in SEVERITY_TONE]
    names += [node_state_style(s, strong=True) for s in NODE_STATE]
    for name in names:
        console.get_style(name)  # raises MissingStyle for a name the theme lacks


def test_the_dashboard_takes_its_colours_from_the_textual_theme() -> None:
    theme = dashboard_theme({"error": "#123456", "warning": "#abcdef80", "success": "#00ff00"})
    assert str(theme.styles[style("error")].color.triplet.hex) == "#123456"  # type: ignore[union-attr]
    assert str(theme.styles[style("warning")].color.triplet.hex) == "#abcdef"  # type: ignore[union-attr]
    assert theme.styles[style("success", strong=True)].bold


def test_the_cli_and_the_dashboard_say_the_same_words_for_a_library() -> None:
    console = Console(theme=terminal_theme(), width=200, record=True, color_system=None)
    reports = [*canned_check().libraries, LibraryReport("caffe", "Caffe", "import_error")]
    console.print(render_libraries(reports))
    cli_text = console.export_text()
    for report in reports:
        words = matrix_row(report)[1].plain
        full = library_status_words(report.status)
        assert words in (full, library_status_words(report.status, short=True))
        assert full in cli_text
    assert "import error" in cli_text


@pytest.mark.parametrize(
    ("build", "status", "short", "detailed"),
    [
        (
            {"is_cuda_build": True, "cuda_version": "12.4", "cudnn_version": "9.1"},
            "ok",
            "CUDA 12.4",
            "CUDA 12.4, cuDNN 9.1",
        ),
        ({"is_cuda_build": False, "cuda_version": None}, "ok", "CPU-only", "CPU-only"),
        ({"cuda_version": "12.5"}, "ok", "CUDA 12.5", "CUDA 12.5"),
        ({"hip_version": "6.1", "cuda_version": None}, "ok", "ROCm 6.1", "ROCm 6.1"),
        ({"cuda_enabled_devices": 0}, "ok", "no CUDA", "no CUDA"),
        ({"c_backend": False}, "ok", "pure Python", "pure Python"),
        ({}, "ok", "CPU library", "CPU library"),
        ({}, "not_installed", "-", "-"),
    ],
)
def test_one_build_text(build: dict[str, object], status: str, short: str, detailed: str) -> None:
    report = LibraryReport("x", "X", status, build=build)  # type: ignore[arg-type]
    assert build_text(report) == short
    assert build_text(report, detailed=True) == detailed


def test_figures() -> None:
    assert human_bytes(None) == "n/a"
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "2 KiB"
    assert human_bytes(3 * 2**30 // 2) == "1.5 GiB"
    assert human_bytes(5 * 2**40) == "5.0 TiB"
    assert human_bytes(5 * 2**50) == "5120.0 TiB"
    assert human_age(None) == "age unknown"
    assert human_age(2) == "just now"
    assert human_age(300) == "5 min ago"
    assert duration(None) == "?"
    assert duration(3.25) == "3.2 s"


def test_severities_order_errors_first() -> None:
    ranked = sorted(["info", "odd", "warning", "error"], key=severity_rank)
    assert ranked == ["error", "warning", "info", "odd"]


def test_a_style_name_is_not_a_colour() -> None:
    text = Text("x", style=library_status_style("crashed"))
    assert text.style == "mltui.error"
