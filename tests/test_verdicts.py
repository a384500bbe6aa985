"""No false all-clear: a library that did not run is an error, nothing installed is a warning,
the CLI and the dashboard say the same words, and sample results belong to their interpreter."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from probes.diagnosis import ALL_CLEAR, diagnose, verdict
from probes.model import CheckResult, DeviceResult, LibraryReport, NvmlReport, TargetPython
from probes.runner import SampleRef
from tests.support import canned_check, fixed_target, make_services, screen_text, wait_for
from tests.test_fault_matrix import (
    PROBE_FAULTS,
    ProbeFault,
    check_json,
    fake_python,
    library,
    marker,
    mltui,
)
from tui.app import MltuiApp
from tui.cli.check import render_report
from tui.presentation import terminal_theme
from tui.widgets.hardware_pane import findings_renderable

__all__ = ["marker"]

TARGET = TargetPython(executable="/opt/env/bin/python", version="3.11.0")
NO_DRIVER = NvmlReport(status="no_driver", reason="no NVIDIA driver: libnvidia-ml not found")


def _plain(renderable: RenderableType) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=300, color_system=None, theme=terminal_theme()).print(renderable)
    return buffer.getvalue()


def _lib(name: str, status: str, **fields: object) -> LibraryReport:
    return LibraryReport(name=name, display_name=name.title(), status=status, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("crashed", "crashed"),
        ("timeout", "timed out"),
        ("bad_output", "printed something that is not a report"),
        ("import_error", "fails to import"),
    ],
)
def test_a_library_that_did_not_run_is_an_error_with_its_evidence(status: str, words: str) -> None:
    lib = _lib("torch", status, error="killed by SIGSEGV", stderr_tail=["x", "Fatal Python error"])
    ok = _lib("sklearn", "ok", version="1.5", devices=[DeviceResult("cpu", computation_ok=True)])
    findings = diagnose(NO_DRIVER, [lib, ok], environ={}, target=TARGET)
    (finding,) = [f for f in findings if f.rule == "library_did_not_run"]
    assert finding.severity == "error" and finding.library == "torch"
    assert finding.title == f"Torch {words}: it was not checked"
    assert "killed by SIGSEGV" in finding.evidence and "Fatal Python error" in finding.evidence
    assert verdict(findings) != ALL_CLEAR


@pytest.mark.parametrize("status", ["ok", "degraded", "not_installed"])
def test_a_library_that_ran_or_is_absent_is_no_such_error(status: str) -> None:
    libs = [_lib("torch", status), _lib("sklearn", "ok")]
    rules = {f.rule for f in diagnose(NO_DRIVER, libs, environ={}, target=TARGET)}
    assert "library_did_not_run" not in rules


@pytest.mark.parametrize("count", [1, 3, 7])
def test_nothing_installed_is_a_warning_never_all_clear(count: int) -> None:
    names = ["torch", "tensorflow", "sklearn", "theano", "pytensor", "caffe", "cv2"][:count]
    findings = diagnose(
        NO_DRIVER, [_lib(n, "not_installed") for n in names], environ={}, target=TARGET
    )
    (finding,) = [f for f in findings if f.rule == "no_library_installed"]
    assert finding.severity == "warning"
    assert finding.title == "no ML library installed in /opt/env/bin/python: nothing was checked"
    assert verdict(findings) == "1 warning found."


def test_one_library_installed_is_not_nothing() -> None:
    libs = [_lib("torch", "not_installed"), _lib("sklearn", "ok")]
    assert not [
        f for f in diagnose(NO_DRIVER, libs, environ={}) if f.rule == "no_library_installed"
    ]


def test_verdict_words() -> None:
    check = canned_check()
    assert verdict([]) == ALL_CLEAR
    assert verdict(check.findings) == "1 error found."
    warning = diagnose(NO_DRIVER, [_lib("torch", "not_installed")], environ={})
    assert verdict(check.findings + warning) == "1 error, 1 warning found."


@pytest.mark.parametrize("case", ["all clear", "nothing installed", "crashed probe"])
def test_cli_and_dashboard_findings_agree_word_for_word(case: str) -> None:
    check = canned_check()
    if case == "all clear":
        check.findings = []
    else:
        status = "not_installed" if case == "nothing installed" else "crashed"
        check.libraries = [_lib("torch", status, error="killed by SIGKILL")]
        check.findings = diagnose(NO_DRIVER, check.libraries, environ={}, target=check.target)
    cli = " ".join(_plain(render_report(check)).split())
    dashboard = " ".join(_plain(findings_renderable(check.findings)).split())
    line = verdict(check.findings)
    assert line in cli and line in dashboard
    for finding in check.findings:
        assert finding.title in cli and finding.title in dashboard
        assert finding.fix in cli and finding.fix in dashboard
    if case != "all clear":
        assert ALL_CLEAR not in cli and ALL_CLEAR not in dashboard


# --------------------------------------------------------------------- the real command


def test_an_interpreter_without_any_library(tmp_path: Path, marker: str) -> None:
    """`mltui check --python /usr/bin/python3` (none of the libraries there): a warning."""
    python = "/usr/bin/python3"
    if not Path(python).exists():
        pytest.skip("no /usr/bin/python3")
    done = mltui("check", "--python", python, "--json", cache=tmp_path / "cache", marker=marker)
    data = check_json(done)
    if any(lib["status"] != "not_installed" for lib in data["libraries"]):
        pytest.skip("this /usr/bin/python3 has an ML library")
    (finding,) = [f for f in data["findings"] if f["rule"] == "no_library_installed"]
    assert finding["title"].endswith(": nothing was checked")
    text = mltui("check", "--python", python, cache=tmp_path / "cache", marker=marker)
    assert "nothing was checked" in text.stdout and ALL_CLEAR not in text.stdout


@pytest.mark.parametrize("fault", PROBE_FAULTS, ids=[f.name for f in PROBE_FAULTS])
def test_a_failed_probe_exits_1_with_an_error_finding(
    fault: ProbeFault, tmp_path: Path, marker: str
) -> None:
    python = fake_python(tmp_path, marker, fault.body)
    done = mltui(
        "check", "--python", str(python), "--only", "sklearn", "--timeout", "2", "--json",
        cache=tmp_path / "cache", marker=marker,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert library(data, "sklearn")["status"] == fault.status
    (finding,) = [f for f in data["findings"] if f["rule"] == "library_did_not_run"]
    assert finding["severity"] == "error" and finding["library"] == "sklearn"
    for words in fault.says:
        assert words in finding["evidence"]


# --------------------------------------------------------------------- the dashboard


async def test_dashboard_says_nothing_was_checked() -> None:
    check = canned_check()
    check.libraries = [_lib(n, "not_installed") for n in ("torch", "sklearn")]
    check.findings = diagnose(NO_DRIVER, check.libraries, environ={}, target=check.target)
    app = MltuiApp(target=fixed_target(), services=make_services(check=check), refresh=3600)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: "nothing was checked" in screen_text(app))
        assert "1 warning found." in screen_text(app)
        assert ALL_CLEAR not in screen_text(app)


async def test_sample_results_belong_to_their_interpreter(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from tui.widgets.run_pane import RunPane

    script = tmp_path / "quick.py"
    script.write_text("print('hi')\n")
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(extra_samples=[SampleRef(name="quick", path=str(script))]),
        refresh=3600,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        pane = app.query_one(RunPane)
        await wait_for(pilot, lambda: "quick" in pane.samples)
        pane.run_samples(["quick"])
        await wait_for(pilot, lambda: pane.last_status.get("quick") == "pass", timeout=60)
        table = pane.query_one("#samples-table", DataTable)

        def shown() -> str:
            return str(table.get_cell("quick", "last"))

        assert shown() == "pass"
        other = TargetPython(executable="/usr/bin/python3", version="3.11.2", is_current=False)
        app.set_target(other)
        await wait_for(pilot, lambda: shown() == "-")
        assert pane.last_status == {}
        app.set_target(fixed_target())
        await wait_for(pilot, lambda: shown() == "pass")


def test_check_result_roundtrip_keeps_the_new_findings() -> None:
    """The findings are plain data: the cache and --json carry them like any other."""
    from probes.model import from_dict, to_dict

    check = canned_check()
    check.findings = diagnose(NO_DRIVER, [_lib("torch", "timeout")], environ={})
    again = from_dict(CheckResult, to_dict(check))
    assert again.findings == check.findings


# --------------------------------------------------------------------- a verdict is a proof
#
# Issue 17, class 3: a library is ok only when it proved a computation on each device it claims.
# Each vector is a report a probe could send; every path (the diagnosis, the status mltui gives
# the library, the CLI's words and exit status, the dashboard's findings) must refuse the
# all-clear for each.

CPU_OK = DeviceResult("cpu", computation_ok=True)
UNPROVEN = {
    # the issue's: JAX_PLATFORMS=cuda without a GPU, every backend's error only in build.*_error
    "jax-no-backend": (
        "ok",
        [],
        {"cpu_error": "AssertionError", "gpu_error": "AssertionError"},
        None,
        "error",
    ),
    "degraded-with-error": ("degraded", [CPU_OK], {}, "cuda:0 out of memory", "warning"),
    # vectors of our own
    "no-device-no-word": ("ok", [], {}, None, "error"),
    "device-never-tried": ("ok", [DeviceResult("cuda", 0, computation_ok=None)], {}, None, "error"),
    "wrong-result": (
        "ok",
        [DeviceResult("cuda", 0, computation_ok=False, error="sum 11 != 10")],
        {},
        None,
        "error",
    ),
    "cpu-proved-gpu-not": (
        "ok",
        [CPU_OK, DeviceResult("cuda", 1, computation_ok=None)],
        {},
        None,
        "warning",
    ),
    "degraded-without-a-word": ("degraded", [CPU_OK], {}, None, "warning"),
}


def _unproven(name: str) -> LibraryReport:
    status, devices, build, error, _ = UNPROVEN[name]
    return _lib(
        "jax", status, version="0.10", devices=list(devices), build=dict(build), error=error
    )


@pytest.mark.parametrize("name", list(UNPROVEN))
def test_a_library_that_proved_nothing_is_never_all_clear(name: str) -> None:
    from probes.diagnosis import proof_problem, require_proof

    severity = UNPROVEN[name][4]
    lib = _unproven(name)
    findings = diagnose(NO_DRIVER, [lib], environ={"JAX_PLATFORMS": "cuda"}, target=TARGET)
    (finding,) = [f for f in findings if f.rule == "library_unproven"]
    assert finding.severity == severity and finding.library == "jax"
    assert finding.evidence == proof_problem(lib)
    assert "JAX_PLATFORMS=cuda" in finding.fix
    assert verdict(findings) != ALL_CLEAR
    # the status mltui gives it: never "ok"
    assert require_proof(lib).status == "degraded"
    # the CLI's report and the dashboard's findings say the same, never the all-clear
    check = canned_check(TARGET)
    check.libraries = [_unproven(name)]
    check.findings = findings
    shown = _plain(render_report(check))
    assert finding.title in shown and ALL_CLEAR not in shown
    assert finding.title in _plain(findings_renderable(findings))
    assert check.has_errors == (severity == "error")


def test_build_errors_are_the_evidence() -> None:
    from probes.diagnosis import proof_problem

    problem = proof_problem(_unproven("jax-no-backend"))
    assert (
        problem
        == "no device ran a computation (cpu_error: AssertionError; gpu_error: AssertionError)"
    )


@pytest.mark.parametrize(
    "devices",
    [[CPU_OK], [CPU_OK, DeviceResult("cuda", 0, computation_ok=True)]],
    ids=["cpu", "cpu+cuda"],
)
def test_a_library_that_proved_each_device_is_no_finding(devices: list[DeviceResult]) -> None:
    from probes.diagnosis import proof_problem, require_proof

    lib = _lib("torch", "ok", devices=devices)
    assert proof_problem(lib) is None and require_proof(lib).status == "ok"
    assert verdict(diagnose(NO_DRIVER, [lib], environ={}, target=TARGET)) == ALL_CLEAR


REPORTS_THAT_PROVE_NOTHING = {
    "no devices": {"status": "ok", "devices": [], "build": {"gpu_error": "AssertionError"}},
    "never tried": {"status": "ok", "devices": [{"kind": "cpu", "computation_ok": None}]},
    "wrong result": {"status": "ok", "devices": [{"kind": "cpu", "computation_ok": False}]},
}


@pytest.mark.parametrize("name", list(REPORTS_THAT_PROVE_NOTHING))
def test_the_real_command_exits_1_when_a_library_proved_nothing(
    name: str, tmp_path: Path, marker: str
) -> None:
    """A probe that claims "ok" without a proof: `mltui check` says so, status degraded, exit 1."""
    report = {
        "event": "report",
        "name": "sklearn",
        "display_name": "scikit-learn",
        "version": "1.5.0",
        **REPORTS_THAT_PROVE_NOTHING[name],
    }
    python = fake_python(tmp_path, marker, f"print({json.dumps(json.dumps(report))})")
    common = ("--python", str(python), "--only", "sklearn")
    done = mltui("check", *common, "--json", cache=tmp_path / "cache", marker=marker)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert library(data, "sklearn")["status"] == "degraded"
    assert [f["rule"] for f in data["findings"]] == ["library_unproven"]
    text = mltui("check", *common, cache=tmp_path / "cache", marker=marker)
    assert text.returncode == 1 and ALL_CLEAR not in text.stdout
    assert "not proven to work" in text.stdout


def test_jax_platforms_cuda_without_a_gpu_is_not_all_clear(tmp_path: Path, marker: str) -> None:
    """The issue's case for real: JAX installed, JAX_PLATFORMS=cuda, no GPU here."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed in this environment")
    done = mltui(
        "check", "--only", "jax", cache=tmp_path / "cache", marker=marker,
        env={"JAX_PLATFORMS": "cuda"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert ALL_CLEAR not in done.stdout
    assert "JAX ran no computation" in done.stdout


# --------------------------------------------------------------------- exit statuses, said once


def test_exit_statuses_agree_in_readme_help_and_behaviour(tmp_path: Path, marker: str) -> None:
    """tui/exit_codes.py states them; README's section and `mltui --help` hold the same lines,
    and the command exits with them (0 help and schema, 2 bad usage; 1 and 130 are staged in
    the tests above and in test_fault_matrix.py, 141 in test_bad_data.py)."""
    import signal

    from tui.exit_codes import (
        EXIT_BROKEN_PIPE,
        EXIT_FINDINGS,
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_STATUSES,
        EXIT_USAGE,
        exit_status_lines,
    )

    assert [code for code, _ in EXIT_STATUSES] == [0, 1, 2, 130, 141]
    assert (EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED) == (0, 1, 2, 130)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit status", 1)[1].split("```", 2)[1]
    assert section.strip("\n").splitlines() == exit_status_lines()
    helped = mltui("--help", cache=tmp_path / "cache", marker=marker)
    assert helped.returncode == EXIT_OK
    assert "\n".join(exit_status_lines()) in helped.stdout
    assert mltui("check", "--schema", cache=tmp_path / "c", marker=marker).returncode == EXIT_OK
    assert mltui("check", "--nope", cache=tmp_path / "c", marker=marker).returncode == EXIT_USAGE
    # the quiet end of `| head` is staged in test_bad_data.py::test_a_reader_that_went_away...
    assert EXIT_BROKEN_PIPE == 128 + signal.SIGPIPE
