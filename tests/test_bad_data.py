"""Bad data and bad surroundings are one line, never a traceback, never a hang (issue 9, part 4).

The cache (one validation for every reader), partial checks merged into the saved one, the probe
protocol (huge lines, wrongly typed fields), interpreters too old or answering in the wrong
shape, and the command's surroundings: closed stdout, broken pipe, full disk, ASCII-only
encoding, non-finite numbers, an unknown `~user`, FIFOs and devices where files are read.
Real `mltui` subprocesses and real files; the old interpreters are fake scripts that answer as
Python 2.7 / 3.3 / 3.7 do (no such interpreter can be installed here), as the fault matrix's
"too old" row does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from probes.cache import check_path, load_check, save_check
from probes.check import merge_checks
from probes.envs import python_version, scan_site_packages
from probes.files import NotARegularFile, read_regular
from probes.model import CheckResult, TargetPython, parse_check, to_dict
from probes.target import TargetError, resolve_target
from tests.support import (
    canned_check,
    fixed_target,
    make_services,
    screen_text,
    wait_for,
    wait_until,
)
from tests.test_fault_matrix import (
    MARKER_VARIABLE,
    MLTUI,
    REAL_PYTHON,
    _live_with,
    cached_result,
    fake_python,
    marker,
    mltui,
    write,
)
from tests.test_session_end import assert_nothing_left

__all__ = ["marker"]

ROOT = Path(__file__).resolve().parent.parent

#: A probe that answers at once with a report holding a field of the wrong type.
QUICK_PROBE = """
import json
print(json.dumps({"event": "report", "status": "import_error", "error": "no module",
                  "version": 12, "stderr_tail": "not a list"}), flush=True)
"""


# ------------------------------------------------------------------------------ the cache


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


def _bad_results() -> dict[str, Callable[[dict[str, Any]], Any]]:
    def set_path(path: list[Any], value: Any) -> Callable[[dict[str, Any]], Any]:
        def change(data: dict[str, Any]) -> Any:
            target: Any = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            return data

        return change

    return {
        "a list, not a check": lambda data: [data],
        "null libraries": set_path(["libraries"], None),
        "null findings": set_path(["findings"], None),
        "null devices": set_path(["libraries", 0, "devices"], None),
        "number as version": set_path(["libraries", 0, "version"], 3.5),
        "unknown status": set_path(["libraries", 0, "status"], "fine"),
        "bool as number": set_path(["elapsed_s"], True),
        "deep nesting": set_path(["libraries", 0, "build"], {"x": _deep(200)}),
        "missing system": lambda data: {k: v for k, v in data.items() if k != "system"},
    }


BAD_RESULTS = _bad_results()


def _write_cache(target: TargetPython, result: Any, *, raw: str | None = None) -> Path:
    path = check_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    envelope = {
        "cache_format": 1,
        "interpreter": f"{os.path.realpath(target.prefix or '')}\0"
        f"{os.path.realpath(target.executable)}",
        "saved_at": time.time(),
        "result": result,
    }
    path.write_text(raw if raw is not None else json.dumps(envelope), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(BAD_RESULTS))
def test_cache_of_the_wrong_shape_is_ignored(case: str, cache_in_tmp: Path) -> None:
    target = fixed_target()
    data = BAD_RESULTS[case](to_dict(canned_check(target)))
    _write_cache(target, data)
    assert load_check(target) is None
    with pytest.raises(ValueError):
        parse_check(data)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_cache_with_non_finite_numbers_is_ignored(constant: str, cache_in_tmp: Path) -> None:
    target = fixed_target()
    text = json.dumps(
        {
            "cache_format": 1,
            "interpreter": f"{os.path.realpath(target.prefix or '')}\0"
            f"{os.path.realpath(target.executable)}",
            "saved_at": 1.0,
            "result": to_dict(canned_check(target)),
        }
    ).replace('"elapsed_s": 0.8', f'"elapsed_s": {constant}')
    assert constant in text
    _write_cache(target, None, raw=text)
    assert load_check(target) is None


def test_cache_deeply_nested_beyond_the_parser_is_ignored(cache_in_tmp: Path) -> None:
    target = fixed_target()
    _write_cache(target, None, raw="[" * 100_000 + "]" * 100_000)
    assert load_check(target) is None


def test_cache_that_is_a_fifo_or_a_folder_is_ignored_without_waiting(cache_in_tmp: Path) -> None:
    target = fixed_target()
    path = check_path(target)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    # Run where a wait cannot hang the suite: a reader that opened the FIFO would block until
    # a writer came; the test is the writer of last resort.
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(load_check(target)), daemon=True)
    reader.start()
    reader.join(30)
    waited = reader.is_alive()
    if waited:
        with open(path, "w"):  # let it go
            pass
    assert not waited, "load_check waited on the FIFO"
    assert result == [None]
    path.unlink()
    path.mkdir()
    assert load_check(target) is None


def test_a_good_cache_still_loads(cache_in_tmp: Path) -> None:
    target = fixed_target()
    assert save_check(canned_check(target)) is not None
    cached = load_check(target)
    assert cached is not None and len(cached.result.libraries) == 7


async def test_dashboard_on_a_bad_cache_checks_and_does_not_wait_forever(
    cache_in_tmp: Path,
) -> None:
    """The dashboard's reader is the same validation: a bad cache only costs the head start."""
    from probes.cache import load_check as real_load
    from tui.app import MltuiApp
    from tui.services import CachedCheck

    target = fixed_target()
    _write_cache(target, BAD_RESULTS["null libraries"](to_dict(canned_check(target))))

    def load(t: TargetPython) -> CachedCheck | None:
        cached = real_load(t)
        return None if cached is None else CachedCheck(cached.result, cached.age_s)

    app = MltuiApp(target=target, services=make_services(load_check=load), refresh=3600)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "checking again" not in screen_text(app), timeout=20)
        await wait_for(pilot, lambda: "1 error found." in screen_text(app))


