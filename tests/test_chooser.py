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
    """Properties that hold for all 72 combinations of answers, not for chosen examples."""
    pages = {p.id: p for p in load_pages()}
    assert len(every_recommendation) == 72
    for rec in every_recommendation:
        answers = rec.answers
        ids = [item.library for item in rec.ranked]
        assert rec.ranked, answers
        # Maintained libraries first (by score), the unmaintained after them, for existing code.
        maintained = [item for item in rec.ranked if pages[item.library].maintained]
        legacy = [item for item in rec.ranked if not pages[item.library].maintained]
        assert rec.ranked == maintained + legacy, answers
        assert maintained, answers
        for group in (maintained, legacy):
            scores = [item.score for item in group]
            assert scores == sorted(scores, reverse=True), answers
        assert all(item.for_existing_code for item in legacy)
        assert not any(item.for_existing_code for item in maintained)
        # Classic ML: scikit-learn first; deep learning: never scikit-learn.
        if answers.kind == "classic":
            assert ids[0] == "sklearn", (answers, ids)
            sklearn = rec.ranked[0]
            gpu_note = [r for r in sklearn.notes if r.fact_field == "gpu_alternatives"]
            if answers.hardware in ("gpu", "scale"):
                assert gpu_note and "cuML" in gpu_note[0].text and "XGBoost" in gpu_note[0].text
                assert "cuML" in gpu_note[0].fact_text and "XGBoost" in gpu_note[0].fact_text
            else:
                assert not gpu_note
        else:
            assert "sklearn" not in ids, answers
        for item in rec.ranked:
            assert item.score > 0 and item.reasons, (answers, item.library)
            assert sum(r.score for r in item.reasons + item.against) == item.score
            cited = item.reasons + item.against + item.notes
            # Each reason rests on its own fact: no two of a library's reasons share one.
            facts = [r.fact_field for r in cited]
            assert len(facts) == len(set(facts)), (answers, item.library, facts)
            page = pages[item.library]
            for reason in cited:
                # The quoted fact is the page's own front matter, word for word.
                assert reason.page == item.library
                assert reason.fact_text == page.fact(reason.fact_field)
                assert reason.fact_text.strip()


def test_reasons_cite_the_facts_they_rest_on() -> None:
    """The mismatches found in review stay fixed: each of these reasons and its fact agree."""
    spec = load_chooser()
    cited = {(r.library, r.reason.split(",")[0]): r.fact for r in spec.rules}
    assert cited[("torch", "PyTorch mixes high- and low-level APIs")] == "strengths.3"
    assert "high- and low-level" in next(p for p in load_pages() if p.id == "torch").fact(
        "strengths.3"
    )
    theano_deep = [r for r in spec.rules if r.library == "theano" and ("kind", ("deep",)) in r.when]
    assert [r.fact for r in theano_deep] == ["ml_or_dl"]
    assert "Keras" not in theano_deep[0].reason


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


def test_every_maintained_guide_library_tops_some_combination(
    every_recommendation: list,
) -> None:
    winners = {rec.ranked[0].library for rec in every_recommendation}
    maintained = {p.id for p in load_pages() if p.maintained}
    assert winners == maintained == {"sklearn", "torch", "tensorflow", "jax"}
    # Caffe is still offered, for existing code, for every deep-learning image job.
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
        f"{root / 'chooser.toml'}:1: no maintained library is recommended for "
        "level=intermediate, kind=classic, application=numerical, hardware=none"
    ]


def test_validator_wants_a_maintained_library_for_every_combination(tmp_path: Path) -> None:
    """Rules that recommend only an unmaintained library somewhere are refused."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    text = (CONTENT_ROOT / "chooser.toml").read_text(encoding="utf-8")
    questions = text[: text.index("[[rule]]")]
    only_theano = (
        '[[rule]]\nwhen = { level = ["beginner", "intermediate", "advanced"] }\n'
        'library = "theano"\nscore = 1\nreason = "x"\nfact = "ideal_for"\n'
    )
    (root / "chooser.toml").write_text(questions + only_theano, encoding="utf-8")
    pages = [p for p in load_pages() if isinstance(p, LibraryPage)]
    errors = [str(e) for e in validate_chooser(root, pages)]
    assert len(errors) == 1 and "no maintained library is recommended for" in errors[0]


@pytest.mark.parametrize(
    ("os_name", "expected", "absent"),
    [
        ("Debian GNU/Linux 12 (bookworm)", ["no Caffe package", "OpenCV 4", "container"], []),
        ("Debian GNU/Linux 13 (trixie)", ["no Caffe package", "OpenCV 4", "container"], []),
        ("Debian GNU/Linux 11 (bullseye)", ["apt install python3-caffe"], ["caffe-cpu"]),
        ("Debian GNU/Linux 10 (buster)", ["apt install caffe-cpu"], ["container"]),
        ("Ubuntu 20.04.6 LTS", ["apt install caffe-cpu"], ["container"]),
        ("Ubuntu 24.04.1 LTS", ["no Caffe package", "OpenCV 4"], ["apt install caffe-cpu"]),
        ("macOS 14.5", ["no Caffe package", "OpenCV 4", "container"], []),
        ("", ["OpenCV 4", "older distributions"], []),  # OS unknown: the page's own line
    ],
)
def test_caffe_advice_fits_the_machines_system(
    os_name: str, expected: list[str], absent: list[str]
) -> None:
    """A Caffe that is not installed gets the install route that works on the checked system."""
    from probes.model import SystemInfo

    result = CheckResult(
        nvml=NvmlReport(status="no_driver"),
        libraries=[LibraryReport("caffe", status="not_installed")],
        system=SystemInfo(os=os_name),
    )
    machine = MachineState.from_check(result, source="test")
    assert machine.os_name == os_name
    rec = recommend(Answers("intermediate", "deep", "image", "gpu"), machine)
    caffe = next(item for item in rec.ranked if item.library == "caffe")
    (flag,) = [f for f in caffe.machine if f.code == "not_installed"]
    for text in expected:
        assert text in flag.message, (os_name, flag.message)
    for text in absent:
        assert text not in flag.message, (os_name, flag.message)
