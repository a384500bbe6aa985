"""`mltui perf` as a user runs it: the installed console script, in a subprocess, on this CPU."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jsonschema
import psutil
import pytest

from probes.cache import perf_path
from probes.model import perf_json_schema
from probes.target import current_target
from tests.perf_fixtures import carrying

ROOT = Path(__file__).resolve().parent.parent
MLTUI = ROOT / ".venv" / "bin" / "mltui"
if not MLTUI.exists():  # an environment other than the repo's .venv
    MLTUI = Path(sys.executable).parent / "mltui"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MARKER = "MLTUI_PERF_CLI_MARKER"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    environ = dict(os.environ)
    environ.update({"MLTUI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "120"})
    environ.update(extra)
    return environ


def _mltui(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLTUI), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path, **env),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _carrying(word: str) -> list[psutil.Process]:
    return carrying(MARKER, word)


@pytest.mark.frameworks
def test_json_validates_exit_status_follows_the_verdict_and_the_result_is_kept(
    tmp_path: Path,
) -> None:
    done = _mltui("perf", "--device", "cpu", "--json", tmp_path=tmp_path)
    data = json.loads(done.stdout)  # stdout is pure JSON
    jsonschema.validate(data, perf_json_schema())
    (cpu,) = data["devices"]
    assert cpu["device"] == "cpu" and cpu["verdict"] in ("healthy", "slow")
    assert done.returncode == 0  # a CPU below its estimated peak is a warning, not an error
    libraries = {run["library"]: run["status"] for run in data["libraries"]}
    assert libraries == {"numpy": "ok", "torch": "ok", "tensorflow": "ok", "jax": "ok"}
    assert "Traceback" not in done.stderr
    # The result joins the check's model: the next check of this interpreter carries it.
    check = _mltui("check", "--json", "--only", "sklearn", tmp_path=tmp_path)
    joined = json.loads(check.stdout)["perf"]
    assert joined["created_at"] == data["created_at"]
    assert joined["devices"][0]["measurements"] == cpu["measurements"]


@pytest.mark.frameworks
def test_human_output_shows_figures_peaks_comparison_and_verdict(tmp_path: Path) -> None:
    done = _mltui("perf", "--device", "cpu", "--seconds", "60", tmp_path=tmp_path, NO_COLOR="1")
    text = ANSI.sub("", done.stdout)
    assert done.returncode == 0, done.stderr
    for words in (
        "FP32 GEMM",
        "memory copy",
        "the same matrix multiply in every library",
        "peak gemm:fp32: estimated:",
        "verdict:",
        "libraries: numpy",
    ):
        assert words in text, words
    # The estimated peak is marked, however this CPU's figure prints ("~332", "~63.9", "~2.10").
    assert re.search(r"~\d+(\.\d+)? [GT]?FLOP/s", text)
    assert re.search(r"█*░* +\d+%", text)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--device", "cuda:3"), "no GPU 3"),
        (("--device", "tpu"), "unknown device 'tpu'"),
        (("--device", "cuda"), "no NVIDIA GPU"),
        (("--seconds", "0"), "must be above zero"),
        (("--seconds", "soon"), "not a number"),
        (("--python", "/no/such/python"), "/no/such/python"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: tuple[str, ...], words: str, tmp_path: Path
) -> None:
    done = _mltui("perf", *args, tmp_path=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    "folder",
    [
        "~nosuchuser-mltui/x",  # an unknown ~user
        "{tmp}/a-file",  # a file, not a folder
        "{tmp}/a-file/below",  # below a file: cannot be created
        "{tmp}/dangling",  # a symbolic link to nowhere
    ],
)
def test_a_cache_folder_that_cannot_keep_the_result_is_said_before_the_run(
    folder: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "dangling").symlink_to(tmp_path / "a-file" / "nowhere")
    word = uuid.uuid4().hex
    done = _mltui(
        "perf",
        "--device",
        "cpu",
        tmp_path=tmp_path,
        MLTUI_CACHE_DIR=folder.format(tmp=tmp_path),
        **{MARKER: word},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("mltui: cannot keep the result: ") and "MLTUI_CACHE_DIR" in line
    assert not _carrying(word)  # no load process was started


@pytest.mark.frameworks
def test_a_result_that_cannot_be_saved_is_printed_with_one_line_and_exit_1(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    environ = {"MLTUI_CACHE_DIR": str(cache)}
    taken = perf_path(current_target(), environ)
    taken.mkdir(parents=True)  # the file's place is a folder: the save fails after the run
    done = _mltui("perf", "--device", "cpu", "--json", "--seconds", "20", tmp_path=tmp_path)
    assert done.returncode == 1
    data = json.loads(done.stdout)  # the finished report is not lost (whatever it measured)
    jsonschema.validate(data, perf_json_schema())
    assert [d["device"] for d in data["devices"]] == ["cpu"]
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "cannot keep" in line] == [
        f"mltui: cannot keep the result in {cache}; it is only above"
    ]


def test_schema_is_the_committed_one(tmp_path: Path) -> None:
    done = _mltui("perf", "--schema", tmp_path=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout) == perf_json_schema()
    committed = json.loads((ROOT / "probes" / "perf.schema.json").read_text())
    assert json.loads(done.stdout) == committed


@pytest.mark.frameworks
def test_ctrl_c_mid_run_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    word = uuid.uuid4().hex
    proc = subprocess.Popen(
        [str(MLTUI), "perf", "--device", "cpu", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path, **{MARKER: word}),
    )
    try:
        # Wait until a load process runs (more than mltui itself carries the marker).
        deadline = time.monotonic() + 60
        while len(_carrying(word)) < 2:
            assert time.monotonic() < deadline, "no load process started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while _carrying(word) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _carrying(word) == []


def test_plain_ascii_output_draws_the_bars_with_ascii() -> None:
    # Under LANG=C or TERM=dumb every character outside ASCII would be replaced: the bars too.
    import io

    from rich.console import Console

    from tests.perf_fixtures import canned_report
    from tui.cli.perf import render_perf
    from tui.perf_view import sparkline

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(render_perf(canned_report(), ascii=True))
    text = out.getvalue()
    assert "########..  80%" in text and "#######...  74%" in text
    assert "█" not in text and "░" not in text
    assert sparkline([1.0, 2.0, None, 4.0], 4.0, 6, ascii=True) == "  -= #"
    assert sparkline([1.0, 2.0, None, 4.0], 4.0, 6) == "  ▃▅ █"
