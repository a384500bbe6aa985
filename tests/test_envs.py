"""probes.envs: discovery on fake environment trees built in a temp dir, from disk alone."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from probes import catalog
from probes.envs import (
    PythonEnvironment,
    discover_environments,
    environments_json,
    normalise_name,
    python_version,
    scan_site_packages,
)
from tests.support import forbid_waits_and_processes


def _python(prefix: Path, rel: str = "bin/python3") -> Path:
    exe = prefix / rel
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\nexit 99\n")  # never run: discovery must not start it
    exe.chmod(0o755)
    return exe


def _dist(site: Path, folder: str, name: str, version: str, file: str = "METADATA") -> None:
    meta = site / folder
    meta.mkdir(parents=True, exist_ok=True)
    (meta / file).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nBody text\n"
    )


def _venv(prefix: Path, version: str, dists: dict[str, tuple[str, str]]) -> Path:
    """A venv: pyvenv.cfg, bin/python3, lib/pythonX.Y/site-packages with dist-info folders."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {version}\n"
    )
    _python(prefix)
    major_minor = ".".join(version.split(".")[:2])
    site = prefix / "lib" / f"python{major_minor}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    for folder, (name, dist_version) in dists.items():
        _dist(site, folder, name, dist_version)
    return prefix


def _conda(
    prefix: Path, version: str, *, root: bool = False, packages: tuple[str, ...] = ()
) -> Path:
    """A conda env: conda-meta/python-X.Y.Z-build.json (+ other packages), bin/python3."""
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / f"python-{version}-h1234_0.json").write_text("{}")
    (meta / "history").write_text("")
    for package in packages:
        (meta / f"{package}.json").write_text("{}")
    if root:
        (prefix / "condabin").mkdir()
        (prefix / "envs").mkdir()
    _python(prefix)
    major_minor = ".".join(version.split(".")[:2])
    (prefix / "lib" / f"python{major_minor}" / "site-packages").mkdir(parents=True)
    return prefix


def _site(prefix: Path, major_minor: str) -> Path:
    return prefix / "lib" / f"python{major_minor}" / "site-packages"


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Any]:
    """A fake home with conda, pyenv and a project .venv, plus the keyword args to discover it."""
    home = tmp_path / "home"
    project = tmp_path / "project"
    venv = _venv(
        project / ".venv",
        "3.10.4",
        {
            "torch-2.1.0.dist-info": ("torch", "2.1.0"),
            "scikit_learn-1.3.0.dist-info": ("scikit-learn", "1.3.0"),
            "tensorflow_cpu-2.15.0.dist-info": ("tensorflow-cpu", "2.15.0"),
            "numpy-1.26.0.dist-info": ("numpy", "1.26.0"),
        },
    )
    # An old-style egg-info folder, and a distutils egg-info *file*.
    _dist(_site(venv, "3.10"), "Theano-1.0.5-py3.10.egg-info", "Theano", "1.0.5", "PKG-INFO")
    (_site(venv, "3.10") / "opencv_python_headless-4.9.0.80-py3.10.egg-info").write_text(
        "Metadata-Version: 1.0\nName: opencv-python-headless\nVersion: 4.9.0.80\n"
    )

    base = _conda(home / "miniconda3", "3.11.5", root=True)
    _dist(_site(base, "3.11"), "pytensor-2.18.1.dist-info", "pytensor", "2.18.1")
    tf_env = _conda(
        home / "miniconda3" / "envs" / "tf", "3.9.18", packages=("pytorch-2.0.1-py3.9_cpu_0",)
    )
    _conda(home / "miniconda3" / "envs" / "r-only", "3.9.18")
    (home / "miniconda3" / "envs" / "r-only" / "bin" / "python3").unlink()  # not a Python env

    elsewhere = _conda(tmp_path / "elsewhere" / "myenv", "3.12.2")
    caffe_src = _site(elsewhere, "3.12") / "caffe"
    caffe_src.mkdir()
    (caffe_src / "__init__.py").write_text("")  # a source build: no metadata at all
    windows = tmp_path / "winenv"
    _python(windows, "python.exe")
    (windows / "conda-meta").mkdir()
    _dist(windows / "Lib" / "site-packages", "torch-2.2.0.dist-info", "torch", "2.2.0")
    link = tmp_path / "tf-link"
    link.symlink_to(tf_env)
    (home / ".conda").mkdir()
    (home / ".conda" / "environments.txt").write_text(
        f"{base}\n{tf_env}\n{link}\n{elsewhere}\n{windows}\n{tmp_path / 'gone'}\n"
    )

    pyenv = home / ".pyenv" / "versions" / "3.12.1"
    _python(pyenv)
    _dist(_site(pyenv, "3.12"), "Caffe-1.0.dist-info", "caffe", "1.0")
    return {
        "kwargs": {
            "cwd": str(project),
            "environ": {},
            "home": str(home),
            "system_dirs": [],
            "system_pythons": [],
            "include_current": False,
        },
        "venv": venv,
        "base": base,
        "tf": tf_env,
        "elsewhere": elsewhere,
        "windows": windows,
        "pyenv": pyenv,
        "link": link,
    }


def _by_prefix(envs: list[PythonEnvironment]) -> dict[str, PythonEnvironment]:
    return {os.path.realpath(env.prefix): env for env in envs}


def test_discovers_every_kind_once(machine: dict[str, Any]) -> None:
    envs = discover_environments(**machine["kwargs"])
    found = _by_prefix(envs)
    expected = {
        os.path.realpath(machine[key]): kind
        for key, kind in [
            ("venv", "venv"),
            ("base", "conda"),
            ("tf", "conda"),
            ("elsewhere", "conda"),
            ("windows", "conda"),
            ("pyenv", "pyenv"),
        ]
    }
    assert {prefix: env.kind for prefix, env in found.items()} == expected
    assert len(envs) == len(found)  # the symlink to tf and the repeated base counted once


