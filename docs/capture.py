"""Regenerate the README's screen captures: docs/<pane>.txt and docs/<pane>.svg at 80x24.

The dashboard runs as the snapshot tests run it (the recorded H100 readings through
tests/fake_nvml.py, a fixed CPU reading, a canned check), except that the Run pane's capture is
taken after the scikit-learn sample ran for real, so it shows a finished run's output.

    .venv/bin/python docs/capture.py            # then paste docs/*.txt into README.md
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.model import TargetPython  # noqa: E402
from tests.support import canned_check, make_services, screen_text, wait_for  # noqa: E402
from tui.app import MltuiApp  # noqa: E402
from tui.widgets.hardware_pane import HardwarePane  # noqa: E402
from tui.widgets.knowledge_pane import KnowledgePane  # noqa: E402
from tui.widgets.run_pane import RunPane  # noqa: E402

DOCS = ROOT / "docs"
#: Shown in the title bar. The Run pane runs its sample in the interpreter running this script.
TARGET = TargetPython(
    executable=str(Path(sys.executable)), version="3.11.9", prefix=sys.prefix, is_current=True
)


async def capture(name: str) -> None:
    """One pane at 80x24, written as text and SVG."""
    app = MltuiApp(target=TARGET, services=make_services(cached=canned_check(TARGET)), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.query_one(HardwarePane).readings_drawn >= 1)
        await wait_for(
            pilot,
            lambda: (
                app.check_state is not None
                and app.check_state.result is not None
                and not app.check_state.running
            ),
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
        (DOCS / f"{name}.txt").write_text(screen_text(app) + "\n", encoding="utf-8")
        app.save_screenshot(f"{name}.svg", str(DOCS))


def main() -> None:
    """Capture every pane the README shows."""
    for name in ("hardware", "run", "knowledge"):
        asyncio.run(capture(name))
        print(f"docs/{name}.txt, docs/{name}.svg")


if __name__ == "__main__":
    main()
