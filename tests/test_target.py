"""The target interpreter: a usable Python is described, anything else is one clear sentence."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from probes.target import TargetError, resolve_target


def test_current_interpreter_is_the_default() -> None:
    target = resolve_target(None)
    assert target.executable == sys.executable
    assert target.is_current
    assert target.version.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")


def test_another_path_is_run_and_described() -> None:
    target = resolve_target(sys.executable)
    assert os.path.realpath(target.executable) == os.path.realpath(sys.executable)
    assert target.is_current
    assert target.prefix == sys.prefix


def test_an_environment_folder_resolves_to_its_python() -> None:
    target = resolve_target(sys.prefix)
    assert Path(target.executable).name.startswith("python")


def _script(tmp_path: Path, name: str, body: str, mode: int = 0o755) -> str:
    path = tmp_path / name
    path.write_text(body)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: str(p / "missing" / "python"), "no such file"),
        (lambda p: _script(p, "noexec", "#!/bin/sh\n", 0o644), "not executable"),
        (lambda p: _script(p, "notpy", "#!/bin/sh\necho hello\n"), "not a Python"),
        (
            lambda p: _script(
                p,
                "oldpy",
                '#!/bin/sh\necho \'{"version": "2.7.18", "implementation": '
                '"CPython", "prefix": "/", "executable": "x", "info": [2, 7]}\'\n',
            ),
            "too old",
        ),
        (lambda p: str(p), "no bin/python"),
    ],
)
def test_unusable_interpreters_give_one_line(make, expected: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(TargetError) as info:
        resolve_target(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert path in message


def test_a_hanging_interpreter_times_out(tmp_path: Path) -> None:
    path = _script(tmp_path, "slowpy", "#!/bin/sh\nsleep 30\n")
    with pytest.raises(TargetError, match="did not answer"):
        resolve_target(path, timeout=0.5)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o100


def test_a_venv_on_the_same_base_python_is_not_the_current_one(tmp_path: Path) -> None:
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / "other")
    target = resolve_target(str(tmp_path / "other"))
    assert not target.is_current
    assert target.prefix is not None and Path(target.prefix).name == "other"
