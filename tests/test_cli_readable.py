"""The CLI's text at any width and over a pipe: no word, name, path or command cut inside.

Each command runs for real (`python -m tui.cli`) with its output piped and COLUMNS set, as a
user's terminal or `| less` would give it; the checks read the text back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from content.chooser import QUESTION_KEYS, load_chooser
from content.knowledge import (
    LibraryPage,
    comparison_columns,
    comparison_rows,
    get_page,
    render_page_markdown,
)
from probes.envs import PythonEnvironment
from tui.cli.knowledge import compare_lines, link_references, reorder_page
from tui.cli.layout import COMMAND, fill, tokens, wrap
from tui.cli.output import EXIT_BROKEN_PIPE
from tui.cli.run import environments_lines

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = [60, 80, 100, 120, 160, 200]


def mltui(*args: str, columns: int = 80, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its output piped (not a terminal) and COLUMNS set."""
    environ = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    environ.update(PYTHONPATH=str(ROOT), COLUMNS=str(columns), LANG="C.UTF-8", TERM="xterm")
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


def assert_whole(pieces: list[str], lines: list[str]) -> None:
    """Every piece (a word, a name, a path, a command) is on one line, not cut across two."""
    cut = [piece for piece in pieces if not any(piece in line for line in lines)]
    assert not cut, f"cut inside: {cut[:5]}"


def assert_fits(lines: list[str], width: int) -> None:
    """No line is wider than the terminal, unless it is one unbreakable word alone."""
    for line in lines:
        if cell_len(line) > width:
            assert len(line.split()) == 1 or COMMAND.search(line), f"too wide: {line!r}"


# --------------------------------------------------------------------------- layout helpers


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("a bb ccc", 4, ["a bb", "ccc"]),
        ("averyveryverylongword x", 5, ["averyveryverylongword", "x"]),
        ("one", 10, ["one"]),
        ("", 10, [""]),
    ],
)
def test_wrap_never_cuts_a_word(text: str, width: int, expected: list[str]) -> None:
    assert wrap(text, width) == expected


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("pip install torch", ["pip install torch"]),
        (
            "pip install Theano  (legacy; for new work: pip install pytensor)",
            ["pip install pytensor)"],
        ),
        (
            "GPU on Linux: pip install 'tensorflow[and-cuda]')",
            ["pip install 'tensorflow[and-cuda]')"],
        ),
        (
            "OpenCV 4 (pip install 'opencv-python-headless<5'); x",
            ["(pip install 'opencv-python-headless<5');"],
        ),
        ('NVIDIA: pip install "jax[cuda13]" or', ['pip install "jax[cuda13]"']),
    ],
)
def test_a_command_is_one_token(text: str, commands: list[str]) -> None:
    found = tokens(text)
    for command in commands:
        assert command in found, found
    assert fill(found, 5)  # a command alone on a line when the line is narrower


# --------------------------------------------------------------------------- compare


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_fits_the_width_and_cuts_nothing(width: int) -> None:
    result = mltui("compare", columns=width)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert_fits(lines, width)
    rows = comparison_rows()
    cells = [cell for row in rows for cell in row.cells.values()]
    assert_whole(sorted({token for cell in cells for token in tokens(cell)}), lines)
    # Every library name, and every install command, whole on one line.
    assert_whole([row.cells["library"] for row in rows], lines)
    commands = [m.group() for row in rows for m in COMMAND.finditer(row.cells["install"])]
    assert len(commands) >= len(rows)
    assert_whole(commands, lines)
    assert "\x1b[" not in result.stdout  # piped: no colour escapes
    # Piped there is no colour, so the legend does not speak of one.
    assert "cyan" not in result.stdout.lower()
    assert "* checked against today" in result.stdout


def test_compare_layouts_switch_with_the_width() -> None:
    rows = comparison_rows()
    names = [row.cells["library"] for row in rows]
    narrow = [line.plain for line in compare_lines(comparison_columns(), rows, 80, colour=False)]
    wide = [line.plain for line in compare_lines(comparison_columns(), rows, 200, colour=False)]
    # 80 columns: a block per library, each name on a line of its own.
    assert all(name in narrow for name in names)
    # 200 columns: the libraries side by side on one header line.
    assert any(all(name in line for name in names) for line in wide)
    assert len(wide) < len(narrow)


def test_compare_legend_names_the_colour_only_with_colour() -> None:
    """The legend says the added rows are highlighted only when they are (the theme's style,
    never a colour's name, since themes differ)."""
    lines = compare_lines(comparison_columns(), comparison_rows(), 80, colour=True)
    coloured = " ".join(line.plain for line in lines).replace("\n", " ")
    plain = compare_lines(comparison_columns(), comparison_rows(), 80, colour=False)
    uncoloured = " ".join(line.plain for line in plain).replace("\n", " ")
    assert "rows highlighted" in coloured and "highlighted" not in uncoloured
    assert "cyan" not in coloured + uncoloured
    forced = mltui("compare", columns=80, FORCE_COLOR="1")
    assert "\x1b[" in forced.stdout and "highlighted" in forced.stdout


