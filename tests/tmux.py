"""A command in a detached tmux session at a fixed size, driven by keys and read back as text.

Shared by the end-to-end test and the fault matrix's real-terminal rows.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid


def tmux(socket: str, *args: str) -> str:
    """Run a tmux command against the server on `socket` and return its output."""
    done = subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout


class TmuxSession:
    """`command` in its own tmux server and session; a context manager that kills both on exit.

    A private server (its own socket) per session: the server takes its environment from the
    test that starts it, never from a server some other run started, and the user's own tmux
    server is never touched.
    """

    def __init__(
        self, command: str, *, width: int, height: int, prefix: str, wait_s: float = 30.0
    ) -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.command = command
        self.size = (width, height)
        self.wait_s = wait_s

    def __enter__(self) -> TmuxSession:
        width, height = self.size
        # The command goes in a script: the first new-session of a run becomes the tmux server,
        # whose command line would otherwise carry the command (and a test's process marker)
        # for as long as the server lives.
        handle, self.script = tempfile.mkstemp(prefix="mltui-tmux-", suffix=".sh")
        with os.fdopen(handle, "w") as script:
            script.write(self.command + "\n")
        size = ["-x", str(width), "-y", str(height)]
        subprocess.run(
            [
                "tmux",
                "-L",
                self.name,
                "new-session",
                "-d",
                *size,
                "-s",
                self.name,
                f"sh {self.script}",
            ],
            check=True,
            env={**os.environ, "TMUX": ""},  # also when the tests themselves run inside tmux
        )
        return self

    def __exit__(self, *exc: object) -> None:
        tmux(self.name, "kill-server")
        os.unlink(self.script)

    def capture(self, *, escapes: bool = False) -> str:
        """The text on the screen now; with `escapes`, with the colour and attribute sequences
        tmux keeps for each cell (capture-pane -e)."""
        flags = ["-p", "-e"] if escapes else ["-p"]
        return tmux(self.name, "capture-pane", *flags, "-t", self.name)

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names)."""
        tmux(self.name, "send-keys", "-t", self.name, *keys)

    def wait_for(self, text: str, timeout: float | None = None) -> str:
        """Wait until `text` is on screen; fail with the screen shown."""
        limit = self.wait_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {limit} s; screen:\n{screen}")

    def wait_gone(self, text: str, timeout: float | None = None) -> str:
        """Wait until `text` is no longer on screen (a dialog closed); fail with the screen."""
        limit = self.wait_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        screen = self.capture()
        while text in screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen after {limit} s:\n{screen}")
            time.sleep(0.1)
            screen = self.capture()
        return screen

    def wait_steady(self, captures: int = 3, timeout: float | None = None) -> str:
        """Wait until the screen (with its colours) is the same `captures` times in a row, 0.1 s
        apart: everything a key started has been drawn. Fail with the screen if it never is."""
        limit = self.wait_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        last, same = self.capture(escapes=True), 1
        while same < captures:
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen kept changing for {limit} s:\n{last}")
            time.sleep(0.1)
            now = self.capture(escapes=True)
            same = same + 1 if now == last else 1
            last = now
        return self.capture()

    def alive(self) -> bool:
        """Whether the session (and so its command) is still running."""
        done = subprocess.run(
            ["tmux", "-L", self.name, "has-session", "-t", self.name],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0
