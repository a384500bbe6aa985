"""The chooser: a reasoned answer for every combination, rules as data, machine flags."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from content.chooser import (
    QUESTION_KEYS,
    Answers,
    ChooserError,
    MachineState,
    Option,
    Question,
    all_answers,
    load_chooser,
    recommend,
    validate_chooser,
)
from content.knowledge import CONTENT_ROOT, LibraryPage, load_pages
from probes.catalog import GUIDE_LIBRARIES
from probes.model import CheckResult, DeviceResult, GpuInfo, LibraryReport, NvmlReport


@pytest.fixture(scope="module")
def every_recommendation() -> list:
    return [recommend(answers) for answers in all_answers()]


def test_all_answers_is_the_full_cartesian_product() -> None:
    spec = load_chooser()
    combos = list(all_answers(spec))
    expected = math.prod(len(spec.question(k).options) for k in QUESTION_KEYS)
    assert len(combos) == expected == len(set(combos))
    # The article's four questions and its four applications.
    assert [q.key for q in spec.questions] == list(QUESTION_KEYS)
    assert {o.key for o in spec.question("application").options} == {
        "numerical",
        "analysis",
        "image",
        "education",
    }


def test_every_combination_gets_a_reasoned_answer(every_recommendation: list) -> None:
    pages = {p.id: p for p in load_pages()}
    for rec in every_recommendation:
        assert rec.ranked, rec.answers
        scores = [item.score for item in rec.ranked]
        assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)
        for item in rec.ranked:
            assert item.reasons, (rec.answers, item.library)
            assert sum(r.score for r in item.reasons + item.against) == item.score
            page = pages[item.library]
            for reason in item.reasons + item.against:
                # The quoted fact is the page's own front matter, word for word.
                assert reason.page == item.library
                assert reason.fact_text == page.fact(reason.fact_field)
                assert reason.fact_text.strip()


def test_legacy_libraries_come_with_caveat_and_successor(every_recommendation: list) -> None:
    seen = set()
    for rec in every_recommendation:
        for item in rec.ranked:
            if item.library in ("theano", "caffe"):
                seen.add(item.library)
                assert item.legacy is not None
                assert item.legacy.text
                expected = {"theano": {"pytensor"}, "caffe": {"cv2", "torch"}}[item.library]
                assert set(item.legacy.successors) == expected
            else:
                assert item.legacy is None
    assert seen == {"theano", "caffe"}


def test_every_guide_library_tops_some_combination(every_recommendation: list) -> None:
    winners = {rec.ranked[0].library for rec in every_recommendation}
    assert winners == {s.id for s in GUIDE_LIBRARIES}
    # Caffe is offered for every deep-learning image job.
    image = [
        r
        for r in every_recommendation
        if (r.answers.application, r.answers.kind) == ("image", "deep")
    ]
    assert image and all(any(i.library == "caffe" for i in r.ranked) for r in image)


def test_answers_examples_follow_the_article() -> None:
    beginner = recommend(Answers("beginner", "classic", "education", "none"))
    assert beginner.ranked[0].library == "sklearn"
    scale = recommend(Answers("intermediate", "deep", "numerical", "scale"))
    assert scale.ranked[0].library == "tensorflow"
    expert = recommend(Answers("advanced", "deep", "numerical", "gpu"))
    assert "theano" in [i.library for i in expert.ranked]
    # Ties go to maintained libraries: Theano never outranks an equal-scoring maintained one.
    for rec in (expert,):
        for above, below in zip(rec.ranked, rec.ranked[1:], strict=False):
            if above.score == below.score:
                assert not (above.legacy and not below.legacy)


def test_answers_parse_accepts_prefixes_and_rejects_bad_values() -> None:
    answers = Answers.parse({"level": "beg", "kind": "DEEP", "application": "im", "hardware": "g"})
    assert answers == Answers("beginner", "deep", "image", "gpu")
    with pytest.raises(
        ChooserError,
        match=r"--level: unknown value 'guru'; valid: beginner, intermediate, advanced",
    ):
        Answers.parse({"level": "guru", "kind": "deep", "application": "image", "hardware": "gpu"})
    with pytest.raises(ChooserError, match="missing: --kind, --hardware"):
        Answers.parse({"level": "beginner", "application": "image"})
    question = Question("x", "?", (Option("gpu", "a"), Option("gpus", "b")))
    with pytest.raises(ChooserError, match="ambiguous"):
        question.resolve("gp")
    assert question.resolve("gpu") == "gpu"


# --------------------------------------------------------------------------- the machine


def check_result(nvml_ok: bool = True) -> CheckResult:
    """A check as `mltui check` would produce it: plain model data."""
    nvml = (
        NvmlReport(status="ok", gpus=[GpuInfo(index=0, name="H100")])
        if nvml_ok
        else NvmlReport(status="no_driver", reason="libnvidia-ml.so.1 not found")
    )
    return CheckResult(
        nvml=nvml,
        libraries=[
            LibraryReport(
                "torch",
                status="ok",
                version="2.15.0",
                devices=[
                    DeviceResult("cpu", computation_ok=True),
                    DeviceResult("cuda", 0, computation_ok=True),
                ],
            ),
            LibraryReport(
                "tensorflow",
                status="ok",
                version="2.21.0",
                devices=[DeviceResult("cpu", computation_ok=True)],
            ),
            LibraryReport("sklearn", status="not_installed"),
            LibraryReport("theano", status="import_error", version="1.0.5", error="ImportError: x"),
            LibraryReport("pytensor", status="ok", version="3.0.7"),
            LibraryReport("caffe", status="not_installed"),
            LibraryReport(
                "cv2",
                status="ok",
                version="4.14.0",
                devices=[DeviceResult("cuda", 0, computation_ok=False, error="no CUDA")],
            ),
        ],
    )


def test_machine_state_from_check() -> None:
    machine = MachineState.from_check(check_result(), "test")
    assert machine.nvml_gpu_count == 1
    assert machine.libraries["torch"].gpu_kinds == ("cuda",)
    assert machine.libraries["tensorflow"].gpu_kinds == ()
    assert machine.libraries["cv2"].gpu_kinds == ()  # its CUDA computation failed
    assert not machine.libraries["sklearn"].installed
    assert machine.libraries["theano"].installed


def flags_by_library(rec) -> dict[str, set[str]]:
    return {item.library: {f.code for f in item.machine} for item in rec.ranked}


def test_machine_flags_when_a_gpu_is_asked_for() -> None:
    machine = MachineState.from_check(check_result(), "test")
    rec = recommend(Answers("intermediate", "deep", "image", "gpu"), machine)
    flags = flags_by_library(rec)
    assert flags["torch"] == {"ok", "gpu_ok"}
    assert flags["tensorflow"] == {"ok", "gpu_not_seen"}
    caffe = next(i for i in rec.ranked if i.library == "caffe")
    assert "not_installed" in flags["caffe"] and caffe.flagged
    assert "successor_installed" in flags["caffe"]  # OpenCV 4.14 and PyTorch are here
    assert not next(i for i in rec.ranked if i.library == "torch").flagged


def test_machine_flags_without_nvidia_driver_and_failed_probe() -> None:
    machine = MachineState.from_check(check_result(nvml_ok=False), "test")
    rec = recommend(Answers("advanced", "deep", "numerical", "gpu"), machine)
    flags = flags_by_library(rec)
    assert "no_gpu" in flags["tensorflow"]
    theano = next(i for i in rec.ranked if i.library == "theano")
    assert "probe_failed" in flags["theano"] and theano.flagged
    assert any("PyTensor 3.0.7" in f.message for f in theano.machine)


def test_no_gpu_flags_when_no_gpu_is_asked_for() -> None:
    machine = MachineState.from_check(check_result(nvml_ok=False), "test")
    rec = recommend(Answers("beginner", "classic", "analysis", "none"), machine)
    flags = flags_by_library(rec)
    assert flags["sklearn"] == {"not_installed"}
    for codes in flags.values():
        assert not codes & {"no_gpu", "gpu_not_seen", "gpu_ok"}


def test_libraries_the_check_did_not_cover_are_marked_not_checked() -> None:
    machine = MachineState({}, source="empty")
    rec = recommend(Answers("beginner", "classic", "analysis", "none"), machine)
    assert all({f.code for f in i.machine} == {"not_checked"} for i in rec.ranked)
    assert recommend(Answers("beginner", "classic", "analysis", "none")).machine_checked is False


def test_validator_reports_a_combination_without_answer(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    text = (CONTENT_ROOT / "chooser.toml").read_text(encoding="utf-8")
    questions = text[: text.index("[[rule]]")]
    (root / "chooser.toml").write_text(
        questions + '[[rule]]\nwhen = { level = "beginner" }\nlibrary = "sklearn"\nscore = 1\n'
        'reason = "x"\nfact = "ideal_for"\n',
        encoding="utf-8",
    )
    pages = [p for p in load_pages() if isinstance(p, LibraryPage)]
    errors = [str(e) for e in validate_chooser(root, pages)]
    assert errors == [
        f"{root / 'chooser.toml'}:1: no library is recommended for "
        "level=intermediate, kind=classic, application=numerical, hardware=none"
    ]
