"""`mltui check` as a user runs it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from probes.catalog import LIBRARIES, LIBRARY_IDS
from probes.model import json_schema

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).resolve().parent.parent
MLTUI = ROOT / ".venv" / "bin" / "mltui"
if not MLTUI.exists():  # an environment other than the repo's .venv
    MLTUI = Path(sys.executable).parent / "mltui"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _mltui(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ.update({"MLTUI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "160"})
    environ.update(env)
    return subprocess.run(
        [str(MLTUI), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="module")
def full_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str]:
    """One full `mltui check --json` (every library) for the tests below to share."""
    done = _mltui("check", "--json", tmp_path=tmp_path_factory.mktemp("full"))
    return done.returncode, done.stdout, done.stderr


def test_full_json_validates_and_lists_every_library(full_json: tuple[int, str, str]) -> None:
    code, stdout, stderr = full_json
    data = json.loads(stdout)  # stdout holds the JSON and nothing else
    jsonschema.validate(data, json_schema())
    statuses = {lib["name"]: lib for lib in data["libraries"]}
    assert sorted(statuses) == sorted(LIBRARY_IDS)
    for lib_id, lib in statuses.items():
        if lib_id == "caffe":
            assert lib["status"] == "not_installed"
        else:
            assert lib["status"] == "ok", (lib_id, lib["error"])
            assert lib["version"]
    # No GPU here: a state with its reason, not an error, so the exit status is 0.
    assert data["nvml"]["status"] == "no_driver"
    assert data["nvml"]["reason"]
    assert not [f for f in data["findings"] if f["severity"] == "error"]
    assert code == 0, stderr
    assert data["created_at"].endswith("Z")


def test_only_sklearn_prints_the_report(tmp_path: Path) -> None:
    # The PCI bus of a recorded VM without a GPU (this machine's, as on CI): the first line
    # names the missing GPU plainly, and the CPU facts follow the libraries.
    bus = Path(__file__).resolve().parent / "fixtures" / "sysfs" / "vm_no_display"
    done = _mltui("check", "--only", "sklearn", tmp_path=tmp_path, MLTUI_PCI_ROOT=str(bus))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in ("System", "GPUs", "Libraries", "On the CPU", "Findings"):
        assert heading in out
    assert "scikit-learn" in out
    assert "✓ cpu" in out
    if "NVML: no NVIDIA driver" in out:  # (a GPU machine's driver would list its GPUs)
        assert out.splitlines()[0].startswith("No NVIDIA GPU in this machine (PCI: 6 devices")
        assert "1 library checked, 1 computes on the CPU" in out
    assert "OMP_NUM_THREADS" in out and "Vector" in out
    # Only the library asked for is in the matrix.
    assert "PyTorch" not in out and "TensorFlow" not in out
    assert "Traceback" not in done.stderr


def test_only_accepts_aliases_and_json(tmp_path: Path) -> None:
    done = _mltui("check", "--json", "--only", "opencv,pycaffe", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [lib["name"] for lib in data["libraries"]] == ["cv2", "caffe"]
    jsonschema.validate(data, json_schema())
    cached = list((tmp_path / "cache").glob("check-*.json"))
    assert len(cached) == 1


def test_no_color_is_respected(tmp_path: Path) -> None:
    coloured = _mltui("check", "--only", "caffe", tmp_path=tmp_path, FORCE_COLOR="1")
    assert ANSI.search(coloured.stdout)
    plain = _mltui("check", "--only", "caffe", tmp_path=tmp_path, FORCE_COLOR="1", NO_COLOR="1")
    colour_codes = [c for c in ANSI.findall(plain.stdout) if re.search(r"\[(3|4|9)\d", c)]
    assert colour_codes == []


def test_schema_flag_prints_the_schema(tmp_path: Path) -> None:
    done = _mltui("check", "--schema", tmp_path=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout) == json_schema()


@pytest.mark.parametrize(
    ("python", "says"),
    [
        ("/nonexistent/python", "no such file"),
        ("{tmp}/plain.txt", "not executable"),
        ("{tmp}/script.sh", "not a Python"),
        ("/bin/true", "not a Python"),
    ],
)
def test_bad_python_is_one_line_and_exit_2(tmp_path: Path, python: str, says: str) -> None:
    (tmp_path / "plain.txt").write_text("print('hi')\n")
    (tmp_path / "plain.txt").chmod(0o644)
    (tmp_path / "script.sh").write_text("#!/bin/sh\necho not json\n")
    (tmp_path / "script.sh").chmod(0o755)
    python = python.format(tmp=tmp_path)
    done = _mltui("check", "--python", python, tmp_path=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0] and python in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_top_level_python_option_is_used(tmp_path: Path) -> None:
    done = _mltui("--python", "/nonexistent/python", "check", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "/nonexistent/python" in done.stderr


def test_unknown_library_lists_the_known_ones(tmp_path: Path) -> None:
    done = _mltui("check", "--only", "nosuchlib", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "nosuchlib" in done.stderr
    for spec in LIBRARIES:
        assert spec.id in done.stderr


def test_bad_timeout_is_usage_error(tmp_path: Path) -> None:
    done = _mltui("check", "--timeout", "-3", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
