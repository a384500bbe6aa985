"""The last health result of a node, kept for detached runs, and the one refresh allowed at a time.

Detached mode (NHC's `-d`): the caller (slurmd) gets the previous result at once, and a refresh
runs in the background. The refresh is started through a short-lived launcher
(`scripts/detach.py`) that the caller waits for, so the caller never leaves a zombie; the refresh
itself runs in a session of its own (a kill of the caller's process group does not reach it),
with stdin, stdout and stderr on /dev/null or its log (slurmd reads the health program's stdout
to its end: an inherited pipe would make it wait), and its own deadline. It holds an exclusive
lock for its whole run: a second refresh finds the lock taken and ends at once, so two never run
together.

Files (in mltui's cache folder): `health-KEY.json` (the last result, written atomically),
`health-KEY.lock` (the refresh lock), `health-KEY.log` (what the last refresh printed on stderr).
KEY is a hash of what the result depends on: the interpreter, the baseline file and the level.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from probes.cache import cache_dir, interpreter_identity
from probes.health.model import HealthReport, health_schema
from probes.model import TargetPython, from_dict, schema_problem, to_dict
from probes.untrusted_json import UntrustedJSONError, read_json_file

#: The launcher a detached refresh is started through (see the module's docstring).
DETACH_LAUNCHER = Path(__file__).resolve().parent.parent / "scripts" / "detach.py"
#: Bump when the envelope of the result file changes.
STATE_FORMAT = 1
#: A result file larger than this is not read.
MAX_STATE_BYTES = 8 * 1024 * 1024


@dataclass
class SavedHealth:
    """A previous health result and how old it is."""

    report: HealthReport
    age_s: float


def state_key(python: str, baseline: str | None, level: str, prefix: str | None = None) -> str:
    """A file-name-safe key for what a health result depends on."""
    identity = interpreter_identity(TargetPython(python, "", prefix=prefix))
    where = os.path.realpath(baseline) if baseline else ""
    text = f"{identity}\0{where}\0{level}".encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()[:24]


def state_paths(key: str, folder: Path | None = None) -> tuple[Path, Path, Path]:
    """(result file, lock file, refresh log) for `key`; OSError when there is no cache folder."""
    base = cache_dir() if folder is None else folder
    return base / f"health-{key}.json", base / f"health-{key}.lock", base / f"health-{key}.log"


def write_atomic(path: Path, text: str, *, make_folder: bool = True) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename, so a
    reader sees the old file or the new one, never half of one. `make_folder`: create the
    folder when missing (mltui's own cache), else a missing folder is an error (an admin's
    path with a typo). Raises OSError."""
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:16]}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def save_health(path: Path, report: HealthReport) -> None:
    """Keep `report` as the last result (atomically). Raises OSError."""
    envelope = {"state_format": STATE_FORMAT, "saved_at": time.time(), "report": to_dict(report)}
    write_atomic(path, json.dumps(envelope))


def load_health(path: Path) -> SavedHealth | None:
    """The last result kept at `path`, or None when there is none usable (absent, corrupt,
    another format, not a health report)."""
    try:
        envelope = read_json_file(path, max_bytes=MAX_STATE_BYTES)
    except UntrustedJSONError:
        return None
    if not isinstance(envelope, dict) or envelope.get("state_format") != STATE_FORMAT:
        return None
    saved_at = envelope.get("saved_at")
    data = envelope.get("report")
    if not isinstance(saved_at, (int, float)) or isinstance(saved_at, bool):
        return None
    if schema_problem(data, health_schema()) is not None:
        return None
    try:
        report = from_dict(HealthReport, data)
    except (TypeError, ValueError, KeyError):
        return None
    return SavedHealth(report=report, age_s=max(0.0, time.time() - float(saved_at)))


@contextlib.contextmanager
def refresh_lock(path: Path) -> Iterator[bool]:
    """Hold the exclusive refresh lock for the block; yields False (at once) when another process
    holds it. The lock goes with the process: one killed never leaves it taken. Raises OSError
    when the lock file cannot be used (see open_regular)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield True
    finally:
        os.close(fd)


def open_regular(path: Path, flags: int) -> int:
    """os.open(path, flags) for a file of mltui's own: a symlink is never followed (one planted
    in the cache folder would have the write land on its target, e.g. /etc/shadow), and anything
    but a regular file (a FIFO, a device, a folder) is refused without blocking. Raises OSError
    whose str() is one line naming the path."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, f"{path} is a symbolic link: not followed") from None
        raise OSError(exc.errno, f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    return fd


def lock_taken(path: Path) -> bool:
    """True when a refresh holds the lock at `path` now."""
    with refresh_lock(path) as got:
        return not got


def spawn_detached(argv: Sequence[str], log: Path) -> None:
    """Start `argv` detached (own session, stdio on /dev/null and `log`) and return at once.

    The launcher in between exits as soon as the command is started and is waited for here, so
    no zombie is left behind by this process; the command is then the child of init.
    Raises OSError when the launcher cannot be started.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    launcher = subprocess.Popen(
        [sys.executable, "-I", "-S", str(DETACH_LAUNCHER), str(log), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )
    try:
        launcher.wait(timeout=30)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
        raise OSError("the detached refresh's launcher did not start it within 30 s") from None
    if launcher.returncode != 0:
        raise OSError(
            f"the detached refresh could not be started (launcher exit {launcher.returncode})"
        )
