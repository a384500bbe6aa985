"""The page model: what a knowledge page, a library page and the comparison table are.

Each page in content/pages is Markdown with TOML front matter between two `+++` lines. A library
page's front matter holds the comparison facts (the article's five columns and what the article
lacks: latest release, maintained or not, GPU backends, install command), so `mltui compare`, the
chooser and the page itself read one source. The body says what the article claimed and, under
"Since then", marks each claim `[still true]`, `[changed]` or `[no longer true]` with a link to
where it changed. A `{{sample}}` line marks where the real sample file is shown.

Loading and checking live in content.loading, rendering in content.render, search in
content.search; content.knowledge gathers the public names.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes.catalog import GUIDE_LIBRARIES
from probes.files import NotARegularFile, read_regular

#: How each claim under "Since then" is marked.
VERDICTS: tuple[str, ...] = ("still true", "changed", "no longer true")
#: The line in a page body replaced by the real sample file.
SAMPLE_MARKER = "{{sample}}"
#: The heading every library page needs, and its anchor.
SINCE_THEN_HEADING = "Since then"
#: The fewest marked claims a library page may have under "Since then".
MIN_CLAIMS = 3

ARTICLE_TITLE = "TensorFlow or PyTorch? A Guide to Python Machine Learning Libraries"
ARTICLE_VENUE = "first published on Kite"
ARTICLE_CREDIT = (
    f'Facts and figures from the article "{ARTICLE_TITLE}" ({ARTICLE_VENUE}; author not named '
    "in the copy mltui used), rewritten and checked against today."
)

ML_OR_DL = {"ml": "ML only", "dl": "Deep learning only", "both": "Both"}
ML_KNOWLEDGE = ("beginner", "mid-level", "intermediate", "advanced")
LEARNING_CURVES = ("very low", "low", "high", "very high")

#: Labels of front-matter fields, used by the page render, the table and the chooser's reasons.
FIELD_LABELS: dict[str, str] = {
    "title": "Library",
    "ideal_for": "Ideal for",
    "best_application": "Best application",
    "external_hardware": "Runs on external hardware",
    "ml_or_dl": "ML or deep learning",
    "ml_knowledge": "ML knowledge required",
    "learning_curve": "Learning curve",
    "strengths": "Strength",
    "weaknesses": "Weakness",
    "latest_release": "Latest release",
    "maintained": "Maintained",
    "gpu_backends": "GPU backends",
    "install": "Install",
    "legacy_note": "Since then",
    "gpu_alternatives": "GPU options",
    "scale_alternatives": "Options at scale",
    "current_facts": "Today",
}

#: The month a dated claim was checked: "As of 2026-11".
AS_OF_RE = re.compile(r"\bas of (\d{4})-(0[1-9]|1[0-2])\b", re.IGNORECASE)
#: A source link inside a front-matter fact: today's facts must each carry one.
SOURCE_RE = re.compile(r"https?://\S+")
#: A Python requirement of a release: ">=3.12" or ">=3.11,<3.15".
REQUIRES_PYTHON_RE = re.compile(r"^>=(\d+)\.(\d+)(?:,\s*<(\d+)\.(\d+))?$")
#: One `newest_for_python` entry: "3.11 = 0.10.2 (2026-06-17)"; the date may be left out.
NEWEST_FOR_RE = re.compile(r"^(\d+)\.(\d+) = (\S+)(?: \((\d{4}-\d{2}(?:-\d{2})?)\))?$")
#: How many months a dated claim stays fresh before `mltui content check` asks to check it again.
STALE_AFTER_MONTHS = 12

#: A Markdown link [text](href), not an image.
LINK_RE = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
CLAIM_RE = re.compile(r"^\s*[-*]\s+\[([^\]\n]+)\](?!\()")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


#: The largest content file read (a page is a few KiB, the whole bundled content 60 KiB).
MAX_CONTENT_FILE_BYTES = 1024 * 1024


def read_content_text(path: Path) -> str:
    """The text of one content file (page, chooser.toml, comparison.toml, a sample shown).

    The one reader of content files: a regular file (a FIFO would wait for a writer forever,
    /dev/zero never ends) of at most MAX_CONTENT_FILE_BYTES of UTF-8. OSError otherwise, its
    strerror one line that says what is wrong.
    """
    try:
        data = read_regular(path, MAX_CONTENT_FILE_BYTES + 1)
    except NotARegularFile:
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or folder)") from None
    if len(data) > MAX_CONTENT_FILE_BYTES:
        limit = MAX_CONTENT_FILE_BYTES // 1024
        raise OSError(errno.EFBIG, f"larger than {limit} KiB, too large for a content file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OSError(errno.EILSEQ, f"not UTF-8 (byte {exc.start})") from None


class ContentError(Exception):
    """A problem in a content file; str() is `file:line: what is wrong`."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        """Record where (file and 1-based line) and what is wrong."""
        super().__init__(f"{path}:{line}: {message}")
        self.path = Path(path)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class SinceThenClaim:
    """One claim of the article under "Since then", with its verdict and source links."""

    verdict: str
    text: str
    line: int
    links: tuple[str, ...]
    #: The month the claim was last checked ("2026-11"), from its "As of YYYY-MM" words.
    as_of: str | None = None


@dataclass
class Page:
    """A knowledge page: its id, title, Markdown body and where it came from."""

    id: str
    title: str
    kind: str
    path: Path
    body: str
    #: The file line the body's first line is on (for `file:line` messages).
    body_line: int
    front_matter: dict[str, Any]
    aliases: tuple[str, ...] = ()


@dataclass
class LibraryPage(Page):
    """A library's page: the article's comparison facts, today's facts and the Since-then claims."""

    ideal_for: str = ""
    best_application: str = ""
    external_hardware: bool = False
    ml_or_dl: str = "both"
    ml_knowledge: str = "beginner"
    learning_curve: str = "low"
    strengths: list[str] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)
    sample: str = ""
    latest_release: str = ""
    latest_release_date: str = ""
    facts_checked: str = ""
    maintained: bool = True
    gpu_backends: list[str] = field(default_factory=list)
    install: str = ""
    covers: list[str] = field(default_factory=list)
    successors: list[str] = field(default_factory=list)
    legacy_note: str | None = None
    #: False for a library the source article does not cover (its facts are mltui's own).
    in_article: bool = True
    #: Other libraries that do this library's job on a GPU (cuML, XGBoost... for scikit-learn).
    gpu_alternatives: list[str] = field(default_factory=list)
    #: Libraries that take this library's job past one machine (Dask-ML, Spark MLlib, ...).
    scale_alternatives: list[str] = field(default_factory=list)
    #: Today's facts the chooser weighs, each "As of YYYY-MM" with its source link.
    current_facts: list[str] = field(default_factory=list)
    #: The newest release's Python requirement (">=3.12"); "" when every supported one has it.
    latest_release_python: str = ""
    #: The newest release for interpreters the newest one refuses: "3.11 = 0.10.2 (2026-06-17)".
    newest_for_python: list[str] = field(default_factory=list)
    claims: list[SinceThenClaim] = field(default_factory=list)

    def newest_for(self, python: tuple[int, int]) -> tuple[str, str] | None:
        """(version, date) of the newest release an interpreter of this version can install, or
        None when the page does not say (no release for it is recorded)."""
        if python_accepts(self.latest_release_python, python):
            return self.latest_release, self.latest_release_date
        for entry in self.newest_for_python:
            match = NEWEST_FOR_RE.match(entry)
            if match and (int(match.group(1)), int(match.group(2))) == python:
                return match.group(3), match.group(4) or ""
        return None

    def fact(self, path: str) -> str:
        """The display text of a front-matter fact: `best_application`, `strengths.0`, ...

        Raises KeyError when the page has no such fact.
        """
        name, _, index = path.partition(".")
        value = self.front_matter[name]
        if index:
            if not isinstance(value, list) or not index.isdigit() or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
        return format_value(name, value)