# ------------------------------------------------------------------- partial checks


def test_a_partial_check_is_merged_never_shrinks(tmp_path: Path) -> None:
    full = canned_check()
    for report in full.libraries:
        report.checked_at = "2025-01-01T00:00:00Z"
    partial = canned_check()
    partial.created_at = "2025-06-01T00:00:00Z"
    fresh = next(r for r in partial.libraries if r.name == "torch")
    fresh.version, fresh.checked_at = "9.9", "2025-06-01T00:00:00Z"
    partial.libraries = [fresh]
    merged = merge_checks(partial, full)
    assert [r.name for r in merged.libraries] == [r.name for r in full.libraries]
    times = {r.name: r.checked_at for r in merged.libraries}
    assert times.pop("torch") == "2025-06-01T00:00:00Z"
    assert set(times.values()) == {"2025-01-01T00:00:00Z"}
    assert next(r for r in merged.libraries if r.name == "torch").version == "9.9"
    assert merge_checks(partial, None) is partial


def _utc_stamp() -> str:
    """Now, in checked_at's format (UTC, whole seconds)."""
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_check_only_keeps_the_saved_full_check(tmp_path: Path, marker: str) -> None:
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    cache = tmp_path / "cache"
    args = ("check", "--python", str(python), "--timeout", "20", "--json")
    mltui(*args, "--only", "sklearn,torch,cv2", cache=cache, marker=marker)
    first = cached_result(cache, python)
    assert first is not None and len(first.libraries) == 3
    kept = {r.name: r.checked_at for r in first.libraries}
    # checked_at has one-second resolution: the next check must start in a later second.
    wait_until(lambda: _utc_stamp() > kept["torch"], 5, "the clock to pass the first stamp")
    done = mltui(*args, "--only", "torch", cache=cache, marker=marker)
    assert len(json.loads(done.stdout)["libraries"]) == 1  # the report is what was asked
    after = cached_result(cache, python)
    assert after is not None
    assert sorted(r.name for r in after.libraries) == ["cv2", "sklearn", "torch"]
    times = {r.name: r.checked_at for r in after.libraries}
    assert times["sklearn"] == kept["sklearn"] and times["cv2"] == kept["cv2"]
    assert times["torch"] != kept["torch"]
    assert_nothing_left(marker)


# -------------------------------------------------------------------- probe protocol


def _probe(tmp_path: Path, marker: str, body: str, timeout: str = "30") -> dict[str, Any]:
    python = fake_python(tmp_path, marker, body)
    done = mltui(
        "check", "--python", str(python), "--only", "sklearn", "--timeout", timeout, "--json",
        cache=tmp_path / "cache", marker=marker,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)["libraries"][0]
    return report


