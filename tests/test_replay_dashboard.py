"""The dashboard on a recorded machine: MLTUI_REPLAY reaches the Hardware pane's NVML reading.

The pane opens NVML the way the real dashboard does (`NvmlSession()`, no fake passed in), so
what it shows comes through probes.replay's one mechanism, as `mltui` itself would read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probes.nvml import NvmlSession
from probes.replay import REPLAY_VARIABLE, STATE_VARIABLE
from tests.support import fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.widgets.gpu_card import GpuCard
from tui.widgets.hardware_pane import HardwarePane

GPUS = Path(__file__).resolve().parent / "fixtures" / "gpus"


@pytest.mark.parametrize(
    ("machine", "count", "first"),
    [
        ("h100-sxm-8", 8, "GPU 0: NVIDIA H100 80GB HBM3"),
        ("a100-mig", 2, "GPU 0: NVIDIA A100-SXM4-80GB"),
        ("rtx-pro-6000", 1, "GPU 0: NVIDIA RTX PRO 6000 Blackwell Server Edition"),
    ],
)
async def test_the_hardware_pane_shows_the_recorded_machine(
    machine: str, count: int, first: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REPLAY_VARIABLE, str(GPUS / f"{machine}.json"))
    monkeypatch.setenv(STATE_VARIABLE, str(tmp_path))
    app = MltuiApp(
        target=fixed_target(), services=make_services(open_nvml=NvmlSession), refresh=3600
    )
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()
        assert len(list(app.query(GpuCard))) == count
        assert first in screen_text(app)


def _hostile(tmp_path: Path, change: str) -> Path:
    """h200-sxm-1 with one hostile but valid change (what a crafted recording may hold)."""
    data = json.loads((GPUS / "h200-sxm-1.json").read_text())
    nvml, cuda = data["nvml"]["devices"][0], data["cuda"]["devices"][0]
    names = {
        "markup": "[bold]X[/bold] [/] [link=http://e]l[/link]",
        "escapes": "\x1b[31mRED\x1b]0;title\x07\x1b[2J\u202e",
        "newlines": "A\nB\r\nC",
        "10 kB": "N" * 10240,
    }
    if change in names:
        nvml["nvmlDeviceGetName"] = cuda["name"] = names[change]
    elif change == "negative memory":
        nvml["nvmlDeviceGetMemoryInfo_v2"] = {"total": -1, "used": -5, "free": -9, "reserved": 0}
    elif change == "text temperatures":
        nvml["nvmlDeviceGetTemperature"] = {"by_args": {"0": "hot"}}
        nvml["nvmlDeviceGetPowerUsage"] = "lots"
    elif change == "bad pids":
        nvml["nvmlDeviceGetComputeRunningProcesses_v3"] = [{"pid": "x"}, {"pid": -1}, {"pid": 0}]
    elif change == "no GPU":
        data["nvml"]["devices"], data["cuda"]["devices"] = [], []
        data["nvml"]["system"].pop("nvmlDeviceGetCount", None)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "change",
    [
        "markup",
        "escapes",
        "newlines",
        "10 kB",
        "negative memory",
        "text temperatures",
        "bad pids",
        "no GPU",
    ],
)
async def test_a_hostile_recording_never_crashes_the_dashboard(
    change: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REPLAY_VARIABLE, str(_hostile(tmp_path, change)))
    monkeypatch.setenv(STATE_VARIABLE, str(tmp_path / "state"))
    app = MltuiApp(
        target=fixed_target(), services=make_services(open_nvml=NvmlSession), refresh=3600
    )
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()
        text = screen_text(app)
        assert len(list(app.query(GpuCard))) == (0 if change == "no GPU" else 1)
        assert "\x1b" not in text and "\x07" not in text
        if change == "markup":
            assert "[bold]X[/bold]" in text  # shown as written, never read as markup
        if change == "negative memory":
            assert "-5 B" not in text
