"""`mltui health --detach` (NHC's -d): the previous result at once, one refresh in the background.

The refresh must be contained: its own session (a kill of the caller's group misses it), no
inherited stdout (slurmd reads the program's stdout to its end), no zombie left by the caller,
and never two at once (an flock). The caller runs here under a small host that is a child
subreaper (as init is for slurmd's programs), so the orphaned refresh is reaped and seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from probes.fleet.model import NodeResult
from probes.health.baseline import baseline_from_nodes
from probes.health.model import HealthReport
from probes.health.state import refresh_lock, save_health
from probes.model import CheckResult, from_dict, to_json
from tests.fleet_engines import wait_until
from tests.fleet_reports import local_check_data

ROOT = Path(__file__).resolve().parent.parent

#: Runs argv as a child subreaper: orphans of its descendants come back to it, and it reaps them
#: all; prints a JSON line of what it reaped and the caller's exit status and output.
HOST = textwrap.dedent(
    """
    import ctypes, json, os, subprocess, sys
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    caller = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    out = caller.stdout.read().decode()
    reaped, rc = [], None
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        reaped.append(pid)
        if pid == caller.pid:
            rc = os.waitstatus_to_exitcode(status)
    print(json.dumps({"caller": caller.pid, "rc": rc, "out": out, "reaped": reaped}))
    """
)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    """A baseline this machine meets, and a cache folder of its own."""
    check = from_dict(CheckResult, local_check_data())
    baseline = tmp_path / "baseline.json"
    baseline.write_text(to_json(baseline_from_nodes([NodeResult("here", "ok", check=check)])))
    return {"baseline": baseline, "cache": tmp_path / "cache"}


def health_argv(setup: dict[str, Any], *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "health", "--baseline", str(setup["baseline"]), *extra]


def env_of(setup: dict[str, Any]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MLTUI_CACHE_DIR": str(setup["cache"])}


def run(setup: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    """`mltui health` under the subreaper host: returns when it and any refresh it started have
    ended (and were reaped: no zombie is left on a machine whose init does not reap)."""
    done = subprocess.run(
        [sys.executable, "-c", HOST, *health_argv(setup, *extra)],
        capture_output=True,
        text=True,
        env=env_of(setup),
        cwd=ROOT,
        timeout=240,
        check=True,
    )
    hosted = json.loads(done.stdout.splitlines()[-1])
    return subprocess.CompletedProcess(done.args, hosted["rc"], hosted["out"], done.stderr)


def result_files(setup: dict[str, Any]) -> list[Path]:
    return sorted(Path(setup["cache"]).glob("health-*.json"))


def refreshers(setup: dict[str, Any]) -> list[psutil.Process]:
    """The live refreshes of this test's cache folder (other tests run at the same time, each
    with a folder of its own, so a refresh of theirs is none of this test's)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        launcher = any(part.endswith("detach.py") for part in cmdline)
        if "--refresh-only" not in cmdline or launcher:
            continue
        with contextlib.suppress(psutil.Error):  # it may end while we look
            ours = proc.environ().get("MLTUI_CACHE_DIR") == str(setup["cache"])
            if ours and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def test_detach_answers_at_once_then_with_the_refreshed_result(setup: dict[str, Any]) -> None:
    first = subprocess.run(
        [sys.executable, "-c", HOST, *health_argv(setup, "--detach")],
        capture_output=True,
        text=True,
        env=env_of(setup),
        cwd=ROOT,
        timeout=180,
        check=True,
    )
    hosted = json.loads(first.stdout.splitlines()[-1])
    assert hosted["rc"] == 2
    assert hosted["out"] == (
        "ERROR: mltui: no verdict: no earlier result yet; a check was started in the background\n"
    )
    # The host saw the refresh come back to it as an orphan and reaped it: nothing is left,
    # not even a zombie, and it had written the result before it ended.
    assert len(hosted["reaped"]) >= 2, hosted  # the caller and the refresh (the launcher is
    assert refreshers(setup) == []  # reaped by the caller itself)
    (result,) = result_files(setup)
    saved = json.loads(result.read_text())["report"]
    assert saved["verdict"] == "healthy"

    second = run(setup, "--detach", "--format", "json")
    assert second.returncode == 0
    assert json.loads(second.stdout)["created_at"] == saved["created_at"]  # the previous result
    assert refreshers(setup) == []  # ended, and reaped by the host


