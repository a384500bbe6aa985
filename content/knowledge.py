"""The knowledge pages as data: load, validate, search and render them.

Each page in content/pages is Markdown with TOML front matter between two `+++` lines. A library
page's front matter holds the comparison facts (the article's five columns and what the article
lacks: latest release, maintained or not, GPU backends, install command), so `mltui compare`, the
chooser and the page itself read one source. The body says what the article claimed and, under
"Since then", marks each claim `[still true]`, `[changed]` or `[no longer true]` with a link to
where it changed. A `{{sample}}` line marks where the real sample file is shown.

Anything wrong in a file is a `ContentError` whose str() is `file:line: what is wrong`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from probes.catalog import GUIDE_LIBRARIES, LIBRARY_IDS, UnknownLibraryError, get_library

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The bundled content folder (pages/, samples/, comparison.toml, chooser.toml).
CONTENT_ROOT = Path(__file__).resolve().parent

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

# Front matter of a library page: key -> allowed Python types (list means list of str).
_LIBRARY_KEYS: dict[str, str] = {
    "kind": "str",
    "id": "str",
    "title": "str",
    "ideal_for": "str",
    "best_application": "str",
    "external_hardware": "bool",
    "ml_or_dl": "str",
    "ml_knowledge": "str",
    "learning_curve": "str",
    "strengths": "list",
    "weaknesses": "list",
    "sample": "str",
    "latest_release": "str",
    "latest_release_date": "str",
    "facts_checked": "str",
    "maintained": "bool",
    "gpu_backends": "list",
    "install": "str",
}
_LIBRARY_OPTIONAL: dict[str, str] = {
    "covers": "list",
    "successors": "list",
    "legacy_note": "str",
}
_INFO_KEYS: dict[str, str] = {"kind": "str", "id": "str", "title": "str"}
_INFO_OPTIONAL: dict[str, str] = {"aliases": "list"}
_ENUMS: dict[str, tuple[str, ...]] = {
    "kind": ("library", "info"),
    "ml_or_dl": tuple(ML_OR_DL),
    "ml_knowledge": ML_KNOWLEDGE,
    "learning_curve": LEARNING_CURVES,
}
_TYPE_NAMES = {"str": "a string", "bool": "true or false", "list": "a list of strings"}

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
}

_LINK_RE = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
_CLAIM_RE = re.compile(r"^\s*[-*]\s+\[([^\]\n]+)\](?!\()")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TOML_LINE_RE = re.compile(r"at line (\d+)")


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
    claims: list[SinceThenClaim] = field(default_factory=list)

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


# --------------------------------------------------------------------------- parsing


def _toml_line(exc: Exception) -> int:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    match = _TOML_LINE_RE.search(str(exc))
    return int(match.group(1)) if match else 1


def _toml_message(exc: Exception) -> str:
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str):
        return msg
    return _TOML_LINE_RE.sub("", str(exc)).replace("()", "").strip(" ()")


def _key_line(lines: list[str], key: str, first_line: int) -> int:
    """The file line where `key = ...` is set in a TOML block starting at `first_line`."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for offset, text in enumerate(lines):
        if pattern.match(text):
            return first_line + offset
    return first_line


