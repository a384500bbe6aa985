"""What every `mltui` entry point does when its session ends under it: SIGHUP, SIGTERM, SIGINT.

Closing the terminal or dropping an SSH connection sends SIGHUP; `kill PID`, `timeout` and
`tmux kill-session` send SIGTERM (or SIGHUP); Ctrl-C outside the dashboard sends SIGINT. On each,
mltui kills every process tree it started (`probes.process.kill_all_running`: the group and
token mechanism), says so in one line on stderr where one is left, and exits with 128 + the
signal's number. A command exits at once from the handler; the dashboard is asked to quit so the
terminal is given back, with a deadline after which it exits anyway (a dead terminal may never
accept the last writes).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType

from probes.process import kill_all_running

#: The signals that end a session.
SESSION_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
#: Seconds the dashboard gets to give the terminal back before it exits regardless.
DASHBOARD_EXIT_DEADLINE_S = 3.0


def exit_status(signum: int) -> int:
    """The exit status after a signal: 128 + its number (130 for SIGINT)."""
    return 128 + int(signum)


def message(signum: int) -> str:
    """The line said on stderr when a signal ends mltui."""
    if signum == signal.SIGINT:
        return "mltui: interrupted"
    name = signal.Signals(signum).name
    return f"mltui: stopped by {name}; every probe and sample it started was killed"


def say(line: str) -> None:
    """Write one line to stderr without Python's buffered streams (safe in a signal handler).

    A closed or gone stderr (the terminal was closed) is ignored.
    """
    try:
        if os.isatty(2) and os.environ.get("TERM") != "dumb":
            os.write(2, b"\x1b[?25h")  # a live progress display may have hidden the cursor
        os.write(2, (line + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def end_now(signum: int) -> None:
    """Kill every run, say why, exit with 128 + signum (no cleanup that could hang)."""
    kill_all_running()
    say(message(signum))
    os._exit(exit_status(signum))


def _handler(signum: int, frame: FrameType | None) -> None:
    end_now(signum)


def install_for_command(signals: Iterable[int] = SESSION_SIGNALS) -> None:
    """Make these signals end a one-shot command (`check`, `run`, `envs`, ...) at once."""
    for signum in signals:
        signal.signal(signum, _handler)


def install_for_dashboard(request_exit: Callable[[int], None]) -> None:
    """Make the session signals end the dashboard: kill every run, then ask the app to quit.

    `request_exit(status)` asks the app to exit (called on the app's own thread: the main one,
    where Python runs signal handlers). If the app has not exited after
    DASHBOARD_EXIT_DEADLINE_S, the process exits anyway.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        kill_all_running()
        status = exit_status(signum)
        deadline = threading.Timer(DASHBOARD_EXIT_DEADLINE_S, _exit_late, (signum,))
        deadline.daemon = True
        deadline.start()
        try:
            request_exit(status)
        except Exception:
            end_now(signum)

    for signum in SESSION_SIGNALS:
        signal.signal(signum, handler)


def _exit_late(signum: int) -> None:
    kill_all_running()
    say(message(signum))
    os._exit(exit_status(signum))


def after_dashboard(status: int) -> None:
    """Say why the dashboard ended when a signal ended it (its terminal is given back by now)."""
    if status > 128 and status - 128 in {int(s) for s in SESSION_SIGNALS}:
        try:
            sys.stderr.write(message(status - 128) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
