"""Run a child process in its own process group and stream what it prints, safely.

The one place mltui starts programs in the target interpreter: library probes and samples alike.
The child gets stdin closed, a new session (so it never fights the dashboard for the terminal and
can be killed whole), and its stdout/stderr are read as tagged lines. On timeout or cancellation
the whole group, and any descendant that left it, gets SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import psutil

Stream = Literal["stdout", "stderr"]

#: Longest line handed on; the rest of an over-long line is cut (a flood without newlines).
MAX_LINE_CHARS = 16_384
#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE_S = 2.0


@dataclass(frozen=True)
class OutputLine:
    """One line a child printed. `replace` is True for a `\\r` update of the previous line."""

    stream: Stream
    text: str
    replace: bool = False


@dataclass(frozen=True)
class ProcessOutcome:
    """How a child process ended."""

    returncode: int | None
    elapsed_s: float
    timed_out: bool = False
    cancelled: bool = False
    start_error: str | None = None

    @property
    def signal_name(self) -> str | None:
        """The name of the signal that ended the child, if one did."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    @property
    def ok(self) -> bool:
        """True when the child exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out and not self.cancelled

    def describe(self) -> str:
        """A few words for a person: 'exit 0', 'killed by SIGSEGV', 'timed out after 30.0 s'."""
        if self.start_error:
            return f"could not start: {self.start_error}"
        if self.timed_out:
            return f"timed out after {self.elapsed_s:.1f} s"
        if self.cancelled:
            return "cancelled"
        if self.signal_name:
            return f"killed by {self.signal_name}"
        return f"exit {self.returncode}"


LineCallback = Callable[[OutputLine], None]


async def _pump(
    reader: asyncio.StreamReader | None, stream: Stream, on_line: LineCallback
) -> None:
    """Read a pipe to its end, splitting on \\n and \\r, decoding with replacement."""
    if reader is None:
        return
    pending = b""
    replace_next = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        pending += chunk
        start = 0
        length = len(pending)
        while start < length:
            nl = pending.find(b"\n", start)
            cr = pending.find(b"\r", start)
            if nl == -1 and cr == -1:
                break
            if cr != -1 and (nl == -1 or cr < nl):
                # "\r\n" is an ordinary line end; a lone "\r" rewrites the line (progress bars).
                if cr + 1 < length and pending[cr + 1 : cr + 2] == b"\n":
                    end, step, is_cr = cr, 2, False
                elif cr + 1 >= length:
                    break  # wait: the next byte may be the "\n" of a "\r\n"
                else:
                    end, step, is_cr = cr, 1, True
            else:
                end, step, is_cr = nl, 1, False
            raw = pending[start:end]
            on_line(OutputLine(stream, _decode(raw), replace_next))
            replace_next = is_cr
            start = end + step
        pending = pending[start:]
        if len(pending) > MAX_LINE_CHARS * 4:
            on_line(OutputLine(stream, _decode(pending), replace_next))
            replace_next = False
            pending = b""
    if pending:
        on_line(OutputLine(stream, _decode(pending.rstrip(b"\r")), replace_next))


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + " …[line cut]"
    return text


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(pid: int, pgid: int | None, extra: Sequence[psutil.Process] = ()) -> None:
    """Send SIGKILL to a process group and to known descendants that may have left it."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for proc in [*extra, *_descendants(pid)]:
        with contextlib.suppress(psutil.Error):
            proc.kill()


async def _terminate(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the child's group and descendants, then SIGKILL whatever is left after grace_s."""
    pgid = proc.pid  # start_new_session=True makes the child its own group leader
    family = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        alive = [p for p in family if _alive(p)]
        if proc.returncode is not None and not alive and not _group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    kill_tree(proc.pid, pgid, family)
    # Reap anything still in the group so no zombie or orphan stays behind.
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.wait(timeout=1)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # The group leader may be a zombie not yet reaped; look for any live member.
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


async def stream_process(
    argv: Sequence[str],
    on_line: LineCallback,
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    grace_s: float = KILL_GRACE_S,
) -> ProcessOutcome:
    """Run argv to its end, calling on_line for every line; kill the whole tree on timeout.

    Cancelling the awaiting task kills the tree too, then re-raises CancelledError.
    """
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return ProcessOutcome(
            None, time.monotonic() - started, start_error=exc.strerror or str(exc)
        )
    pumps = asyncio.gather(
        _pump(proc.stdout, "stdout", on_line), _pump(proc.stderr, "stderr", on_line)
    )

    async def finish() -> None:
        await proc.wait()
        # The child exited, but a grandchild it left in the group may still run on and hold the
        # pipes open; end those too so nothing outlives the run, then drain the pipes.
        if _group_alive(proc.pid):
            await _terminate(proc, grace_s)
        await pumps

    finish_task = asyncio.ensure_future(finish())
    try:
        await asyncio.wait_for(asyncio.shield(finish_task), timeout)
    except asyncio.TimeoutError:
        await _terminate(proc, grace_s)
        await _settle(finish_task)
        return ProcessOutcome(proc.returncode, time.monotonic() - started, timed_out=True)
    except asyncio.CancelledError:
        await asyncio.shield(_terminate(proc, grace_s))
        await asyncio.shield(_settle(finish_task))
        raise
    return ProcessOutcome(proc.returncode, time.monotonic() - started)


async def _settle(task: asyncio.Future[None]) -> None:
    """Wait briefly for the pumps to drain after a kill; give up rather than hang."""
    try:
        await asyncio.wait_for(asyncio.shield(task), 5)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        task.cancel()
    except Exception:  # noqa: BLE001 - a broken pipe after a kill is expected, not news
        pass