def _check_type(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], list[str], str, int]:
    """Parse `+++` TOML front matter; returns (data, its lines, body, body's first file line)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise ContentError(path, 1, "no front matter: the file must start with a '+++' line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise ContentError(path, 1, "front matter is not closed by a second '+++' line") from None
    fm_lines = lines[1:end]
    try:
        data = tomllib.loads("\n".join(fm_lines))
    except tomllib.TOMLDecodeError as exc:
        line = 1 + _toml_line(exc)
        raise ContentError(path, line, f"bad TOML in front matter: {_toml_message(exc)}") from None
    body = "\n".join(lines[end + 1 :])
    return data, fm_lines, body, end + 2


def _check_keys(
    path: Path,
    data: dict[str, Any],
    fm_lines: list[str],
    required: dict[str, str],
    optional: dict[str, str],
) -> list[ContentError]:
    errors: list[ContentError] = []
    for key in required:
        if key not in data:
            errors.append(ContentError(path, 1, f"front matter has no '{key}' key"))
    for key, value in data.items():
        kind_or_none = required.get(key) or optional.get(key)
        line = _key_line(fm_lines, key, 2)
        if kind_or_none is None:
            errors.append(ContentError(path, line, f"unknown front matter key '{key}'"))
            continue
        if not _check_type(value, kind_or_none):
            errors.append(ContentError(path, line, f"'{key}' must be {_TYPE_NAMES[kind_or_none]}"))
            continue
        allowed = _ENUMS.get(key)
        if allowed and value not in allowed:
            errors.append(
                ContentError(path, line, f"'{key}' is {value!r}; one of: {', '.join(allowed)}")
            )
    return errors


def _parse_claims(path: Path, body: str, body_line: int) -> tuple[list[SinceThenClaim], bool]:
    """The marked claims under the "Since then" heading, and whether that heading exists."""
    claims: list[SinceThenClaim] = []
    in_section = False
    found = False
    section_level = 0
    current: list[str] | None = None
    current_start = 0
    current_verdict = ""

    def flush() -> None:
        if current is not None:
            text = " ".join(s.strip() for s in current)
            links = tuple(href for _, href in _LINK_RE.findall(text))
            claims.append(SinceThenClaim(current_verdict, text, current_start, links))

    for offset, raw in enumerate(body.splitlines()):
        heading = _HEADING_RE.match(raw)
        if heading:
            level = len(heading.group(1))
            if in_section and level <= section_level:
                in_section = False
            if heading.group(2).strip().lower() == SINCE_THEN_HEADING.lower():
                in_section, found, section_level = True, True, level
            flush()
            current = None
            continue
        if not in_section:
            continue
        mark = _CLAIM_RE.match(raw)
        if mark:
            flush()
            current = [raw[mark.end() :]]
            current_start = body_line + offset
            current_verdict = mark.group(1).strip().lower()
        elif current is not None and raw.startswith((" ", "\t")) and raw.strip():
            current.append(raw)
        else:
            flush()
            current = None
    flush()
    return claims, found


def _build_page(path: Path, data: dict[str, Any], body: str, body_line: int) -> Page:
    common = {
        "id": data["id"],
        "title": data["title"],
        "kind": data["kind"],
        "path": path,
        "body": body,
        "body_line": body_line,
        "front_matter": data,
    }
    if data["kind"] == "info":
        return Page(**common, aliases=tuple(data.get("aliases", ())))
    claims, _ = _parse_claims(path, body, body_line)
    spec = get_library(data["id"])
    return LibraryPage(
        **common,
        aliases=(spec.display_name.lower(), *spec.aliases),
        ideal_for=data["ideal_for"],
        best_application=data["best_application"],
        external_hardware=data["external_hardware"],
        ml_or_dl=data["ml_or_dl"],
        ml_knowledge=data["ml_knowledge"],
        learning_curve=data["learning_curve"],
        strengths=list(data["strengths"]),
        weaknesses=list(data["weaknesses"]),
        sample=data["sample"],
        latest_release=data["latest_release"],
        latest_release_date=data["latest_release_date"],
        facts_checked=data["facts_checked"],
        maintained=data["maintained"],
        gpu_backends=list(data["gpu_backends"]),
        install=data["install"],
        covers=list(data.get("covers", ())),
        successors=list(data.get("successors", ())),
        legacy_note=data.get("legacy_note"),
        claims=claims,
    )


def _check_page(
    path: Path, root: Path, check_samples: bool = True
) -> tuple[Page | None, list[ContentError]]:
    """Parse one page file and check everything that needs only that file (and, when
    `check_samples`, that its sample file exists)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ContentError(path, 1, f"cannot read: {exc}")]
    try:
        data, fm_lines, body, body_line = _split_front_matter(path, text)
    except ContentError as exc:
        return None, [exc]
    kind = data.get("kind")
    if kind == "info":
        errors = _check_keys(path, data, fm_lines, _INFO_KEYS, _INFO_OPTIONAL)
    else:
        errors = _check_keys(path, data, fm_lines, _LIBRARY_KEYS, _LIBRARY_OPTIONAL)
    if errors:
        return None, errors
    if data["id"] != path.stem:
        errors.append(
            ContentError(
                path,
                _key_line(fm_lines, "id", 2),
                f"id {data['id']!r} is not the file name {path.stem!r}",
            )
        )
    if kind == "library":
        errors += _check_library_page(path, root, data, fm_lines, body, body_line, check_samples)
    if errors:
        return None, errors
    return _build_page(path, data, body, body_line), []


