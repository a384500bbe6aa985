"""`mltui content check`: every problem in a content folder, pages and chooser rules together."""

from __future__ import annotations

from pathlib import Path

from content.chooser import validate_chooser
from content.loading import collect, content_root
from content.page import ContentError


def validate_content(root: Path | str | None = None) -> list[ContentError]:
    """Every problem in a content folder (default: the bundled one), each `file:line: what`.

    Checks front matter keys and types, Since-then verdicts and their sources, internal links,
    that each referenced sample exists, the comparison columns, and the chooser rules.
    """
    base = content_root(root)
    bundle, errors = collect(base)
    errors += validate_chooser(base, bundle.library_pages)
    return errors
