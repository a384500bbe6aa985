"""Run a child process in its own process group and stream what it prints, safely.

The one place mltui starts programs in the target interpreter: library probes and samples alike.
The child gets stdin closed (it reads EOF at once), a new session (so it never fights the
dashboard for the terminal and can be killed whole) and the caller's environment. Its stdout and
stderr are split into tagged lines as they arrive: invalid UTF-8 is replaced, a lone `\\r`
(a progress bar) makes the next line replace the previous one, a last line without a newline is
still delivered, and an over-long line is cut, so a flood costs bounded memory.

On timeout or cancellation the whole group, and every descendant seen during the run (also one
that left the group with setsid()), gets SIGTERM, then SIGKILL after a grace period. When the
child ends by itself, anything it left running is ended the same way: nothing outlives a run.
A descendant that left the group *and* lost its parent before it was seen (a daemon that
double-forks at once) is found by a token unique to the run in its environment. One that keeps
hopping (fork, setsid, exit, every few milliseconds) is taken by `probes.containment`: the run's
own cgroup v2, killed whole, where the machine allows it; elsewhere a sweep for the token until
the process table is quiet for several scans in a row.

Nothing outlives mltui either. The direct child is a small supervisor (`scripts/supervise.py`,
run by mltui's own interpreter) that starts the command in its group and mirrors how it ended.
Linux's parent-death signal is armed in the supervisor between fork and exec (it fires when the
*thread* that forked exits: every spawn here happens on the event loop's thread, which outlives
its runs), so when mltui dies, even by SIGKILL, the supervisor kills the run's token carriers and
its whole group. While mltui lives, `kill_all_running()` ends every run at once: the entry
points call it on SIGHUP, SIGTERM and SIGINT before they exit.

Lines are handed on in batches (`LineBatch`, one per chunk read from a pipe) so a million-line
flood does not pay a Python call, or even an object, per line; `on_line` is the simple per-line
interface for callers that read little output.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import psutil

from probes import containment
from probes.replay import replay_environment
from probes.untrusted_json import UntrustedJSONError, parse_json

Stream = Literal["stdout", "stderr"]

#: Longest line handed on; the rest of an over-long line is dropped (a flood without newlines).
MAX_LINE_CHARS = 16_384
#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE_S = 2.0
#: Appended to a line that was cut at the length limit.
CUT_MARK = " …[line cut]"
#: How often descendants are looked up while the child runs (to catch ones that leave the group).
FAMILY_POLL_S = 0.5
#: How long the pipes may stay open after the child and its family are gone before mltui stops
#: reading them (a process that escaped every check still holds them).
DRAIN_TIMEOUT_S = 5.0
#: Set to a value unique to each run in the child's environment (its descendants inherit it).
RUN_TOKEN_VARIABLE = "MLTUI_RUN_TOKEN"
#: The direct child of every run: starts the command, takes its group down if mltui dies.
SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "supervise.py")
#: The supervisor reads the command from this variable (see scripts/supervise.py).
SUPERVISED_ARGV_VARIABLE = "MLTUI_SUPERVISED_ARGV"
#: Signal the kernel sends the supervisor when mltui dies (it then kills the group).
PARENT_DEATH_SIGNAL = signal.SIGHUP
_PR_SET_PDEATHSIG = 1


class OutputLine(NamedTuple):
    """One line a child printed. `replace` is True for a `\\r` update of the previous line."""

    stream: Stream
    text: str
    replace: bool = False


class LineBatch(Sequence[OutputLine]):
    """The lines of one stream that arrived together, in order, without an object per line.

    `texts` holds the line texts; the line at index i replaces the line before it (a `\\r`
    update, possibly of the last line of the previous batch) when i is in `replacing`.
    Indexing and iteration give `OutputLine`s, made on demand.
    """

    __slots__ = ("replacing", "stream", "texts")

    def __init__(
        self, stream: Stream, texts: list[str], replacing: frozenset[int] = frozenset()
    ) -> None:
        self.stream: Stream = stream
        self.texts = texts
        self.replacing = replacing

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> OutputLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[OutputLine]: ...

    def __getitem__(self, index: int | slice) -> OutputLine | list[OutputLine]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.texts)))]
        if index < 0:
            index += len(self.texts)
        text = self.texts[index]  # raises IndexError when out of range
        return OutputLine(self.stream, text, index in self.replacing)

    def __iter__(self) -> Iterator[OutputLine]:
        stream, replacing = self.stream, self.replacing
        if not replacing:
            for text in self.texts:
                yield OutputLine(stream, text, False)
            return
        for index, text in enumerate(self.texts):
            yield OutputLine(stream, text, index in replacing)

    def __repr__(self) -> str:
        return f"LineBatch({self.stream!r}, {len(self.texts)} lines)"


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
BatchCallback = Callable[[LineBatch], None]


def _cut(text: str, max_chars: int) -> str:
    return text[:max_chars] + CUT_MARK


class LineSplitter:
    """Turns the bytes of one stream into line batches; feed() chunks, then close() once.

    Kept small on purpose: at most one unfinished line of `max_chars` is held between chunks,
    so memory stays bounded whatever the child prints.
    """

    def __init__(
        self, stream: Stream, emit: BatchCallback, max_chars: int = MAX_LINE_CHARS
    ) -> None:
        self.stream: Stream = stream
        self._emit = emit
        self._max = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""  # the unfinished last line (may end in a "\r" held back)
        self._replace_next = False  # the next line emitted replaces the previous one
        self._shown = ""  # the line the next one replaces, as shown (a "\r" overwrites in place)
        self._skipping = False  # the current line was cut: drop text up to its newline
        self.closed = False

    def feed(self, data: bytes) -> None:
        """Split one chunk read from the pipe; complete lines are emitted at once."""
        if not self.closed:
            self._split(self._decoder.decode(data), final=False)

    def close(self) -> None:
        """The pipe reached its end: emit the last line even without a final newline."""
        if not self.closed:
            self._split(self._decoder.decode(b"", final=True), final=True)
            self.closed = True

    def _split(self, text: str, *, final: bool) -> None:
        if self._skipping:
            newline = text.find("\n")
            if newline == -1:
                return
            text = text[newline + 1 :]
            self._skipping = False
            self._replace_next = False
        text = self._pending + text
        self._pending = ""
        # A "\r" at the very end may be the first half of a "\r\n": decide with the next chunk.
        hold_cr = not final and text.endswith("\r")
        if hold_cr:
            text = text[:-1]
        texts: list[str]
        replacing: set[int] = set()
        if "\r" in text:
            texts, last = self._split_progress(text, replacing)
        else:
            texts = text.split("\n")
            last = texts.pop()
            if texts and self._replace_next:
                texts[0] = self._overlay(texts[0], replacing, 0)
        if texts and max(map(len, texts)) > self._max:
            texts = [t if len(t) <= self._max else _cut(t, self._max) for t in texts]
        if len(last) > self._max:
            texts.append(self._overlay(_cut(last, self._max), replacing, len(texts)))
            self._skipping = True
            last = ""
            hold_cr = False
        elif final and last:
            texts.append(self._overlay(last, replacing, len(texts)))
            last = ""
        self._pending = last + "\r" if hold_cr else last
        if texts:
            self._emit(LineBatch(self.stream, texts, frozenset(replacing)))

    def _overlay(self, text: str, replacing: set[int], index: int) -> str:
        """The line at `index` as a terminal shows it: over the previous one after a `\r`."""
        if self._replace_next:
            replacing.add(index)
            self._replace_next = False
            return text + self._shown[len(text) :]
        return text

    def _split_progress(self, text: str, replacing: set[int]) -> tuple[list[str], str]:
        """The slow path for text with `\r` in it: each line's updates coalesce to its last."""
        segments = text.replace("\r\n", "\n").split("\n")
        last = segments.pop()
        texts: list[str] = []
        for segment in segments:
            texts.append(self._overlay(_overwrite(segment.split("\r")), replacing, len(texts)))
        if "\r" in last:
            pieces = last.split("\r")
            last = pieces.pop()
            shown = self._overlay(_overwrite(pieces), replacing, len(texts))
            texts.append(shown)
            self._shown = shown
            self._replace_next = True
        return texts, last