def _check_library_page(
    path: Path,
    root: Path,
    data: dict[str, Any],
    fm_lines: list[str],
    body: str,
    body_line: int,
    check_samples: bool = True,
) -> list[ContentError]:
    errors: list[ContentError] = []
    guide_ids = [s.id for s in GUIDE_LIBRARIES]
    if data["id"] not in guide_ids:
        line = _key_line(fm_lines, "id", 2)
        errors.append(
            ContentError(
                path, line, f"id {data['id']!r} is not a guide library ({', '.join(guide_ids)})"
            )
        )
        return errors
    for key in ("covers", "successors"):
        for name in data.get(key, ()):
            if name not in LIBRARY_IDS:
                line = _key_line(fm_lines, key, 2)
                known = ", ".join(LIBRARY_IDS)
                errors.append(
                    ContentError(
                        path, line, f"'{key}' names unknown library {name!r} (known: {known})"
                    )
                )
    sample_line = _key_line(fm_lines, "sample", 2)
    sample = data["sample"]
    if check_samples and not (root / "samples" / sample).is_file():
        errors.append(
            ContentError(
                path, sample_line, f"sample {sample!r} does not exist in {root / 'samples'}"
            )
        )
    expected = get_library(data["id"]).sample
    if expected and sample != expected:
        errors.append(
            ContentError(path, sample_line, f"sample {sample!r} is not the catalog's {expected!r}")
        )
    marker_lines = [i for i, s in enumerate(body.splitlines()) if s.strip() == SAMPLE_MARKER]
    if len(marker_lines) != 1:
        errors.append(
            ContentError(
                path,
                body_line,
                f"the body needs exactly one '{SAMPLE_MARKER}' line, has {len(marker_lines)}",
            )
        )
    claims, found = _parse_claims(path, body, body_line)
    if not found:
        errors.append(ContentError(path, body_line, f"no '## {SINCE_THEN_HEADING}' section"))
    for claim in claims:
        if claim.verdict not in VERDICTS:
            errors.append(
                ContentError(
                    path,
                    claim.line,
                    f"unknown verdict [{claim.verdict}]; use one of: {', '.join(VERDICTS)}",
                )
            )
        elif not any(link.startswith(("http://", "https://")) for link in claim.links):
            errors.append(ContentError(path, claim.line, "claim has no source link (http/https)"))
    if found and len(claims) < MIN_CLAIMS:
        errors.append(
            ContentError(
                path,
                body_line,
                f"'{SINCE_THEN_HEADING}' has {len(claims)} marked claims, needs {MIN_CLAIMS}",
            )
        )
    return errors


# --------------------------------------------------------------------------- links


def resolve_link(
    href: str, pages: Iterable[Page], current: Page | None = None
) -> tuple[str, str] | None:
    """Resolve an internal link to (page id, anchor); None when it is external or broken.

    Internal links are `page.md`, `page.md#anchor`, `#anchor` (same page) and `lib:NAME[#anchor]`
    where NAME is any library id or alias the catalog knows.
    """
    by_id = {p.id: p for p in pages}
    target, _, anchor = href.partition("#")
    if target.startswith(("http://", "https://", "mailto:")):
        return None
    if target == "":
        page_id = current.id if current else ""
    elif target.startswith("lib:"):
        try:
            page_id = _page_id_for(target[4:], by_id.values())
        except UnknownLibraryError:
            return None
    elif target.endswith(".md"):
        page_id = Path(target).stem
    else:
        return None
    if page_id not in by_id:
        return None
    if anchor and anchor not in page_anchors(by_id[page_id]):
        return None
    return page_id, anchor