@dataclass(frozen=True)
class ComparisonColumn:
    """A column of the comparison table: which front-matter field it shows, and from where."""

    key: str
    title: str
    field: str
    #: True for the article's own six columns, False for those mltui adds.
    article: bool


@dataclass
class ComparisonRow:
    """One library's row: display text per column key, and the raw front-matter values."""

    library: str
    cells: dict[str, str]
    values: dict[str, Any]


@dataclass
class KnowledgeBase:
    """Everything loaded from one content folder."""

    root: Path
    pages: list[Page]
    columns: list[ComparisonColumn]

    @property
    def library_pages(self) -> list[LibraryPage]:
        """The library pages, in the catalog's order."""
        order = {spec.id: i for i, spec in enumerate(GUIDE_LIBRARIES)}
        libs = [p for p in self.pages if isinstance(p, LibraryPage)]
        return sorted(libs, key=lambda p: order.get(p.id, len(order)))


# --------------------------------------------------------------------------- formatting


def python_version_tuple(version: str) -> tuple[int, int] | None:
    """(3, 11) from an interpreter's version text ("3.11.7"); None when it is not one."""
    match = re.match(r"^\s*(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def python_accepts(requirement: str, python: tuple[int, int]) -> bool:
    """Whether a `latest_release_python` requirement (">=3.12", ">=3.11,<3.15" or "") admits
    this interpreter version; "" admits every one."""
    match = REQUIRES_PYTHON_RE.match(requirement.strip())
    if not requirement.strip() or match is None:
        return not requirement.strip()
    low = (int(match.group(1)), int(match.group(2)))
    if python < low:
        return False
    if match.group(3):
        return python < (int(match.group(3)), int(match.group(4)))
    return True


def format_value(name: str, value: Any) -> str:
    """Display text of a front-matter value (enums spelled out, booleans as yes/no)."""
    if name == "ml_or_dl":
        return ML_OR_DL.get(str(value), str(value))
    if name in ("ml_knowledge", "learning_curve"):
        return str(value).capitalize()
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def heading_anchor(heading: str) -> str:
    """The anchor of a heading, GitHub style: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r" ", "-", text)
