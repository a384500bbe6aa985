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
