"""Rendering a knowledge page as Markdown: the facts table from front matter, the body with its
verdicts in bold, and the real sample file where the page's `{{sample}}` line is."""

from __future__ import annotations

from pathlib import Path

from content.page import (
    CLAIM_RE,
    FIELD_LABELS,
    HEADING_RE,
    NEWEST_FOR_RE,
    SAMPLE_MARKER,
    VERDICTS,
    LibraryPage,
    Page,
    format_value,
    heading_anchor,
    read_content_text,
)


def _sample_block(page: LibraryPage, samples_dir: Path) -> str:
    path = samples_dir / page.sample
    try:
        code = read_content_text(path).rstrip("\n")
    except OSError:
        return f"> The sample `{page.sample}` is missing from {samples_dir}."
    fence = "````" if "```" in code else "```"
    return (
        f"{fence}python\n{code}\n{fence}\n\n"
        f"*The real file: content/samples/{page.sample} — run it with `mltui run {page.id}`.*"
    )


def _release_rows(page: LibraryPage, python: tuple[int, int] | None) -> list[tuple[str, str]]:
    """The newest release overall, then the newest this interpreter (or each older one) gets."""
    needs = f"; needs Python {page.latest_release_python}" if page.latest_release_python else ""
    rows = [
        (
            FIELD_LABELS["latest_release"],
            f"{page.latest_release} ({page.latest_release_date}{needs}; "
            f"checked {page.facts_checked})",
        )
    ]
    if python is not None:
        newest = page.newest_for(python)
        label = f"Newest for this Python ({python[0]}.{python[1]})"
        rows.append((label, _version_text(*newest) if newest else "none recorded"))
        return rows
    for entry in page.newest_for_python:
        match = NEWEST_FOR_RE.match(entry)
        if match:
            label = f"Newest for Python {match.group(1)}.{match.group(2)}"
            rows.append((label, _version_text(match.group(3), match.group(4) or "")))
    return rows


def _version_text(version: str, date: str) -> str:
    return f"{version} ({date})" if date else version


def _library_header(page: LibraryPage, python: tuple[int, int] | None = None) -> list[str]:
    # Whose judgement the facts are: the article's, or mltui's for a library it does not cover.
    whose = "the article" if page.in_article else "mltui, not in the article"
    rows = [
        (f"Ideal for ({'article' if page.in_article else 'mltui'})", page.ideal_for),
        (FIELD_LABELS["best_application"], page.best_application),
        (
            FIELD_LABELS["external_hardware"],
            format_value("external_hardware", page.external_hardware),
        ),
        (FIELD_LABELS["ml_or_dl"], format_value("ml_or_dl", page.ml_or_dl)),
        (FIELD_LABELS["ml_knowledge"], format_value("ml_knowledge", page.ml_knowledge)),
        (FIELD_LABELS["learning_curve"], format_value("learning_curve", page.learning_curve)),
        *_release_rows(page, python),
        (FIELD_LABELS["maintained"], format_value("maintained", page.maintained)),
        (FIELD_LABELS["gpu_backends"], ", ".join(page.gpu_backends) or "none"),
        (FIELD_LABELS["install"], f"`{page.install}`"),
    ]
    if page.gpu_alternatives:
        rows.append((FIELD_LABELS["gpu_alternatives"], "; ".join(page.gpu_alternatives)))
    if page.scale_alternatives:
        rows.append((FIELD_LABELS["scale_alternatives"], "; ".join(page.scale_alternatives)))
    out = [f"# {page.title}", "", "## At a glance", "", "| Fact | Value |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in rows]
    if page.legacy_note:
        out += ["", f"> **Since then:** {page.legacy_note}"]
    out += ["", f"## Strengths ({whose})", ""]
    out += [f"- {s}" for s in page.strengths]
    out += ["", f"## Weaknesses ({whose})", ""]
    out += [f"- {w}" for w in page.weaknesses]
    if page.current_facts:
        out += ["", "## Today (mltui's reading, each dated and sourced)", ""]
        out += [f"- {fact}" for fact in page.current_facts]
    out.append("")
    return out


def render_page_markdown(
    page: Page,
    *,
    include_sample: bool = True,
    root: Path | str | None = None,
    python: tuple[int, int] | None = None,
) -> str:
    """The page as Markdown for Rich or Textual: facts from front matter, the body with verdicts
    in bold, and the real sample file where the `{{sample}}` line is. With `python` (the target
    interpreter's version) the release rows say what that interpreter can install."""
    samples_dir = (
        Path(root) / "samples" if root is not None else page.path.parent.parent / "samples"
    )
    out: list[str] = (
        _library_header(page, python) if isinstance(page, LibraryPage) else [f"# {page.title}", ""]
    )
    for line in page.body.splitlines():
        if line.strip() == SAMPLE_MARKER:
            if isinstance(page, LibraryPage) and include_sample:
                out.append(_sample_block(page, samples_dir))
            elif isinstance(page, LibraryPage):
                out.append(f"*(sample: content/samples/{page.sample})*")
            continue
        mark = CLAIM_RE.match(line)
        if mark and mark.group(1).strip().lower() in VERDICTS:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}- **[{mark.group(1).strip().lower()}]**{line[mark.end() :]}")
            continue
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def page_anchors(page: Page) -> set[str]:
    """The anchors of every heading the rendered page has."""
    anchors = set()
    for line in render_page_markdown(page, include_sample=False).splitlines():
        heading = HEADING_RE.match(line)
        if heading:
            anchors.add(heading_anchor(heading.group(2)))
    return anchors