def _overwrite(pieces: list[str]) -> str:
    """What a terminal shows after printing pieces separated by `\r`: each over the last."""
    shown = pieces[0]
    for piece in pieces[1:]:
        shown = piece + shown[len(piece) :]
    return shown


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Feeds the child's pipes straight into line splitters and signals exit and pipe EOF."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, emit: BatchCallback, max_chars: int
    ) -> None:
        self.exited: asyncio.Future[None] = loop.create_future()
        #: Done when the child exited or a callback failed: time to end the run.
        self.stopped: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self._splitters = {
            1: LineSplitter("stdout", self._guarded(emit), max_chars),
            2: LineSplitter("stderr", self._guarded(emit), max_chars),
        }

    def _guarded(self, emit: BatchCallback) -> BatchCallback:
        def call(batch: LineBatch) -> None:
            if self.error is not None:
                return
            try:
                emit(batch)
            except Exception as exc:  # a broken callback must stop the run, not vanish in a log
                self.error = exc
                if not self.stopped.done():
                    self.stopped.set_result(None)

        return call

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        """A chunk arrived on stdout (1) or stderr (2)."""
        splitter = self._splitters.get(fd)
        if splitter is not None:
            splitter.feed(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """A pipe reached its end: flush its last line."""
        splitter = self._splitters.get(fd)
        if splitter is not None:
            splitter.close()
        if all(s.closed for s in self._splitters.values()) and not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        """The child exited (its descendants may live on)."""
        for future in (self.exited, self.stopped):
            if not future.done():
                future.set_result(None)

    def flush(self) -> None:
        """Deliver what is left and ignore anything arriving later."""
        for splitter in self._splitters.values():
            splitter.close()
        if not self.drained.done():
            self.drained.set_result(None)


class _Family:
    """The child's descendants, remembered across polls so ones that leave can still be killed.

    With a cgroup (`probes.containment`), the cgroup holds every process the run ever started;
    without one, the end of the run sweeps the process table for its token until it is quiet.
    """

    def __init__(
        self, pid: int, token: str | None = None, cgroup: containment.RunCgroup | None = None
    ) -> None:
        self.pid = pid
        self.token = token
        self.cgroup = cgroup
        self._members: dict[int, psutil.Process] = {}

    def contained_alive(self) -> bool:
        """Whether the run's cgroup still holds a live process (False without a cgroup)."""
        return self.cgroup is not None and self.cgroup.populated()

    def signal_contained(self, signum: int) -> None:
        """Signal every process of the run's cgroup; SIGKILL is the cgroup's own kill."""
        if self.cgroup is not None:
            if signum == signal.SIGKILL:
                self.cgroup.kill()
            else:
                self.cgroup.signal(signum)

    def sweep(self) -> None:
        """The end of a run, whatever hops: kill the cgroup, or sweep for the token until quiet."""
        if self.cgroup is not None:
            self.cgroup.kill()
        elif self.token is not None and os.path.isdir("/proc"):
            containment.sweep_token(self.token)

    def refresh(self, *, by_token: bool = False) -> list[psutil.Process]:
        """Look descendants up again; return every remembered one still alive.

        `by_token` also looks through every process for the run's token in its environment
        (a scan of the process table: done when the run ends, not at every poll).
        """
        if by_token and self.token is not None:
            for proc in _carrying_token(self.token):
                self._members.setdefault(proc.pid, proc)
        roots: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            roots.append(psutil.Process(self.pid))
        roots.extend(p for p in self._members.values() if _alive(p))
        for root in roots:
            try:
                found = root.children(recursive=True)
            except psutil.Error:
                continue
            for proc in found:
                self._members.setdefault(proc.pid, proc)
        return [p for p in self._members.values() if _alive(p)]

    async def watch(self, interval: float) -> None:
        """Refresh every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.refresh()


def _carrying_token(token: str) -> list[psutil.Process]:
    """Live processes whose environment holds the run's token (only our own are readable)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(RUN_TOKEN_VARIABLE) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _group_alive(pgid: int) -> bool:
    """True when a live (non-zombie) process is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # Something is in the group, but it may only be a zombie nobody reaps (PID 1 in a container
    # often does not); only then is the costlier scan of all processes needed.
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def _signal_all(pgid: int, members: Sequence[psutil.Process], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
    for member in members:
        with contextlib.suppress(psutil.Error):
            member.send_signal(signum)


def kill_tree(pid: int, pgid: int | None, extra: Sequence[psutil.Process] = ()) -> None:
    """Send SIGKILL to a process group and to descendants that may have left it."""
    members = list(extra)
    with contextlib.suppress(psutil.Error):
        members.extend(psutil.Process(pid).children(recursive=True))
    if pgid is not None:
        _signal_all(pgid, members, signal.SIGKILL)
    else:
        for member in members:
            with contextlib.suppress(psutil.Error):
                member.kill()


async def _wait_gone(
    exited: asyncio.Future[None], pgid: int, family: _Family, seconds: float
) -> bool:
    """Poll until the child, its group and its family are gone; False if time ran out."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        if (
            exited.done()
            and not family.refresh()
            and not _group_alive(pgid)
            and not family.contained_alive()
        ):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


