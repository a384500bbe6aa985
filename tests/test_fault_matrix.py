"""The fault matrix (RELIABILITY.md): each fault, staged for real, through what the user runs.

Every test checks the three columns of the matrix: what the user sees (the message or state),
the processes left behind (none: no live child of the test process and no live process carrying
the test's marker on its command line or in its environment) and the data lost (none: the report,
the cache or the previous state is still there). The CLI runs as `.venv/bin/mltui` in a
subprocess and must never print a traceback; the dashboard runs under Textual's pilot, or in
tmux where a real terminal matters (TERM, NO_COLOR, quitting the real process).
Probe faults are staged with a fake `python` that answers mltui's identity question with the real
interpreter and runs a misbehaving script in place of the probe; NVML is the only fake (no GPU).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.widgets import Input

from content.knowledge import CONTENT_ROOT
from probes.cache import check_path, load_check
from probes.catalog import get_library
from probes.check import run_check
from probes.model import CheckResult, TargetPython
from probes.nvml import NvmlSession
from probes.process import KILL_GRACE_S
from probes.runner import SampleRef
from probes.target import current_target
from tests.fake_nvml import FakeNvml
from tests.support import fixed_target, make_services, screen_text, wait_for
from tests.tmux import TmuxSession
from tui.app import MltuiApp
from tui.cli.check import render_gpus, render_report
from tui.presentation import terminal_theme
from tui.screens.interpreter import InterpreterScreen
from tui.screens.too_small import TooSmallScreen
from tui.services import NvmlReader
from tui.widgets.gpu_card import GpuCard
from tui.widgets.hardware_pane import HardwarePane
from tui.widgets.knowledge_pane import KnowledgePane
from tui.widgets.output_log import OutputLog
from tui.widgets.run_pane import RunPane

ROOT = Path(__file__).resolve().parent.parent
MLTUI = ROOT / ".venv" / "bin" / "mltui"
if not MLTUI.exists():  # an environment other than the repo's .venv
    MLTUI = Path(sys.executable).parent / "mltui"
REAL_PYTHON = sys.executable
#: An SGR sequence that sets a colour (foreground, background, 256 or true colour).
#: Set to the test's marker in the environment of every mltui started (its children inherit it).
MARKER_VARIABLE = "MLTUI_FAULT_MARKER"
COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


# ------------------------------------------------------------------------------- helpers


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique word put on the command line of every process a test starts.

    After the test, a live process carrying it is killed (so one failure does not leak into the
    next test) and fails the test.
    """
    word = f"mltui-fault-{uuid.uuid4().hex}"
    yield word
    left = _live_with(word)
    for proc in left:
        proc.kill()
    assert left == [], "processes left behind"


