"""`mltui content check`: every problem in a content folder, pages and chooser rules together."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from content.chooser import validate_chooser
from content.loading import collect, content_root
from content.page import AS_OF_RE, STALE_AFTER_MONTHS, ContentError


def validate_content(root: Path | str | None = None) -> list[ContentError]:
    """Every problem in a content folder (default: the bundled one), each `file:line: what`.

    Checks front matter keys and types, Since-then verdicts and their sources, internal links,
    that each referenced sample exists, the comparison columns, and the chooser rules.
    """
    base = content_root(root)
    bundle, errors = collect(base)
    errors += validate_chooser(base, bundle.library_pages)
    return errors


def stale_claims(root: Path | str | None = None, today: date | None = None) -> list[ContentError]:
    """Dated claims ("As of YYYY-MM") more than STALE_AFTER_MONTHS months before `today`
    (default: the real today), each `file:line: ...` saying when it was checked.

    These are warnings: the guide still loads, but the claim needs checking again.
    """
    now = today or date.today()
    bundle, _ = collect(content_root(root), check_samples=False)
    warnings: list[ContentError] = []

    def check(path: Path, line: int, as_of: str, what: str) -> None:
        year, month = (int(part) for part in as_of.split("-"))
        age = (now.year - year) * 12 + (now.month - month)
        if age > STALE_AFTER_MONTHS:
            warnings.append(
                ContentError(path, line, f"{what} as of {as_of}, {age} months ago: check it again")
            )

    for page in bundle.library_pages:
        for claim in page.claims:
            if claim.as_of is not None:
                check(page.path, claim.line, claim.as_of, "claim checked")
        # Today's facts the chooser weighs age the same way (their line: the front matter's).
        for index, fact in enumerate(page.current_facts):
            dated = AS_OF_RE.search(fact)
            if dated:
                as_of = f"{dated.group(1)}-{dated.group(2)}"
                check(page.path, 1, as_of, f"current_facts.{index} checked")
    return warnings
