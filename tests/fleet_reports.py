"""Recorded fleet node reports for the tests and the bench: real checks, recorded GPU readings.

`local_check_data()` is this machine's own `mltui check --json` (the quick libraries); a node is
that report with its NVML part replaced by the readings recorded on a real GPU server
(tests/fixtures/nvml), changed the way fleets differ (another driver, a GPU fewer).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probes.fleet.launch import node_from_output
from probes.fleet.model import NodeResult
from probes.model import to_dict
from probes.nvml import read_nvml
from tests.fake_nvml import FakeNvml

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _local_check_text() -> str:
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "check", "--json", "--only", "sklearn,caffe"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MLTUI_CACHE_DIR": cache},
            cwd=ROOT,
            timeout=180,
            check=False,
        )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def local_check_data() -> dict[str, Any]:
    """This machine's real `mltui check --json` as data (run once per process, then copied)."""
    data: dict[str, Any] = json.loads(_local_check_text())
    return data


def recorded_node(
    base: dict[str, Any],
    name: str,
    change: Callable[[FakeNvml], None] | None = None,
    fixture: str = "h100_sxm_x8",
) -> NodeResult:
    """A node row from this machine's check with the NVML readings of a recorded GPU machine."""
    fake = FakeNvml.from_fixture(fixture)
    if change is not None:
        change(fake)
    data = json.loads(json.dumps(base))
    data["nvml"] = to_dict(read_nvml(fake))
    data["system"]["hostname"] = name
    row = node_from_output(name, json.dumps(data, indent=2), [], 0)
    assert row.check is not None, row.reason
    return row


def other_driver(fake: FakeNvml) -> None:
    """The node runs an older driver than the recording."""
    fake.readings["system"]["nvmlSystemGetDriverVersion"] = "550.54.15"


def one_gpu_fewer(fake: FakeNvml) -> None:
    """The node shows one GPU fewer than the recording."""
    fake.readings["devices"].pop()
    fake.readings["system"]["nvmlDeviceGetCount"] = len(fake.readings["devices"])
