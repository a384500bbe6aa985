"""Piped output is clean (issue 19.5): no line ends in padding, and under LANG=C the check's
tables keep their right border (Rich's ASCII boxes had widened them past the panel)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from tui.cli.console import SIMPLE_HEAD, TrimmedLines

MLTUI = Path(sys.executable).parent / "mltui"


def _mltui(*args: str, tmp_path: Path, **env: str) -> str:
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path), "COLUMNS": "80", **env}
    environ.pop("NO_COLOR", None)
    done = subprocess.run(
        [str(MLTUI), *args],
        capture_output=True,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "args", [("info", "jax"), ("compare",), ("info", "torch", "--source"), ("choose", "--help")]
)
def test_piped_output_has_no_trailing_spaces(args: tuple[str, ...], tmp_path: Path) -> None:
    out = _mltui(*args, tmp_path=tmp_path)
    padded = [n for n, line in enumerate(out.splitlines(), 1) if line != line.rstrip()]
    assert out.strip() and padded == [], f"lines {padded[:10]} end in spaces"


@pytest.mark.parametrize("lang", ["C", "C.UTF-8"])
def test_check_keeps_its_borders_in_any_locale(lang: str, tmp_path: Path) -> None:
    out = _mltui("check", "--only", "sklearn", tmp_path=tmp_path, LANG=lang, LC_ALL=lang)
    framed = [line for line in out.splitlines() if line[:1] in ("|", "│")]
    assert framed, out
    for line in framed:
        assert len(line) == 80 and line[-1] in ("|", "│"), f"cut: {line!r}"
    assert all(line.isascii() for line in out.splitlines()) == (lang == "C")


def test_trimmed_lines_keep_colour_resets_and_unfinished_lines() -> None:
    sink = io.StringIO()
    stream = TrimmedLines(sink)
    stream.write("a   \nb \x1b[0m")
    stream.write("  \x1b[0m\nc  ")
    assert sink.getvalue() == "a\nb \x1b[0m\x1b[0m\n"
    stream.flush()
    assert sink.getvalue().endswith("c  ")


def test_the_table_box_is_the_same_shape_in_ascii() -> None:
    for ascii_only in (False, True):
        console = Console(file=io.StringIO(), width=40, record=True)
        table = Table("one", "two", box=SIMPLE_HEAD)
        table.add_row("1", "2")
        options = console.options.update(width=40)
        options.encoding = "ascii" if ascii_only else "utf-8"
        lines = console.render_lines(table, options)
        text = "".join(s.text for line in lines for s in line)
        # A rule under the header and nothing else: no column lines that widen the table.
        assert "|" not in text and "+" not in text
        assert ("-" if ascii_only else "─") in text
