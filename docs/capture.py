"""Regenerate the README's screen captures: docs/<pane>.txt and docs/<pane>.svg at 80x24.

The dashboard runs as the snapshot tests run it (the recorded H100 readings through
tests/fake_nvml.py, a fixed CPU reading, a canned check, a fixed interpreter path in the title,
the snapshot tests' fleet and perf run), except that the Run pane's capture is taken after the
scikit-learn sample ran for real in this interpreter, so it shows a finished run's output.
`--readme` then puts each docs/<pane>.txt into README.md, in the ```text block that follows its
`<!-- capture: <pane> -->` line (tests/test_readme.py holds the README to both).

    .venv/bin/python docs/capture.py --readme   # every capture, then README.md
    .venv/bin/python docs/capture.py --pane perf --out /tmp/x   # one capture, elsewhere
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
README = ROOT / "README.md"
#: The panes the README shows, in its order.
CAPTURES = ("hardware", "run", "knowledge", "fleet", "perf")
#: The captures that show nothing of this machine or checkout (tests/test_readme.py redraws
#: them); the Run pane's shows a real run's output and times.
REPRODUCIBLE = ("hardware", "knowledge", "fleet", "perf")
#: Shown in the title bar: the same in any checkout.
TARGET = TargetPython(
    executable="/opt/envs/ml/bin/python", version="3.11.9", prefix="/opt/envs/ml", is_current=False
)
#: The Run pane runs its sample for real, in the interpreter running this script.
RUN_TARGET = TargetPython(
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


async def capture(
    name: str, replay: str | None = None, out: Path = DOCS, *, svg: bool = True
) -> Path:
    """One pane at 80x24, written as text and SVG (of the recorded machine `replay`, if given)
    into `out`; returns the text file."""
    from dataclasses import replace

    from tests.perf_fixtures import canned_report
    from tests.test_snapshots import snapshot_fleet
    from tui.widgets.fleet_pane import FleetPane
    from tui.widgets.perf_pane import PerfPane

    target = RUN_TARGET if name == "run" else TARGET
    check = canned_check(target)
    if name == "perf":
        check = replace(check, perf=canned_report())
    services = replay_services(replay) if replay else make_services(cached=check, check=check)
    app = MltuiApp(target=target, services=services, refresh=3600)
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
        elif name == "fleet":
            await pilot.press("4")
            await wait_for(pilot, lambda: app.query(FleetPane))
            fleet = app.query_one(FleetPane)
            fleet.show_report(snapshot_fleet())
            fleet.table.focus()
        elif name == "perf":
            await pilot.press("5")
            await wait_for(pilot, lambda: app.query(PerfPane))
            await wait_for(pilot, lambda: app.query_one(PerfPane).report is not None)
        await _steady(pilot, app)
        stem = f"{name}-{Path(replay).stem}" if replay else name
        text_file = out / f"{stem}.txt"
        text_file.write_text(screen_text(app) + "\n", encoding="utf-8")
        if svg:
            app.save_screenshot(f"{stem}.svg", str(out))
    return text_file


async def _steady(pilot: object, app: MltuiApp, polls: int = 3) -> None:
    """Wait until the screen's text stays the same over `polls` pauses in a row (or 10 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    last, same = None, 0
    while same < polls and loop.time() < deadline:
        await pilot.pause(0.2)  # type: ignore[attr-defined]
        text = screen_text(app)
        same = same + 1 if text == last else 0
        last = text


def capture_block(text: str) -> list[str]:
    """A capture's lines as they stand in the README (trailing spaces kept out of Markdown)."""
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def update_readme(readme: Path = README, docs: Path = DOCS) -> list[str]:
    """Put each docs/<pane>.txt into the ```text block after `<!-- capture: <pane> -->` in the
    README; returns the panes put in (a marker without its file or block is an error)."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    done: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("<!-- capture:") and line.endswith("-->"):
            name = line[len("<!-- capture:") : -len("-->")].strip()
            start = index + 1
            if start >= len(lines) or lines[start].strip() != "```text":
                raise SystemExit(f"README.md:{start + 1}: no ```text block after {line}")
            end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "```"), None)
            if end is None:
                raise SystemExit(f"README.md:{start + 1}: the ```text block is never closed")
            block = capture_block((docs / f"{name}.txt").read_text(encoding="utf-8"))
            lines[start + 1 : end] = block
            done.append(name)
            index = start + 1 + len(block)
        index += 1
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return done


def main(argv: list[str] | None = None) -> None:
    """Capture every pane the README shows (or, with --replay FILE, a recorded machine's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", metavar="FILE", help="capture this recorded GPU machine")
    parser.add_argument(
        "--pane", action="append", choices=CAPTURES, help="only these panes (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="where to write (default: docs/)")
    parser.add_argument(
        "--readme", action="store_true", help="then put docs/*.txt into README.md's captures"
    )
    args = parser.parse_args(argv)
    if args.replay:
        from probes.replay import ReplayError, load_recording

        try:
            load_recording(args.replay)
        except ReplayError as exc:
            parser.exit(2, f"capture.py: {exc}\n")
    default = ("hardware",) if args.replay else CAPTURES
    for name in args.pane or default:
        written = asyncio.run(capture(name, args.replay, args.out))
        print(f"{written}, {written.with_suffix('.svg')}")
    if args.readme:
        print("README.md: " + ", ".join(update_readme()))


if __name__ == "__main__":
    main()