def _live_with(word: str) -> list[psutil.Process]:
    """Live processes with `word` on their command line or in their environment."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "environ"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            environ = proc.info["environ"] or {}
            if environ.get(MARKER_VARIABLE) == word or any(
                word in part for part in proc.info["cmdline"] or ()
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _live_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


def assert_nothing_left(word: str, within_s: float = 0.0) -> None:
    """No live child of the test process, and no live process carrying `word`.

    `within_s` allows for a process that is being killed at this moment (its parent has
    already been told); 0 means it must all be gone now.
    """
    deadline = time.monotonic() + within_s
    while True:
        children, marked = _live_children(), _live_with(word)
        if (not children and not marked) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert children == [], f"children left behind: {children}"
    assert marked == [], f"processes carrying the marker left behind: {marked}"


async def settle(word: str, within_s: float) -> None:
    """Let the event loop run until nothing carrying `word` is left, or `within_s` passed."""
    deadline = time.monotonic() + within_s
    while (_live_children() or _live_with(word)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def mltui(
    *args: str,
    cache: Path,
    marker: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    stdin: Any = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `mltui` as a user would, with its own cache folder and the marker."""
    environ = dict(os.environ)
    environ.pop("NO_COLOR", None)
    environ.update({"MLTUI_CACHE_DIR": str(cache), "COLUMNS": "160", MARKER_VARIABLE: marker})
    environ.update(env or {})
    done = subprocess.run(
        [str(MLTUI), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        stdin=stdin,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def write(path: Path, body: str, *, executable: bool = False) -> Path:
    """Write a file (dedented); optionally make it executable."""
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_python(tmp_path: Path, word: str, probe_body: str) -> Path:
    """A `python` that identifies as the real one but runs `probe_body` in place of the probe.

    The probe script's path carries `word`, so every process of the staged probe can be found.
    """
    probe = write(tmp_path / f"{word}-probe.py", probe_body)
    return write(
        tmp_path / f"{word}-python",
        f"""
        #!/bin/sh
        if [ "$1" = "-I" ]; then exec {REAL_PYTHON} "$@"; fi
        shift
        exec {REAL_PYTHON} {probe} "$@"
        """,
        executable=True,
    )


def check_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON report of `mltui check --json`, with its exit status checked."""
    assert done.returncode in (0, 1), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def library(data: dict[str, Any], library_id: str) -> dict[str, Any]:
    """One library's report from a JSON check."""
    report: dict[str, Any] = next(r for r in data["libraries"] if r["name"] == library_id)
    return report


def cached_result(cache: Path, python: Path | str) -> CheckResult | None:
    """The check the cache holds for an interpreter of this venv (as `mltui` finds it)."""
    target = TargetPython(executable=os.path.abspath(python), version="", prefix=sys.prefix)
    old = os.environ.get("MLTUI_CACHE_DIR")
    os.environ["MLTUI_CACHE_DIR"] = str(cache)
    try:
        cached = load_check(target)
    finally:
        if old is None:
            del os.environ["MLTUI_CACHE_DIR"]
        else:
            os.environ["MLTUI_CACHE_DIR"] = old
    return None if cached is None else cached.result


def tmux_terminal(command: str) -> TmuxSession:
    """`command` in tmux at 100x30; the line after it says how it exited."""
    return TmuxSession(
        f"{command}; echo mltui-exited-$?; sleep 60",
        width=100,
        height=30,
        prefix="mltui-fault",
        wait_s=60,
    )


def nvml_from(fake: FakeNvml) -> Callable[[], NvmlReader]:
    """A factory of NvmlSessions over one fake, so a test can change the GPUs mid-session."""

    def open_session() -> NvmlReader:
        return NvmlSession(nvml=fake)

    return open_session


def dashboard(**services: Any) -> MltuiApp:
    """The dashboard over deterministic services (fake NVML, canned check)."""
    return MltuiApp(target=fixed_target(), services=make_services(**services), refresh=3600)


# ------------------------------------------------------------------------ probe faults (CLI)


@dataclass(frozen=True)
class ProbeFault:
    """A misbehaving probe and what `mltui check` must make of it."""

    name: str
    body: str
    status: str
    says: tuple[str, ...]
    shown: str


PROBE_FAULTS = [
    ProbeFault(
        "hangs",
        """
        import json, subprocess, sys, time
        print(json.dumps({"event": "phase", "phase": "import"}), flush=True)
        # A grandchild that would outlive the probe if only the probe were killed.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", sys.argv[0]])
        time.sleep(600)
        """,
        "timeout",
        ("no report within 2 s", "import"),
        "timed out",
    ),
    ProbeFault(
        "segfaults",
        """
        import os, signal, sys
        print("about to crash", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
        """,
        "crashed",
        ("killed by SIGSEGV",),
        "crashed",
    ),
    ProbeFault(
        "prints garbage",
        """
        print("Hello, I am not JSON")
        print("{\\"neither\\": \\"am I an event\\"}")
        """,
        "bad_output",
        ("not a JSON report", "Hello, I am not JSON"),
        "bad output",
    ),
]


@pytest.mark.parametrize("fault", PROBE_FAULTS, ids=[f.name for f in PROBE_FAULTS])
def test_probe_fault_becomes_a_library_status(
    fault: ProbeFault, tmp_path: Path, marker: str
) -> None:
    python = fake_python(tmp_path, marker, fault.body)
    cache = tmp_path / "cache"
    done = mltui(
        "check", "--python", str(python), "--only", "sklearn", "--timeout", "2", "--json",
        cache=cache, marker=marker,
    )  # fmt: skip
    data = check_json(done)
    report = library(data, "sklearn")
    assert report["status"] == fault.status
    for words in fault.says:
        assert words in report["error"]
    assert_nothing_left(marker)
    # Data lost: none; the machine readings are in the report, and the check is cached.
    assert data["system"]["cpu"]["logical_cores"] >= 1
    cached = cached_result(cache, python)
    assert cached is not None and cached.libraries[0].status == fault.status

    text = mltui(
        "check",
        "--python",
        str(python),
        "--only",
        "sklearn",
        "--timeout",
        "2",
        cache=cache,
        marker=marker,
    )
    assert fault.shown in text.stdout
    assert_nothing_left(marker)


@pytest.mark.parametrize("fault", PROBE_FAULTS, ids=[f.name for f in PROBE_FAULTS])
async def test_probe_fault_in_the_dashboard_matrix(
    fault: ProbeFault, tmp_path: Path, marker: str, cache_in_tmp: Path
) -> None:
    from probes.target import resolve_target
    from tui.services import default_services

    python = fake_python(tmp_path, marker, fault.body)
    target = resolve_target(str(python))
    services = default_services()
    services.run_check = partial(
        run_check, specs=[get_library("sklearn")], nvml=FakeNvml.no_driver(), timeout=2
    )
    services.open_nvml = nvml_from(FakeNvml.no_driver())
    app = MltuiApp(target=target, services=services, refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.check_state is not None and app.check_state.result, timeout=60
        )
        assert app.check_state is not None
        assert app.check_state.reports()["sklearn"].status == fault.status
        assert fault.shown in screen_text(app)
        assert app.check_state.error is None  # a library's fault, not a failed check
        assert_nothing_left(marker)
    assert load_check(target) is not None


def test_library_import_raising_is_import_error(tmp_path: Path, marker: str) -> None:
    package = tmp_path / "site" / "sklearn"
    package.mkdir(parents=True)
    write(package / "__init__.py", 'raise ImportError("libgomp.so.1: cannot open shared object")\n')
    cache = tmp_path / "cache"
    # Ahead of (not instead of) the PYTHONPATH that chose which mltui runs.
    paths = [str(package.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    environ = {"PYTHONPATH": os.pathsep.join(paths)}
    data = check_json(
        mltui("check", "--only", "sklearn", "--json", cache=cache, marker=marker, env=environ)
    )
    report = library(data, "sklearn")
    assert report["status"] == "import_error"
    assert report["error"] == "ImportError: libgomp.so.1: cannot open shared object"
    text = mltui("check", "--only", "sklearn", cache=cache, marker=marker, env=environ)
    assert "import error" in text.stdout
    assert_nothing_left(marker)
    assert cached_result(cache, sys.executable) is not None


# ---------------------------------------------------------------------------------- NVML


@pytest.mark.frameworks
def test_nvml_missing_in_check(tmp_path: Path, marker: str) -> None:
    # The real binding on a machine without the driver, through the real CLI.
    data = check_json(
        mltui("check", "--only", "sklearn", "--json", cache=tmp_path / "c", marker=marker)
    )
    if data["nvml"]["status"] == "ok":
        pytest.skip("this machine has an NVIDIA driver")
    assert data["nvml"]["status"] == "no_driver"
    assert data["nvml"]["explanations"]
    assert library(data, "sklearn")["status"] == "ok"  # the rest of the check goes on
    text = mltui("check", "--only", "sklearn", cache=tmp_path / "c", marker=marker)
    assert "NVML: no NVIDIA driver" in text.stdout
    assert_nothing_left(marker)


async def test_nvml_missing_in_the_dashboard(marker: str) -> None:
    app = dashboard(nvml=nvml_from(FakeNvml.no_driver()))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()  # the frame that shows the reading
        text = screen_text(app)
        assert "No NVIDIA GPU driver" in text
        assert "CPU & memory" in text  # the CPU and memory readings are still shown
        assert not app.query(GpuCard)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.query_one(RunPane).samples)
    assert_nothing_left(marker)


async def test_nvml_field_not_supported_is_n_a_and_the_rest_reads(cache_in_tmp: Path) -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    fake.make_unsupported(0, "nvmlDeviceGetTemperature")
    fake.make_unsupported(0, "nvmlDeviceGetPowerUsage")
    result = await run_check(current_target(), [], nvml=fake)
    gpu0, gpu1 = result.nvml.gpus[0], result.nvml.gpus[1]
    assert gpu0.temperature_c is None and gpu0.errors["temperature_c"] == "NotSupported"
    assert gpu0.power_draw_w is None
    assert gpu0.memory_total_bytes and gpu0.name  # the other fields of that GPU are read
    assert gpu1.temperature_c is not None  # and the other GPUs are whole
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None, theme=terminal_theme())
    console.print(render_report(result))
    rows = [line for line in console.export_text().splitlines() if gpu0.name in line]
    assert "n/a" in rows[0] and "n/a" not in rows[1]  # GPU 0's temperature and power only
    assert load_check(current_target()) is not None  # nothing lost: the check is cached

    app = dashboard(nvml=nvml_from(fake))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()
        cards = list(app.query(GpuCard))
        assert len(cards) == len(fake.readings["devices"])
        assert cards[0].gpu.temperature_c is None and cards[0].gpu.state == "ok"
        assert "n/a" in screen_text(app)


async def test_gpu_lost_mid_session_in_check_and_dashboard() -> None:
    fake = FakeNvml.from_fixture("h100_sxm_x8")
    session = NvmlSession(nvml=fake)
    try:
        before = session.read()
        fake.lose_gpu(1)
        after = session.read()
    finally:
        session.close()
    assert [g.state for g in after.gpus] == ["ok", "lost"] + ["ok"] * (len(after.gpus) - 2)
    assert after.gpus[1].name == before.gpus[1].name  # the card keeps its identity
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None, theme=terminal_theme())
    console.print(render_gpus(after))
    assert "lost (fell off the bus)" in console.export_text()

    fake = FakeNvml.from_fixture("h100_sxm_x8")
    app = MltuiApp(target=fixed_target(), services=make_services(nvml=nvml_from(fake)), refresh=0.1)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        fake.lose_gpu(0)
        drawn = pane.readings_drawn
        await wait_for(pilot, lambda: pane.readings_drawn >= drawn + 2)
        await pilot.pause()  # the frame that shows the reading
        cards = list(app.query(GpuCard))
        assert cards[0].gpu.state == "lost" and "GPU lost" in screen_text(app)
        # The other cards keep updating: a new reading of GPU 1 shows on its card.
        fake.set_reading(1, "nvmlDeviceGetTemperature", 77, args=(0,))
        await wait_for(pilot, lambda: list(app.query(GpuCard))[1].gpu.temperature_c == 77)
        assert next(iter(app.query(GpuCard))).gpu.state == "lost"


# ----------------------------------------------------------------------- target interpreter


def _bad_interpreter(tmp_path: Path, kind: str, word: str) -> tuple[Path, str]:
    """A bad --python of the given kind, and the words the user must see."""
    if kind == "missing":
        return tmp_path / f"{word}-nonexistent" / "python", "no such file"
    if kind == "not executable":
        return write(tmp_path / f"{word}-python", "print('hi')\n"), "not executable"
    if kind == "not a Python":
        return write(
            tmp_path / f"{word}-python", "#!/bin/sh\necho hello\n", executable=True
        ), "not a Python interpreter"
    answer = {
        "version": "2.7.18",
        "implementation": "CPython",
        "prefix": "/usr",
        "executable": "/usr/bin/python2.7",
        "info": [2, 7],
    }
    script = f"#!/bin/sh\necho '{json.dumps(answer)}'\n"
    return write(tmp_path / f"{word}-python", script, executable=True), "2.7.18 is too old"


BAD_INTERPRETERS = ["missing", "not executable", "not a Python", "too old"]


@pytest.mark.parametrize("kind", BAD_INTERPRETERS)
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_interpreter_in_the_cli_is_one_line(
    command: str, kind: str, tmp_path: Path, marker: str
) -> None:
    python, says = _bad_interpreter(tmp_path, kind, marker)
    cache = tmp_path / "cache"
    args = ["--only", "sklearn"] if command == "check" else ["sklearn"]
    done = mltui(command, "--python", str(python), *args, cache=cache, marker=marker)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and str(python) in lines[0], done.stderr
    assert done.stdout == ""
    assert_nothing_left(marker)
    assert not cache.exists()  # nothing written, nothing overwritten


@pytest.mark.parametrize("kind", BAD_INTERPRETERS)
async def test_bad_interpreter_in_the_dashboard_switch_is_a_notification(
    kind: str, tmp_path: Path, marker: str
) -> None:
    python, says = _bad_interpreter(tmp_path, kind, marker)
    checked: list[str] = []

    async def counting_check(target: TargetPython, **_: Any) -> CheckResult:
        from tests.support import canned_check

        checked.append(target.executable)
        return canned_check(target)

    app = dashboard(run_check=counting_check, discover_environments=lambda: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        before = app.check_state
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InterpreterScreen))
        field = app.screen.query_one("#interpreter-path", Input)
        field.value = str(python)  # as if typed (typing a long path key by key is slow)
        field.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(says in n.message for n in app._notifications))
        # Still asking, nothing switched, nothing re-checked, the previous check kept.
        assert isinstance(app.screen, InterpreterScreen)
        assert app.target == fixed_target() and checked == [fixed_target().executable]
        assert app.check_state is before
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InterpreterScreen)
    assert_nothing_left(marker)


