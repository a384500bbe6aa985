"""The knowledge pages: the bundled content validates, planted breakage is reported as
`file:line: what`, every page carries the article's facts and its Since-then notes."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from content.knowledge import (
    ARTICLE_TITLE,
    CONTENT_ROOT,
    MIN_CLAIMS,
    SAMPLE_MARKER,
    VERDICTS,
    ContentError,
    LibraryPage,
    comparison_columns,
    comparison_rows,
    get_page,
    load_all_pages,
    load_pages,
    render_page_markdown,
    resolve_link,
    search,
    validate_content,
)
from probes.catalog import GUIDE_LIBRARIES, UnknownLibraryError

ERROR_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<what>.+)$")


def copy_content(tmp_path: Path) -> Path:
    """A writable copy of the bundled content folder (pages, samples, TOML files)."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT / "pages", root / "pages")
    shutil.copytree(
        CONTENT_ROOT / "samples", root / "samples", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("comparison.toml", "chooser.toml"):
        shutil.copy(CONTENT_ROOT / name, root / name)
    return root


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of `path` containing `text`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def new_errors(root: Path, break_it: Callable[[Path], None]) -> list[str]:
    """The errors that breaking the copy adds (so an unrelated problem cannot hide or fake one)."""
    before = {str(e) for e in validate_content(root)}
    break_it(root)
    return [str(e) for e in validate_content(root) if str(e) not in before]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- the bundled content


def test_bundled_content_validates() -> None:
    assert [str(e) for e in validate_content()] == []


def test_every_guide_library_has_a_page_with_all_comparison_fields() -> None:
    pages = load_pages()
    assert [p.id for p in pages] == [s.id for s in GUIDE_LIBRARIES]
    for page in pages:
        for name in ("ideal_for", "best_application", "install", "latest_release", "sample"):
            assert getattr(page, name).strip(), f"{page.id}: empty {name}"
        assert page.strengths and page.weaknesses, page.id
        assert isinstance(page.external_hardware, bool)
        assert page.gpu_backends, page.id
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", page.latest_release_date), page.id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", page.facts_checked), page.id


def test_every_page_has_marked_since_then_claims_with_sources() -> None:
    for page in load_pages():
        assert len(page.claims) >= MIN_CLAIMS, page.id
        for claim in page.claims:
            assert claim.verdict in VERDICTS, (page.id, claim)
            assert any(link.startswith("https://") for link in claim.links), (page.id, claim)
        # Each page says what changed, not only what still holds.
        assert any(c.verdict != "still true" for c in page.claims), page.id


def test_legacy_pages_name_maintained_successors() -> None:
    theano, caffe = get_page("theano"), get_page("caffe")
    assert isinstance(theano, LibraryPage) and isinstance(caffe, LibraryPage)
    assert not theano.maintained and theano.successors == ["pytensor"]
    assert not caffe.maintained and set(caffe.successors) == {"cv2", "torch"}
    assert theano.legacy_note and "PyTensor" in theano.legacy_note
    assert caffe.legacy_note and "OpenCV 5" in caffe.legacy_note


# The article's figures and facts each page must carry (in any wording around them).
ARTICLE_FACTS = {
    "sklearn": [
        "SciPy",
        "NumPy",
        "Matplotlib",
        "Cython",
        "support vector",
        "random forests",
        "no artificial neural",
        "no GPU",
        "supervised and unsupervised",
    ],
    "theano": ["Keras", "single GPU", "NumPy", "multi-dimensional", "several GPUs", "advanced"],
    "caffe": [
        "60 million images a day",
        "fastest CNN",
        "Protobuf",
        "C++",
        "Convolutional Architecture for Fast Feature Embedding".replace(" ", ""),
        "RNN",
        "forward pass, backward pass",
        "Poor documentation",
        "Makefile.config",
        "PYTHONPATH",
    ],
    "torch": [
        "FAIR",
        "Python, C++ and a CUDA back end",
        "dynamic graphs",
        "pre-trained models",
        "`int`, `short` or `double`",
        "smaller community",
    ],
    "tensorflow": [
        "Google Brain",
        "Linux",
        "Android",
        "only NVIDIA GPUs",
        "RNN",
        "Google's cloud ML service",
        "code left as it is",
        "voice recognition",
        "machine translation",
        "nodes of a TensorFlow graph",
    ],
    "guide": [
        "fastest-growing",
        "C and C++",
        "FastText",
        "NLTK",
        "predictions and recommendations",
        "Keras on Microsoft's CNTK",
        "MXNet",
    ],
}


