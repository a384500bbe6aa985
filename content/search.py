"""Searching the knowledge pages: every line that holds all the words of a query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from content.loading import load_all_pages
from content.page import HEADING_RE, heading_anchor
from content.render import render_page_markdown


@dataclass(frozen=True)
class SearchHit:
    """A line of a page that matches a search: where it is and a snippet to show."""

    page_id: str
    page_title: str
    heading: str
    anchor: str
    snippet: str
    #: The line in the page's source file, or None for a line generated from front matter.
    line: int | None


def search(query: str, root: Path | str | None = None) -> list[SearchHit]:
    """Lines of any page containing every word of `query` (case-insensitive).

    Hits in titles and headings come first, then body lines in page order. The sample code is
    not searched (it is a separate file); the facts table is.
    """
    terms = [t for t in query.lower().split() if t]
    if not terms:
        return []
    heading_hits: list[SearchHit] = []
    line_hits: list[SearchHit] = []
    for page in load_all_pages(root):
        rendered = render_page_markdown(page, include_sample=False).splitlines()
        body_lines = page.body.splitlines()
        heading = page.title
        in_code = False
        for text in rendered:
            if text.lstrip().startswith("```"):
                in_code = not in_code
            match = HEADING_RE.match(text) if not in_code else None
            if match:
                heading = match.group(2)
            lowered = text.lower()
            if not text.strip() or not all(t in lowered for t in terms):
                continue
            source_line = _source_line(text, body_lines, page.body_line)
            hit = SearchHit(
                page.id,
                page.title,
                heading,
                heading_anchor(heading),
                _snippet(text, terms[0]),
                source_line,
            )
            (heading_hits if match else line_hits).append(hit)
    return heading_hits + line_hits


def _source_line(text: str, body_lines: list[str], body_line: int) -> int | None:
    stripped = re.sub(r"\*\*\[(.+?)\]\*\*", r"[\1]", text)
    for offset, line in enumerate(body_lines):
        if line in (text, stripped):
            return body_line + offset
    return None


def _snippet(text: str, term: str, width: int = 100) -> str:
    flat = " ".join(text.split()).lstrip("#-*| ").strip()
    if len(flat) <= width:
        return flat
    at = flat.lower().find(term)
    start = max(0, min(at - width // 3, len(flat) - width))
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