def is_internal_link(href: str) -> bool:
    """Whether a link points into the knowledge pages rather than out to the web."""
    target = href.partition("#")[0]
    return target == "" or target.startswith("lib:") or target.endswith(".md")


def page_anchors(page: Page) -> set[str]:
    """The anchors of every heading the rendered page has."""
    anchors = set()
    for line in render_page_markdown(page, include_sample=False).splitlines():
        heading = _HEADING_RE.match(line)
        if heading:
            anchors.add(heading_anchor(heading.group(2)))
    return anchors


def _link_target_id(href: str) -> str | None:
    """The page id a `.md` or `lib:` link names, without checking that it exists."""
    target = href.partition("#")[0]
    if target.endswith(".md"):
        return Path(target).stem
    if target.startswith("lib:"):
        try:
            return get_library(target[4:]).id
        except UnknownLibraryError:
            return None
    return None


def _check_links(pages: list[Page], unreadable: Collection[str] = ()) -> list[ContentError]:
    """Broken internal links; links into pages that failed to load (`unreadable`) are skipped,
    their own errors already say what is wrong."""
    errors: list[ContentError] = []
    for page in pages:
        in_code = False
        for offset, line in enumerate(page.body.splitlines()):
            if line.lstrip().startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            for _, href in _LINK_RE.findall(line):
                if not is_internal_link(href):
                    continue
                if _link_target_id(href) in unreadable:
                    continue
                if resolve_link(href, pages, page) is None:
                    errors.append(
                        ContentError(page.path, page.body_line + offset, f"broken link {href!r}")
                    )
    return errors


# --------------------------------------------------------------------------- the bundle


def _page_id_for(name: str, pages: Iterable[Page]) -> str:
    """The id of the page about `name`: a page id or alias, or a catalog library it covers."""
    wanted = name.strip().lower()
    page_list = list(pages)
    for page in page_list:
        if wanted == page.id or wanted in (a.lower() for a in page.aliases):
            return page.id
    spec = get_library(name)
    for page in page_list:
        if page.id == spec.id or (isinstance(page, LibraryPage) and spec.id in page.covers):
            return page.id
    raise UnknownLibraryError(
        f"no page about {name!r}; pages: {', '.join(p.id for p in page_list)}"
    )