@pytest.mark.parametrize("size", [20_000, 1_000_000])
def test_a_huge_report_line_arrives_whole(size: int, tmp_path: Path, marker: str) -> None:
    body = f"""
import json
print(json.dumps({{"event": "report", "status": "import_error",
                  "error": "E" * {size}, "version": "V" * 20000}}), flush=True)
"""
    report = _probe(tmp_path, marker, body)
    assert report["status"] == "import_error"
    assert report["error"] == "E" * size and report["version"] == "V" * 20000


def test_a_line_beyond_every_bound_is_cut_and_said(tmp_path: Path, marker: str) -> None:
    body = """
import sys
sys.stdout.write('{"event": "report", "status": "ok", "error": "' + "E" * 5000000 + '"}\\n')
sys.stdout.flush()
"""
    report = _probe(tmp_path, marker, body)
    assert report["status"] == "bad_output"
    assert "(cut)" in report["error"] and len(report["error"]) < 1000


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 12), ("stderr_tail", "not a list"), ("build", ["x"]), ("elapsed_s", "slow")],
)
def test_a_field_of_the_wrong_type_degrades_only_that_field(
    field: str, value: Any, tmp_path: Path, marker: str
) -> None:
    report_fields = {
        "event": "report",
        "status": "import_error",
        "error": "ImportError: no",
        "location": "/x",
        field: value,
    }
    body = f"import json\nprint(json.dumps({report_fields!r}), flush=True)\n"
    report = _probe(tmp_path, marker, body)
    assert report["status"] == "import_error" and report["location"] == "/x"
    assert "ImportError: no" in report["error"]
    assert f"fields of the wrong type were ignored: {field}" in report["error"]


