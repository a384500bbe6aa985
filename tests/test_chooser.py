"""The chooser: a reasoned answer for every combination, rules as data, machine flags."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
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
from content.page import AS_OF_RE
from content.validate import validate_content
from probes.model import CheckResult, DeviceResult, GpuInfo, LibraryReport, NvmlReport


@pytest.fixture(scope="module")
def every_recommendation() -> list:
    return [recommend(answers) for answers in all_answers()]


def test_all_answers_is_the_full_cartesian_product() -> None:
    spec = load_chooser()
    combos = list(all_answers(spec))
    expected = math.prod(len(spec.question(k).options) for k in QUESTION_KEYS)
    assert len(combos) == expected == len(set(combos))
    # The article's four questions first, then mltui's own about existing code.
    assert [q.key for q in spec.questions] == list(QUESTION_KEYS)
    assert QUESTION_KEYS[:4] == ("level", "kind", "application", "hardware")
    # The article's four applications, and the deployment answer mltui adds.
    assert {o.key for o in spec.question("application").options} == {
        "numerical",
        "analysis",
        "image",
        "education",
        "deployment",
    }
    assert {o.key for o in spec.question("existing").options} == {"none", "theano", "caffe"}


def test_every_combination_gets_a_reasoned_answer(every_recommendation: list) -> None:
    """Properties that hold for all combinations of answers, not for chosen examples."""
    pages = {p.id: p for p in load_pages()}
    spec = load_chooser()
    assert len(every_recommendation) == math.prod(
        len(spec.question(k).options) for k in QUESTION_KEYS
    )
    for rec in every_recommendation:
        answers = rec.answers
        ids = [item.library for item in rec.ranked]
        assert rec.ranked, answers
        # New work is never pointed at an unmaintained library, whatever the answers.
        assert all(pages[lib].maintained for lib in ids), (answers, ids)
        # The displayed scores go down the list: a lower place never shows a higher score.
        scores = [item.score for item in rec.ranked]
        assert scores == sorted(scores, reverse=True), answers
        if answers.kind == "classic":
            # Classic ML: scikit-learn alone; no deep-learning framework as low-ranked noise,
            # and JAX (no classic estimators) never.
            assert ids == ["sklearn"], (answers, ids)
            assert rec.left_out and "classic-ML estimators" in rec.left_out
            sklearn = rec.ranked[0]
            noted = {r.fact_field: r for r in sklearn.notes}
            if answers.hardware in ("gpu", "scale"):
                gpu = noted["gpu_alternatives"]
                assert "cuML" in gpu.text and "XGBoost" in gpu.fact_text
            else:
                assert "gpu_alternatives" not in noted
            if answers.hardware == "scale":
                scale = noted["scale_alternatives"]
                for option in ("Dask-ML", "Spark MLlib", "XGBoost", "LightGBM"):
                    assert option in scale.fact_text, option
            else:
                assert "scale_alternatives" not in noted
        else:
            assert "sklearn" not in ids, answers
            assert rec.left_out is None
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
                # A reason is the article's view (it says so) or rests on a dated, sourced fact.
                if reason.fact_field.startswith("current_facts"):
                    assert AS_OF_RE.search(reason.fact_text) and "https://" in reason.fact_text
        # Existing code gets its advice; it never changes the ranking for new work.
        if answers.existing == "none":
            assert rec.existing is None
        else:
            assert rec.existing is not None and rec.existing.library == answers.existing
            new_work = recommend(Answers(*list(answers.as_dict().values())[:4]))
            assert [(i.library, i.score) for i in rec.ranked] == [
                (i.library, i.score) for i in new_work.ranked
            ]


def test_deep_learning_weighs_todays_facts(every_recommendation: list) -> None:
    """PyTorch ranks above TensorFlow for deep learning except where TensorFlow's strength today
    (serving and the edge) is asked for; at scale PyTorch's DDP/FSDP count; a beginner is never
    steered to JAX first."""
    for rec in every_recommendation:
        answers = rec.answers
        if answers.kind != "deep":
            continue
        ids = [item.library for item in rec.ranked]
        by_id = {item.library: item for item in rec.ranked}
        if answers.application != "deployment":
            assert ids.index("torch") < ids.index("tensorflow"), (answers, ids)
        if answers.hardware == "scale":
            assert "current_facts.1" in {r.fact_field for r in by_id["torch"].reasons}
        if answers.level == "beginner":
            assert ids[0] == "torch", (answers, ids)
        if answers.level in ("beginner", "intermediate"):
            assert by_id["torch"].score > by_id["tensorflow"].score or (
                answers.application == "deployment"
            ), answers


def test_existing_code_gets_keep_and_migrate_advice(every_recommendation: list) -> None:
    """Theano and Caffe code: how to keep it running and where to move, each step citing a fact
    of the unmaintained library's page, and the successors the pages name."""
    pages = {p.id: p for p in load_pages()}
    seen = set()
    for rec in every_recommendation:
        advice = rec.existing
        if advice is None:
            continue
        seen.add(advice.library)
        kinds = [step.kind for step in advice.steps]
        assert kinds[:2] == ["keep", "migrate"] and "why" in kinds
        page = pages[advice.library]
        assert not page.maintained and advice.legacy_note == page.legacy_note
        for step in advice.steps:
            assert step.fact.fact_text == page.fact(step.fact.fact_field)
        migrate = {s.library for s in advice.steps if s.kind != "why"} - {advice.library}
        assert migrate <= set(page.successors), (advice.library, migrate)
    assert seen == {"theano", "caffe"}


