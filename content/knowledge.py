"""The knowledge pages' public names, gathered from the modules that implement them.

- content.page: the page model (pages, library pages, claims, comparison rows, field labels);
- content.loading: reading, checking and caching a content folder;
- content.render: a page as Markdown;
- content.search: searching the pages;
- content.validate: `mltui content check` (pages and chooser rules together).

The chooser (content.chooser) builds on content.page and content.loading; nothing here imports
it back except the validator, so there is no import circle.
"""

from __future__ import annotations

from content.loading import (
    CONTENT_ROOT,
    comparison_columns,
    comparison_rows,
    content_root,
    get_page,
    is_internal_link,
    load_all_pages,
    load_knowledge,
    load_pages,
    release_text,
    resolve_link,
)
from content.page import (
    ARTICLE_CREDIT,
    ARTICLE_TITLE,
    ARTICLE_VENUE,
    FIELD_LABELS,
    MIN_CLAIMS,
    SAMPLE_MARKER,
    SINCE_THEN_HEADING,
    VERDICTS,
    ComparisonColumn,
    ComparisonRow,
    ContentError,
    KnowledgeBase,
    LibraryPage,
    Page,
    SinceThenClaim,
    format_value,
    heading_anchor,
)
from content.render import page_anchors, render_page_markdown
from content.search import SearchHit, search
from content.validate import validate_content

__all__ = [
    "ARTICLE_CREDIT",
    "ARTICLE_TITLE",
    "ARTICLE_VENUE",
    "CONTENT_ROOT",
    "FIELD_LABELS",
    "MIN_CLAIMS",
    "SAMPLE_MARKER",
    "SINCE_THEN_HEADING",
    "VERDICTS",
    "ComparisonColumn",
    "ComparisonRow",
    "ContentError",
    "KnowledgeBase",
    "LibraryPage",
    "Page",
    "SearchHit",
    "SinceThenClaim",
    "comparison_columns",
    "comparison_rows",
    "content_root",
    "format_value",
    "get_page",
    "heading_anchor",
    "is_internal_link",
    "load_all_pages",
    "load_knowledge",
    "load_pages",
    "page_anchors",
    "release_text",
    "render_page_markdown",
    "resolve_link",
    "search",
    "validate_content",
]