async def _terminate(
    exited: asyncio.Future[None], pgid: int, family: _Family, grace_s: float
) -> None:
    """SIGTERM the group and the family, then SIGKILL whatever is left after grace_s.

    Cancelled itself (the event loop is closing: the app quits), it sends SIGKILL at once.
    """
    try:
        _signal_all(pgid, family.refresh(by_token=True), signal.SIGTERM)
        family.signal_contained(signal.SIGTERM)
        gone = await _wait_gone(exited, pgid, family, grace_s)
    except asyncio.CancelledError:
        _signal_all(pgid, family.refresh(by_token=True), signal.SIGKILL)
        family.sweep()
        raise
    if not gone:
        _signal_all(pgid, family.refresh(by_token=True), signal.SIGKILL)
        family.signal_contained(signal.SIGKILL)
        await _wait_gone(exited, pgid, family, 5.0)
    # A process hopping out of every look (fork, setsid, exit, again) is taken here.
    await asyncio.to_thread(family.sweep)


#: Runs under way, by the pid of their direct child (its process group has the same id).
_RUNNING: dict[int, _Family] = {}


def kill_all_running() -> int:
    """SIGKILL every run under way: each group, each remembered descendant, each token carrier.

    Synchronous and quick, for a signal handler: mltui is about to exit. Returns how many runs
    there were.
    """
    families = list(_RUNNING.values())
    for family in families:
        with contextlib.suppress(Exception):  # a vanished process must not stop the others
            family.signal_contained(signal.SIGKILL)
            _signal_all(family.pid, family.refresh(by_token=True), signal.SIGKILL)
            family.sweep()
    return len(families)


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux (looked up once, before any fork), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def parent_death_preexec(signum: int = PARENT_DEATH_SIGNAL) -> Callable[[], None] | None:
    """A `preexec_fn` that arms the parent-death signal in the child (None off Linux).

    It runs in the child between fork and exec: only a system call, nothing that allocates.
    """
    prctl = _PRCTL
    if prctl is None:
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)

    return arm


