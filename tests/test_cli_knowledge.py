"""`mltui compare`, `info`, `choose` and `content check`: output, JSON and exit codes."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from content.knowledge import CONTENT_ROOT
from probes.cache import save_check
from probes.model import CheckResult, DeviceResult, GpuInfo, LibraryReport, NvmlReport
from probes.target import current_target
from tui.cli import main

ERROR_LINE = re.compile(r"^.+:\d+: .+$")
CHOOSE = [
    "choose",
    "--level",
    "beg",
    "--kind",
    "deep",
    "--application",
    "image",
    "--hardware",
    "gpu",
]


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Commands read no real terminal, and the check cache is this test's own folder."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare"], capsys)
    assert code == 0
    for name in ("scikit-learn", "Theano", "Caffe", "PyTorch", "TensorFlow", "Kite"):
        assert name in out
    # Cells are text, not Rich markup (which would eat "[and-cuda]"); a command stays on one line.
    assert any("pip install 'tensorflow[and-cuda]'" in line for line in out.splitlines())


def test_compare_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert [r["id"] for r in data["rows"]] == [
        "sklearn",
        "theano",
        "caffe",
        "torch",
        "tensorflow",
        "jax",
    ]
    assert data["rows"][0]["library"] == "scikit-learn"
    assert sum(c["article"] for c in data["columns"]) == 6 and len(data["columns"]) == 10
    theano = data["rows"][1]
    assert theano["maintained"] is False and theano["latest_release"] == "1.0.5"
    assert "Kite" in data["source"]


def test_info_shows_page_and_real_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", "pytorch"], capsys)
    assert code == 0
    assert "Since then" in out and "PyTorch Foundation" in out
    sample_line = next(
        line.strip()
        for line in (CONTENT_ROOT / "samples" / "torch_tensors.py").read_text().splitlines()
        if line.strip().startswith("def ")
    )
    # The sample is its path and the command that runs it; `--source` adds the source, at the end.
    assert sample_line not in out
    assert "run it: mltui run torch" in out and "torch_tensors.py" in out
    code, out, _ = run(["info", "pytorch", "--source"], capsys)
    assert code == 0 and sample_line in out
    assert out.index("run it: mltui run torch") < out.index(sample_line)


def test_info_unknown_library_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["info", "keras"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown library 'keras'" in err


def test_choose_with_flags_no_probe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*CHOOSE, "--no-probe"], capsys)
    assert code == 0
    assert "1. PyTorch" in out and "[Learning curve]" in out
    assert "machine not checked (--no-probe)" in out


def test_choose_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*CHOOSE, "--no-probe", "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert data["answers"] == {
        "level": "beginner",
        "kind": "deep",
        "application": "image",
        "hardware": "gpu",
        "existing": "none",
    }
    assert data["ranked"][0]["library"] == "torch"
    assert data["machine_checked"] is False
    # New work is never pointed at Caffe; existing Caffe models get their own advice.
    assert "caffe" not in {r["library"] for r in data["ranked"]} and data["existing"] is None
    code, out, _ = run([*CHOOSE, "--no-probe", "--json", "--existing", "caffe"], capsys)
    advice = json.loads(out)["existing"]
    assert code == 0 and advice["library"] == "caffe"
    assert [s["library"] for s in advice["steps"] if s["kind"] != "why"] == ["cv2", "torch"]


def test_choose_bad_value_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["choose", "--level", "guru", "--no-probe"], capsys)
    assert code == 2 and out == ""
    assert (
        err
        == "mltui: choose: --level: unknown value 'guru'; valid: beginner, intermediate, advanced\n"
    )


def test_choose_missing_answers_without_terminal_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["choose", "--level", "beginner", "--no-probe"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "missing: --kind, --application, --hardware" in err
    assert "--hardware none|gpu|scale" in err


def test_choose_uses_the_cached_check(capsys: pytest.CaptureFixture[str]) -> None:
    target = current_target()
    result = CheckResult(
        target=target,
        nvml=NvmlReport(status="ok", gpus=[GpuInfo(index=0, name="H100")]),
        libraries=[
            LibraryReport(
                "torch",
                status="ok",
                version="2.15.0",
                devices=[DeviceResult("cuda", 0, computation_ok=True)],
            ),
            LibraryReport(
                "tensorflow",
                status="ok",
                version="2.21.0",
                devices=[DeviceResult("cpu", computation_ok=True)],
            ),
            LibraryReport("caffe", status="not_installed"),
        ],
    )
    assert save_check(result) is not None
    code, out, _ = run([*CHOOSE, "--json", "--existing", "caffe"], capsys)
    data = json.loads(out)
    assert code == 0 and data["machine_checked"] is True
    assert "cached check" in data["machine_note"]
    codes = {r["library"]: {f["code"] for f in r["machine"]} for r in data["ranked"]}
    assert codes["torch"] == {"ok", "gpu_ok"}
    assert codes["tensorflow"] == {"ok", "gpu_not_seen"}
    steps = {s["library"]: s["machine"] for s in data["existing"]["steps"]}
    assert steps["caffe"]["code"] == "not_installed"
    # OpenCV is named by the advice but missing from the saved check: probed now, for real.
    assert steps["cv2"]["code"] == "installed"
    # JAX is recommended but the saved check (as after `check --only`) lacks it: it is probed
    # now, for real, in the target interpreter, instead of being called "not checked".
    assert "jax" in codes and "not_checked" not in codes["jax"]
    assert "ok" in codes["jax"]
    assert "probed jax" in data["machine_note"]
    jax = next(r for r in data["ranked"] if r["library"] == "jax")
    assert any("JAX 0." in f["message"] for f in jax["machine"])


def test_content_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["content", "check", "--today", "2026-11-27"], capsys)
    pages = len(list((CONTENT_ROOT / "pages").glob("*.md")))
    assert (code, out) == (0, f"ok: {pages} pages\n")


def _content_copy(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    shutil.copytree(CONTENT_ROOT / "samples", root / "samples")
    for name in ("comparison.toml", "chooser.toml"):
        shutil.copy(CONTENT_ROOT / name, root / name)
    return root


def test_content_check_warns_about_claims_over_a_year_old(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today is injectable; a claim 13 months old warns, 12 months old does not."""
    root = _content_copy(tmp_path)
    page = root / "pages" / "jax.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("As of 2026-11: XLA back ends", "As of 2025-10: XLA back ends", 1))
    line = 1 + next(i for i, s in enumerate(page.read_text().splitlines()) if "2025-10" in s)
    base = ["content", "check", "--root", str(root)]
    code, out, _ = run([*base, "--today", "2026-10-31"], capsys)
    assert code == 0 and "warning" not in out  # 12 months: still fresh
    code, out, _ = run([*base, "--today", "2026-11-27"], capsys)
    assert code == 0
    warnings = [s for s in out.splitlines() if s.startswith("warning: ")]
    assert warnings == [
        f"warning: {page}:{line}: claim checked as of 2025-10, 13 months ago: check it again"
    ]
    assert out.splitlines()[-1].startswith("ok: ")
    # A year on, every claim of the bundled guide asks to be checked again.
    code, out, _ = run([*base, "--today", "2027-12-01"], capsys)
    assert code == 0 and out.count("warning: ") >= 6 * 3
    code, out, err = run([*base, "--today", "27/11/2026"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "YYYY-MM-DD" in err


def test_content_check_wants_an_as_of_month_on_each_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _content_copy(tmp_path)
    page = root / "pages" / "theano.md"
    page.write_text(page.read_text().replace("As of 2026-11: ", "", 1))
    code, out, _ = run(["content", "check", "--root", str(root)], capsys)
    assert code == 1
    assert f"{page}:" in out and "no 'As of YYYY-MM'" in out


def test_content_check_broken_copy_in_a_real_process(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    shutil.copytree(CONTENT_ROOT / "samples", root / "samples")
    for name in ("comparison.toml", "chooser.toml"):
        shutil.copy(CONTENT_ROOT / name, root / name)
    torch_page = root / "pages" / "torch.md"
    torch_page.write_text(torch_page.read_text().replace("maintained = true", "maintained = yes"))
    (root / "samples" / "sklearn_digits.py").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "content", "check", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stdout.splitlines()
    assert lines and all(ERROR_LINE.match(line) for line in lines)
    assert any(line.startswith(f"{torch_page}:") and "bad TOML" in line for line in lines)
    assert any("sample 'sklearn_digits.py' does not exist" in line for line in lines)


def test_content_without_action_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["content"], capsys)
    assert code == 2 and "content check" in err


def test_compare_shows_the_kept_perf_run_beside_the_claims(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from probes.cache import save_perf
    from tests.perf_fixtures import canned_report

    assert save_perf(canned_report(), current_target()) is not None
    code, out, _ = run(["compare", "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    rows = {r["id"]: r for r in data["rows"]}
    assert rows["torch"]["measured_here"] == {
        "value": 520e9,
        "unit": "FLOP/s",
        "dtype": "fp32",
        "device": "cpu",
        "ratio_to_peak": rows["torch"]["measured_here"]["ratio_to_peak"],
    }
    assert 0.5 < rows["torch"]["measured_here"]["ratio_to_peak"] < 0.7
    assert rows["theano"]["measured_here"] is None
    assert data["measured_on"] == {"machine": "gpu-node-07", "created_at": "2026-11-27T10:00:00Z"}
    code, out, _ = run(["compare"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "Measured here" in flat and "gpu-node-07" in flat
    assert "520" in flat and "GFLOP/s" in flat  # the cell may be folded over lines


def test_compare_without_a_perf_run_has_no_measured_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["compare", "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert all(r["measured_here"] is None for r in data["rows"])
    assert "measured_on" not in data


def test_compare_with_an_unusable_python_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unusable --python is one line and exit 2, not a comparison quietly without figures."""
    missing = tmp_path / "no-such-python"
    code, out, err = run(["--python", str(missing), "compare"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(missing) in err


def test_compare_lets_a_bug_in_reading_the_perf_run_surface(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only what can happen is caught (load_perf's None); an error of ours is not swallowed."""
    import probes.cache

    def broken(target: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(probes.cache, "load_perf", broken)
    with pytest.raises(ZeroDivisionError):
        main(["compare"])


def test_compare_legend_names_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """The legend says how mltui's rows are marked in presentation words, not a colour's name."""
    from content.knowledge import comparison_columns, comparison_rows
    from tui.cli.knowledge import compare_lines

    lines = compare_lines(comparison_columns(), comparison_rows(), 200, colour=True)
    legend = " ".join(line.plain for line in lines)
    assert "highlighted" in legend
    words = set(re.findall(r"[a-z]+", legend.lower()))
    assert not {"cyan", "red", "green", "yellow", "blue", "magenta"} & words


@pytest.mark.parametrize("empty", ["--existing=", "--level="])
def test_choose_an_empty_value_is_a_bad_value_not_an_answer_left_out(
    capsys: pytest.CaptureFixture[str], empty: str
) -> None:
    """`--existing=` was taken as "none" without a word, and `--level=` as missing with
    `--existing` listed among the missing words though it has a default."""
    answers = ["--level", "beginner", "--kind", "deep", "--application", "image"]
    code, out, err = run(["choose", *answers, "--hardware", "gpu", empty, "--no-probe"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{empty[:-1]}: unknown value ''" in err


def test_choose_lists_only_the_answers_that_are_missing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["choose", "--level", "beginner", "--no-probe"], capsys)
    assert code == 2 and "--existing" not in err


def test_choose_answers_by_number_and_stays_short(capsys: pytest.CaptureFixture[str]) -> None:
    """The prompt numbers the answers, so a number is an answer too (issue 19: the prompt
    refused `2`); one answer fits a screen or two, and --facts quotes the page facts in full."""
    numbered = ["choose", "--level", "1", "--kind", "2", "--application", "3", "--hardware", "2"]
    code, out, _ = run([*numbered, "--no-probe", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["answers"] == {
        "level": "beginner",
        "kind": "deep",
        "application": "image",
        "hardware": "gpu",
        "existing": "none",
    }
    code, out, err = run(["choose", "--level", "4", "--no-probe"], capsys)
    assert code == 2 and "unknown value '4'" in err
    code, short, _ = run([*numbered, "--no-probe"], capsys)
    assert code == 0 and len(short.splitlines()) <= 45, len(short.splitlines())
    assert "[Today]" in short and "page fact:" not in short
    code, full, _ = run([*numbered, "--no-probe", "--facts"], capsys)
    assert code == 0 and "page fact: New models arrive as PyTorch code first" in full
