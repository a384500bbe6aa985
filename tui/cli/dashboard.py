"""`mltui` with no subcommand: open the dashboard in this terminal."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from typing import TYPE_CHECKING

from tui.exit_codes import UsageError
from tui.terminal import wants_ascii, wants_colour

if TYPE_CHECKING:
    from tui.app import MltuiApp


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Run the dashboard until the user quits; 2 when there is no terminal to run it in."""
    started = time.perf_counter()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal; for a report use: mltui check")
    from probes.target import resolve_target
    from tui.app import MltuiApp
    from tui.session_end import after_dashboard, install_for_dashboard

    target = resolve_target(getattr(args, "python", None))
    app = MltuiApp(
        target=target,
        refresh=float(getattr(args, "refresh", 1.0)),
        ascii=wants_ascii(bool(getattr(args, "ascii", False))),
        colour=wants_colour(),
        watch_tty=True,
        started_at=started,
    )
    install_for_dashboard(functools.partial(_request_exit, app))
    app.run()
    status = app.return_code or 0
    after_dashboard(status)
    return status


def _request_exit(app: MltuiApp, status: int) -> None:
    """Ask the app to quit with `status`, from a signal handler on the app's thread."""
    loop = asyncio.get_running_loop()  # raises when the app's loop is not running yet
    loop.call_soon_threadsafe(functools.partial(app.exit, return_code=status))
