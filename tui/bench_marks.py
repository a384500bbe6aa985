"""Start-up milestones for `bench/startup.py`, written only when $MLTUI_BENCH_READY_FILE is set.

The benchmark launches the real `mltui` in a pseudo-terminal and needs to know, from outside, when
the screen first shows what it is timing. Each milestone ("ready": the first frame; "hardware":
the first machine reading drawn; "libraries": the first check results drawn) is appended once, as
`<name> <seconds since the epoch> <CPU seconds of the process so far>`, after the frame that shows
it has been painted (the CPU figure is steadier than the wall clock on a loaded machine). Without
the variable this costs one dictionary lookup per milestone and writes nothing.
"""

from __future__ import annotations

import os
import time

from textual.message_pump import MessagePump

#: The environment variable naming the file the milestones are appended to.
BENCH_READY_FILE_ENV = "MLTUI_BENCH_READY_FILE"

_marked: set[str] = set()


def mark(pump: MessagePump, milestone: str) -> None:
    """Record `milestone` once, after the next screen refresh of `pump`'s app."""
    path = os.environ.get(BENCH_READY_FILE_ENV)
    if not path or milestone in _marked:
        return
    _marked.add(milestone)

    def write() -> None:
        stamp, cpu = time.time(), time.process_time()
        try:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{milestone} {stamp:.6f} {cpu:.6f}\n")
        except OSError:
            pass  # a benchmark's file; the app goes on without it

    pump.call_after_refresh(write)