# --------------------------------------------------------------------------- envs


def test_envs_keeps_every_path_whole() -> None:
    listed = json.loads(mltui("envs", "--json").stdout)
    for width in (60, 80, 200):
        result = mltui("envs", columns=width)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert_fits(lines, width)
        prefixes = [env["prefix"] for env in listed]
        assert_whole(prefixes, lines)


def test_envs_lines_with_a_path_longer_than_the_line() -> None:
    long_path = "/opt/" + "/".join(f"deep-folder-{i}" for i in range(12)) + "/venv"
    env = PythonEnvironment(
        python=long_path + "/bin/python",
        kind="venv",
        name="deep",
        version="3.12.1",
        prefix=long_path,
        libraries={"torch": "2.13.0", "sklearn": "1.9.1", "jax": "0.10.2"},
    )
    console = Console(width=60, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    with console.capture() as capture:
        for line in environments_lines([env], 60):
            console.print(line, soft_wrap=True)
    lines = capture.get().splitlines()
    assert "  " + long_path in lines  # longer than 60 columns, still one line
    assert_whole(["torch 2.13.0", "sklearn 1.9.1", "jax 0.10.2"], lines)


# --------------------------------------------------------------------------- info


@pytest.mark.parametrize("library", ["torch", "tensorflow", "caffe"])
def test_info_puts_the_text_first_and_the_sample_last(library: str) -> None:
    page = get_page(library)
    assert isinstance(page, LibraryPage)
    sample = (ROOT / "content" / "samples" / page.sample).read_text(encoding="utf-8")
    result = mltui("info", library, columns=80)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    lines = text.splitlines()
    since, glance, sample_at = (
        text.index("Since then"),
        text.index("At a glance"),
        text.index("\nSample\n"),
    )
    assert since < glance < sample_at
    # The sample as its path and the command that runs it, not its source in the middle.
    assert f"  run it: mltui run {library}" in lines
    assert any(line.strip().endswith(page.sample) for line in lines)
    code_lines = [line for line in sample.splitlines() if len(line.strip()) > 25]
    assert not any(line.strip() in text for line in code_lines[:20])
    # Off a terminal, each link's address is printed whole.
    _, addresses = link_references(render_page_markdown(page, include_sample=False))
    assert addresses
    assert_whole(addresses, lines)
    assert "\x1b]8;" not in text


def test_info_source_comes_last_and_unwrapped() -> None:
    page = get_page("torch")
    assert isinstance(page, LibraryPage)
    sample = (ROOT / "content" / "samples" / page.sample).read_text(encoding="utf-8")
    result = mltui("info", "torch", "--source", columns=60)
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    start = lines.index("Sample")
    for code_line in sample.splitlines():
        if code_line.strip():
            assert code_line.rstrip() in lines[start:], code_line  # whole, however long


def test_reorder_page_keeps_every_line_but_the_placeholder() -> None:
    markdown = render_page_markdown(get_page("torch"), include_sample=False)
    reordered = reorder_page(markdown)
    assert sorted(reordered.split("\n")) == sorted(
        line for line in markdown.rstrip("\n").split("\n") if not line.startswith("*(sample: ")
    )


# --------------------------------------------------------------------------- choose


def test_choose_help_lists_every_allowed_answer() -> None:
    result = mltui("choose", "--help", columns=80)
    assert result.returncode == 0
    flat = re.sub(r"\s+", " ", result.stdout)
    spec = load_chooser()
    for key in QUESTION_KEYS:
        question = spec.question(key)
        assert f"--{key} {{{','.join(o.key for o in question.options)}}}" in flat
        for option in question.options:
            label = " ".join(option.label.split())
            assert f"{option.key} = {label}" in flat


PLAIN_COMMANDS = [
    ["compare"],
    ["info", "torch"],
    ["envs"],
    [
        *("choose", "--level", "beginner", "--kind", "deep"),
        *("--application", "image", "--hardware", "gpu", "--no-probe"),
    ],
]


@pytest.mark.parametrize("args", PLAIN_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize(
    "env", [{"LANG": "C", "LC_ALL": "C"}, {"TERM": "dumb"}], ids=["LANG=C", "TERM=dumb"]
)
def test_plain_terminals_get_only_ascii(args: list[str], env: dict[str, str]) -> None:
    """A C locale or a dumb terminal: nothing but ASCII, and no escape sequence at all."""
    result = mltui(*args, columns=80, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii(), [c for c in result.stdout if not c.isascii()][:10]
    assert "\x1b" not in result.stdout
    assert len(result.stdout.splitlines()) > 5


@pytest.mark.parametrize(
    "args", [["info", "torch"], ["compare"], ["envs"], ["choose", "--help"]], ids=lambda a: a[0]
)
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    """`mltui info torch | head -1`: the reader goes away after a line; nothing on stderr, and
    the exit status is 0 or the shell's 141 for a closed pipe (tui.cli.output), never an error."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "40"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()  # as `head -1` does after its line
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, EXIT_BROKEN_PIPE)
    assert errors == "", errors