def _read_columns(root: Path) -> tuple[list[ComparisonColumn], list[ContentError]]:
    path = root / "comparison.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [ContentError(path, 1, f"cannot read: {exc.strerror or exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [ContentError(path, _toml_line(exc), f"bad TOML: {_toml_message(exc)}")]
    lines = text.splitlines()
    headers = [i + 1 for i, s in enumerate(lines) if s.strip() == "[[column]]"]
    columns: list[ComparisonColumn] = []
    errors: list[ContentError] = []
    known_fields = set(_LIBRARY_KEYS) | set(_LIBRARY_OPTIONAL)
    raw_columns = data.get("column")
    if not isinstance(raw_columns, list) or not raw_columns:
        return [], [ContentError(path, 1, "no [[column]] tables")]
    for index, raw in enumerate(raw_columns):
        line = headers[index] if index < len(headers) else 1
        if not isinstance(raw, dict):
            errors.append(ContentError(path, line, "a column must be a table"))
            continue
        problems = [k for k in ("key", "title", "field") if not isinstance(raw.get(k), str)]
        if problems or not isinstance(raw.get("article", False), bool):
            what = ", ".join(problems) or "article"
            errors.append(
                ContentError(
                    path,
                    line,
                    f"column needs string key, title, field and boolean article ({what})",
                )
            )
            continue
        if raw["field"] not in known_fields:
            errors.append(
                ContentError(
                    path,
                    line,
                    f"column {raw['key']!r}: unknown front matter field {raw['field']!r}",
                )
            )
            continue
        columns.append(
            ComparisonColumn(raw["key"], raw["title"], raw["field"], raw.get("article", False))
        )
    return columns, errors


def _collect(root: Path, check_samples: bool = True) -> tuple[KnowledgeBase, list[ContentError]]:
    errors: list[ContentError] = []
    pages_dir = root / "pages"
    if not pages_dir.is_dir():
        return KnowledgeBase(root, [], []), [ContentError(pages_dir, 1, "no pages folder")]
    pages: list[Page] = []
    for path in sorted(pages_dir.glob("*.md")):
        page, page_errors = _check_page(path, root, check_samples)
        errors += page_errors
        if page is not None:
            pages.append(page)
    present = {p.id for p in pages if isinstance(p, LibraryPage)}
    for spec in GUIDE_LIBRARIES:
        if spec.id not in present and not (pages_dir / f"{spec.id}.md").exists():
            errors.append(
                ContentError(
                    pages_dir / f"{spec.id}.md", 1, f"missing page for {spec.display_name}"
                )
            )
    unreadable = {p.stem for p in pages_dir.glob("*.md")} - {p.id for p in pages}
    errors += _check_links(pages, unreadable)
    columns, column_errors = _read_columns(root)
    errors += column_errors
    return KnowledgeBase(root, pages, columns), errors


def validate_content(root: Path | str | None = None) -> list[ContentError]:
    """Every problem in a content folder (default: the bundled one), each `file:line: what`.

    Checks front matter keys and types, Since-then verdicts and their sources, internal links,
    that each referenced sample exists, the comparison columns, and the chooser rules.
    """
    from content.chooser import validate_chooser

    base = content_root(root)
    bundle, errors = _collect(base)
    errors += validate_chooser(base, bundle.library_pages)
    return errors


def _stamp(root: Path) -> tuple[tuple[str, int], ...]:
    files = [
        *sorted((root / "pages").glob("*.md")),
        root / "comparison.toml",
        root / "chooser.toml",
    ]
    stamp = []
    for path in files:
        try:
            stamp.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            stamp.append((str(path), -1))
    return tuple(stamp)


def content_root(root: Path | str | None = None) -> Path:
    """The content folder: `root` when given, else the bundled one.

    CONTENT_ROOT is read at call time, so every loader (pages, chooser, validator) follows the same
    folder, also when a test points it elsewhere for a while.
    """
    return Path(root) if root is not None else CONTENT_ROOT


@lru_cache(maxsize=8)
def _load_cached(root: str, stamp: tuple[tuple[str, int], ...]) -> KnowledgeBase:
    # A missing sample file does not stop the app (the page says it is missing where the code
    # would be); `validate_content` still reports it.
    bundle, errors = _collect(Path(root), check_samples=False)
    if errors:
        raise errors[0]
    return bundle


def load_knowledge(root: Path | str | None = None) -> KnowledgeBase:
    """Load and check a content folder; raises the first ContentError it finds.

    Results are cached until a page, comparison.toml or chooser.toml changes on disk.
    """
    base = content_root(root)
    return _load_cached(str(base), _stamp(base))


def load_pages(root: Path | str | None = None) -> list[LibraryPage]:
    """The library pages, in the catalog's order (sklearn, theano, caffe, torch, tensorflow)."""
    return load_knowledge(root).library_pages


def load_all_pages(root: Path | str | None = None) -> list[Page]:
    """Every page: the library pages first, then the others (about, guide) by id."""
    bundle = load_knowledge(root)
    others = sorted((p for p in bundle.pages if not isinstance(p, LibraryPage)), key=lambda p: p.id)
    return [*bundle.library_pages, *others]


def get_page(name: str, root: Path | str | None = None) -> Page:
    """The page for a library id, alias or display name (PyTensor -> Theano's, OpenCV -> Caffe's),
    or an info page by id ("about", "guide"). Raises UnknownLibraryError otherwise."""
    pages = load_all_pages(root)
    page_id = _page_id_for(name, pages)
    return next(p for p in pages if p.id == page_id)


def get_library_page(name: str, root: Path | str | None = None) -> LibraryPage:
    """Like get_page, but only library pages."""
    page = get_page(name, root)
    if not isinstance(page, LibraryPage):
        raise UnknownLibraryError(f"{name!r} is not a library page")
    return page


def comparison_columns(root: Path | str | None = None) -> list[ComparisonColumn]:
    """The columns of the comparison table, as comparison.toml defines them."""
    return load_knowledge(root).columns


def _cell(page: LibraryPage, column: ComparisonColumn) -> str:
    if column.field == "latest_release":
        return f"{page.latest_release} ({page.latest_release_date})"
    if column.field == "install":
        return page.install
    return format_value(column.field, page.front_matter.get(column.field, ""))


def comparison_rows(root: Path | str | None = None) -> list[ComparisonRow]:
    """One row per library, its cells derived from the page's front matter."""
    bundle = load_knowledge(root)
    rows = []
    for page in bundle.library_pages:
        cells = {c.key: _cell(page, c) for c in bundle.columns}
        values = {c.key: page.front_matter.get(c.field) for c in bundle.columns}
        rows.append(ComparisonRow(page.id, cells, values))
    return rows


# --------------------------------------------------------------------------- rendering


def sample_path(page: LibraryPage, root: Path | str | None = None) -> Path:
    """The real sample file a library page shows (it may be missing; render says so)."""
    base = Path(root) if root is not None else page.path.parent.parent
    return base / "samples" / page.sample


def _sample_block(page: LibraryPage, samples_dir: Path) -> str:
    path = samples_dir / page.sample
    try:
        code = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError:
        return f"> The sample `{page.sample}` is missing from {samples_dir}."
    fence = "````" if "```" in code else "```"
    return (
        f"{fence}python\n{code}\n{fence}\n\n"
        f"*The real file: content/samples/{page.sample} — run it with `mltui run {page.id}`.*"
    )


def _library_header(page: LibraryPage) -> list[str]:
    released = f"{page.latest_release} ({page.latest_release_date}; checked {page.facts_checked})"
    rows = [
        ("Ideal for (article)", page.ideal_for),
        (FIELD_LABELS["best_application"], page.best_application),
        (
            FIELD_LABELS["external_hardware"],
            format_value("external_hardware", page.external_hardware),
        ),
        (FIELD_LABELS["ml_or_dl"], format_value("ml_or_dl", page.ml_or_dl)),
        (FIELD_LABELS["ml_knowledge"], format_value("ml_knowledge", page.ml_knowledge)),
        (FIELD_LABELS["learning_curve"], format_value("learning_curve", page.learning_curve)),
        (FIELD_LABELS["latest_release"], released),
        (FIELD_LABELS["maintained"], format_value("maintained", page.maintained)),
        (FIELD_LABELS["gpu_backends"], ", ".join(page.gpu_backends) or "none"),
        (FIELD_LABELS["install"], f"`{page.install}`"),
    ]
    out = [f"# {page.title}", "", "## At a glance", "", "| Fact | Value |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in rows]
    if page.legacy_note:
        out += ["", f"> **Since then:** {page.legacy_note}"]
    out += ["", "## Strengths (the article)", ""]
    out += [f"- {s}" for s in page.strengths]
    out += ["", "## Weaknesses (the article)", ""]
    out += [f"- {w}" for w in page.weaknesses]
    out.append("")
    return out


def render_page_markdown(
    page: Page, *, include_sample: bool = True, root: Path | str | None = None
) -> str:
    """The page as Markdown for Rich or Textual: facts from front matter, the body with verdicts
    in bold, and the real sample file where the `{{sample}}` line is."""
    samples_dir = (
        Path(root) / "samples" if root is not None else page.path.parent.parent / "samples"
    )
    out: list[str] = (
        _library_header(page) if isinstance(page, LibraryPage) else [f"# {page.title}", ""]
    )
    for line in page.body.splitlines():
        if line.strip() == SAMPLE_MARKER:
            if isinstance(page, LibraryPage) and include_sample:
                out.append(_sample_block(page, samples_dir))
            elif isinstance(page, LibraryPage):
                out.append(f"*(sample: content/samples/{page.sample})*")
            continue
        mark = _CLAIM_RE.match(line)
        if mark and mark.group(1).strip().lower() in VERDICTS:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}- **[{mark.group(1).strip().lower()}]**{line[mark.end() :]}")
            continue
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- search


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
            match = _HEADING_RE.match(text) if not in_code else None
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
