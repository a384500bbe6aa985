"""The start-up check keeps the dashboard responsive (issue 19.2): probes run below mltui's
priority, as many at once as there are CPUs to run them, the longest first."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from probes import libraries
from probes.catalog import LIBRARIES, LibrarySpec
from probes.model import LibraryReport, TargetPython
from probes.target import current_target


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """probe_library replaced by one that records how many run at once, in what order, and the
    priority each was given (each 'probe' takes a few event-loop turns)."""
    seen: dict[str, Any] = {"running": 0, "most": 0, "order": [], "nice": {}}

    async def fake_probe(
        target: TargetPython, spec: LibrarySpec, *, env: dict[str, str], **_: Any
    ) -> LibraryReport:
        seen["order"].append(spec.id)
        seen["nice"][spec.id] = env.get(libraries.PROBE_NICE_VARIABLE)
        seen["running"] += 1
        seen["most"] = max(seen["most"], seen["running"])
        for _ in range(5):
            await asyncio.sleep(0)
        seen["running"] -= 1
        return LibraryReport(name=spec.id, status="ok")

    monkeypatch.setattr(libraries, "probe_library", fake_probe)
    monkeypatch.delenv(libraries.PROBE_NICE_VARIABLE, raising=False)
    monkeypatch.setattr(libraries, "load_check", lambda target: None)
    return seen


@pytest.mark.parametrize("cpus", [1, 2, 3, 16])
async def test_probes_run_as_many_at_once_as_the_cpus_allow(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    monkeypatch.delenv(libraries.PROBE_CONCURRENCY_VARIABLE, raising=False)
    monkeypatch.setattr(libraries, "usable_cpus", lambda: cpus)
    reports = await libraries.probe_libraries(current_target())
    assert [r.name for r in reports] == [spec.id for spec in LIBRARIES]  # the catalog's order
    assert recorded["most"] == min(len(LIBRARIES), max(2, cpus))
    # TensorFlow (the heaviest import) starts first without a last check to go by.
    assert recorded["order"][0] == "tensorflow"
    # Every probe, the first too, runs below mltui's priority.
    assert set(recorded["nice"].values()) == {str(libraries.PROBE_NICE)}


async def test_the_last_check_orders_the_probes_longest_first(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Cached:
        class result:  # stands for CachedCheck.result
            libraries = [
                LibraryReport(name="jax", elapsed_s=9.0),
                LibraryReport(name="torch", elapsed_s=4.0),
                LibraryReport(name="tensorflow", elapsed_s=1.0),
            ]

    monkeypatch.setattr(libraries, "load_check", lambda target: Cached())
    await libraries.probe_libraries(current_target())
    assert recorded["order"][:3] == ["jax", "torch", "tensorflow"]


async def test_the_user_s_settings_win(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(libraries.PROBE_NICE_VARIABLE, "0")
    monkeypatch.setenv(libraries.PROBE_CONCURRENCY_VARIABLE, "1")
    await libraries.probe_libraries(current_target())
    assert recorded["most"] == 1
    # The user's value is in the environment the probe inherits; nothing is added over it.
    assert set(recorded["nice"].values()) == {None}


@pytest.mark.parametrize("value", ["", "0", "-3", "two", " 4 "])
def test_a_concurrency_that_is_not_a_positive_number_is_ignored(value: str) -> None:
    expected = 4 if value.strip() == "4" else max(2, libraries.usable_cpus())
    assert libraries.probe_concurrency({libraries.PROBE_CONCURRENCY_VARIABLE: value}) == expected


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
async def test_the_real_probe_lowers_its_own_priority(tmp_path: Path) -> None:
    """The probe script itself applies MLTUI_PROBE_NICE before importing (a stand-in library
    module reports the niceness it imported at)."""
    (tmp_path / "sklearn").mkdir()
    (tmp_path / "sklearn" / "__init__.py").write_text(
        "import os\n__version__ = str(os.getpriority(os.PRIO_PROCESS, 0))\n"
        "def get_config():\n    return {}\n"
    )
    (tmp_path / "sklearn" / "linear_model.py").write_text("LinearRegression = None\n")
    spec = next(s for s in LIBRARIES if s.id == "sklearn")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    env = {"PYTHONPATH": str(tmp_path), libraries.PROBE_NICE_VARIABLE: "7"}
    report = await libraries.probe_library(
        TargetPython(sys.executable, sys.version.split()[0]), spec, env=env
    )
    assert report.version is not None
    assert int(report.version) == min(19, base + 7), report
