"""End to end: the real `mltui` in a real terminal (tmux, 80x24), driven by keys, read back.

Run alone with: .venv/bin/python -m pytest -m e2e tests/test_e2e_tmux.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MLTUI = Path(sys.executable).parent / "mltui"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"
    ),
    pytest.mark.skipif(not MLTUI.exists(), reason=f"{MLTUI} is missing: pip install -e . first"),
]


def tmux(*args: str) -> str:
    """Run a tmux command and return its output."""
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout


class Terminal:
    """A detached tmux session running one command at a fixed size."""

    def __init__(self, name: str) -> None:
        self.name = name

    def capture(self) -> str:
        """The text on the screen now."""
        return tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names)."""
        tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Wait until `text` is on screen; fail with the screen shown."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; screen:\n{screen}")

    def alive(self) -> bool:
        """Whether the session (and so mltui) is still running."""
        return (
            subprocess.run(
                ["tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """mltui started in tmux at 80x24 with its own cache folder; the session is killed after."""
    name = f"mltui-e2e-{uuid.uuid4().hex[:8]}"
    env = f"MLTUI_CACHE_DIR={tmp_path} TERM=xterm-256color"
    command = f"cd {ROOT} && env {env} {MLTUI}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", name, command],
        check=True,
        env={**os.environ, "TMUX": ""},
    )
    try:
        yield Terminal(name)
    finally:
        tmux("kill-session", "-t", name)


def test_panes_help_and_quit_in_a_real_terminal(terminal: Terminal) -> None:
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
    time.sleep(0.5)
    terminal.keys("q")
    deadline = time.monotonic() + 15
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not terminal.alive(), terminal.capture()