def test_every_maintained_guide_library_tops_some_combination(
    every_recommendation: list,
) -> None:
    winners = {rec.ranked[0].library for rec in every_recommendation}
    maintained = {p.id for p in load_pages() if p.maintained}
    assert winners == maintained == {"sklearn", "torch", "tensorflow", "jax"}


def test_answers_examples_weigh_today() -> None:
    beginner = recommend(Answers("beginner", "classic", "education", "none"))
    assert [i.library for i in beginner.ranked] == ["sklearn"]
    # The article put TensorFlow first for heavy numbers at scale; today JAX and PyTorch lead.
    scale = recommend(Answers("intermediate", "deep", "numerical", "scale"))
    assert scale.ranked[0].library == "torch"
    expert = recommend(Answers("advanced", "deep", "numerical", "scale"))
    assert expert.ranked[0].library == "jax"
    assert "theano" not in [i.library for i in expert.ranked]
    edge = recommend(Answers("advanced", "deep", "deployment", "none"))
    assert edge.ranked[0].library == "tensorflow"


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
    rec = recommend(Answers("intermediate", "deep", "image", "gpu", "caffe"), machine)
    flags = flags_by_library(rec)
    assert flags["torch"] == {"ok", "gpu_ok"}
    assert flags["tensorflow"] == {"ok", "gpu_not_seen"}
    assert not next(i for i in rec.ranked if i.library == "torch").flagged
    # Caffe is not ranked, but the advice for existing Caffe models says what is here.
    assert rec.existing is not None
    steps = {step.library: step.machine for step in rec.existing.steps}
    assert steps["cv2"] is not None and steps["cv2"].code == "installed"
    assert "4.14.0" in steps["cv2"].message
    assert steps["caffe"] is not None and steps["caffe"].code == "not_installed"


def test_machine_flags_without_nvidia_driver_and_failed_probe() -> None:
    machine = MachineState.from_check(check_result(nvml_ok=False), "test")
    rec = recommend(Answers("advanced", "deep", "numerical", "gpu", "theano"), machine)
    flags = flags_by_library(rec)
    assert "no_gpu" in flags["tensorflow"]
    assert "theano" not in flags
    assert rec.existing is not None
    steps = {step.library: step.machine for step in rec.existing.steps}
    assert steps["pytensor"] is not None and "PyTensor 3.0.7" in steps["pytensor"].message


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
    existing = text[text.index("\n[[existing]]\n") :]
    (root / "chooser.toml").write_text(
        questions + '[[rule]]\nwhen = { level = "beginner" }\nlibrary = "sklearn"\nscore = 1\n'
        'reason = "x"\nfact = "ideal_for"\n\n' + existing,
        encoding="utf-8",
    )
    pages = [p for p in load_pages() if isinstance(p, LibraryPage)]
    errors = [str(e) for e in validate_chooser(root, pages)]
    assert errors == [
        f"{root / 'chooser.toml'}:1: no maintained library is recommended for "
        "level=intermediate, kind=classic, application=numerical, hardware=none, existing=none"
    ]


