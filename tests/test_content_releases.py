"""Releases: the newest overall and the newest a given interpreter can install; today's facts
dated and sourced, and aged by `content check` like the Since-then claims."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from content.knowledge import CONTENT_ROOT, LibraryPage, load_pages, release_text
from content.page import python_accepts, python_version_tuple
from content.render import render_page_markdown
from content.validate import stale_claims, validate_content


def _page(library: str) -> LibraryPage:
    page = next(p for p in load_pages() if p.id == library)
    assert isinstance(page, LibraryPage)
    return page


@pytest.mark.parametrize(
    ("requirement", "python", "accepted"),
    [
        ("", (3, 8), True),
        (">=3.12", (3, 11), False),
        (">=3.12", (3, 12), True),
        (">=3.12", (4, 0), True),
        (">=3.11,<3.15", (3, 15), False),
        (">=3.11,<3.15", (3, 14), True),
        (">=3.10", (3, 9), False),
        ("~=3.12", (3, 12), False),  # a form the pages do not use is never taken as "yes"
    ],
)
def test_python_requirement(requirement: str, python: tuple[int, int], accepted: bool) -> None:
    assert python_accepts(requirement, python) is accepted


def test_python_version_text() -> None:
    assert python_version_tuple("3.11.7") == (3, 11)
    assert python_version_tuple("3.8") == (3, 8)
    assert python_version_tuple("PyPy") is None


def test_jax_newest_overall_and_for_this_interpreter() -> None:
    """JAX's newest release needs Python 3.12; on 3.11 pip stops at 0.10.2 (issue 22)."""
    jax = _page("jax")
    assert jax.latest_release != "0.10.2" and jax.latest_release_python == ">=3.12"
    assert jax.newest_for((3, 11)) == ("0.10.2", "2026-06-17")
    assert jax.newest_for((3, 12)) == (jax.latest_release, jax.latest_release_date)
    assert jax.newest_for((3, 9)) is None  # not recorded: said, not guessed
    text = render_page_markdown(jax, include_sample=False, python=(3, 11))
    assert f"| Latest release | {jax.latest_release} (" in text and "needs Python >=3.12" in text
    assert "| Newest for this Python (3.11) | 0.10.2 (2026-06-17) |" in text
    # Without an interpreter every recorded older line is listed.
    assert "| Newest for Python 3.11 | 0.10.2 (2026-06-17) |" in render_page_markdown(
        jax, include_sample=False
    )
    assert release_text(jax, (3, 11)).endswith("for Python 3.11: 0.10.2 (2026-06-17)")
    assert release_text(jax, (3, 8)).endswith("none recorded for Python 3.8")


@pytest.mark.parametrize("library", ["sklearn", "torch", "tensorflow", "jax", "theano", "caffe"])
def test_every_library_says_what_each_python_gets(library: str) -> None:
    page = _page(library)
    for python in ((3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13)):
        newest = page.newest_for(python)
        if python_accepts(page.latest_release_python, python):
            assert newest == (page.latest_release, page.latest_release_date)
        elif newest is not None:
            assert newest[0] != page.latest_release, (library, python)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('latest_release_python = ">=3.12"', 'latest_release_python = "3.12+"', "use '>=3.12'"),
        ('"3.11 = 0.10.2 (2026-06-17)"', '"3.11: 0.10.2"', "use '3.11 = 0.10.2 (2026-06-17)'"),
        ('As of 2026-12. Source: https://docs.jax.dev/en/latest/"', 'no date"', "current_facts.0"),
        ('Source: https://docs.jax.dev/en/latest/"', 'no source"', "current_facts.0"),
        # Well-formed entries that no reader ever reaches: a wrong fact all the same.
        ('"3.11 = 0.10.2 (2026-06-17)"', '"3.11 = 0.10.2", "3.11 = 0.9.0"', "3.11 is named twice"),
        ('"3.11 = 0.10.2 (2026-06-17)"', '"3.13 = 0.10.2"', "3.13 installs the latest release"),
        ('"3.11 = 0.10.2 (2026-06-17)"', '"3.99999999999 = 0.1"', "installs the latest release"),
        ('latest_release_python = ">=3.12"', 'latest_release_python = ""', "is empty"),
    ],
)
def test_malformed_release_facts_are_content_errors(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    root = _copy(tmp_path)
    page = root / "pages" / "jax.md"
    text = page.read_text(encoding="utf-8")
    assert old in text
    page.write_text(text.replace(old, new, 1), encoding="utf-8")
    errors = [str(e) for e in validate_content(root)]
    assert any(message in e and "jax.md" in e for e in errors), errors


def test_todays_facts_age_like_claims(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    fresh = [str(w) for w in stale_claims(root, date(2027, 12, 1))]
    assert not any("current_facts" in w for w in fresh)
    old = [str(w) for w in stale_claims(root, date(2028, 1, 1))]
    assert any("torch.md" in w and "current_facts.0 checked as of 2026-12" in w for w in old)