def test_the_probe_writer_cuts_long_fields_and_marks_them() -> None:
    spec = importlib.util.spec_from_file_location(
        "probe_library_for_test", ROOT / "probes" / "scripts" / "probe_library.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bounded = module._bounded({"version": "v" * 20000, "devices": [{"error": "e" * 30000}]})
    assert bounded["version"].startswith("v" * 16384)
    assert bounded["version"].endswith("[cut by the probe: 3616 more characters]")
    assert bounded["devices"][0]["error"].endswith("[cut by the probe: 13616 more characters]")
    assert module._bounded({"short": "s", "n": 3}) == {"short": "s", "n": 3}


# ---------------------------------------------------------------------- interpreters


def _old_python(tmp_path: Path, version: str, *, knows_isolated: bool) -> Path:
    """A script that answers as an old CPython does: without -I before 3.4."""
    major, minor = version.split(".")[:2]
    answer = json.dumps(
        {
            "version": version,
            "implementation": "CPython",
            "prefix": "/usr",
            "executable": f"/usr/bin/python{major}.{minor}",
            "info": [int(major), int(minor)],
        }
    )
    refuse = "" if knows_isolated else 'if [ "$1" = "-I" ]; then echo "Unknown option: -I" >&2; '
    refuse += "" if knows_isolated else 'echo "usage: python [option] ..." >&2; exit 2; fi\n'
    return write(
        tmp_path / f"python{version}",
        f"#!/bin/sh\n{refuse}echo '{answer}'\n",
        executable=True,
    )


@pytest.mark.parametrize(
    ("version", "knows_isolated"), [("2.7.18", False), ("3.3.7", False), ("3.7.17", True)]
)
def test_an_old_python_is_too_old(version: str, knows_isolated: bool, tmp_path: Path) -> None:
    python = _old_python(tmp_path, version, knows_isolated=knows_isolated)
    with pytest.raises(TargetError, match=f"Python {version} is too old"):
        resolve_target(str(python))


WRONG_SHAPES = {
    "a list": "[3, 11]",
    "strings as version numbers": json.dumps(
        {"version": "3.11", "implementation": "CPython", "prefix": "/", "info": ["3", "11"]}
    ),
    "no version": json.dumps({"implementation": "CPython", "prefix": "/", "info": [3, 11]}),
    "three numbers": json.dumps(
        {"version": "3", "implementation": "C", "prefix": "/", "info": [3, 11, 0]}
    ),
    "prefix a number": json.dumps(
        {"version": "3.11", "implementation": "C", "prefix": 1, "info": [3, 11]}
    ),
}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrongly_shaped_answer_is_one_line_and_exit_2(
    shape: str, tmp_path: Path, marker: str
) -> None:
    python = write(
        tmp_path / f"{marker}-python", f"#!/bin/sh\necho '{WRONG_SHAPES[shape]}'\n", executable=True
    )
    done = mltui("check", "--python", str(python), cache=tmp_path / "c", marker=marker)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "wrong shape" in lines[0], done.stderr
    assert done.stdout == ""


# ----------------------------------------------------------------------- surroundings


def _environ(tmp_path: Path, marker: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLTUI_CACHE_DIR": str(tmp_path / "cache"),
        MARKER_VARIABLE: marker,
        "COLUMNS": "120",
        **extra,
    }


@pytest.mark.parametrize("command", ["envs", "compare", "check"])
def test_stdout_closed_is_one_line(command: str, tmp_path: Path, marker: str) -> None:
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    argv = f"{MLTUI} {command}" + (
        f" --python {python} --only sklearn" if command == "check" else ""
    )
    done = subprocess.run(
        ["sh", "-c", f"exec {argv} >&-"],
        capture_output=True,
        text=True,
        env=_environ(tmp_path, marker),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "mltui: standard output is closed: there is nowhere to write to"
    assert_nothing_left(marker)


@pytest.mark.parametrize("command", ["check", "check --json", "envs", "compare"])
def test_a_reader_that_went_away_is_a_quiet_exit(command: str, tmp_path: Path, marker: str) -> None:
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    argv = [str(MLTUI), *command.split()]
    if command.startswith("check"):
        argv += ["--python", str(python), "--only", "sklearn"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        done = subprocess.run(
            argv,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=_environ(tmp_path, marker),
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE, done.stderr
    assert done.stderr == ""
    assert_nothing_left(marker)


def test_run_piped_into_head_ends_quietly_and_kills_the_sample(tmp_path: Path, marker: str) -> None:
    sample = write(
        tmp_path / f"{marker}-flood.py",
        """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", sys.argv[0]])
        for i in range(1000000):
            print("line", i, flush=True)
        time.sleep(300)
        """,
    )
    done = subprocess.run(
        ["sh", "-c", f"{MLTUI} run {sample} | head -3; exit ${{PIPESTATUS:-0}}"],
        capture_output=True,
        text=True,
        env=_environ(tmp_path, marker),
        timeout=60,
    )
    assert "line 1" in done.stdout and "Traceback" not in done.stderr
    assert done.stderr == ""
    assert_nothing_left(marker, within_s=3)


@pytest.mark.parametrize("command", ["envs", "compare", "check", "check --json"])
def test_a_full_disk_for_stdout_is_one_line(command: str, tmp_path: Path, marker: str) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    argv = [str(MLTUI), *command.split()]
    if command.startswith("check"):
        argv += ["--python", str(python), "--only", "sklearn"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            argv,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=_environ(tmp_path, marker),
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mltui: cannot write the output: No space left on device"
    ]
    assert_nothing_left(marker)


@pytest.mark.parametrize("command", ["check", "envs", "compare", "info torch"])
def test_an_ascii_only_encoding_prints_without_a_traceback(
    command: str, tmp_path: Path, marker: str
) -> None:
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    argv = [str(MLTUI), *command.split()]
    if command == "check":
        argv += ["--python", str(python), "--only", "sklearn"]
    done = subprocess.run(
        argv,
        capture_output=True,
        env=_environ(tmp_path, marker, PYTHONIOENCODING="ascii", LANG="C", LC_ALL="C"),
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    assert b"Traceback" not in done.stderr and done.stdout
    assert done.stdout.isascii()
    assert_nothing_left(marker)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--timeout", "nan"],
        ["check", "--timeout", "inf"],
        ["run", "all", "--timeout=-inf"],
        ["--refresh", "nan"],
        ["--refresh", "0"],
        ["--refresh=-1"],
        ["--refresh", "inf"],
    ],
)
def test_non_finite_or_non_positive_numbers_are_refused(
    args: list[str], tmp_path: Path, marker: str
) -> None:
    done = mltui(*args, cache=tmp_path / "c", marker=marker)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # one line, no usage block
    assert "must be above zero and finite" in line and line.endswith("--help)")


@pytest.mark.parametrize("value", ["~nosuchuser-mltui/cache", "~nosuchuser-mltui"])
def test_cache_dir_with_an_unknown_user_is_one_warning(
    value: str, tmp_path: Path, marker: str
) -> None:
    python = fake_python(tmp_path, marker, QUICK_PROBE)
    done = mltui(
        "check", "--python", str(python), "--only", "sklearn",
        cache=tmp_path / "unused", marker=marker, env={"MLTUI_CACHE_DIR": value},
    )  # fmt: skip
    assert done.returncode == 1  # the probe's import error
    assert done.stderr.strip().splitlines() == [
        f"mltui: warning: cannot save the check in MLTUI_CACHE_DIR={value}: cannot find that "
        "folder (Could not determine home directory.); the next start will probe again"
    ]
    assert load_check(fixed_target()) is None or True  # the reader does not raise either
    assert_nothing_left(marker)


def _make_env(tmp_path: Path) -> tuple[Path, Path]:
    prefix = tmp_path / "env"
    site = prefix / "lib" / "python3.11" / "site-packages"
    (site / "torch-2.4.0.dist-info").mkdir(parents=True)
    (site / "scikit_learn-1.5.0.dist-info").mkdir(parents=True)
    return prefix, site


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "huge"])
def test_envs_reads_only_bounded_regular_files(kind: str, tmp_path: Path) -> None:
    prefix, site = _make_env(tmp_path)
    metadata = site / "torch-2.4.0.dist-info" / "METADATA"
    cfg = prefix / "pyvenv.cfg"
    if kind == "fifo":
        os.mkfifo(metadata)
        os.mkfifo(cfg)
    elif kind == "device":
        metadata.symlink_to("/dev/zero")
        cfg.symlink_to("/dev/urandom")
    elif kind == "folder":
        metadata.mkdir()
        cfg.mkdir()
    else:
        metadata.write_text("Name: torch\nVersion: 2.4.0\n" + "x" * (20 * 1024 * 1024))
        cfg.write_text("version = 3.11.4\n" + "y" * (20 * 1024 * 1024))
    (site / "scikit_learn-1.5.0.dist-info" / "METADATA").write_text(
        "Name: scikit-learn\nVersion: 1.5.0\n\n"
    )
    found: dict[str, Any] = {}

    def scan() -> None:
        found["libraries"] = scan_site_packages([str(site)])
        found["version"] = python_version(str(prefix))

    worker = threading.Thread(target=scan, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "envs hung on a special file"
    assert found["libraries"]["torch"] == "2.4.0"  # from the folder's name, or the file
    assert found["libraries"]["sklearn"] == "1.5.0"
    assert found["version"] in ("3.11", "3.11.4")


def test_read_regular_refuses_special_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/null"), tmp_path):
        with pytest.raises(OSError):
            read_regular(path, 100)
    with pytest.raises(NotARegularFile):
        read_regular(fifo, 100)
    big = tmp_path / "big"
    big.write_bytes(b"z" * 5000)
    assert read_regular(big, 100) == b"z" * 100


def test_envs_command_with_a_fifo_in_an_environment(tmp_path: Path, marker: str) -> None:
    """The real `mltui envs` over a home holding a venv whose metadata is a FIFO."""
    home = tmp_path / "home"
    venv = home / ".venv"
    site = venv / "lib" / "python3.11" / "site-packages" / "torch-2.4.0.dist-info"
    site.mkdir(parents=True)
    os.mkfifo(site / "METADATA")
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(REAL_PYTHON)
    os.mkfifo(venv / "pyvenv.cfg")
    done = subprocess.run(
        [str(MLTUI), "envs", "--json"],
        capture_output=True,
        text=True,
        env=_environ(tmp_path, marker, HOME=str(home)),
        cwd=str(home),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    envs = json.loads(done.stdout)
    assert "Traceback" not in done.stderr
    assert isinstance(envs, list)
    assert _live_with(marker) == []


def test_check_result_schema_problem_names_the_place() -> None:
    data = to_dict(canned_check())
    data["libraries"][2]["devices"] = None
    with pytest.raises(ValueError, match=r"\$\.libraries\[2\]\.devices"):
        parse_check(data)
    assert isinstance(parse_check(to_dict(canned_check())), CheckResult)


def test_sys_executable_is_the_real_python() -> None:
    assert Path(sys.executable).exists()
