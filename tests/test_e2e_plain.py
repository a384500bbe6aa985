"""End to end on plain terminals: the real `mltui` in tmux under `LANG=C LC_ALL=C` (a non-UTF-8
locale, while Python itself runs in UTF-8 mode) and under `TERM=dumb`: only ASCII on screen,
and under TERM=dumb (and NO_COLOR) no colour escape at all, in every pane and in a CLI command.

Run alone with: .venv/bin/python -m pytest -m e2e tests/test_e2e_plain.py
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import TmuxSession

ROOT = Path(__file__).resolve().parent.parent
MLTUI = Path(sys.executable).parent / "mltui"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(not MLTUI.exists(), reason=f"{MLTUI} is missing: pip install -e . first"),
]

#: SGR sequences (as tmux writes them back) that set a colour: 30-38/40-48 (and 38;5/38;2
#: forms), 90-97 and 100-107. Bold, dim, reverse and the default resets are not colours.
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colour_codes(screen: str) -> list[str]:
    """The colour-setting SGR parameters in a `capture-pane -e` text."""
    found = []
    for match in _SGR.finditer(screen):
        for part in match.group(1).replace(":", ";").split(";"):
            if part and (
                part in ("38", "48")
                or (len(part) == 2 and part[0] in "349" and part[1] in "01234567")
                or (len(part) == 3 and part.startswith("10"))
            ):
                found.append(match.group(0))
                break
    return found


def non_ascii(screen: str) -> list[str]:
    """The characters on screen that are not ASCII."""
    return sorted({char for char in screen if not char.isascii()})


CASES = {
    "LANG=C": "LANG=C LC_ALL=C TERM=xterm-256color",
    "TERM=dumb": "LANG=C.UTF-8 TERM=dumb",
    "NO_COLOR": "LANG=C.UTF-8 TERM=xterm-256color NO_COLOR=1",
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def plain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TmuxSession]]:
    """mltui in tmux at 80x24 under one of the plain settings; the session killed after."""
    env = f"MLTUI_CACHE_DIR={tmp_path} {CASES[request.param]}"
    command = f"cd {ROOT} && env {env} {MLTUI}"
    with TmuxSession(command, width=80, height=24, prefix="mltui-plain") as session:
        yield request.param, session


def test_every_pane_is_plain(plain: tuple[str, TmuxSession]) -> None:
    case, terminal = plain
    terminal.wait_for("CPU & memory")
    terminal.wait_for("Quit")
    panes = (
        ("1", "CPU & memory"),
        ("2", "sklearn"),
        ("3", "Comparison"),
        ("4", "--hosts FILE"),
        ("5", "Not measured yet"),
    )
    for key, text in panes:
        terminal.keys(key)
        terminal.wait_for(text)
        screen = terminal.wait_steady()  # the pane drawn whole, its lists filled in
        if case != "NO_COLOR":
            assert not non_ascii(screen), (case, key, non_ascii(screen), screen)
        if case != "LANG=C":
            codes = colour_codes(terminal.capture(escapes=True))
            assert not codes, (case, key, codes[:5])
    terminal.keys("?")
    screen = terminal.wait_for("mltui help")
    if case != "NO_COLOR":
        assert not non_ascii(screen), non_ascii(screen)
    terminal.keys("Escape")
    terminal.wait_gone("mltui help")
    terminal.keys("q")
    deadline = time.monotonic() + 15
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.parametrize("case", ["LANG=C", "TERM=dumb"])
def test_a_cli_command_in_a_plain_terminal(case: str, tmp_path: Path) -> None:
    """On a terminal (not a pipe) too: `mltui compare` and `mltui info` print only ASCII, and
    under TERM=dumb no colour."""
    done = tmp_path / "done"
    env = f"MLTUI_CACHE_DIR={tmp_path} COLUMNS=80 {CASES[case]}"
    command = (
        f"cd {ROOT} && env {env} {MLTUI} info caffe; env {env} {MLTUI} compare; "
        f"touch {done}; sleep 60"
    )
    with TmuxSession(command, width=80, height=24, prefix="mltui-plain-cli") as terminal:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        history = terminal_history(terminal)
        assert "libraries, then and now" in history or "Install" in history
        assert not non_ascii(history), non_ascii(history)
        if case == "TERM=dumb":
            assert not colour_codes(terminal_history(terminal, escapes=True))


def terminal_history(terminal: TmuxSession, *, escapes: bool = False) -> str:
    """Everything the command printed, scrolled-off lines included."""
    from tests.tmux import tmux

    flags = ["-p", "-e"] if escapes else ["-p"]
    return tmux(terminal.name, "capture-pane", *flags, "-S", "-", "-t", terminal.name)
