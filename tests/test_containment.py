"""Containment that cannot be escaped by hopping (issue 17, class 6), staged for real.

`tests/hopper.py` tries each way out (the issue's daemon that forks, calls setsid and exits every
2 ms; a double fork; a new process group; a cleared environment; a renamed command line; one
deaf to every polite signal) and beats on a file while any part of it lives. Each way goes
through every path that starts processes: a run (`probes.process.stream_process`), `mltui run`,
`mltui check` (as a library probe), SIGTERM to `mltui run`, and SIGKILL to `mltui run` (the
supervisor's parent-death path). Both mechanisms are tried where the machine allows: a cgroup v2
per run (root here), and the sweep (forced by MLTUI_CONTAINMENT=sweep). The sweep cannot find a
process that cleared its environment: that vector runs only with the cgroup (RELIABILITY.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from probes import containment
from probes.process import stream_process
from tests.test_fault_matrix import MLTUI, fake_python, write

HOPPER = Path(__file__).resolve().parent / "hopper.py"
WAYS = ["hop", "double-fork", "new-pgid", "clear-env", "rename", "deaf"]
#: Ways the sweep cannot catch, by design (it follows the run's token).
SWEEP_BLIND = {"clear-env"}
MARK_VARIABLE = "MLTUI_TEST_HOPPER"


def _cgroups_usable() -> bool:
    return containment._probe_base() is not None


def _modes() -> list[object]:
    cgroup = pytest.param(
        "cgroup",
        marks=pytest.mark.skipif(not _cgroups_usable(), reason="no usable cgroup v2 here"),
    )
    return [cgroup, "sweep"]


def _cases() -> list[object]:
    return [
        pytest.param(mode, way, id=f"{mode}-{way}")
        for mode in ("cgroup", "sweep")
        for way in WAYS
        if not (mode == "sweep" and way in SWEEP_BLIND)
    ]


def _skip_without_cgroups(mode: str) -> None:
    if mode == "cgroup" and not _cgroups_usable():
        pytest.skip("no usable cgroup v2 here (not root, no delegated subtree)")


@pytest.fixture
def beat(tmp_path: Path) -> Iterator[Path]:
    """The hopper's heartbeat file; anything carrying this test's mark is killed afterwards."""
    path = tmp_path / "beat"
    yield path
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK_VARIABLE) == str(path):
                proc.kill()
        except (psutil.Error, OSError):
            continue


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _started(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _size(path) == 0:
        assert time.monotonic() < deadline, "the hopper never beat"
        time.sleep(0.01)


def assert_silent(path: Path, within_s: float = 0.0) -> None:
    """No part of the hopper is alive: its heartbeat stays still for 0.3 s (within `within_s`)."""
    deadline = time.monotonic() + within_s
    while True:
        before = _size(path)
        time.sleep(0.3)  # waits-for: a live hopper beats every 2 ms; 0.3 s of silence: none left
        if _size(path) == before:
            return
        assert time.monotonic() < deadline, "a part of the hopper outlived the run"


def _environ(mode: str, beat: Path, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, MARK_VARIABLE: str(beat), "MLTUI_CACHE_DIR": str(tmp_path / "cache")}
    env[containment.MODE_VARIABLE] = mode
    return env


@pytest.fixture
def in_mode(monkeypatch: pytest.MonkeyPatch) -> object:
    """Put this process's containment in a mode (decided again, as at a start)."""

    def set_mode(mode: str) -> None:
        monkeypatch.setenv(containment.MODE_VARIABLE, mode)
        monkeypatch.setattr(containment, "_MODE", None)
        monkeypatch.setattr(containment, "_BASE", None)
        assert containment.mode() == mode

    return set_mode


