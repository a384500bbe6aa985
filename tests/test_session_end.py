"""Nothing outlives mltui: each session-ending signal × each entry point, staged for real.

SIGHUP (terminal or SSH connection closed, `tmux kill-session`), SIGTERM (`kill PID`, `timeout`)
and SIGINT reach `mltui check`, `mltui run` and the dashboard while probes or samples (with
grandchildren, one of them in a session of its own and deaf to SIGTERM) run. mltui must kill
every tree it started, exit with 128 + the signal's number and say so on stderr. SIGKILL cannot
be caught: then the parent-death signal of mltui's direct child (the supervisor) takes its group
and the run's token carriers down. Leftovers are looked for as the fault matrix does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.test_fault_matrix import (
    GRANDCHILD_IGNORING_SIGTERM,
    MARKER_VARIABLE,
    MLTUI,
    REAL_PYTHON,
    _live_with,
    fake_python,
    marker,
    tmux_terminal,
    write,
)
from tests.tmux import TmuxSession

__all__ = ["marker"]  # the fixture, imported for this module's tests

SIGNALS = [signal.SIGHUP, signal.SIGTERM, signal.SIGINT]
SIGNAL_IDS = [s.name for s in SIGNALS]

#: A probe (or sample) that starts a grandchild in its group, one in a session of its own that
#: ignores SIGTERM, ignores SIGTERM itself, says it is ready, and hangs.
TREE = (
    GRANDCHILD_IGNORING_SIGTERM
    + 'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", sys.argv[0]])\n'
    + "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    + "print('tree ready', flush=True)\n"
    + "time.sleep(600)\n"
)


def assert_nothing_left(marker: str, within_s: float = 0.0) -> None:
    """No live process carries the marker (every process a test starts does, and its
    descendants inherit it). Children of the test process are not counted: a session-scoped
    fixture of another module (an sshd) may be one."""
    deadline = time.monotonic() + within_s
    while _live_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_with(marker) == []


def _environ(tmp_path: Path, marker: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLTUI_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "160",
        MARKER_VARIABLE: marker,
    }


def _wait_for_tree(word: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(_live_with(word)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_live_with(word)) >= count, _live_with(word)


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    try:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out, err


def _expected_line(signum: int) -> str:
    if signum == signal.SIGINT:
        return "mltui: interrupted"
    return f"mltui: stopped by {signal.Signals(signum).name}"


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_signal_during_mltui_check(signum: int, tmp_path: Path, marker: str) -> None:
    python = fake_python(tmp_path, marker, TREE)
    proc = _start(
        [str(MLTUI), "check", "--python", str(python), "--only", "sklearn,torch"],
        _environ(tmp_path, marker),
    )
    probe = f"{marker}-probe.py"
    _wait_for_tree(probe, 6)  # two probes, each with its two grandchildren
    out, err = _finish(proc, signum)
    assert proc.returncode == 128 + signum, err
    assert _expected_line(signum) in err and "Traceback" not in err
    assert out == ""
    assert_nothing_left(marker, within_s=2.0)
    assert not list((tmp_path / "cache").glob("*.json"))  # no half-done check saved


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_signal_during_mltui_run(signum: int, tmp_path: Path, marker: str) -> None:
    sample = write(tmp_path / f"{marker}-tree.py", TREE)
    proc = _start([str(MLTUI), "run", str(sample)], _environ(tmp_path, marker))
    _wait_for_tree(sample.name, 3)
    out, err = _finish(proc, signum)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    if signum == signal.SIGINT:  # Ctrl-C: the run is cancelled and summed up
        assert "interrupted: the running sample was killed" in out
    else:
        assert _expected_line(signum) in err
    assert_nothing_left(marker, within_s=2.0)


@pytest.mark.parametrize("command", ["check", "run"])
def test_sigkill_of_mltui_takes_every_tree_down(command: str, tmp_path: Path, marker: str) -> None:
    """SIGKILL cannot be handled: the supervisor's parent-death signal does the work."""
    if command == "check":
        python = fake_python(tmp_path, marker, TREE)
        argv = [str(MLTUI), "check", "--python", str(python), "--only", "sklearn"]
        word, count = f"{marker}-probe.py", 3
    else:
        sample = write(tmp_path / f"{marker}-tree.py", TREE)
        argv, word, count = [str(MLTUI), "run", str(sample)], sample.name, 3
    proc = _start(argv, _environ(tmp_path, marker))
    _wait_for_tree(word, count)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # Orphans are reparented (to PID 1 or a subreaper), so they are not the test's children:
    # they carry the marker in their environment.
    deadline = time.monotonic() + 10
    while _live_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_with(marker) == []


