"""Containment of a run that cannot be escaped by hopping: a cgroup v2 of its own, or a sweep.

A process can leave its process group (setsid), lose its parent (fork, then the parent exits)
and do both again every few milliseconds: no look at the process tree ever sees it for long. Two
mechanisms, one per kind of machine, decided once per mltui process (`mode()`):

- **cgroup** (root, or a delegated cgroup v2 subtree such as systemd's user@.service): each run
  gets a cgroup of its own, `mltui-run-<token>`, beside mltui's own cgroup. The run's first
  process joins it between fork and exec (`join_preexec`), so everything it ever starts is in it:
  no fork, setsid, cleared environment or renamed command line leaves it (the kernel keeps
  children in their parent's cgroup; only a process allowed to write cgroup files could move
  itself out). The end of a run writes `cgroup.kill`, which kills every member at once and is
  atomic with respect to fork, then removes the cgroup.
- **sweep** (elsewhere): the run's token in the environment is the only trace left of a process
  that left the group and lost its parent. `sweep_token` scans the process table and SIGKILLs
  each carrier the moment it is found, scan after scan, until the table has been quiet for
  `QUIET_SCANS` consecutive scans. A hopper that clears its environment is not found this way.

Only the standard library: `probes/scripts/supervise.py` (run with `-I -S`, mltui's package not
importable) loads this file by path, to take a run down when mltui itself is killed.
`MLTUI_CONTAINMENT=sweep` forces the sweep (tests, or a machine whose cgroups misbehave).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable

#: The name of each run's cgroup starts with this; nothing else is ever killed or removed.
CGROUP_PREFIX = "mltui-run-"
#: The supervisor finds its run's cgroup folder in this environment variable.
CGROUP_VARIABLE = "MLTUI_RUN_CGROUP"
#: Forces a mode: "cgroup" or "sweep" (anything else: decided by what the machine allows).
MODE_VARIABLE = "MLTUI_CONTAINMENT"
#: The variable holding a run's token (also `probes.process.RUN_TOKEN_VARIABLE`).
TOKEN_VARIABLE = "MLTUI_RUN_TOKEN"
#: Consecutive scans that must find no carrier of the token before a sweep stops.
QUIET_SCANS = 3
#: The longest a sweep or a cgroup's emptying is waited for, in seconds.
SWEEP_LIMIT_S = 5.0
#: Empty run cgroups older than this are removed at the next start (left by a SIGKILLed mltui).
STALE_AFTER_S = 60.0

_MODE: str | None = None
_BASE: str | None = None


def _cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on a hybrid)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split(" ")[4]
    except OSError:
        return None
    return None


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path ('/user.slice/...'), from /proc/self/cgroup."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as groups:
            for line in groups:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def _probe_base() -> str | None:
    """The folder run cgroups are made in, when this machine lets mltui make and use one."""
    mount, own = _cgroup2_mount(), _own_cgroup()
    if mount is None or own is None:
        return None
    base = os.path.join(mount, own.lstrip("/"))
    trial = os.path.join(base, f"{CGROUP_PREFIX}trial-{os.getpid()}")
    try:
        os.mkdir(trial)
    except OSError:
        return None
    try:
        usable = os.access(os.path.join(trial, "cgroup.procs"), os.W_OK) and os.path.exists(
            os.path.join(trial, "cgroup.kill")
        )
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(trial)
    return base if usable else None


def mode() -> str:
    """'cgroup' when each run can get a cgroup v2 of its own here, else 'sweep' (decided once)."""
    global _MODE, _BASE
    if _MODE is None:
        forced = os.environ.get(MODE_VARIABLE, "")
        _BASE = None if forced == "sweep" else _probe_base()
        _MODE = "cgroup" if _BASE is not None else "sweep"
        if _BASE is not None:
            remove_stale(_BASE)
    return _MODE


def describe() -> str:
    """What containment a run gets here, in words (for `mltui check`'s environment and docs)."""
    if mode() == "cgroup":
        return f"a cgroup v2 per run (under {_BASE}), killed whole with cgroup.kill"
    return f"a sweep of the process table for the run's token, until {QUIET_SCANS} scans are quiet"


def remove_stale(base: str, older_than_s: float = STALE_AFTER_S) -> None:
    """Remove empty run cgroups left behind (their mltui was killed before it could)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not name.startswith(CGROUP_PREFIX):
            continue
        path = os.path.join(base, name)
        with contextlib.suppress(OSError):
            if now - os.stat(path).st_mtime > older_than_s and not _populated(path):
                os.rmdir(path)


def _populated(path: str) -> bool:
    """Whether a cgroup (or one below it) holds a live process."""
    try:
        with open(os.path.join(path, "cgroup.events"), encoding="ascii") as events:
            for line in events:
                key, _, value = line.partition(" ")
                if key == "populated":
                    return value.strip() == "1"
    except OSError:
        return False
    return False


class RunCgroup:
    """The cgroup v2 of one run: made before the run starts, killed and removed at its end."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls, token: str) -> RunCgroup | None:
        """A fresh cgroup for the run with this token, or None where cgroups are not usable."""
        if mode() != "cgroup" or _BASE is None:
            return None
        path = os.path.join(_BASE, CGROUP_PREFIX + token)
        try:
            os.mkdir(path)
        except OSError:
            return None
        return cls(path)

    def join_preexec(self) -> Callable[[], None]:
        """A `preexec_fn` step: the child moves itself into the cgroup before it execs.

        Only system calls; a failure is left for `holds()` to notice (mltui then sweeps).
        """
        procs = os.path.join(self.path, "cgroup.procs").encode()

        def join() -> None:
            try:
                fd = os.open(procs, os.O_WRONLY)
            except OSError:
                return
            try:
                os.write(fd, b"0")
            except OSError:
                pass
            finally:
                os.close(fd)

        return join

    def pids(self) -> list[int]:
        """The processes in the cgroup now."""
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as procs:
                return [int(line) for line in procs if line.strip()]
        except (OSError, ValueError):
            return []

    def holds(self, pid: int) -> bool:
        """Whether `pid` is in the cgroup (it joined before exec)."""
        return pid in self.pids()

    def populated(self) -> bool:
        """Whether a live process is left in the cgroup."""
        return _populated(self.path)

    def signal(self, signum: int) -> None:
        """Send a signal to every process in the cgroup (SIGTERM before the kill)."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL every process in the cgroup at once, forks in flight included."""
        try:
            fd = os.open(os.path.join(self.path, "cgroup.kill"), os.O_WRONLY)
        except OSError:
            return
        try:
            os.write(fd, b"1")
        except OSError:
            pass
        finally:
            os.close(fd)

    def remove(self, limit_s: float = SWEEP_LIMIT_S) -> bool:
        """Kill what is left, wait until the cgroup is empty, remove it; False if it stays."""
        deadline = time.monotonic() + limit_s
        pause = 0.001
        while True:
            if self.populated():
                self.kill()
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def token_carriers(token: str, *, kill: bool = False) -> list[int]:
    """Pids (this process excepted) whose environment holds the run's token, read from /proc.

    With `kill`, each is sent SIGKILL the moment it is found, before the scan goes on: a process
    that forks and exits every few milliseconds is caught before it hops again.
    """
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    found: list[int] = []
    own = os.getpid()
    try:
        pids = sorted((int(name) for name in os.listdir("/proc") if name.isdigit()), reverse=True)
    except OSError:
        return found
    # Newest first: a hopper's current generation has (barring pid wrap) the highest pid, so it
    # is read a few microseconds after the listing, before it can hop again.
    for pid in pids:
        if pid == own:
            continue
        name = str(pid)
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read(1 << 20)
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(name))
            if kill:
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
    return found


def sweep_token(token: str, quiet_scans: int = QUIET_SCANS, limit_s: float = SWEEP_LIMIT_S) -> int:
    """Kill every carrier of the token, scan after scan, until `quiet_scans` scans in a row find
    none (or `limit_s` passes); returns how many processes were killed."""
    killed = quiet = 0
    deadline = time.monotonic() + limit_s
    while quiet < quiet_scans and time.monotonic() < deadline:
        found = token_carriers(token, kill=True)
        killed += len(found)
        quiet = 0 if found else quiet + 1
    return killed