def test_validator_refuses_a_positive_score_for_an_unmaintained_library(tmp_path: Path) -> None:
    """New work is never pointed at Theano or Caffe: a rule that tries is a content error."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    text = (CONTENT_ROOT / "chooser.toml").read_text(encoding="utf-8")
    positive = (
        '\n[[rule]]\nwhen = { level = "advanced" }\n'
        'library = "theano"\nscore = 1\nreason = "x"\nfact = "ideal_for"\n'
    )
    (root / "chooser.toml").write_text(text + positive, encoding="utf-8")
    pages = [p for p in load_pages() if isinstance(p, LibraryPage)]
    errors = [str(e) for e in validate_chooser(root, pages)]
    assert len(errors) == 1 and "'theano' is no longer maintained" in errors[0], errors
    # A rule against it (score 0 or below) is allowed.
    (root / "chooser.toml").write_text(text + positive.replace("score = 1", "score = -1"))
    assert validate_chooser(root, pages) == []


def test_validator_wants_advice_for_every_unmaintained_library(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    text = (CONTENT_ROOT / "chooser.toml").read_text(encoding="utf-8")
    without_caffe = text[: text.rindex("[[existing]]")]
    (root / "chooser.toml").write_text(without_caffe, encoding="utf-8")
    pages = [p for p in load_pages() if isinstance(p, LibraryPage)]
    errors = [str(e) for e in validate_chooser(root, pages)]
    assert any("no [[existing]] advice for 'caffe'" in e for e in errors), errors


@pytest.mark.parametrize(
    ("os_name", "expected", "absent"),
    [
        ("Debian GNU/Linux 12 (bookworm)", ["no Caffe package", "OpenCV 4", "container"], []),
        ("Debian GNU/Linux 13 (trixie)", ["no Caffe package", "OpenCV 4", "container"], []),
        ("Debian GNU/Linux 11 (bullseye)", ["OpenCV 4", "apt install python3-caffe"], ["cpu-"]),
        ("Debian GNU/Linux 10 (buster)", ["OpenCV 4", "archive.debian.org", "caffe-cpu"], []),
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
    rec = recommend(Answers("intermediate", "deep", "image", "gpu", "caffe"), machine)
    assert rec.existing is not None
    flag = next(s.machine for s in rec.existing.steps if s.library == "caffe")
    assert flag is not None and flag.code == "not_installed"
    for text in expected:
        assert text in flag.message, (os_name, flag.message)
    for text in absent:
        assert text not in flag.message, (os_name, flag.message)


def _make_unreadable(path: Path, kind: str) -> None:
    """Put something that is not a bounded UTF-8 regular file where `path` was."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    elif kind == "2 MiB":
        path.write_bytes(b"# " * (1024 * 1024))
    elif kind == "not UTF-8":
        path.write_bytes(b'id = "\xff\xfe"\n')


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder", "2 MiB", "not UTF-8"])
@pytest.mark.parametrize("name", ["chooser.toml", "comparison.toml", "pages/jax.md"])
def test_a_content_file_that_is_not_a_bounded_text_file_is_one_error(
    tmp_path: Path, kind: str, name: str
) -> None:
    """`content check --root` on a folder where a content file is a FIFO (it waited for a writer
    forever), /dev/zero (it read without end), a folder, too large, or not UTF-8 (a traceback
    from chooser.toml): one `file:1: cannot read: ...` error, read through one reader."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "samples"))
    shutil.copytree(CONTENT_ROOT / "samples", root / "samples", symlinks=True)
    _make_unreadable(root / name, kind)
    outcome: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: outcome.append([str(e) for e in validate_content(root)]), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # the test is the FIFO's writer of last resort, so the read ends
        with contextlib.suppress(OSError):
            fd = os.open(root / name, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        worker.join(timeout=10)
    assert outcome, "content check did not end"
    about = [line for line in outcome[0] if line.startswith(f"{root / name}:")]
    assert about and all(": cannot read: " in line for line in about), outcome[0]


@pytest.mark.parametrize("kind", ["too long for a path", "missing", "a file"])
def test_a_content_root_that_is_no_folder_is_errors_not_a_traceback(
    tmp_path: Path, kind: str
) -> None:
    """`content check --root` with a 5,000-character name raised OSError (ENAMETOOLONG, which
    pathlib's is_dir lets through): a traceback. Each kind is now `file:1:` errors."""
    if kind == "too long for a path":
        root = tmp_path / ("x" * 5000)
    elif kind == "missing":
        root = tmp_path / "nowhere"
    else:
        root = tmp_path / "file"
        root.write_text("not a folder", encoding="utf-8")
    errors = [str(e) for e in validate_content(root)]
    assert errors and all(e.startswith(str(root)) for e in errors), errors