@pytest.mark.parametrize("library", sorted(ARTICLE_FACTS))
def test_pages_carry_the_articles_facts(library: str) -> None:
    text = render_page_markdown(get_page(library), include_sample=False)
    squashed = re.sub(r"[\s*]+", " ", text)
    for fact in ARTICLE_FACTS[library]:
        haystack = squashed.replace(" ", "") if " " not in fact and len(fact) > 30 else squashed
        assert fact.lower() in haystack.lower(), f"{library}: {fact!r} missing"


def test_comparison_table_has_the_articles_rows_and_columns() -> None:
    columns = comparison_columns()
    assert [c.key for c in columns if c.article] == [
        "library",
        "best_application",
        "external_hardware",
        "ml_or_dl",
        "ml_knowledge",
        "learning_curve",
    ]
    assert {c.key for c in columns if not c.article} == {
        "latest_release",
        "maintained",
        "gpu_backends",
        "install",
    }
    rows = {r.library: r.cells for r in comparison_rows()}
    # The article's table, row by row.
    article = {
        "sklearn": ("Learning ML", "No", "ML only", "Beginner", "Very low"),
        "torch": ("Academic use and production", "Yes", "Both", "Beginner", "Low"),
        "caffe": ("Image processing", "Yes", "Both", "Mid-level", "Low"),
        "tensorflow": (
            "Processing large data sets quickly (production)",
            "Yes",
            "Both",
            "Intermediate",
            "High",
        ),
        "theano": ("High-speed computation", "Yes", "Both", "Advanced", "Very high"),
    }
    for library, expected in article.items():
        cells = rows[library]
        got = tuple(
            cells[k]
            for k in (
                "best_application",
                "external_hardware",
                "ml_or_dl",
                "ml_knowledge",
                "learning_curve",
            )
        )
        assert got == expected, library
        assert cells["maintained"] == ("No" if library in ("theano", "caffe") else "Yes")
        assert cells["install"]


def test_rendered_page_shows_the_real_sample_file() -> None:
    for page in load_pages():
        rendered = render_page_markdown(page)
        sample = (CONTENT_ROOT / "samples" / page.sample).read_text(encoding="utf-8")
        assert sample.strip() in rendered, page.id
        assert SAMPLE_MARKER not in rendered
        assert "**[" in rendered  # verdicts are shown in bold


