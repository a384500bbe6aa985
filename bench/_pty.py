"""Shared by the dashboard benchmarks: run a program in a pseudo-terminal, stop it and its tree.

The program gets a pty of a fixed size as stdin/stdout/stderr (as in an ssh session); a thread
drains what it draws so it never blocks on a full terminal buffer. `stop()` asks the app to quit
with its `q` key, then kills whatever of its process tree is left, so one run's probes cannot
load the machine during the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import statistics
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence

import psutil


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


def cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def median(values: Sequence[float]) -> float:
    """The median (of a non-empty sequence)."""
    return float(statistics.median(values))


class PtyProgram:
    """A program running in its own pseudo-terminal and session."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        columns: int = 140,
        rows: int = 45,
    ) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        #: Seconds since the epoch just before the program was started.
        self.started = time.time()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.output_bytes = 0
        self._tail = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output_bytes += len(chunk)
            self._tail = (self._tail + chunk)[-4096:]

    @property
    def tail(self) -> str:
        """The last few KiB the program wrote to its terminal."""
        return bytes(self._tail).decode("utf-8", "replace")

    def send(self, keys: bytes) -> None:
        """Type keys into the program's terminal."""
        os.write(self.master, keys)

    def tree(self) -> list[psutil.Process]:
        """The program and every process below it."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self, quit_keys: bytes = b"q", grace_s: float = 5.0) -> None:
        """Quit with `quit_keys`, then kill what is left of its tree (probes have own groups)."""
        tree = self.tree()
        with contextlib.suppress(OSError):
            self.send(quit_keys)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=grace_s)
        for proc in tree[1:]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(tree[1:], timeout=grace_s)
        with contextlib.suppress(OSError):
            os.close(self.master)
        self._reader.join(timeout=1.0)


def wait_for_marks(
    path: str, wanted: set[str], timeout_s: float, cpu: dict[str, float] | None = None
) -> dict[str, float]:
    """Poll a milestone file (`<name> <epoch seconds> [<CPU seconds>]` lines) until every wanted
    name is in it; returns the epoch seconds, and puts the CPU seconds (when given) in `cpu`."""
    deadline = time.monotonic() + timeout_s
    marks: dict[str, float] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as marks_file:
            for line in marks_file:
                name, *fields = line.split()
                if fields:
                    marks[name] = float(fields[0])
                if len(fields) > 1 and cpu is not None:
                    cpu[name] = float(fields[1])
        if wanted <= set(marks):
            return marks
        time.sleep(0.005)
    raise TimeoutError(f"no {sorted(wanted - set(marks))} within {timeout_s:g} s")
