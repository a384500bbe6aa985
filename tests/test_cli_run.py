"""`mltui run` and `mltui envs` from the command line, as a user calls them."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from probes.process import LineBatch
from probes.runner import list_samples, resolve_sample
from tui.cli import main
from tui.cli.run import TerminalEcho

ROOT = Path(__file__).resolve().parent.parent


def _mltui(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_unknown_sample_lists_the_known_ones() -> None:
    done = _mltui("run", "nosuch")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for ref in list_samples():
        assert ref.name in lines[0]
    assert "Traceback" not in done.stderr


def test_missing_python_is_one_line(tmp_path: Path) -> None:
    done = _mltui("run", "--python", str(tmp_path / "nonexistent"), "torch")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "nonexistent" in done.stderr


def test_no_names_lists_samples_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    out, err = capsys.readouterr()
    assert "usage" in err
    for ref in list_samples():
        assert ref.name in out


def test_script_path_streams_and_ends_with_a_summary(tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text(
        textwrap.dedent(
            """
            import sys
            print("hello from the script")
            print("a warning", file=sys.stderr)
            sys.stdout.write("progress 1\\rprogress 2\\n")
            """
        )
    )
    done = _mltui("run", str(ok))
    assert done.returncode == 0, done.stderr
    assert "hello from the script" in done.stdout
    assert "a warning" in done.stderr  # the child's stderr goes to stderr
    assert "progress 2" in done.stdout
    summary = done.stdout[done.stdout.index("hello from the script") :]
    assert "ok.py" in summary and "pass" in summary


def test_failing_script_makes_the_exit_status_non_zero(tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text("print('fine')\n")
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(5)\n")
    done = _mltui("run", str(ok), str(bad))
    assert done.returncode == 1
    assert "fail" in done.stdout


def test_ctrl_c_kills_the_tree_and_exits_130(tmp_path: Path) -> None:
    token = f"mltui-test-{uuid.uuid4().hex}"
    script = tmp_path / "tree.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import signal, subprocess, sys, time
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{token}"])
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("ready", flush=True)
            time.sleep(120)
            """
        )
    )
    later = tmp_path / "later.py"
    later.write_text("print('never')\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "run", str(script), str(later)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "ready" in line or not line:
                break
        assert "ready" in line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled" in out and "interrupted" in out
    assert "never" not in out
    left = [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if p.info["status"] != psutil.STATUS_ZOMBIE
        and any(token in part for part in p.info["cmdline"] or ())
    ]
    assert left == []


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_echo_rewrites_progress_lines_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # TERM=dumb would rightly get no escapes
    out, err = _FakeTerminal(), _FakeTerminal()
    echo = TerminalEcho(out, err)
    echo(LineBatch("stdout", ["start", "10%"]))
    echo(LineBatch("stdout", ["50%", "done"], frozenset({0})))
    echo(LineBatch("stderr", ["careful"]))
    echo.end()
    assert out.getvalue() == "start\n10%\r\x1b[2K50%\ndone\n"
    assert err.getvalue() == "\x1b[2mcareful\x1b[0m\n"


def test_terminal_echo_off_a_terminal_prints_every_update() -> None:
    out, err = io.StringIO(), io.StringIO()
    echo = TerminalEcho(out, err)
    echo(LineBatch("stdout", ["10%"]))
    echo(LineBatch("stdout", ["50%"], frozenset({0})))
    echo.end()
    assert out.getvalue() == "10%\n50%\n"


def test_envs_json_lists_the_current_interpreter_first() -> None:
    started = time.monotonic()
    done = _mltui("envs", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data[0]["kind"] == "current"
    assert os.path.realpath(data[0]["python"]) == os.path.realpath(sys.executable)
    assert time.monotonic() - started < 30


def test_envs_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "Python environments" in out and "current" in out


@pytest.mark.frameworks
def test_run_sklearn_passes() -> None:
    if not resolve_sample("sklearn").exists:
        pytest.skip("the sklearn sample is not written yet")
    done = _mltui("run", "sklearn", "--device", "cpu", timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "pass" in done.stdout