def test_sigkill_of_a_program_using_stream_process(tmp_path: Path, marker: str) -> None:
    """The same at the library level: any program spawning through probes.process."""
    tree = write(tmp_path / f"{marker}-tree.py", TREE)
    host = write(
        tmp_path / f"{marker}-host.py",
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from probes.process import stream_process

        async def main():
            await stream_process(
                [sys.executable, {str(tree)!r}], lambda line: print(line.text, flush=True)
            )

        asyncio.run(main())
        """,
    )
    proc = _start([REAL_PYTHON, str(host)], _environ(tmp_path, marker))
    assert proc.stdout is not None
    assert "tree ready" in proc.stdout.readline() + proc.stdout.readline()
    _wait_for_tree(tree.name, 3)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _live_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_with(marker) == []


# ------------------------------------------------------------------------------- dashboard


def _mltui_pid(marker: str) -> int:
    """The pid of the dashboard process carrying the marker (not one of its children)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in _live_with(marker):
            try:
                cmdline = proc.cmdline()
            except psutil.Error:
                continue
            if any(part.endswith("/mltui") for part in cmdline[:2]) and "--python" in cmdline:
                return proc.pid
        time.sleep(0.1)
    raise AssertionError(f"no mltui process found: {_live_with(marker)}")


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("how", ["SIGHUP", "SIGTERM", "SIGINT", "SIGKILL", "kill-session"])
def test_dashboard_ends_with_its_session(how: str, tmp_path: Path, marker: str) -> None:
    """The dashboard checks at start; its hanging probes and their trees die with it."""
    python = fake_python(tmp_path, marker, TREE)
    with tmux_terminal(
        f"env MLTUI_CACHE_DIR={tmp_path / 'cache'} {MARKER_VARIABLE}={marker} "
        f"TERM=xterm-256color {MLTUI} --python {python}"
    ) as terminal:
        terminal.wait_for("CPU & memory")
        _wait_for_tree(f"{marker}-probe.py", 6)  # at least two probes with their trees
        if how == "kill-session":
            from tests.tmux import tmux

            tmux(terminal.name, "kill-session", "-t", terminal.name)
        else:
            signum = getattr(signal, how)
            os.kill(_mltui_pid(marker), signum)
            if signum != signal.SIGKILL:
                screen = terminal.wait_for("mltui-exited-", timeout=20)
                assert f"mltui-exited-{128 + signum}" in screen, screen
                assert _expected_line(signum) in screen and "Traceback" not in screen
        deadline = time.monotonic() + 10
        while _live_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _live_with(marker) == []


def test_the_supervisor_mirrors_how_the_command_ended(tmp_path: Path) -> None:
    """Exit status and death by signal come back to mltui as the command's own."""
    import asyncio

    from probes.process import stream_process

    async def outcome(code: str) -> tuple[int | None, str | None]:
        result = await stream_process([sys.executable, "-c", code], None, timeout=30)
        return result.returncode, result.signal_name

    assert asyncio.run(outcome("raise SystemExit(7)")) == (7, None)
    assert asyncio.run(outcome("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")) == (
        -signal.SIGSEGV,
        "SIGSEGV",
    )
    missing = asyncio.run(stream_process([str(tmp_path / "nope")], None, timeout=5))
    assert missing.start_error == "No such file or directory"


# ------------------------------------------------------------------------------- stop and go


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize(
    "how", ["ctrl+z", "SIGTSTP", "SIGSTOP", "ctrl+z twice", "help open", "run pane open"]
)
def test_the_dashboard_is_drawn_whole_after_fg(how: str, tmp_path: Path, marker: str) -> None:
    """Issue 17, class 9: stopped (ctrl+z, or SIGTSTP or SIGSTOP from `kill`) and brought back with
    `fg` in a real shell with job control, the dashboard draws its whole screen at once, without
    a key (it stayed blank until one was pressed: only what changed was drawn)."""
    with TmuxSession(
        "exec bash --norc --noprofile -i", width=100, height=30, prefix="mltui-cont", wait_s=60
    ) as terminal:
        terminal.wait_for("bash")
        terminal.keys(
            f"env MLTUI_CACHE_DIR={tmp_path / 'cache'} {MARKER_VARIABLE}={marker} "
            f"TERM=xterm-256color {MLTUI} --python {REAL_PYTHON}",
            "Enter",
        )
        terminal.wait_for("CPU & memory")
        still = "1 Hardware"  # the tab bar: drawn once at start, never changes by itself
        if how == "help open":
            terminal.keys("?")
            terminal.wait_for("mltui help")
            still = "mltui help"
        if how == "run pane open":
            terminal.keys("2")
            still = "samples"
        terminal.wait_for(still)
        for _ in range(2 if how == "ctrl+z twice" else 1):
            if how in ("SIGTSTP", "SIGSTOP"):
                os.kill(_mltui_pid(marker), getattr(signal, how))
            else:
                terminal.keys("C-z")
            terminal.wait_gone(still, timeout=20)
            screen = terminal.wait_for("Stopped", timeout=20)
            assert "Traceback" not in screen
            terminal.keys("fg", "Enter")  # Enter goes to the shell: no key reaches mltui
            terminal.wait_for(still, timeout=20)
        if how == "help open":
            terminal.keys("q")  # closes the help
            terminal.wait_gone("mltui help", timeout=20)
            still = "1 Hardware"
        terminal.keys("3")  # keys reach mltui again: the Knowledge pane opens
        terminal.wait_for("pages", timeout=20)
        terminal.keys("q")
        terminal.wait_gone("pages", timeout=20)
        assert_nothing_left(marker, within_s=20)  # reaped by the shell, which still runs