def test_render_reads_the_sample_at_render_time(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    (root / "samples" / "torch_tensors.py").write_text("print('changed on disk')\n")
    page = get_page("torch", root)
    assert "print('changed on disk')" in render_page_markdown(page)
    (root / "samples" / "torch_tensors.py").unlink()
    assert "missing" in render_page_markdown(page)


def test_about_page_credits_the_article() -> None:
    about = get_page("about")
    text = render_page_markdown(about)
    assert ARTICLE_TITLE in text and "Kite" in text
    assert "does not name its author" in text


def test_get_page_by_alias_and_covered_library() -> None:
    assert get_page("PyTorch").id == "torch"
    assert get_page("tf").id == "tensorflow"
    assert get_page("scikit-learn").id == "sklearn"
    assert get_page("pytensor").id == "theano"
    assert get_page("opencv").id == "caffe"
    assert get_page("credits").id == "about"
    with pytest.raises(UnknownLibraryError):
        get_page("keras")


def test_resolve_link() -> None:
    pages = load_all_pages()
    torch = get_page("torch")
    assert resolve_link("torch.md#since-then", pages) == ("torch", "since-then")
    assert resolve_link("lib:pytorch", pages) == ("torch", "")
    assert resolve_link("lib:pytensor#since-then", pages) == ("theano", "since-then")
    assert resolve_link("#the-sample", pages, torch) == ("torch", "the-sample")
    assert resolve_link("torch.md#nowhere", pages) is None
    assert resolve_link("https://pytorch.org", pages) is None


def test_search_finds_lines_and_headings() -> None:
    hits = search("60 million")
    assert hits and all("60 million" in h.snippet.lower() for h in hits)
    assert {h.page_id for h in hits} == {"caffe"}
    since = search("since then")
    assert since[0].heading.lower() == "since then"  # headings rank first
    assert {h.page_id for h in since} >= {s.id for s in GUIDE_LIBRARIES}
    rocm = search("ROCm AMD")
    assert {"torch", "tensorflow"} <= {h.page_id for h in rocm}
    assert any(h.line is not None for h in rocm)
    assert search("   ") == []
    assert search("zzzz-not-anywhere") == []


# --------------------------------------------------------------------------- planted breakage


def test_bad_toml_is_reported_at_its_line(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "torch.md"
    line = line_of(page, 'learning_curve = "low"')
    errors = new_errors(
        root, lambda r: edit(page, 'learning_curve = "low"', 'learning_curve = "low')
    )
    assert len(errors) == 1
    assert errors[0].startswith(f"{page}:{line}: bad TOML in front matter")
    with pytest.raises(ContentError) as caught:
        load_pages(root)
    assert str(caught.value) == errors[0]


def test_missing_key_is_reported(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "theano.md"
    errors = new_errors(
        root, lambda r: edit(page, 'best_application = "High-speed computation"\n', "")
    )
    assert f"{page}:1: front matter has no 'best_application' key" in errors
    assert all(ERROR_LINE.match(e) for e in errors)


def test_wrong_type_and_enum_are_reported_at_the_key(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "sklearn.md"
    maintained = line_of(page, "maintained = true")
    curve = line_of(page, 'learning_curve = "very low"')

    def break_it(_: Path) -> None:
        edit(page, "maintained = true", 'maintained = "yes"')
        edit(page, 'learning_curve = "very low"', 'learning_curve = "flat"')

    errors = new_errors(root, break_it)
    assert f"{page}:{maintained}: 'maintained' must be true or false" in errors
    assert any(e.startswith(f"{page}:{curve}: 'learning_curve' is 'flat'") for e in errors)


@pytest.mark.parametrize(
    "link", ["[gone](nowhere.md)", "[x](torch.md#no-such-heading)", "[x](lib:keras)"]
)
def test_broken_link_is_reported_at_its_line(tmp_path: Path, link: str) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "caffe.md"
    with page.open("a", encoding="utf-8") as out:
        out.write(f"\nAlso see {link}.\n")
    line = len(page.read_text(encoding="utf-8").splitlines())
    href = link[link.index("(") + 1 : -1]
    assert f"{page}:{line}: broken link {href!r}" in [str(e) for e in validate_content(root)]


def test_missing_sample_is_reported_at_the_sample_key(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "torch.md"
    line = line_of(page, "sample = ")
    errors = new_errors(root, lambda r: (r / "samples" / "torch_tensors.py").unlink())
    assert len(errors) == 1
    assert errors[0].startswith(f"{page}:{line}: sample 'torch_tensors.py' does not exist")


def test_unknown_verdict_and_unsourced_claim(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "tensorflow.md"
    verdict_line = line_of(page, "- [no longer true]")

    def break_it(_: Path) -> None:
        edit(page, "- [no longer true]", "- [maybe]")
        edit(page, "## Since then\n", "## Since then\n\n- [changed] Something without a source.\n")

    errors = new_errors(root, break_it)
    # The inserted claim pushed the first marked claim down by two lines.
    assert any(e.startswith(f"{page}:{verdict_line + 2}: unknown verdict [maybe]") for e in errors)
    assert f"{page}:{verdict_line}: claim has no source link (http/https)" in errors


def test_too_few_claims_and_missing_marker(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "sklearn.md"

    def break_it(_: Path) -> None:
        text = page.read_text(encoding="utf-8")
        text = text.replace(SAMPLE_MARKER, "")
        text = re.sub(r"^- \[(still true|changed)\]", "- ", text, flags=re.MULTILINE)
        page.write_text(text, encoding="utf-8")

    errors = new_errors(root, break_it)
    assert any("exactly one '{{sample}}' line, has 0" in e for e in errors)
    assert any("'Since then' has 0 marked claims" in e for e in errors)


def test_no_front_matter(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    page = root / "pages" / "guide.md"
    errors = new_errors(root, lambda r: page.write_text("# Just a heading\n", encoding="utf-8"))
    assert f"{page}:1: no front matter: the file must start with a '+++' line" in errors


def test_chooser_rule_naming_unknown_library_or_option(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    chooser = root / "chooser.toml"
    first_library = line_of(chooser, 'library = "sklearn"')
    errors = new_errors(root, lambda r: edit(chooser, 'library = "sklearn"', 'library = "keras"'))
    assert len(errors) == 1
    assert errors[0].startswith(f"{chooser}:{first_library}: rule names unknown library 'keras'")

    root2 = copy_content(tmp_path / "second")
    chooser2 = root2 / "chooser.toml"
    when = line_of(chooser2, 'when = { level = "beginner" }')
    errors = new_errors(
        root2,
        lambda r: edit(chooser2, 'when = { level = "beginner" }', 'when = { level = "guru" }'),
    )
    assert errors == [
        f"{chooser2}:{when}: rule names unknown option 'guru' for level "
        "(valid: beginner, intermediate, advanced)"
    ]


def test_chooser_rule_citing_a_fact_the_page_lacks(tmp_path: Path) -> None:
    root = copy_content(tmp_path)
    chooser = root / "chooser.toml"
    line = line_of(chooser, 'fact = "weaknesses.2"')
    errors = new_errors(
        root, lambda r: edit(chooser, 'fact = "weaknesses.2"', 'fact = "weaknesses.9"')
    )
    assert errors == [f"{chooser}:{line}: page 'sklearn' has no fact 'weaknesses.9'"]


ARTICLE = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "source" / "ml-libraries-guide.txt"
)
#: Word runs this long shared with the article count as copied sentences.
COPY_RUN = 7


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.mark.skipif(not ARTICLE.exists(), reason="the source article is not in this checkout")
def test_page_bodies_do_not_copy_the_articles_sentences() -> None:
    """No page body shares a run of COPY_RUN words with the article, outside quoted claims and
    the article's title: the pages say the article's facts in their own words."""
    article = _words(ARTICLE.read_text(encoding="utf-8"))
    runs = {tuple(article[i : i + COPY_RUN]) for i in range(len(article) - COPY_RUN + 1)}
    title = " ".join(_words(ARTICLE_TITLE))
    copied = {}
    for page in load_all_pages():
        body = re.sub(r'"[^"\n]*"', " ", page.body)  # a quoted claim is a quotation
        words = _words(body)
        found = {
            " ".join(words[i : i + COPY_RUN])
            for i in range(len(words) - COPY_RUN + 1)
            if tuple(words[i : i + COPY_RUN]) in runs
        }
        found = {run for run in found if run not in title}
        if found:
            copied[page.id] = sorted(found)
    assert copied == {}


def test_the_corrections_of_issue_12_stay_made() -> None:
    """Each fact found wrong in review, with what replaced it."""
    text = {p.id: re.sub(r"\s+", " ", p.body) for p in load_all_pages()}
    assert "28 September 2017" in text["theano"] and "before 1.0.0" in text["theano"]
    assert all(dep in text["sklearn"] for dep in ("joblib", "threadpoolctl", "narwhals"))
    assert "ranks scikit-learn fifth" not in text["sklearn"]
    assert "do not rank the libraries" in text["sklearn"]
    assert "pull/25323" not in text["caffe"] and "pull/28678" in text["caffe"]
    assert "Debian 12 (bookworm) and 13 (trixie) have no Caffe package" in text["caffe"]
    caffe = get_page("caffe")
    assert isinstance(caffe, LibraryPage) and "caffe-cpu" not in caffe.install.split("(")[0]
    assert "macOS 14" in text["torch"] and '"xpu"' in text["torch"]
    assert "torch.compile" in text["torch"]
    assert "TF_USE_LEGACY_KERAS=1" in text["tensorflow"]
    assert "LiteRT" in text["tensorflow"] and "ONNX" in text["tensorflow"]
    sklearn = get_page("sklearn")
    assert isinstance(sklearn, LibraryPage)
    assert any("cuML" in g for g in sklearn.gpu_alternatives)
    assert any("XGBoost" in g for g in sklearn.gpu_alternatives)
