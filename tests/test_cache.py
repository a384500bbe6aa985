"""The per-interpreter check cache: where it lives, round trips, and every way a file can be bad."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from probes import cache
from probes.cache import cache_dir, check_path, load_check, save_check
from probes.model import (
    CheckResult,
    DeviceResult,
    Finding,
    LibraryReport,
    TargetPython,
    to_dict,
)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(folder))
    return folder


def _target(tmp_path: Path, name: str = "env") -> TargetPython:
    prefix = tmp_path / name
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    exe = prefix / "bin" / "python"
    exe.touch()
    return TargetPython(executable=str(exe), version="3.11.7", prefix=str(prefix), is_current=False)


def _result(target: TargetPython) -> CheckResult:
    return CheckResult(
        mltui_version="0.1.0",
        created_at="2025-01-01T00:00:00Z",
        target=target,
        libraries=[
            LibraryReport(
                name="torch",
                display_name="PyTorch",
                status="ok",
                version="2.13.0+cpu",
                build={"is_cuda_build": False, "arch_list": []},
                devices=[DeviceResult(kind="cpu", computation_ok=True)],
            )
        ],
        findings=[Finding("x", "warning", "t", "e", "f", library="torch")],
        elapsed_s=4.2,
    )


def test_cache_dir_precedence(tmp_path: Path) -> None:
    assert cache_dir({"MLTUI_CACHE_DIR": "/a", "XDG_CACHE_HOME": "/b"}) == Path("/a")
    assert cache_dir({"XDG_CACHE_HOME": "/b"}) == Path("/b/mltui")
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "mltui"
    assert cache_dir({}) == Path.home() / ".cache" / "mltui"


def test_round_trip(cache_home: Path, tmp_path: Path) -> None:
    target = _target(tmp_path)
    result = _result(target)
    path = save_check(result)
    assert path is not None and path.parent == cache_home and path.is_file()
    loaded = load_check(target)
    assert loaded is not None
    assert to_dict(loaded.result) == to_dict(result)
    assert 0 <= loaded.age_s < 60
    left = [p.name for p in cache_home.iterdir() if not p.name.endswith(".lock")]
    assert left == [path.name]  # no temporary left (the writers' lock file stays)


def test_each_environment_has_its_own_entry(cache_home: Path, tmp_path: Path) -> None:
    one, two = _target(tmp_path, "one"), _target(tmp_path, "two")
    # Two venvs whose python links to the same base interpreter are still two environments.
    base = tmp_path / "base-python"
    base.touch()
    for target in (one, two):
        os.unlink(target.executable)
        os.symlink(base, target.executable)
    assert check_path(one) != check_path(two)
    save_check(_result(one))
    assert load_check(two) is None
    assert load_check(one) is not None


def test_nothing_cached_is_none(cache_home: Path, tmp_path: Path) -> None:
    assert load_check(_target(tmp_path)) is None


@pytest.mark.parametrize(
    "content",
    [
        "{ not json",
        "[]",
        json.dumps({"cache_format": 999}),
        "\udcff",
    ],
)
def test_corrupt_file_is_none_and_replaced_on_next_save(
    cache_home: Path, tmp_path: Path, content: str
) -> None:
    target = _target(tmp_path)
    path = check_path(target)
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert load_check(target) is None
    assert save_check(_result(target)) == path
    assert load_check(target) is not None


def test_foreign_schema_is_none(cache_home: Path, tmp_path: Path) -> None:
    target = _target(tmp_path)
    path = save_check(_result(target))
    assert path is not None
    envelope = json.loads(path.read_text())
    envelope["result"]["schema_version"] = 999
    path.write_text(json.dumps(envelope))
    assert load_check(target) is None


def test_result_not_fitting_the_model_is_none(cache_home: Path, tmp_path: Path) -> None:
    target = _target(tmp_path)
    path = save_check(_result(target))
    assert path is not None
    envelope = json.loads(path.read_text())
    envelope["result"]["libraries"][0]["status"] = "exploded"
    path.write_text(json.dumps(envelope))
    assert load_check(target) is None


def test_file_of_another_interpreter_is_none(cache_home: Path, tmp_path: Path) -> None:
    one, two = _target(tmp_path, "one"), _target(tmp_path, "two")
    path = save_check(_result(one))
    assert path is not None
    check_path(two).write_bytes(path.read_bytes())
    assert load_check(two) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_unwritable_dir_is_a_state(cache_home: Path, tmp_path: Path) -> None:
    cache_home.mkdir()
    cache_home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert save_check(_result(_target(tmp_path))) is None
    finally:
        cache_home.chmod(stat.S_IRWXU)


def test_cache_dir_that_is_a_file_is_a_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(blocker / "mltui"))
    assert save_check(_result(_target(tmp_path))) is None
    assert load_check(_target(tmp_path)) is None


def test_failed_write_leaves_no_temporary(
    cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", refuse)
    assert save_check(_result(_target(tmp_path))) is None
    assert [p for p in cache_home.iterdir() if not p.name.endswith(".lock")] == []


# ------------------------------------------------------- concurrent writers (issue 17, class 7)

WRITER_LIBRARIES = ["torch", "tensorflow", "jax", "sklearn"]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_result_holding_a_non_finite_number_never_replaces_a_readable_file(
    cache_home: Path, tmp_path: Path, value: float
) -> None:
    """The JSON writer would put NaN/Infinity in the file, which the one reader refuses: the
    saved check would be lost to the next load and to a `check --only` merge. Such a save is a
    state (None) and the file in place stays readable."""
    target = _target(tmp_path)
    assert save_check(_result(target)) is not None
    assert save_check(replace(_result(target), elapsed_s=value)) is None
    cached = load_check(target)
    assert cached is not None and cached.result.elapsed_s == 4.2
    assert [p.name for p in cache_home.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize("folder", [b"caf\xe9", b"\xff\xfe", b"ok-\xed\xa0\x80"])
def test_an_interpreter_under_a_non_utf8_path_finds_its_cache_again(
    cache_home: Path, tmp_path: Path, folder: bytes
) -> None:
    """A venv under a Latin-1 folder name: its identity (kept in the file) held surrogates, the
    one JSON reader read them back as U+FFFD, and the file never matched again: the cache never
    loaded and every `check --only` merge started from nothing."""
    prefix = os.fsdecode(os.fsencode(tmp_path) + b"/" + folder)
    (Path(prefix) / "bin").mkdir(parents=True)
    (Path(prefix) / "bin" / "python").touch()
    target = TargetPython(
        executable=prefix + "/bin/python", version="3.11.7", prefix=prefix, is_current=False
    )
    assert save_check(_result(target)) is not None
    cached = load_check(target)
    assert cached is not None and cached.result.libraries[0].name == "torch"
    assert load_check(_target(tmp_path, "other")) is None


def _write_one_library(target: TargetPython, library: str, start: Any) -> None:
    """A `check --only <library>` saving its partial result, once every writer is ready."""
    from probes.check import save_result

    partial = _result(target)
    partial.libraries = [replace(partial.libraries[0], name=library, display_name=library)]
    partial.findings = []
    start.wait()
    os._exit(0 if save_result(partial, partial=True) is not None else 3)


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_partial_checks_lose_no_update(
    writers: int, cache_home: Path, tmp_path: Path
) -> None:
    """Real processes, released at one moment, each folding its library into the same file."""
    target = _target(tmp_path)
    context = multiprocessing.get_context("fork")
    libraries = WRITER_LIBRARIES[:writers]
    for round_number in range(25):
        with contextlib.suppress(FileNotFoundError):
            check_path(target).unlink()
        start = context.Barrier(writers)
        procs = [
            context.Process(target=_write_one_library, args=(target, library, start))
            for library in libraries
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * writers
        cached = load_check(target)
        assert cached is not None
        saved = sorted(report.name for report in cached.result.libraries)
        assert saved == sorted(libraries), f"round {round_number}: {saved}"


def test_a_stopped_writer_makes_the_save_a_state_not_a_hang(
    cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    assert save_check(_result(target)) is not None
    monkeypatch.setattr(cache, "CACHE_LOCK_TIMEOUT_S", 0.2)
    lock = check_path(target).with_name(f".{check_path(target).stem}.lock")
    holder = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert save_check(_result(target)) is None
    finally:
        os.close(holder)
    assert save_check(_result(target)) is not None


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink to /dev/zero"])
def test_a_lock_file_that_is_not_a_file_makes_the_save_a_state(
    kind: str, cache_home: Path, tmp_path: Path
) -> None:
    target = _target(tmp_path)
    path = check_path(target)
    path.parent.mkdir(parents=True)
    lock = path.with_name(f".{path.stem}.lock")
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "folder":
        lock.mkdir()
    else:
        lock.symlink_to("/dev/zero")
    assert save_check(_result(target)) is None