def _preexec_steps(*steps: Callable[[], None] | None) -> Callable[[], None] | None:
    """One `preexec_fn` running the given steps in order (None when there is none)."""
    present = [step for step in steps if step is not None]
    if not present:
        return None

    def run() -> None:
        for step in present:
            step()

    return run


def _contain(pid: int, cgroup: containment.RunCgroup | None) -> containment.RunCgroup | None:
    """The run's cgroup when its first process joined it; else None (removed: mltui sweeps)."""
    if cgroup is not None and not cgroup.holds(pid):
        cgroup.remove()
        return None
    return cgroup


def _start_problem(argv: Sequence[str], env: dict[str, str]) -> str | None:
    """Why argv[0] cannot be started, in the words of the OS, or None when it looks startable."""
    program = argv[0] if argv else ""
    if not program:
        return "No such file or directory"
    path = program if os.sep in program else shutil.which(program, path=env.get("PATH"))
    if path is None or not os.path.exists(path):
        return "No such file or directory"
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return "Permission denied"
    return None


def supervised(
    argv: Sequence[str], token: str, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The supervisor's command line and environment for running argv (see SUPERVISOR)."""
    command = [sys.executable, "-I", "-S", SUPERVISOR, str(os.getpid()), token]
    return command, {**env, SUPERVISED_ARGV_VARIABLE: json.dumps(list(argv))}


def run_captured(
    argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[int | None, bytes, bytes]:
    """Run a short command to its end and return (status, stdout, stderr); None on timeout.

    For quick questions asked synchronously (an interpreter's identity): own session, stdin
    closed, parent-death signal armed (SIGKILL), the group killed on timeout, and registered so
    `kill_all_running()` reaches it. Raises OSError when it cannot be started.
    """
    token = uuid.uuid4().hex
    environ = replay_environment(
        {**(os.environ if env is None else env), RUN_TOKEN_VARIABLE: token}
    )
    cgroup = containment.RunCgroup.create(token)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            start_new_session=True,
            preexec_fn=_preexec_steps(
                cgroup.join_preexec() if cgroup else None, parent_death_preexec(signal.SIGKILL)
            ),
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    family = _Family(proc.pid, token, _contain(proc.pid, cgroup))
    _RUNNING[proc.pid] = family
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        return None, b"", b""
    finally:
        family.signal_contained(signal.SIGKILL)
        kill_tree(proc.pid, proc.pid, family.refresh(by_token=True))
        family.sweep()
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)
        _RUNNING.pop(proc.pid, None)
        if family.cgroup is not None:
            family.cgroup.remove()


async def stream_process(
    argv: Sequence[str],
    on_line: LineCallback | None,
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    grace_s: float = KILL_GRACE_S,
    on_lines: BatchCallback | None = None,
    cancel: asyncio.Event | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
) -> ProcessOutcome:
    """Run argv to its end, handing on every line it prints; kill the whole tree on timeout.

    `on_line` is called once per line; `on_lines` once per batch (the fast way for floods);
    either may be None. Setting the `cancel` event kills the tree and returns an outcome with
    `cancelled=True`. Cancelling the awaiting task kills the tree too, then re-raises
    CancelledError. An exception raised by a callback kills the tree and is re-raised here.
    A program that cannot be started gives an outcome with `start_error`, not an exception.
    """

    def emit(batch: LineBatch) -> None:
        if on_lines is not None:
            on_lines(batch)
        if on_line is not None:
            for line in batch:
                on_line(line)

    loop = asyncio.get_running_loop()
    protocol = _ChildProtocol(loop, emit, max_line_chars)
    token = uuid.uuid4().hex
    env = replay_environment({**(os.environ if env is None else env), RUN_TOKEN_VARIABLE: token})
    started = time.monotonic()
    problem = _start_problem(argv, env)
    if problem is not None:
        return ProcessOutcome(None, time.monotonic() - started, start_error=problem)
    command, env = supervised(argv, token, env)
    cgroup = containment.RunCgroup.create(token)
    if cgroup is not None:
        env[containment.CGROUP_VARIABLE] = cgroup.path  # the supervisor kills it if mltui dies
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_preexec_steps(
                cgroup.join_preexec() if cgroup else None, parent_death_preexec()
            ),
        )
    except OSError as exc:
        if cgroup is not None:
            cgroup.remove()
        return ProcessOutcome(
            None, time.monotonic() - started, start_error=exc.strerror or str(exc)
        )
    pid = transport.get_pid()  # start_new_session makes it the leader of its own group
    family = _Family(pid, token, _contain(pid, cgroup))
    _RUNNING[pid] = family
    watcher = loop.create_task(family.watch(FAMILY_POLL_S))
    cancel_wait = loop.create_task(cancel.wait()) if cancel is not None else None
    timed_out = cancelled = False
    try:
        waiting: list[asyncio.Future[None] | asyncio.Task[bool]] = [protocol.stopped]
        if cancel_wait is not None:
            waiting.append(cancel_wait)
        await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not protocol.stopped.done():
            cancelled = cancel is not None and cancel.is_set()
            timed_out = not cancelled
        # Also after a normal exit: a grandchild left running must not outlive the run.
        await _terminate(protocol.exited, pid, family, grace_s)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.drained), DRAIN_TIMEOUT_S)
    except asyncio.CancelledError:
        await asyncio.shield(_terminate(protocol.exited, pid, family, grace_s))
        raise
    finally:
        _RUNNING.pop(pid, None)
        watcher.cancel()
        if cancel_wait is not None:
            cancel_wait.cancel()
        transport.close()
        protocol.flush()
        if family.cgroup is not None:
            family.cgroup.remove()
    if protocol.error is not None:
        raise protocol.error
    return ProcessOutcome(
        transport.get_returncode(),
        time.monotonic() - started,
        timed_out=timed_out,
        cancelled=cancelled,
    )