def test_versions_and_names_come_from_disk(machine: dict[str, Any]) -> None:
    found = _by_prefix(discover_environments(**machine["kwargs"]))
    venv = found[os.path.realpath(machine["venv"])]
    assert (venv.version, venv.name) == ("3.10.4", "project/.venv")
    assert venv.python == str(machine["venv"] / "bin" / "python3")
    base = found[os.path.realpath(machine["base"])]
    assert (base.version, base.name) == ("3.11.5", "base")
    tf_env = found[os.path.realpath(machine["tf"])]
    assert (tf_env.version, tf_env.name) == ("3.9.18", "tf")
    assert found[os.path.realpath(machine["pyenv"])].version == "3.12.1"
    windows = found[os.path.realpath(machine["windows"])]
    assert windows.python.endswith("python.exe")


def test_libraries_come_from_package_metadata(machine: dict[str, Any]) -> None:
    found = _by_prefix(discover_environments(**machine["kwargs"]))
    venv = found[os.path.realpath(machine["venv"])]
    assert set(venv.libraries) == set(catalog.LIBRARY_IDS)
    assert venv.libraries == {
        "sklearn": "1.3.0",
        "theano": "1.0.5",
        "pytensor": None,
        "caffe": None,
        "cv2": "4.9.0.80",
        "torch": "2.1.0",
        "tensorflow": "2.15.0",
        "jax": None,
    }
    assert found[os.path.realpath(machine["base"])].installed == ["pytensor"]
    # conda's pytorch package without pip metadata still counts.
    assert found[os.path.realpath(machine["tf"])].libraries["torch"] == "2.0.1"
    assert found[os.path.realpath(machine["elsewhere"])].libraries["caffe"] == "?"
    assert found[os.path.realpath(machine["windows"])].libraries["torch"] == "2.2.0"
    assert found[os.path.realpath(machine["pyenv"])].libraries["caffe"] == "1.0"


def test_active_venv_and_conda_env_are_marked(machine: dict[str, Any]) -> None:
    kwargs = dict(machine["kwargs"])
    kwargs["environ"] = {
        "VIRTUAL_ENV": str(machine["venv"]),
        "CONDA_PREFIX": str(machine["tf"]),
        "CONDA_DEFAULT_ENV": "tf",
    }
    envs = discover_environments(**kwargs)
    assert [(env.kind, env.name) for env in envs[:2]] == [
        ("active-venv", "project/.venv"),
        ("active-conda", "tf"),
    ]
    assert len(_by_prefix(envs)) == len(envs)


def test_current_interpreter_comes_first(machine: dict[str, Any]) -> None:
    kwargs = dict(machine["kwargs"], include_current=True)
    envs = discover_environments(**kwargs)
    assert envs[0].kind == "current"
    assert envs[0].python == sys.executable
    assert envs[0].libraries.keys() == set(catalog.LIBRARY_IDS)


def test_system_python_uses_its_own_lib_folder(tmp_path: Path) -> None:
    usr = tmp_path / "usr"
    real = _python(usr, "bin/python3.11")
    (usr / "bin" / "python3").symlink_to(real)
    _dist(_site(usr, "3.11"), "torch-2.3.0.dist-info", "torch", "2.3.0")
    _dist(usr / "lib" / "python3.12" / "dist-packages", "x.dist-info", "x", "1")
    (usr / "lib" / "python3.12" / "site-packages").mkdir()
    envs = discover_environments(
        cwd=str(tmp_path),
        environ={},
        home=str(tmp_path / "nohome"),
        system_dirs=[],
        system_pythons=[str(usr / "bin" / "python3")],
        include_current=False,
    )
    assert [(env.kind, env.version, env.libraries["torch"]) for env in envs] == [
        ("system", "3.11", "2.3.0")
    ]


def test_discovery_runs_nothing_and_waits_for_nothing(
    machine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fast by construction (files only: no process per interpreter, no sleep), not by a time
    limit that would depend on this machine's load."""
    forbid_waits_and_processes(monkeypatch)
    kwargs = dict(machine["kwargs"], include_current=True)
    envs = discover_environments(**kwargs)
    assert len(envs) == 7


def test_defaults_find_the_running_interpreter_without_running_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forbid_waits_and_processes(monkeypatch)
    envs = discover_environments()
    assert envs[0].kind == "current"


def test_scan_matches_normalised_names_only(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "torchvision-0.16.0.dist-info", "torchvision", "0.16.0")
    _dist(site, "Scikit_Learn-1.4.0.dist-info", "Scikit_Learn", "1.4.0")
    found = scan_site_packages([str(site), str(tmp_path / "missing")])
    assert found["torch"] is None  # torchvision is not torch
    assert found["sklearn"] == "1.4.0"
    assert normalise_name("Scikit_Learn") == normalise_name("scikit-learn") == "scikit-learn"


def test_python_version_without_any_marker_is_unknown(tmp_path: Path) -> None:
    assert python_version(str(tmp_path)) is None
    (tmp_path / "lib" / "python3.13").mkdir(parents=True)
    assert python_version(str(tmp_path)) == "3.13"


def test_environments_serialise_to_json(machine: dict[str, Any]) -> None:
    envs = discover_environments(**machine["kwargs"])
    data = json.loads(environments_json(envs))
    assert [item["prefix"] for item in data] == [env.prefix for env in envs]
    assert data[0]["libraries"]["torch"] == "2.1.0"
