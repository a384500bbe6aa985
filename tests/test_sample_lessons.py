"""Samples read as lessons: the library's own lines come first, short enough to read in the Run
pane's source view at 80x24 without scrolling; the harness (command line, devices, verdict)
follows, after a marked line. Each sample stays one standalone file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from probes.catalog import LIBRARIES, SAMPLES_DIR

#: The line that ends the lesson and starts the harness, in every sample.
HARNESS_MARKER = "# ---- Below: the harness every mltui sample has"
#: What the Run pane's source view shows at 80x24 (tests/test_tui_run.py measures the real one).
LESSON_LINES = 12
#: Its width (49) less the line-number gutter of a file under 1000 lines (3 digits + 2) and a gap.
LESSON_COLUMNS = 43

SAMPLES = {spec.id: SAMPLES_DIR / spec.sample for spec in LIBRARIES if spec.sample}


def lesson_lines(path: Path) -> list[str]:
    """The lines before the harness marker, trailing blank lines dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith(HARNESS_MARKER))
    lesson = lines[:marker]
    while lesson and not lesson[-1].strip():
        lesson.pop()
    return lesson


@pytest.mark.parametrize("library", sorted(SAMPLES))
def test_the_lesson_comes_first_and_fits_the_source_view(library: str) -> None:
    path = SAMPLES[library]
    text = path.read_text(encoding="utf-8")
    assert sum(line.startswith(HARNESS_MARKER) for line in text.splitlines()) == 1, path.name
    lesson = lesson_lines(path)
    assert len(lesson) <= LESSON_LINES, (path.name, len(lesson))
    too_wide = [line for line in lesson if len(line) > LESSON_COLUMNS]
    assert too_wide == [], path.name
    # A docstring first, then `def lesson(...)` holding the library's own lines.
    tree = ast.parse("\n".join(lesson))
    assert ast.get_docstring(tree), path.name
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [f.name for f in functions][:1] == ["lesson"], path.name
    assert len(text.splitlines()) < 1000  # the gutter LESSON_COLUMNS assumes


@pytest.mark.parametrize("library", sorted(SAMPLES))
def test_the_harness_follows_the_lesson(library: str) -> None:
    """Argument parsing, the verdict and the call to the lesson are all after the marker; what
    every sample shares comes from sample_harness.py beside it, not from a copy."""
    path = SAMPLES[library]
    lines = path.read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith(HARNESS_MARKER))
    before, after = "\n".join(lines[:marker]), "\n".join(lines[marker:])
    for harness in ("sample_harness", "finish(", "def main", "run(main)"):
        assert harness not in before, (path.name, harness)
        assert harness in after, (path.name, harness)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    shared = {"finish", "device_spec", "SampleArgumentParser", "sample_parser", "run"}
    assert defined & shared == set(), (path.name, defined & shared)


def test_the_shared_harness_runs_on_the_oldest_python_a_target_may_have() -> None:
    """sample_harness.py is imported by every sample in the target interpreter (Python >= 3.8):
    no syntax newer than 3.8 and nothing outside the standard library."""
    harness = SAMPLES_DIR / "sample_harness.py"
    tree = ast.parse(harness.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"argparse", "json", "re", "sys", "traceback"}, imported