def test_the_refresh_runs_in_its_own_session_without_the_callers_stdout(
    setup: dict[str, Any],
) -> None:
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, *health_argv(setup, "--detach", "--max-age", "0")],
        stdout=subprocess.PIPE,
        env=env_of(setup),
        cwd=ROOT,
    )
    try:
        # One refresh, once its launcher has handed over (a fork shows the launcher's command
        # line until it execs).
        wait_until(lambda: len(refreshers(setup)) == 1, 60, "the refresh to start")
        (refresh,) = refreshers(setup)
        assert os.getsid(refresh.pid) == refresh.pid  # a session of its own
        fds = [os.readlink(f"/proc/{refresh.pid}/fd/{n}") for n in (0, 1, 2)]
        assert fds[:2] == ["/dev/null", "/dev/null"]  # not the caller's stdout (slurmd's pipe)
        assert fds[2].startswith(str(setup["cache"])) and fds[2].endswith(".log")
        out, _ = host.communicate(timeout=180)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    hosted = json.loads(out.decode().splitlines()[-1])
    assert hosted["rc"] == 2 and refresh.pid in hosted["reaped"]
    assert hosted["reaped"].index(hosted["caller"]) < hosted["reaped"].index(refresh.pid)


def test_no_second_refresh_while_one_holds_the_lock(setup: dict[str, Any]) -> None:
    done = run(setup)  # a first result, and the paths it uses
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = result_files(setup)
    lock = result.with_suffix(".lock")
    before = result.read_text()
    with refresh_lock(lock) as got:
        assert got
        detached = run(setup, "--detach")
        assert detached.returncode == 0 and detached.stdout == ""  # the previous verdict
        assert refreshers(setup) == []  # none started: one "is running" (the lock's holder)
        direct = run(setup, "--refresh-only", "--max-age", "0")
        assert direct.returncode == 0 and direct.stdout == ""
    assert result.read_text() == before  # nobody refreshed while the lock was held


def test_a_stale_previous_result_is_no_verdict(setup: dict[str, Any]) -> None:
    assert run(setup).returncode == 0
    (result,) = result_files(setup)
    envelope = json.loads(result.read_text())
    envelope["saved_at"] = time.time() - 3600
    result.write_text(json.dumps(envelope))
    done = run(setup, "--detach", "--stale-after", "600")
    assert done.returncode == 2
    assert re.match(
        r"ERROR: mltui: no verdict: the last result is 36\d\d s old \(more than 600\)", done.stdout
    )
    assert refreshers(setup) == []  # ended, and reaped by the host


@pytest.mark.parametrize("content", [b"", b"{}", b"[1]", b'{"state_format": 1}', b"\xff"])
def test_a_corrupt_previous_result_is_no_result(setup: dict[str, Any], content: bytes) -> None:
    assert run(setup).returncode == 0
    (result,) = result_files(setup)
    with refresh_lock(result.with_suffix(".lock")):  # keep the refresh from replacing it
        result.write_bytes(content)
        done = run(setup, "--detach")
    assert done.returncode == 2 and "no earlier result yet" in done.stdout


def test_saved_report_round_trips(tmp_path: Path) -> None:
    report = HealthReport(
        node="n1", verdict="unhealthy", reason="driver 1 where the baseline has 2"
    )
    save_health(tmp_path / "h.json", report)
    from probes.health.state import load_health

    loaded = load_health(tmp_path / "h.json")
    assert loaded is not None and loaded.report == report and loaded.age_s < 60


def test_detached_with_a_missing_baseline_says_so_after_the_refresh(
    setup: dict[str, Any],
) -> None:
    setup = {**setup, "baseline": Path(setup["baseline"]).with_name("gone.json")}
    first = run(setup, "--detach")
    assert first.returncode == 2 and "no earlier result yet" in first.stdout
    assert result_files(setup), "the refresh kept no result"
    again = run(setup, "--detach")
    assert again.returncode == 2
    assert again.stdout.startswith("ERROR: mltui: no verdict: baseline ")
    assert "gone.json" in again.stdout
    assert refreshers(setup) == []  # ended, and reaped by the host


@pytest.mark.parametrize("suffix", [".lock", ".log"])
def test_a_symlink_planted_in_the_cache_is_never_written_through(
    setup: dict[str, Any], tmp_path: Path, suffix: str
) -> None:
    """The lock and the refresh log are opened without following a symlink: one pointing at
    /etc/shadow (here a stand-in) had its target truncated to the refresh's PID."""
    assert run(setup).returncode == 0
    (result,) = result_files(setup)
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    planted = result.with_suffix(suffix)
    with contextlib.suppress(FileNotFoundError):
        planted.unlink()
    planted.symlink_to(victim)
    # The refresh has something to say on stderr (its log): a textfile it cannot write.
    done = run(setup, "--detach", "--max-age", "0", "--prometheus", f"{victim}/x.prom")
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert victim.read_text() == "root:secret\n"
    assert planted.is_symlink()
    if suffix == ".lock":
        assert "lock file cannot be used" in done.stderr
        assert refreshers(setup) == []


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_lock_that_is_not_a_file_is_one_line_not_a_traceback(
    setup: dict[str, Any], kind: str
) -> None:
    assert run(setup).returncode == 0
    (result,) = result_files(setup)
    lock = result.with_suffix(".lock")
    lock.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    done = run(setup, "--detach")
    assert done.returncode == 0 and done.stdout == ""  # the previous (fresh) verdict
    assert done.stderr.startswith("mltui: --detach: no background check: its lock file")
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
