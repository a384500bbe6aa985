"""The last check of each target interpreter, kept on disk so the next start can show it at once.

One JSON file per interpreter, keyed by a hash of the real paths of its environment (sys.prefix)
and its executable (a venv's python is a symlink to the base interpreter, so the executable alone
would give every venv of one base Python the same key), under
`$MLTUI_CACHE_DIR`, else `$XDG_CACHE_HOME/mltui`, else `~/.cache/mltui`. A cache that cannot be
written is a state (`save_check` returns None), and a file that is corrupt or written with another
schema is treated as absent and replaced on the next save; so is one that is not a bounded
regular file of valid JSON fitting the schema of `mltui check --json` (see `load_check`).

Writers never lose each other's work: every save reads, merges (`save_check(merge=...)`: a
`check --only` folds into the saved check) and renames its file into place while holding an
exclusive `flock` on a lock file beside it (`.check-<key>.lock`), so two `check --only` runs for
different libraries at the same moment both land. A lock that cannot be had within
CACHE_LOCK_TIMEOUT_S (a writer stopped with ctrl+z) makes the save a state (None), not a hang.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from probes.model import SCHEMA_VERSION, CheckResult, TargetPython, from_dict, parse_check, to_dict
from probes.perf_model import PERF_SCHEMA_VERSION, PerfReport
from probes.untrusted_json import read_json_file

#: Bump when the envelope below changes; the inner result carries its own schema_version.
CACHE_FORMAT = 1
#: A cache file larger than this is not read (a check is a few tens of KiB).
MAX_CACHE_BYTES = 16 * 1024 * 1024
#: How long a save waits for another writer of the same file before it gives up (returns None).
CACHE_LOCK_TIMEOUT_S = 10.0
#: How often a waiting save tries the lock again.
_LOCK_RETRY_S = 0.005

CheckMerge = Callable[[CheckResult, CheckResult | None], CheckResult]
PerfMerge = Callable[[PerfReport, PerfReport | None], PerfReport]


class CacheDirError(OSError):
    """The cache folder cannot be found (MLTUI_CACHE_DIR names an unknown `~user`, no home)."""


@dataclass
class CachedCheck:
    """A check loaded from the cache, with when it was saved and how old it is now."""

    result: CheckResult
    saved_at: float  # seconds since the epoch
    age_s: float


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding mltui's cache files (not created here).

    Raises CacheDirError (an OSError) when it cannot be found: MLTUI_CACHE_DIR starting with
    an unknown `~user`, or no home folder.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("MLTUI_CACHE_DIR")
    try:
        if explicit:
            return Path(explicit).expanduser()
        xdg = env.get("XDG_CACHE_HOME")
        if xdg and os.path.isabs(xdg):
            return Path(xdg) / "mltui"
        return Path.home() / ".cache" / "mltui"
    except (RuntimeError, KeyError) as exc:
        where = f"MLTUI_CACHE_DIR={explicit}" if explicit else "the home folder"
        raise CacheDirError(f"{where}: cannot find that folder ({exc})") from None


def describe_cache_dir() -> str:
    """The cache folder for a message, or why there is none (never raises)."""
    try:
        return str(cache_dir())
    except CacheDirError as exc:
        return str(exc)


def interpreter_identity(target: TargetPython) -> str:
    """What tells interpreters apart: the real paths of the environment and the executable."""
    prefix = os.path.realpath(target.prefix) if target.prefix else ""
    return f"{prefix}\0{os.path.realpath(target.executable)}"


def interpreter_key(target: TargetPython) -> str:
    """A stable, file-name-safe key for an interpreter: a hash of its identity."""
    identity = interpreter_identity(target).encode("utf-8", "surrogateescape")
    return hashlib.sha256(identity).hexdigest()[:24]


def _stored_identity(target: TargetPython) -> str:
    """The identity as the cache file keeps it: a path's bytes that are not UTF-8 (a venv
    under `caf\xe9/`) written as `\xe9`, since the one JSON reader turns lone surrogates into
    U+FFFD and the identity read back would never match (the cache never loaded again)."""
    raw = interpreter_identity(target).encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def check_path(target: TargetPython, environ: Mapping[str, str] | None = None) -> Path:
    """Where the check of this target interpreter is cached."""
    return cache_dir(environ) / f"check-{interpreter_key(target)}.json"


def perf_path(target: TargetPython, environ: Mapping[str, str] | None = None) -> Path:
    """Where the last `mltui perf` of this target interpreter is cached."""
    return cache_dir(environ) / f"perf-{interpreter_key(target)}.json"


def save_check(result: CheckResult, *, merge: CheckMerge | None = None) -> Path | None:
    """Write the check to its interpreter's cache file atomically; None if it cannot be written.

    With `merge`, the file is read under the writers' lock and `merge(result, saved)` (saved:
    the check in the file, or None) is what gets written, so a concurrent writer's update is
    never lost. A result without a target is saved under the current interpreter's key.
    """
    target = result.target or TargetPython(
        sys.executable, sys.version.split()[0], prefix=sys.prefix
    )
    try:
        path = check_path(target)
    except OSError:
        return None

    def merged() -> object:
        if merge is None:
            return to_dict(result)
        cached = load_check(target)
        return to_dict(merge(result, cached.result if cached is not None else None))

    return _save(path, target, merged)


def save_perf(
    report: PerfReport, target: TargetPython, *, merge: PerfMerge | None = None
) -> Path | None:
    """Keep the last perf run of `target` (the check shows it as `perf`); None if unwritable.

    With `merge`, the file is read under the writers' lock and `merge(report, kept)` (kept: the
    report in the file, or None) is what gets written, as `save_check` does.
    """
    try:
        path = perf_path(target)
    except OSError:
        return None

    def merged() -> object:
        return to_dict(report if merge is None else merge(report, load_perf(target)))

    return _save(path, target, merged)


def writable_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The cache folder, created when missing; CacheDirError (one line) when nothing can be kept
    there. For a command to check before a long run rather than fail to save after it."""
    folder = cache_dir(environ)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheDirError(f"{folder}: cannot create it ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise CacheDirError(f"{folder}: not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CacheDirError(f"{folder}: not writable")
    return folder


def load_perf(target: TargetPython) -> PerfReport | None:
    """The last perf run of this interpreter, or None if there is none usable."""
    try:
        loaded = _load(perf_path(target), target, PERF_SCHEMA_VERSION)
    except OSError:
        return None
    if loaded is None:
        return None
    try:
        return from_dict(PerfReport, loaded[0])
    except (TypeError, ValueError, KeyError):
        return None


@contextlib.contextmanager
def _writers_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of `path`'s writers (raises OSError when it cannot be had)."""
    lock_path = path.with_name(f".{path.stem}.lock")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(lock_path, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{lock_path}: not a regular file")
        deadline = time.monotonic() + CACHE_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError(errno.EAGAIN, f"{lock_path}: held by another writer") from None
                time.sleep(_LOCK_RETRY_S)  # waits-for: the other writer's rename (milliseconds)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _save(path: Path, target: TargetPython, make_data: Callable[[], object]) -> Path | None:
    """Write what `make_data()` gives (called under the writers' lock) atomically to `path`."""
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _writers_lock(path):
            envelope = {
                "cache_format": CACHE_FORMAT,
                "interpreter": _stored_identity(target),
                "saved_at": time.time(),
                "result": make_data(),
            }
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.stem[:5]}-", suffix=".tmp", dir=path.parent
            )
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                # NaN/Infinity would be written but refused by every reader (and a merge would
                # then start from nothing): such a save fails, the file in place stays.
                json.dump(envelope, out, allow_nan=False)
            os.replace(tmp_name, path)
            tmp_name = None
    except (OSError, TypeError, ValueError):
        return None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return path


