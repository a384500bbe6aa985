"""The target interpreter: the Python the library probes and samples run in.

Default is the interpreter running mltui; `--python PATH` names another environment's. Anything
wrong with PATH becomes a `TargetError` carrying one sentence for the user, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
import typing
from functools import lru_cache
from typing import Any

from probes.model import TargetPython
from probes.process import run_captured
from probes.untrusted_json import parse_json

#: Standalone scripts are written for this Python and newer.
MIN_PYTHON = (3, 8)
#: The longest answer line read (an interpreter's answer is about 200 characters).
MAX_ANSWER_CHARS = 65_536

#: The identity question. Written so that every Python since 2.6 can answer it (no f-strings,
#: print as a call with one argument): an old interpreter must be told "too old", not "not a
#: Python".
_IDENTIFY = (
    "import json, sys, platform; print(json.dumps({'version': platform.python_version(), "
    "'implementation': platform.python_implementation(), 'prefix': sys.prefix, "
    "'executable': sys.executable, 'info': list(sys.version_info[:2])}))"
)
#: Asked with `-I` (isolated: no PYTHON* variables, no user site, no script folder on sys.path).
#: Pythons before 3.4 have no `-I` and refuse it; they are asked again with `-E -s` and the
#: current folder taken off sys.path by hand, so a stray json.py there cannot answer instead.
_ASKS = (
    ["-I", "-c", _IDENTIFY],
    [
        "-E",
        "-s",
        "-c",
        "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; " + _IDENTIFY,
    ],
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
    info = _ask_identity(path, candidate, timeout)
    major, minor = info["info"]
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


def _ask_identity(path: str, candidate: str, timeout: float) -> dict[str, Any]:
    """The interpreter's answer to the identity question, checked for shape; else TargetError."""
    answer: Any = None
    for ask in _ASKS:
        try:
            status, stdout, _ = run_captured([candidate, *ask], timeout=timeout)
        except OSError as exc:
            raise TargetError(f"--python {path}: cannot run it ({exc.strerror or exc})") from None
        if status is None:
            raise TargetError(f"--python {path}: did not answer within {timeout:.0f} s")
        answer = _last_json_line(stdout)
        if answer is not None:
            break
    if answer is None:
        raise TargetError(f"--python {path}: not a Python interpreter")
    problem = _shape_problem(answer)
    if problem is not None:
        raise TargetError(
            f"--python {path}: its answer to mltui's identity question has the wrong shape "
            f"({problem})"
        )
    return typing.cast(dict[str, Any], answer)


def _last_json_line(stdout: bytes) -> Any:
    """The JSON value on the last line of the output, or None when there is none."""
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return None
    try:
        return parse_json(lines[-1][:MAX_ANSWER_CHARS])
    except ValueError:
        return None


def _shape_problem(answer: Any) -> str | None:
    """What is wrong with the shape of an identity answer, or None."""
    if not isinstance(answer, dict):
        return f"a JSON {type(answer).__name__}, not an object"
    info = answer.get("info")
    if (
        not isinstance(info, list)
        or len(info) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in info)
    ):
        return "'info' is not [major, minor]"
    for key in ("version", "implementation", "prefix"):
        if not isinstance(answer.get(key), str):
            return f"{key!r} is not a string"
    return None
