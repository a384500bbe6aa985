"""Issue 17, class 9: a closed stdin and terminal sizes no terminal has, through the real command.

Each is one clear line and a non-zero exit, or the correct output; never a traceback, never
silence. The mechanism is `tui.cli.output.prepare_streams`, which every command runs first: a
closed stdin is reopened on /dev/null (reads get EOF), and COLUMNS/LINES that are not a size a
terminal can have (0, negative, not a number, absurdly large) are dropped, so the terminal's own
size (or 80 columns off a terminal) is used.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.test_fault_matrix import MLTUI
from tui.cli.output import drop_bad_size_variables


def _bash(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path / "cache")}
    environ.pop("COLUMNS", None)
    environ.pop("LINES", None)
    environ.update(env)
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=180,
        env=environ,
    )


STDIN_CLOSED = {
    # the two
    "dashboard": (f"{MLTUI} <&-", 2, "the dashboard needs a terminal"),
    "choose": (f"{MLTUI} choose <&-", 2, "not a terminal, so no prompts"),
    # of our own: a command that never reads stdin, one that does with answers given, stdin a
    # pipe already ended, and stdin and stdout closed together
    "compare": (f"{MLTUI} compare <&-", 0, "Python ML libraries"),
    "choose answered": (
        f"{MLTUI} choose --level beginner --kind classic --application numerical "
        "--hardware none --existing none <&-",
        0,
        "",
    ),
    "stdin an ended pipe": (f"true | {MLTUI} choose", 2, "not a terminal, so no prompts"),
    "stdin and stdout closed": (f"{MLTUI} compare <&- >&-", 2, "standard output is closed"),
}


@pytest.mark.parametrize("name", list(STDIN_CLOSED))
def test_a_closed_stdin_is_one_line_or_the_output(name: str, tmp_path: Path) -> None:
    command, status, words = STDIN_CLOSED[name]
    done = _bash(command, tmp_path)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert done.returncode == status, done.stdout + done.stderr
    if status:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert words in done.stderr
    else:
        assert done.stdout.strip(), "no output"
        assert words in done.stdout


#: COLUMNS values no terminal has (the issue's 0, then our own), and LINES=0.
BAD_SIZES = {
    "zero": {"COLUMNS": "0"},
    "negative": {"COLUMNS": "-5"},
    "not a number": {"COLUMNS": "wide"},
    "absurdly large": {"COLUMNS": "99999999"},
    "empty": {"COLUMNS": ""},
    "arabic digits": {"COLUMNS": "\u0668\u0660"},
    "lines zero": {"COLUMNS": "0", "LINES": "0"},
}


@pytest.mark.parametrize("name", list(BAD_SIZES))
@pytest.mark.parametrize("command", ["compare", "envs", "info torch", "check --schema"])
def test_a_size_no_terminal_has_prints_as_without_it(
    name: str, command: str, tmp_path: Path
) -> None:
    expected = _bash(f"{MLTUI} {command}", tmp_path)
    done = _bash(f"{MLTUI} {command}", tmp_path, **BAD_SIZES[name])
    assert done.returncode == expected.returncode == 0, done.stderr
    assert done.stdout.strip(), "nothing printed"
    assert done.stdout == expected.stdout
    assert "Traceback" not in done.stderr


def test_help_under_a_bad_size_is_whole(tmp_path: Path) -> None:
    done = _bash(f"{MLTUI} --help", tmp_path, COLUMNS="0")
    assert done.returncode == 0 and "exit status:" in done.stdout


@pytest.mark.parametrize(
    ("value", "kept"),
    [("80", True), ("1", True), ("10000", True), ("0", False), ("-1", False), ("10001", False)],
)
def test_which_sizes_are_kept(value: str, kept: bool) -> None:
    environ = {"COLUMNS": value, "LINES": value}
    removed = drop_bad_size_variables(environ)
    assert (removed == []) == kept
    assert ("COLUMNS" in environ) == kept