# ---------------------------------------------------------------------------- sample faults


def test_sample_flood_is_streamed_with_bounded_memory(tmp_path: Path, marker: str) -> None:
    flood = write(
        tmp_path / f"{marker}-flood.py",
        """
        import sys
        out = sys.stdout
        for start in range(0, 1_000_000, 10_000):
            out.write("".join("line %d\\n" % i for i in range(start, start + 10_000)))
        out.write("x" * 50_000_000)  # 50 MB without a newline
        out.write("\\nlast line\\n")
        """,
    )
    out_path = tmp_path / "out.txt"
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "160"}
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [str(MLTUI), "run", str(flood)],
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=environ,
            text=True,
        )
        watched = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.02)
        err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    text = out_path.read_text()
    assert "line 999999\n" in text and "last line" in text
    assert "…[line cut]" in text and "x" * 50_000 not in text
    assert "pass" in text.split("last line")[-1]  # the summary after the output
    assert peak < 100 * 1024**2, f"mltui peaked at {peak / 1024**2:.0f} MB"
    assert_nothing_left(marker)


GRANDCHILD_IGNORING_SIGTERM = """
import os, signal, subprocess, sys, time
# A grandchild in a session of its own that ignores SIGTERM: only SIGKILL ends it.
subprocess.Popen(
    [sys.executable, "-c",
     "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
     sys.argv[0]],
    start_new_session=True,
)
print("grandchild started", flush=True)
"""


