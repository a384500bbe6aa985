"""The first minute, end to end (issue 19.6): the real `mltui` in tmux at 80x24 with an empty
cache, so the start-up check probes every library for real; while it runs, 2 and 3 are pressed
at once, and both panes must come, the check still counting in the status line.

Run alone with: .venv/bin/python -m pytest -m e2e tests/test_e2e_first_minute.py
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.tmux import TmuxSession

ROOT = Path(__file__).resolve().parent.parent
MLTUI = Path(sys.executable).parent / "mltui"
#: A recorded PCI bus without a GPU (this build machine's), so the sentence is the same here and
#: on CI; a machine with an NVIDIA driver still shows its GPUs (NVML comes first).
BUS = ROOT / "tests" / "fixtures" / "sysfs" / "vm_no_display"
CHECKING = re.compile(r"\d of \d+ checked")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"
    ),
    pytest.mark.skipif(not MLTUI.exists(), reason=f"{MLTUI} is missing: pip install -e . first"),
]


def wait_for_pattern(terminal: TmuxSession, pattern: re.Pattern[str], timeout: float) -> str:
    """Wait until `pattern` is on screen; fail with the screen shown."""
    deadline = time.monotonic() + timeout
    screen = terminal.capture()
    while not pattern.search(screen):
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern.pattern!r} not on screen in {timeout} s:\n{screen}")
        time.sleep(0.1)
        screen = terminal.capture()
    return screen


def test_two_keys_at_once_during_the_start_up_check(tmp_path: Path) -> None:
    env = f"MLTUI_CACHE_DIR={tmp_path} MLTUI_PCI_ROOT={BUS} TERM=xterm-256color"
    with TmuxSession(
        f"cd {ROOT} && env {env} {MLTUI}", width=80, height=24, prefix="mltui-first"
    ) as terminal:
        # The first thing under the tabs is the one sentence (once NVML is read: "Reading the
        # GPUs..." before), then the check counting.
        sentence = re.compile(r"^ (No NVIDIA GPU in this machine \(PCI: 6 devices|\d+ × )", re.M)
        screen = wait_for_pattern(terminal, sentence, timeout=60)
        assert sentence.search(screen.splitlines()[3]), screen
        assert CHECKING.search(screen), "the check ended before the keys could be pressed"
        # Both keys in one write, as a fast typist's (or a paste's) arrive.
        terminal.keys("2", "3")
        screen = terminal.wait_for("Comparison", timeout=60)
        assert "Chooser" in screen
        assert CHECKING.search(screen) is None or "Knowledge" in screen
        terminal.keys("2")
        screen = terminal.wait_for("sklearn", timeout=30)
        assert "samples" in screen and "idle: r run" in screen
        terminal.keys("1")
        # The check ends in the sentence: how many libraries there compute, and on what.
        done = re.compile(r"librar(y|ies)\s+checked,|compute\s+on\s+all|computes?\s+on\s+\d")
        screen = wait_for_pattern(terminal, done, timeout=240)
        assert CHECKING.search(screen) is None, screen
        screen = terminal.wait_for("l Libraries", timeout=10)  # the Hardware pane has the keys
        terminal.keys("q")
        deadline = time.monotonic() + 15
        while terminal.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not terminal.alive(), terminal.capture()
