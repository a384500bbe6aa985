"""Pilot tests of the Run pane: a real sample to completion, a cancelled run leaving nothing
behind, a flood written in batches, and the device selector offering only what exists."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
from textual.widgets import DataTable

from probes.runner import SampleRef
from tests.conftest import fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.widgets.output_log import MAX_LINES, OutputLog
from tui.widgets.run_pane import RunPane
from tui.widgets.source_view import SourceView


def script(tmp_path: Path, name: str, body: str) -> SampleRef:
    """A user's script (no verdict contract) written to tmp_path."""
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return SampleRef(name=name, path=str(path))


def make_app(*samples: SampleRef) -> MltuiApp:
    """A dashboard whose samples list ends with these scripts."""
    return MltuiApp(
        target=fixed_target(), services=make_services(extra_samples=list(samples)), refresh=3600
    )


async def test_run_the_real_sklearn_sample_to_completion() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the Run pane is built when first shown
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "sklearn" in pane.samples)
        await pilot.press("r")  # the cursor starts on the first sample: scikit-learn
        await wait_for(pilot, lambda: pane.running)
        assert pane.has_class("-running")  # the busy indicator shows
        await wait_for(pilot, lambda: not pane.running, timeout=180)
        assert pane.last_status["sklearn"] == "pass", screen_text(app)
        log = app.query_one(OutputLog)
        text = "\n".join(strip.text for strip in log.lines)
        assert "sklearn: pass" in text
        assert "accuracy" in text.lower()


async def test_cancel_kills_the_run_and_its_children(tmp_path: Path) -> None:
    sleeper = script(
        tmp_path,
        "sleeper",
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n",
    )
    app = make_app(sleeper)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the Run pane is built when first shown
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "sleeper" in pane.samples)
        pane.run_samples(["sleeper"])
        log = app.query_one(OutputLog)
        await wait_for(pilot, lambda: log.lines_received >= 1)
        me = psutil.Process(os.getpid())
        assert me.children(recursive=True)
        await pilot.press("c")
        await wait_for(pilot, lambda: not pane.running, timeout=15)
        assert pane.last_status["sleeper"] == "cancelled"
        await wait_for(
            pilot,
            lambda: (
                not [p for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
            ),
            timeout=10,
        )


async def test_stdout_and_stderr_are_told_apart_and_a_flood_stays_bounded(tmp_path: Path) -> None:
    noisy = script(
        tmp_path,
        "noisy",
        "import sys\n"
        "for i in range(200000):\n    print('line', i)\n"
        "print('last line', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n",
    )
    app = make_app(noisy)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the Run pane is built when first shown
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "noisy" in pane.samples)
        pane.run_samples(["noisy"])
        await wait_for(pilot, lambda: pane.running)
        await wait_for(pilot, lambda: not pane.running, timeout=60)
        await pilot.pause(0.2)
        log = app.query_one(OutputLog)
        assert log.lines_received == 200002
        assert len(log.lines) <= MAX_LINES + 5
        text = "\n".join(strip.text for strip in log.lines)
        assert "  last line" in text
        assert "! to stderr" in text
        assert pane.last_status["noisy"] == "pass"


async def test_device_selector_offers_only_devices_that_exist() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("2")
        select = app.query_one("#device-select")
        values = [value for _, value in select._options]  # type: ignore[attr-defined]
        # The canned check: every library on the CPU, TensorFlow also on cuda:0.
        assert values == ["auto", "cpu", "cuda:0"]


async def test_the_source_follows_the_highlight_and_the_running_sample(tmp_path: Path) -> None:
    first = script(tmp_path, "first_script", "print('one')\n")
    release = tmp_path / "release"
    # The second script waits until the test has seen it running (or 30 s), then ends.
    second = script(
        tmp_path,
        "second_script",
        "import os, time\n"
        "deadline = time.time() + 30\n"
        f"while not os.path.exists({str(release)!r}) and time.time() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print('two')\n",
    )
    app = make_app(first, second)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "second_script" in pane.samples)
        source = app.query_one(SourceView)
        await wait_for(pilot, lambda: source.path is not None)
        names = list(pane.samples)
        assert source.path == Path(pane.samples[names[0]].path)
        await pilot.press("down")
        await wait_for(pilot, lambda: source.path == Path(pane.samples[names[1]].path))
        # Running the two scripts: the cursor, and with it the source, follow the one running.
        pane.run_samples(["first_script", "second_script"])
        await wait_for(pilot, lambda: pane._current == "second_script")
        assert source.path == Path(second.path)
        release.touch()
        await wait_for(pilot, lambda: not pane.running, timeout=60)
        assert source.path == Path(second.path)
        assert pane.last_status == {"first_script": "pass", "second_script": "pass"}
        table = app.query_one("#samples-table", DataTable)
        assert table.get_row_index("second_script") == table.cursor_row
