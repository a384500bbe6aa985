"""The target interpreter: the Python the library probes and samples run in.

Default is the interpreter running mltui; `--python PATH` names another environment's. Anything
wrong with PATH becomes a `TargetError` carrying one sentence for the user, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from functools import lru_cache

from probes.model import TargetPython
from probes.process import run_captured

#: Standalone scripts are written for this Python and newer.
MIN_PYTHON = (3, 8)

_IDENTIFY = (
    "import json, sys, platform; print(json.dumps({'version': platform.python_version(), "
    "'implementation': platform.python_implementation(), 'prefix': sys.prefix, "
    "'executable': sys.executable, 'info': list(sys.version_info[:2])}))"
)


class TargetError(Exception):
    """A target interpreter that cannot be used; str() is the one-line message for the user."""


def current_target() -> TargetPython:
    """The interpreter running mltui itself."""
    import platform

    return TargetPython(
        executable=sys.executable,
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        prefix=sys.prefix,
        is_current=True,
    )


def resolve_target(path: str | None, *, timeout: float = 15.0) -> TargetPython:
    """Check that `path` is a usable Python (>= 3.8) and describe it; None means the current one.

    Raises TargetError with a one-line reason when it is missing, not executable, not a Python,
    too old, or does not answer in time.
    """
    if path is None:
        return current_target()
    return _resolve_cached(path, timeout)


@lru_cache(maxsize=32)
def _resolve_cached(path: str, timeout: float) -> TargetPython:
    candidate = os.path.expanduser(path)
    if os.sep not in candidate and not os.path.exists(candidate):
        found = shutil.which(candidate)
        if found is None:
            raise TargetError(f"--python {path}: no such file, and not a command on PATH")
        candidate = found
    if not os.path.exists(candidate):
        raise TargetError(f"--python {path}: no such file")
    if os.path.isdir(candidate):
        for sub in ("bin/python", "bin/python3", "Scripts/python.exe"):
            inside = os.path.join(candidate, sub)
            if os.path.exists(inside):
                candidate = inside
                break
        else:
            raise TargetError(f"--python {path}: a directory with no bin/python in it")
    if not os.access(candidate, os.X_OK):
        raise TargetError(f"--python {path}: not executable")
    try:
        status, stdout, _ = run_captured([candidate, "-I", "-c", _IDENTIFY], timeout=timeout)
    except OSError as exc:
        raise TargetError(f"--python {path}: cannot run it ({exc.strerror or exc})") from None
    if status is None:
        raise TargetError(f"--python {path}: did not answer within {timeout:.0f} s")
    try:
        info = json.loads(stdout.decode("utf-8", "replace").strip().splitlines()[-1])
        major, minor = info["info"]
    except (ValueError, IndexError, KeyError, TypeError):
        raise TargetError(f"--python {path}: not a Python interpreter") from None
    if (major, minor) < MIN_PYTHON:
        raise TargetError(
            f"--python {path}: Python {info['version']} is too old "
            f"(mltui's probes need {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer)"
        )
    return TargetPython(
        executable=os.path.abspath(candidate),
        version=str(info["version"]),
        implementation=str(info["implementation"]),
        prefix=str(info["prefix"]),
        # Every venv's python links to the same base interpreter: compare environments.
        is_current=os.path.realpath(str(info["prefix"])) == os.path.realpath(sys.prefix),
    )