EventCallback = Callable[[dict[str, Any]], None]


def parse_event(text: str, max_bytes: int = 4 * MAX_LINE_CHARS) -> dict[str, Any] | None:
    """The event object on one line (a JSON object with an "event" key), or None.

    Decoded by the one bounded reader of untrusted JSON (`probes.untrusted_json`), so a line
    nested 100,000 deep or holding NaN is "not an event", never an exception.
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = parse_json(stripped, max_bytes=max_bytes)
    except UntrustedJSONError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


class EventLineReader:
    """Reads a child that speaks JSON event lines: the one reader of that protocol.

    Pass it as `stream_process(..., on_lines=reader)`. Each stdout line that is an event
    (`parse_event`) goes to `on_event`; the first stdout line that is not one is kept in
    `bad_line` (a cut line says so); stderr lines (`\\r` updates applied) are kept in `stderr`,
    the last `stderr_lines` of them, each cut to `stderr_chars`. Library probes, perf loads and
    the Ray driver all read their child through this.
    """

    def __init__(
        self,
        on_event: EventCallback,
        *,
        max_line_chars: int = MAX_LINE_CHARS,
        stderr_lines: int = 20,
        stderr_chars: int = 2000,
    ) -> None:
        self.on_event = on_event
        self.max_line_chars = max_line_chars
        self.stderr_chars = stderr_chars
        self.stderr: deque[str] = deque(maxlen=stderr_lines)
        self.bad_line: str | None = None

    def __call__(self, batch: LineBatch) -> None:
        if batch.stream == "stderr":
            for index, text in enumerate(batch.texts):
                text = text[: self.stderr_chars]
                if index in batch.replacing and self.stderr:
                    self.stderr[-1] = text
                else:
                    self.stderr.append(text)
            return
        for text in batch.texts:
            if text.endswith(CUT_MARK):
                self._bad(
                    f"a line of more than {self.max_line_chars} characters (cut): " + text[:200]
                )
                continue
            if not text.strip():
                continue
            event = parse_event(text, max_bytes=4 * self.max_line_chars)
            if event is None:
                self._bad(text.strip()[:300])
            else:
                self.on_event(event)

    def _bad(self, text: str) -> None:
        if self.bad_line is None:
            self.bad_line = text
