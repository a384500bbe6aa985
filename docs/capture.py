"""Regenerate the README's screen captures: docs/<pane>.txt and docs/<pane>.svg at 80x24.

The dashboard runs as the snapshot tests run it (the recorded H100 readings through
tests/fake_nvml.py, a fixed CPU reading, a canned check), except that the Run pane's capture is
taken after the scikit-learn sample ran for real, so it shows a finished run's output.

    .venv/bin/python docs/capture.py            # then paste docs/*.txt into README.md
    .venv/bin/python docs/capture.py --replay tests/fixtures/gpus/h100-sxm-8.json

With --replay FILE the dashboard runs on that recorded machine (MLTUI_REPLAY): NVML reads the
recording and the check runs for real, torch presenting the recorded GPUs through the CUDA
stand-in; the captures are written as docs/<pane>-<machine>.txt/.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.model import TargetPython  # noqa: E402
from tests.support import canned_check, make_services, screen_text, wait_for  # noqa: E402
from tui.app import MltuiApp  # noqa: E402
from tui.services import Services  # noqa: E402
from tui.widgets.hardware_pane import HardwarePane  # noqa: E402
from tui.widgets.knowledge_pane import KnowledgePane  # noqa: E402
from tui.widgets.run_pane import RunPane  # noqa: E402

DOCS = ROOT / "docs"
#: Shown in the title bar. The Run pane runs its sample in the interpreter running this script.
TARGET = TargetPython(
    executable=str(Path(sys.executable)), version="3.11.9", prefix=sys.prefix, is_current=True
)


def replay_services(recording: str) -> Services:
    """Services of a recorded machine: the replayed NVML and a real check, fixed CPU reading."""
    from probes.nvml import NvmlSession
    from probes.replay import REPLAY_VARIABLE, load_recording
    from tui.services import _run_check

    load_recording(recording)  # a bad file stops here, with its one-line reason
    os.environ[REPLAY_VARIABLE] = os.path.abspath(recording)
    return make_services(open_nvml=NvmlSession, run_check=_run_check)


async def capture(name: str, replay: str | None = None) -> None:
    """One pane at 80x24, written as text and SVG (of the recorded machine `replay`, if given)."""
    services = replay_services(replay) if replay else make_services(cached=canned_check(TARGET))
    app = MltuiApp(target=TARGET, services=services, refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.query_one(HardwarePane).readings_drawn >= 1)
        await wait_for(
            pilot,
            lambda: (
                app.check_state is not None
                and app.check_state.result is not None
                and not app.check_state.running
            ),
            timeout=300 if replay else 20,
        )
        if name == "run":
            await pilot.press("2")
            pane = app.query_one(RunPane)
            await wait_for(pilot, lambda: "sklearn" in pane.samples)
            pane.run_samples(["sklearn"])
            await wait_for(pilot, lambda: pane.last_status.get("sklearn") == "pass", timeout=180)
            pane.query_one("#samples-table").focus()
        elif name == "knowledge":
            await pilot.press("3")
            knowledge = app.query_one(KnowledgePane)
            await wait_for(pilot, lambda: bool(knowledge.pages))
        await pilot.pause(1.0)
        stem = f"{name}-{Path(replay).stem}" if replay else name
        (DOCS / f"{stem}.txt").write_text(screen_text(app) + "\n", encoding="utf-8")
        app.save_screenshot(f"{stem}.svg", str(DOCS))


def main(argv: list[str] | None = None) -> None:
    """Capture every pane the README shows (or, with --replay FILE, a recorded machine's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", metavar="FILE", help="capture this recorded GPU machine")
    parser.add_argument("--pane", action="append", help="only these panes (repeatable)")
    args = parser.parse_args(argv)
    default = ("hardware",) if args.replay else ("hardware", "run", "knowledge")
    for name in args.pane or default:
        asyncio.run(capture(name, args.replay))
        stem = f"{name}-{Path(args.replay).stem}" if args.replay else name
        print(f"docs/{stem}.txt, docs/{stem}.svg")


if __name__ == "__main__":
    main()
