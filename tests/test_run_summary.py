"""`mltui run all`'s summary (issue 19.5): the detail column is not squeezed at 80 columns, and a
totals line ends it."""

from __future__ import annotations

import io

from rich.console import Console

from probes.model import TargetPython
from probes.runner import RunResult
from tui.cli.run import DETAIL_MIN_WIDTH, summary_table, summary_totals

TARGET = TargetPython(executable="/opt/envs/ml/bin/python", version="3.11.9")
DETAIL = "SVC predicts the held-out last digit and scores >= 0.95 on a held-out split"


def results() -> list[RunResult]:
    """Three samples: two passed, one failed."""
    made = []
    for name, status, took in (
        ("sklearn", "pass", 8.2),
        ("theano", "pass", 3.1),
        ("caffe", "fail", 1.0),
    ):
        result = RunResult(
            name=name,
            script=f"/s/{name}.py",
            target="/py",
            device="cpu",
            status=status,
            verdict={"engine": "pycaffe"} if name == "caffe" else {},
            summary=DETAIL,
        )
        result.elapsed_s = took
        result.returncode = 0 if status == "pass" else 1
        made.append(result)
    return made


def test_the_totals_count_each_status_and_the_time() -> None:
    assert summary_totals(results()) == "3 samples: 2 pass, 1 fail in 12.3 s"
    assert summary_totals(results()[:1]).startswith("1 sample: 1 pass")
    assert summary_totals([]).startswith("0 samples: none run")


def test_at_80_columns_the_detail_keeps_its_room_and_the_totals_end_it() -> None:
    console = Console(file=io.StringIO(), width=80, record=True, color_system=None)
    console.print(summary_table(results(), TARGET))
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "detail" in line)
    start = header.index("detail")
    widest = max(len(line.rstrip(" │|").rstrip()) - start for line in lines if "SVC" in line)
    assert widest >= DETAIL_MIN_WIDTH - 2, "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].strip() == "3 samples: 2 pass, 1 fail in 12.3 s"
    assert any("pycaffe: SVC" in line for line in lines)


def test_the_fleet_table_at_80_columns_keeps_headers_and_pairs_whole() -> None:
    from tests.test_snapshots import snapshot_fleet
    from tui.cli.fleet import render_fleet

    console = Console(file=io.StringIO(), width=80, record=True, color_system=None)
    console.print(render_fleet(snapshot_fleet()))
    lines = console.export_text().splitlines()
    header = next(line for line in lines if line.startswith("node"))
    for name in ("node", "state", "GPUs", "model", "driver", "CUDA", "libraries", "err/warn"):
        assert f"{name} " in header + " ", header  # never folded ("librarie/s")
    table = lines[: lines.index("Skew")] if "Skew" in lines else lines
    assert all(len(line) <= 80 for line in table)
    text = "\n".join(table)
    for pair in ("tensorflow 2.21.0+", "torch 2.13.0+cpu-", "sklearn 1.9.0-"):
        assert pair in text, text  # a "name version" pair is never broken across lines
