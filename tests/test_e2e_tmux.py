"""End to end: the real `mltui` in a real terminal (tmux, 80x24), driven by keys, read back.

Run alone with: .venv/bin/python -m pytest -m e2e tests/test_e2e_tmux.py
"""

from __future__ import annotations

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
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"
    ),
    pytest.mark.skipif(not MLTUI.exists(), reason=f"{MLTUI} is missing: pip install -e . first"),
]


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[TmuxSession]:
    """mltui started in tmux at 80x24 with its own cache folder; the session is killed after."""
    env = f"MLTUI_CACHE_DIR={tmp_path} TERM=xterm-256color"
    command = f"cd {ROOT} && env {env} {MLTUI}"
    with TmuxSession(command, width=80, height=24, prefix="mltui-e2e") as session:
        yield session


def test_panes_help_and_quit_in_a_real_terminal(terminal: TmuxSession) -> None:
    terminal.wait_for("CPU & memory")
    screen = terminal.wait_for("Quit")
    assert "1 Hardware" in screen
    # The Run and Knowledge panes are built when first shown; their lists fill in a moment later.
    terminal.keys("2")
    terminal.wait_for("samples")
    screen = terminal.wait_for("sklearn")
    assert "idle: r run" in screen
    terminal.keys("3")
    terminal.wait_for("pages")
    screen = terminal.wait_for("Comparison")
    assert "Chooser" in screen
    terminal.keys("1")
    terminal.wait_for("CPU & memory")
    terminal.keys("?")
    screen = terminal.wait_for("mltui help")
    assert "Everywhere" in screen
    terminal.keys("Escape")
    terminal.wait_gone("mltui help")
    terminal.keys("q")
    deadline = time.monotonic() + 15
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not terminal.alive(), terminal.capture()
