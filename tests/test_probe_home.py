"""Probes leave nothing in the home folder (issue 19.5): each library's own cache and config
folder (~/.keras, ~/.theano, ~/.pytensor) goes into mltui's cache folder instead."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from probes.catalog import get_library
from probes.libraries import library_homes, probe_env, probe_library
from probes.target import current_target


def test_library_homes_point_into_the_cache_and_keep_the_user_s(tmp_path: Path) -> None:
    env = {"PYTENSOR_FLAGS": "floatX=float32", "KERAS_HOME": "/mine/keras"}
    library_homes(env, tmp_path)
    assert env["KERAS_HOME"] == "/mine/keras"
    assert env["THEANO_FLAGS"] == f"base_compiledir={tmp_path / 'theano'}"
    assert env["PYTENSOR_FLAGS"] == f"floatX=float32,base_compiledir={tmp_path / 'pytensor'}"
    own = {"THEANO_FLAGS": "compiledir=/x", "PYTENSOR_FLAGS": " base_compiledir = /y"}
    library_homes(own, tmp_path)
    assert (
        own["THEANO_FLAGS"] == "compiledir=/x" and own["PYTENSOR_FLAGS"] == " base_compiledir = /y"
    )


def test_the_probe_environment_carries_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path))
    for name in ("KERAS_HOME", "THEANO_FLAGS", "PYTENSOR_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    env = probe_env()
    assert env["KERAS_HOME"].startswith(str(tmp_path))
    assert str(tmp_path) in env["THEANO_FLAGS"] and str(tmp_path) in env["PYTENSOR_FLAGS"]


@pytest.mark.parametrize("library", ["theano", "pytensor", "tensorflow"])
async def test_a_real_probe_leaves_the_home_folder_as_it_was(
    library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec(library) is None:  # never imported here: the probe runs it
        pytest.skip(f"{library} is not installed (make install installs it)")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("KERAS_HOME", "THEANO_FLAGS", "PYTENSOR_FLAGS", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    report = await probe_library(current_target(), get_library(library))
    assert report.status == "ok", report.error
    assert sorted(os.listdir(home)) == [], f"{library} left {os.listdir(home)} in the home folder"