@pytest.mark.parametrize("how", ["sample exits", "sample times out"])
def test_grandchild_ignoring_sigterm_is_killed(how: str, tmp_path: Path, marker: str) -> None:
    body = GRANDCHILD_IGNORING_SIGTERM + ("time.sleep(600)\n" if how == "sample times out" else "")
    sample = write(tmp_path / f"{marker}-spawner.py", body)
    started = time.monotonic()
    done = mltui("run", str(sample), "--timeout", "2", cache=tmp_path / "cache", marker=marker)
    assert "grandchild started" in done.stdout
    if how == "sample exits":
        assert done.returncode == 0 and "pass" in done.stdout
    else:
        assert done.returncode == 1 and "timeout" in done.stdout
    assert time.monotonic() - started < 30
    assert_nothing_left(marker)


def test_sample_reading_stdin_gets_eof_at_once(tmp_path: Path, marker: str) -> None:
    sample = write(
        tmp_path / f"{marker}-reader.py",
        """
        import sys
        data = sys.stdin.read()
        print("read %d bytes from stdin" % len(data))
        try:
            input("name? ")
        except EOFError:
            print("input() got EOF")
        """,
    )
    # mltui's own stdin is an open pipe nobody writes to (like a terminal nobody types in).
    started = time.monotonic()
    done = mltui(
        "run",
        str(sample),
        "--timeout",
        "60",
        cache=tmp_path / "c",
        marker=marker,
        stdin=subprocess.PIPE,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "read 0 bytes from stdin" in done.stdout and "input() got EOF" in done.stdout
    assert time.monotonic() - started < 30
    assert_nothing_left(marker)


# ----------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_mltui_run(tmp_path: Path, marker: str) -> None:
    sample = write(
        tmp_path / f"{marker}-tree.py",
        GRANDCHILD_IGNORING_SIGTERM
        + "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
        + "time.sleep(600)\n",
    )
    later = write(tmp_path / f"{marker}-later.py", "print('never printed')\n")
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "160"}
    proc = subprocess.Popen(
        [str(MLTUI), "run", str(sample), str(later)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environ,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "ready" not in line:
            line = proc.stdout.readline()
            if not line:
                break
        assert "ready" in line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Samples run in" in out and "cancelled" in out  # the summary is printed
    assert "interrupted: the running sample was killed; 1 not run" in out
    assert "never printed" not in out
    assert_nothing_left(marker)


def test_ctrl_c_during_mltui_check(tmp_path: Path, marker: str) -> None:
    python = fake_python(tmp_path, marker, PROBE_FAULTS[0].body)  # a probe that hangs
    environ = {**os.environ, "MLTUI_CACHE_DIR": str(tmp_path / "cache"), MARKER_VARIABLE: marker}
    proc = subprocess.Popen(
        [str(MLTUI), "check", "--python", str(python), "--only", "sklearn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environ,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        probe = tmp_path / f"{marker}-probe.py"
        while len(_live_with(probe.name)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the probe and its grandchild are up
        assert len(_live_with(probe.name)) == 2
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err.strip() == "mltui: interrupted" and out == ""
    assert_nothing_left(marker)
    assert not list((tmp_path / "cache").glob("*"))  # no half-done check cached


SLEEPER = GRANDCHILD_IGNORING_SIGTERM + "time.sleep(600)\n"


@pytest.mark.parametrize("how", ["cancel", "quit"])
async def test_cancel_or_quit_the_dashboard_while_running(
    how: str, tmp_path: Path, marker: str
) -> None:
    path = write(tmp_path / f"{marker}-sleeper.py", SLEEPER)
    app = dashboard(extra_samples=[SampleRef(name="sleeper", path=str(path))])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the Run pane is built when first shown
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "sleeper" in pane.samples)
        pane.run_samples(["sleeper"])
        log = app.query_one(OutputLog)
        await wait_for(pilot, lambda: log.lines_received >= 1)
        await wait_for(pilot, lambda: len(_live_with(marker)) >= 2)  # the sample and its child
        if how == "cancel":
            await pilot.press("c")
            await wait_for(pilot, lambda: not pane.running, timeout=15)
            assert pane.last_status["sleeper"] == "cancelled"
            assert "cancelled" in screen_text(app)
            assert_nothing_left(marker)
            assert log.lines_received >= 1  # the output so far stays on screen
        else:
            await pilot.press("q")
    # The test's event loop lives on after the app: the grace period before SIGKILL may run.
    # (The real `mltui` process kills at once when its loop closes: see the tmux test.)
    await settle(marker, KILL_GRACE_S + 3)
    assert_nothing_left(marker)


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
# Ctrl-C quits too when no text is selected, as in htop and nvitop (issue 11).
@pytest.mark.parametrize("key", ["q", "C-q", "C-c"])
def test_quit_the_real_dashboard_while_a_sample_runs(
    key: str, tmp_path: Path, marker: str, bare_venv: Path
) -> None:
    sleeper = write(
        tmp_path / f"{marker}-sleeper.py",
        GRANDCHILD_IGNORING_SIGTERM
        + "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('sleeper ready', flush=True)\n"
        + "time.sleep(600)\n",
    )
    # Probes run in the bare venv (fast: nothing installed); every sample is the sleeper.
    python = write(
        tmp_path / f"{marker}-python",
        f"""
        #!/bin/sh
        case "$1" in
          -I) exec {REAL_PYTHON} "$@" ;;
          */probe_library.py) exec {bare_venv}/bin/python "$@" ;;
        esac
        shift
        exec {REAL_PYTHON} {sleeper} "$@"
        """,
        executable=True,
    )
    with tmux_terminal(
        f"env MLTUI_CACHE_DIR={tmp_path / 'cache'} {MARKER_VARIABLE}={marker} "
        f"TERM=xterm-256color {MLTUI} --python {python}"
    ) as terminal:
        terminal.wait_for("CPU & memory")
        terminal.keys("2")
        terminal.wait_for("samples")
        terminal.keys("r")
        terminal.wait_for("sleeper ready")
        deadline = time.monotonic() + 10
        while len(_live_with(sleeper.name)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_live_with(sleeper.name)) == 2  # the sample and its grandchild
        terminal.keys(key)
        screen = terminal.wait_for("mltui-exited-")
        assert "mltui-exited-0" in screen and "Traceback" not in screen
        assert_nothing_left(marker, within_s=1.0)


# --------------------------------------------------------------------------------- terminal


async def test_tiny_terminal_says_so_and_recovers() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.resize_terminal(20, 5)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        words = " ".join(screen_text(app).split())  # the message wraps to the tiny width
        assert "terminal too small (need 60x20, have 20x5)" in words
        await pilot.resize_terminal(30, 8)
        await pilot.pause()
        assert "have 30x8" in " ".join(screen_text(app).split())
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not isinstance(app.screen, TooSmallScreen)
        drawn = pane.readings_drawn
        await wait_for(pilot, lambda: pane.readings_drawn > drawn)  # it kept working
        await pilot.pause()  # the frame that shows the reading
        assert "CPU & memory" in screen_text(app)


def _in_a_terminal(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run argv with stdout and stderr on a pseudo-terminal; its exit status and what it wrote."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, close_fds=True
    )
    os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.frameworks
@pytest.mark.parametrize("variable", ["NO_COLOR=1", "TERM=dumb"])
def test_cli_on_a_terminal_has_no_colour(variable: str, tmp_path: Path, marker: str) -> None:
    sample = write(
        tmp_path / f"{marker}-script.py",
        """
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("10%\\r50%\\r100%\\n")
        """,
    )
    name, _, value = variable.partition("=")
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    environ.pop("NO_COLOR", None)
    environ.update({name: value, "MLTUI_CACHE_DIR": str(tmp_path / "cache")})
    # Seen on a colour terminal first, so the test can fail: the same commands do colour there.
    plain = {**environ, "TERM": "xterm-256color"}
    plain.pop("NO_COLOR", None)
    for command in (["check", "--only", "sklearn"], ["run", str(sample)], ["compare"]):
        code, coloured = _in_a_terminal([str(MLTUI), *command], plain)
        assert COLOUR_SGR.search(coloured), command
        code, text = _in_a_terminal([str(MLTUI), *command], environ)
        assert code in (0, 1), text[-2000:]
        assert "Traceback" not in text
        assert not COLOUR_SGR.search(text), (command, repr(text[:500]))
        if name == "TERM":  # a dumb terminal gets no escape sequence at all
            assert "\x1b" not in text, (command, repr(text[:500]))
    assert_nothing_left(marker)


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with no packages: every library probe in it ends at once (not installed)."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("variable", ["TERM=dumb", "NO_COLOR=1"])
def test_dashboard_starts_and_works_with(
    variable: str, tmp_path: Path, marker: str, bare_venv: Path
) -> None:
    term = "dumb" if variable == "TERM=dumb" else "xterm-256color"
    extra = "NO_COLOR=1" if variable == "NO_COLOR=1" else ""
    command = (
        f"env -u NO_COLOR MLTUI_CACHE_DIR={tmp_path / 'cache'} {MARKER_VARIABLE}={marker} "
        f"TERM={term} {extra} {MLTUI} --python {bare_venv}"
    )
    with tmux_terminal(command) as terminal:
        terminal.wait_for("CPU & memory")
        screen = terminal.wait_for("libraries checked")  # the check of the bare venv came through
        if term == "dumb":  # plain ASCII is chosen for a dumb terminal
            assert not set("╭╮╰╯│─█") & set(screen), screen
        terminal.keys("3")
        terminal.wait_for("Comparison")
        terminal.keys("2")
        terminal.wait_for("sklearn")
        terminal.keys("q")
        screen = terminal.wait_for("mltui-exited-")
        assert "mltui-exited-0" in screen and "Traceback" not in screen
        assert_nothing_left(marker, within_s=1.0)


# ------------------------------------------------------------------------------------ cache


@pytest.mark.frameworks
def test_unwritable_cache_directory_is_one_warning(tmp_path: Path, marker: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    cache = blocker / "cache"  # cannot be created, even by root
    done = mltui("check", "--only", "sklearn", cache=cache, marker=marker)
    assert done.returncode in (0, 1)
    assert "scikit-learn" in done.stdout  # the report is all there
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "cache" in warnings[0] and str(cache) in warnings[0], warnings
    data = check_json(mltui("check", "--only", "sklearn", "--json", cache=cache, marker=marker))
    assert library(data, "sklearn")["status"] == "ok"
    assert blocker.read_text() == "not a folder\n"
    assert_nothing_left(marker)


@pytest.mark.frameworks
async def test_unwritable_cache_directory_in_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    monkeypatch.setenv(MARKER_VARIABLE, marker)  # the probes inherit it
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(blocker / "cache"))
    from tui.services import default_services

    services = default_services()
    services.run_check = partial(
        run_check, specs=[get_library("sklearn")], nvml=FakeNvml.no_driver()
    )
    services.open_nvml = nvml_from(FakeNvml.no_driver())
    app = MltuiApp(target=current_target(), services=services, refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.check_state is not None and app.check_state.result, timeout=120
        )
        assert app.check_state is not None and app.check_state.error is None
        assert app.check_state.reports()["sklearn"].status == "ok"
        assert "checked just now" in screen_text(app)
    assert_nothing_left(marker)


@pytest.mark.frameworks
def test_corrupt_cache_file_is_ignored_and_replaced(tmp_path: Path, marker: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    path = check_path(current_target(), {"MLTUI_CACHE_DIR": str(cache)})
    path.write_bytes(b'{"cache_format": 1, "result": {"schema_ver\x00\xff garbage')
    assert cached_result(cache, sys.executable) is None  # the dashboard would start without it
    done = mltui("check", "--only", "sklearn", cache=cache, marker=marker)
    assert done.returncode in (0, 1) and done.stderr.strip() == ""
    assert "scikit-learn" in done.stdout
    replaced = cached_result(cache, sys.executable)
    assert replaced is not None and replaced.libraries[0].name == "sklearn"
    # No temporary left behind; the writers' lock file beside the cache stays (it is the lock).
    left = sorted(p.name for p in cache.iterdir())
    assert [name for name in left if not name.endswith(".lock")] == [path.name]
    assert all(name == f".{path.stem}.lock" for name in left if name.endswith(".lock")), left


@pytest.mark.frameworks
async def test_corrupt_cache_file_in_the_dashboard(
    cache_in_tmp: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    monkeypatch.setenv(MARKER_VARIABLE, marker)  # the probes inherit it
    cache_in_tmp.mkdir()
    path = check_path(current_target())
    path.write_text("{ this is not json")
    from tui.services import default_services

    services = default_services()
    services.run_check = partial(
        run_check, specs=[get_library("sklearn")], nvml=FakeNvml.no_driver()
    )
    services.open_nvml = nvml_from(FakeNvml.no_driver())
    app = MltuiApp(target=current_target(), services=services, refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.check_state is not None and app.check_state.result, timeout=120
        )
        assert app.check_state is not None and not app.check_state.from_cache
        assert app.check_state.error is None
    assert load_check(current_target()) is not None  # replaced by the fresh check
    assert_nothing_left(marker)


# ---------------------------------------------------------------------------------- content


def _broken_content(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the bundled content with one page's front matter broken; (root, page)."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    (root / "samples").symlink_to(CONTENT_ROOT / "samples")
    for name in ("comparison.toml", "chooser.toml"):
        shutil.copy(CONTENT_ROOT / name, root / name)
    page = root / "pages" / "torch.md"
    page.write_text(page.read_text().replace("maintained = true", "maintained = yes", 1))
    return root, page


def test_broken_content_file_in_content_check(tmp_path: Path, marker: str) -> None:
    root, page = _broken_content(tmp_path)
    done = mltui("content", "check", "--root", str(root), cache=tmp_path / "c", marker=marker)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines and all(re.match(r"^.+:\d+: \S", line) for line in lines), lines
    assert any(line.startswith(f"{page}:") for line in lines)
    assert (CONTENT_ROOT / "pages" / "torch.md").read_text() != page.read_text()


def test_broken_content_file_in_info_and_compare(tmp_path: Path) -> None:
    """The real CLI over a copy of the code whose bundled content is broken."""
    root, page = _broken_content(tmp_path)
    for package in ("probes", "tui"):
        (tmp_path / package).symlink_to(ROOT / package)
    for module in (CONTENT_ROOT).glob("*.py"):
        shutil.copy(module, root / module.name)
    console_script = "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))"
    for command in (["info", "torch"], ["compare"]):
        done = subprocess.run(
            [sys.executable, "-c", console_script, *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"mltui: broken content: {page}:"), lines
    info = subprocess.run(
        [sys.executable, "-m", "tui.cli", "info", "sklearn"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert info.returncode == 2 and "Traceback" not in info.stderr


async def test_broken_content_file_in_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import content.loading

    root, page = _broken_content(tmp_path)
    monkeypatch.setattr(content.loading, "CONTENT_ROOT", root)
    app = dashboard()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(
            pilot,
            lambda: any("cannot load the knowledge pages" in n.message for n in app._notifications),
        )
        message = next(n.message for n in app._notifications if "knowledge" in n.message)
        assert f"{page}:" in message
        assert app.query_one(KnowledgePane).pages == {}
        # The rest of the app works on.
        await pilot.press("1")
        await wait_for(pilot, lambda: app.query_one(HardwarePane).readings_drawn >= 1)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.query_one(RunPane).samples)
        assert app.is_running