def _load(path: Path, target: TargetPython, version: int) -> tuple[dict[str, object], float] | None:
    """(the saved data, when it was saved) from a cache file, or None if it is not usable."""
    try:
        envelope = read_json_file(path, max_bytes=MAX_CACHE_BYTES)
    except (OSError, ValueError):
        return None
    if not isinstance(envelope, dict) or envelope.get("cache_format") != CACHE_FORMAT:
        return None
    if envelope.get("interpreter") != _stored_identity(target):
        return None  # a hash collision, or a file copied from elsewhere
    data = envelope.get("result")
    saved_at = envelope.get("saved_at")
    if not isinstance(data, dict) or data.get("schema_version") != version:
        return None
    if not isinstance(saved_at, (int, float)) or isinstance(saved_at, bool):
        return None
    return data, float(saved_at)


def load_check(target: TargetPython) -> CachedCheck | None:
    """The cached check of this interpreter, or None if there is none usable.

    The one validation of every reader (the check, the dashboard, the chooser): a bounded
    regular file, JSON without NaN/Infinity or absurd nesting, and a result that fits the schema
    of `mltui check --json` (`probes.model.parse_check`). Its `perf` is the last perf run of the
    interpreter when one is cached.
    """
    try:
        loaded = _load(check_path(target), target, SCHEMA_VERSION)
    except OSError:  # no cache folder to be found
        return None
    if loaded is None:
        return None
    data, saved_at = loaded
    try:
        result = parse_check(data)
    except ValueError:
        return None
    result.perf = load_perf(target) or result.perf
    return CachedCheck(
        result=result, saved_at=float(saved_at), age_s=max(0.0, time.time() - saved_at)
    )