@pytest.mark.parametrize(("mode", "way"), _cases())
async def test_a_run_ends_every_way_out(
    mode: str, way: str, beat: Path, in_mode: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """probes.process.stream_process: the run's first process leaves at once; nothing stays."""
    _skip_without_cgroups(mode)
    in_mode(mode)  # type: ignore[operator]
    monkeypatch.setenv(MARK_VARIABLE, str(beat))
    lines: list[str] = []
    outcome = await stream_process(
        [sys.executable, str(HOPPER), str(beat), way],
        lambda line: lines.append(line.text),
        timeout=60,
    )
    assert "hopping" in lines, lines
    assert outcome.returncode == 0
    _started(beat)
    assert_silent(beat)


@pytest.mark.parametrize(("mode", "way"), _cases())
def test_mltui_run_ends_every_way_out(mode: str, way: str, beat: Path, tmp_path: Path) -> None:
    _skip_without_cgroups(mode)
    sample = write(
        tmp_path / "hop_sample.py",
        f"""
        import sys
        sys.path.insert(0, {str(HOPPER.parent)!r})
        import hopper
        hopper.main({str(beat)!r}, {way!r})
        """,
    )
    done = subprocess.run(
        [str(MLTUI), "run", str(sample)],
        env=_environ(mode, beat, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "hopping" in done.stdout, done.stdout + done.stderr
    _started(beat)
    assert_silent(beat)


@pytest.mark.parametrize("mode", _modes())
@pytest.mark.parametrize("way", ["hop", "rename", "deaf"])
def test_mltui_check_ends_a_probe_that_hops(
    mode: str, way: str, beat: Path, tmp_path: Path
) -> None:
    """A library probe (a fake interpreter's) that turns into the hopper."""
    body = f"""
        import sys
        sys.path.insert(0, {str(HOPPER.parent)!r})
        import hopper
        hopper.main({str(beat)!r}, {way!r})
        """
    python = fake_python(tmp_path, "hopprobe", body)
    done = subprocess.run(
        [str(MLTUI), "check", "--python", str(python), "--only", "sklearn", "--timeout", "20"],
        env=_environ(mode, beat, tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode in (0, 1), done.stderr
    _started(beat)
    assert_silent(beat)


def _hosting_sample(tmp_path: Path, beat: Path, way: str) -> Path:
    """A sample that starts the hopper beside itself, says so, and waits to be killed."""
    return write(
        tmp_path / "host_sample.py",
        f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, {str(HOPPER)!r}, {str(beat)!r}, {way!r}])
        print("started", flush=True)
        time.sleep(600)
        """,
    )


@pytest.mark.parametrize("mode", _modes())
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("way", ["hop", "double-fork", "deaf"])
def test_a_signal_to_mltui_run_ends_the_hopper(
    mode: str, signum: int, way: str, beat: Path, tmp_path: Path
) -> None:
    """SIGTERM: mltui's own handler (kill_all_running); SIGKILL: the supervisor's take-down."""
    sample = _hosting_sample(tmp_path, beat, way)
    proc = subprocess.Popen(
        [str(MLTUI), "run", str(sample)],
        env=_environ(mode, beat, tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _started(beat)
        proc.send_signal(signum)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert_silent(beat, within_s=10)


@pytest.mark.parametrize("mode", _modes())
def test_the_mode_is_what_the_machine_allows(mode: str, in_mode: object) -> None:
    """cgroup only where a run cgroup can be made and killed; its words name the mechanism."""
    in_mode(mode)  # type: ignore[operator]
    assert containment.mode() == mode
    assert ("cgroup.kill" in containment.describe()) == (mode == "cgroup")


def test_a_run_leaves_no_cgroup_behind(in_mode: object, tmp_path: Path) -> None:
    if not _cgroups_usable():
        pytest.skip("no usable cgroup v2 here")
    in_mode("cgroup")  # type: ignore[operator]
    token = "t" + os.urandom(8).hex()
    group = containment.RunCgroup.create(token)
    assert group is not None and os.path.isdir(group.path)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=group.join_preexec()
    )
    assert group.holds(child.pid) and group.populated()
    assert group.remove()
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert not os.path.exists(group.path)


def test_the_sweep_stops_only_after_quiet_scans(tmp_path: Path, beat: Path) -> None:
    """sweep_token on a live hopper: it kills it, and returns only once the table is quiet."""
    token = "sweep" + os.urandom(8).hex()
    env = {**os.environ, containment.TOKEN_VARIABLE: token, MARK_VARIABLE: str(beat)}
    first = subprocess.Popen([sys.executable, str(HOPPER), str(beat), "hop"], env=env)
    first.wait(timeout=30)
    _started(beat)
    assert containment.sweep_token(token) >= 1
    assert containment.token_carriers(token) == []
    assert_silent(beat)


def test_stale_empty_run_cgroups_are_removed(tmp_path: Path) -> None:
    base = containment._probe_base()
    if base is None:
        pytest.skip("no usable cgroup v2 here")
    stale = os.path.join(base, containment.CGROUP_PREFIX + "stale" + os.urandom(4).hex())
    os.mkdir(stale)
    try:
        containment.remove_stale(base, older_than_s=-1.0)
        assert not os.path.exists(stale)
    finally:
        if os.path.exists(stale):
            os.rmdir(stale)
