"""The Theano probe remembers a failed C build per interpreter, and only that.

The probe script runs for real (Theano 1.0.5's C code does not build on Python >= 3.11, so the
first probe compiles and fails); the second probe with the same cache folder must report the same
error without compiling, and a probe without a cache folder must compile again.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import get_library
from probes.libraries import PROBE_CACHE_VARIABLE, probe_env

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.skipif(importlib.util.find_spec("theano") is None, reason="Theano not installed"),
    pytest.mark.skipif(sys.version_info < (3, 11), reason="Theano's C build works before 3.11"),
]


def probe_theano(cache: str) -> dict[str, Any]:
    """Run the real probe script for Theano with this cache folder; its final report."""
    env = probe_env({PROBE_CACHE_VARIABLE: cache})
    done = subprocess.run(
        [sys.executable, str(get_library("theano").probe_script), "theano"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["event"] == "report"
    return report


def test_a_failed_c_build_is_remembered_and_reported_the_same(tmp_path: Path) -> None:
    cache = tmp_path / "probe"
    first = probe_theano(str(cache))
    assert first["build"]["c_backend"] is False
    assert first["build"]["c_backend_checked"] == "compiled in this probe"
    assert "error" in first["build"]["c_backend_error"]
    (remembered,) = cache.glob("theano-c-failed-*.json")

    second = probe_theano(str(cache))
    assert second["status"] == "ok"
    assert second["build"]["c_backend"] is False
    assert second["build"]["c_backend_checked"].startswith("remembered")
    assert second["build"]["c_backend_error"] == first["build"]["c_backend_error"]
    # The computation itself still runs, in the pure-Python mode the failure leaves.
    assert second["devices"][0]["computation_ok"] is True
    assert "pure-Python" in second["devices"][0]["computation_detail"]

    # A remembered file that is unreadable is ignored: the probe compiles again.
    remembered.write_text("{not json", encoding="utf-8")
    third = probe_theano(str(cache))
    assert third["build"]["c_backend_checked"] == "compiled in this probe"


def test_without_a_cache_folder_every_probe_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path))
    for _ in range(2):
        report = probe_theano("")
        assert report["build"]["c_backend_checked"] == "compiled in this probe"
        assert report["build"]["c_backend"] is False
    assert not (tmp_path / "probe").exists()


def test_probe_env_points_probes_at_the_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTUI_CACHE_DIR", "/somewhere/cache")
    monkeypatch.delenv(PROBE_CACHE_VARIABLE, raising=False)
    assert probe_env()[PROBE_CACHE_VARIABLE] == str(Path("/somewhere/cache") / "probe")
    monkeypatch.setenv(PROBE_CACHE_VARIABLE, "")
    assert probe_env()[PROBE_CACHE_VARIABLE] == ""
