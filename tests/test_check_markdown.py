"""`mltui check --format md`: the check as Markdown to paste, for real and with hostile text."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from probes.model import DeviceResult, LibraryReport
from tests.support import canned_check
from tui.check_markdown import cell, check_markdown, code_block

ROOT = Path(__file__).resolve().parent.parent


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The rows of the first table after `heading`, split on unescaped pipes."""
    lines = markdown.split(heading, 1)[1].splitlines()
    rows = []
    for line in lines:
        if line.startswith("|") and not line.startswith("|---"):
            parts = [p.strip() for p in _split_cells(line)]
            rows.append(parts)
        elif rows and not line.startswith("|"):
            break
    return rows


def _split_cells(line: str) -> list[str]:
    cells, current, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(current)
            current = ""
            continue
        escaped = char == "\\" and not escaped
        current += char
    return [*cells, current]


def test_the_real_check_as_markdown(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "check", "--format", "md", "--only", "sklearn,caffe"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    text = result.stdout
    for heading in ("# mltui check: ", "## System", "## GPUs", "## Libraries", "## Findings"):
        assert heading in text
    rows = {row[0]: row for row in _table_rows(text, "## Libraries")}
    assert rows["scikit-learn"][1] == "yes" and rows["scikit-learn"][4] == "cpu ok"
    assert rows["Caffe"][1] in ("not installed", "yes")
    assert "\x1b" not in text


def test_markdown_never_all_clear_when_a_library_did_not_run() -> None:
    result = canned_check()
    broken = LibraryReport(
        "torch", "PyTorch", "import_error", "2.13.0", error="ImportError: libcudart.so.12"
    )
    result = dataclasses.replace(
        result, libraries=[*result.libraries[:-2], broken], findings=list(result.findings)
    )
    from probes.diagnosis import diagnose

    result.findings = diagnose(result.nvml, result.libraries, result.system, environ={})
    text = check_markdown(result)
    summary = next(line for line in text.splitlines() if line.startswith("mltui "))
    assert "error" in summary and "all clear" not in summary.lower()
    assert "import error" in text
    assert "ImportError: libcudart.so.12" in text  # in its folded block


def test_hostile_text_cannot_break_the_markdown() -> None:
    result = canned_check()
    nasty = "a|b `x` ``` \x1b[31mred\x1b[0m <b>"
    library = LibraryReport(
        "torch",
        "Py|Torch",
        "degraded",
        "2.1|0",
        devices=[DeviceResult(kind="cuda", index=0, computation_ok=False, error=nasty)],
        stderr_tail=[nasty, "````"],
    )
    result = dataclasses.replace(result, libraries=[library])
    text = check_markdown(result)
    assert "\x1b" not in text
    rows = _table_rows(text, "## Libraries")
    assert len(rows[1]) == 5  # the pipes inside the cells did not add columns
    assert rows[1][0] == "Py\\|Torch"
    block = text.split("<details>", 1)[1]
    fence = block.split("\n")[3] if block.split("\n")[2].startswith("Location") else ""
    assert "`````" in block or fence  # a fence longer than the content's longest backtick run
    assert cell("x\ny") == "x y"
    assert code_block(["```"])[0] == "````text"
