"""Loading and checking the knowledge pages: front matter, Since-then claims, links, columns.

Anything wrong in a file is a `ContentError` whose str() is `file:line: what is wrong`. Loaded
content is cached until a file under the content folder changes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from content.page import (
    AS_OF_RE,
    CLAIM_RE,
    HEADING_RE,
    LEARNING_CURVES,
    LINK_RE,
    MIN_CLAIMS,
    ML_KNOWLEDGE,
    ML_OR_DL,
    NEWEST_FOR_RE,
    REQUIRES_PYTHON_RE,
    SAMPLE_MARKER,
    SINCE_THEN_HEADING,
    SOURCE_RE,
    VERDICTS,
    ComparisonColumn,
    ComparisonRow,
    ContentError,
    KnowledgeBase,
    LibraryPage,
    Page,
    SinceThenClaim,
    format_value,
    python_accepts,
    read_content_text,
)
from content.render import page_anchors
from probes.catalog import GUIDE_LIBRARIES, LIBRARY_IDS, UnknownLibraryError, get_library

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The bundled content folder (pages/, samples/, comparison.toml, chooser.toml).
CONTENT_ROOT = Path(__file__).resolve().parent

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
    "in_article": "bool",
    "gpu_alternatives": "list",
    "scale_alternatives": "list",
    "current_facts": "list",
    "latest_release_python": "str",
    "newest_for_python": "list",
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

_TOML_LINE_RE = re.compile(r"at line (\d+)")


# --------------------------------------------------------------------------- parsing


def toml_error(path: Path, exc: Exception, what: str = "bad TOML", offset: int = 0) -> ContentError:
    """A TOML parse error as a ContentError at its line (plus `offset` lines before the TOML)."""
    return ContentError(path, offset + toml_error_line(exc), f"{what}: {toml_error_message(exc)}")


def toml_error_line(exc: Exception) -> int:
    """The 1-based line a TOML parse error names (1 when it names none)."""
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    match = _TOML_LINE_RE.search(str(exc))
    return int(match.group(1)) if match else 1


def toml_error_message(exc: Exception) -> str:
    """A TOML parse error's message without its line and column."""
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
        line = 1 + toml_error_line(exc)
        raise ContentError(
            path, line, f"bad TOML in front matter: {toml_error_message(exc)}"
        ) from None
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
            links = tuple(href for _, href in LINK_RE.findall(text))
            dated = AS_OF_RE.search(text)
            as_of = f"{dated.group(1)}-{dated.group(2)}" if dated else None
            claims.append(SinceThenClaim(current_verdict, text, current_start, links, as_of))

    for offset, raw in enumerate(body.splitlines()):
        heading = HEADING_RE.match(raw)
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
        mark = CLAIM_RE.match(raw)
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
        in_article=data.get("in_article", True),
        gpu_alternatives=list(data.get("gpu_alternatives", ())),
        scale_alternatives=list(data.get("scale_alternatives", ())),
        current_facts=list(data.get("current_facts", ())),
        latest_release_python=data.get("latest_release_python", ""),
        newest_for_python=list(data.get("newest_for_python", ())),
        claims=claims,
    )


def _check_page(
    path: Path, root: Path, check_samples: bool = True
) -> tuple[Page | None, list[ContentError]]:
    """Parse one page file and check everything that needs only that file (and, when
    `check_samples`, that its sample file exists)."""
    try:
        text = read_content_text(path)
    except OSError as exc:
        return None, [ContentError(path, 1, f"cannot read: {exc.strerror or exc}")]
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
        elif claim.as_of is None:
            errors.append(
                ContentError(path, claim.line, "claim has no 'As of YYYY-MM' (when it was checked)")
            )
    if found and len(claims) < MIN_CLAIMS:
        errors.append(
            ContentError(
                path,
                body_line,
                f"'{SINCE_THEN_HEADING}' has {len(claims)} marked claims, needs {MIN_CLAIMS}",
            )
        )
    return errors + _check_release_facts(path, data, fm_lines)


def _check_release_facts(
    path: Path, data: dict[str, Any], fm_lines: list[str]
) -> list[ContentError]:
    """Today's facts carry a month and a source; the release fields follow their formats."""
    errors: list[ContentError] = []
    for index, fact in enumerate(data.get("current_facts", ())):
        line = _key_line(fm_lines, "current_facts", 2)
        if not AS_OF_RE.search(fact) or not SOURCE_RE.search(fact):
            errors.append(
                ContentError(
                    path, line, f"current_facts.{index} needs 'As of YYYY-MM' and a source link"
                )
            )
    requirement = data.get("latest_release_python", "")
    if requirement and not REQUIRES_PYTHON_RE.match(requirement):
        line = _key_line(fm_lines, "latest_release_python", 2)
        errors.append(
            ContentError(path, line, f"latest_release_python {requirement!r}: use '>=3.12'")
        )
    seen: set[tuple[int, int]] = set()
    for entry in data.get("newest_for_python", ()):
        line = _key_line(fm_lines, "newest_for_python", 2)
        match = NEWEST_FOR_RE.match(entry)
        if not match:
            errors.append(
                ContentError(
                    path, line, f"newest_for_python {entry!r}: use '3.11 = 0.10.2 (2026-06-17)'"
                )
            )
            continue
        python = (int(match.group(1)), int(match.group(2)))
        # An entry the reader never reaches (`LibraryPage.newest_for` answers from the latest
        # release first, then the first entry of a Python) is a wrong fact on the page.
        if python in seen:
            problem = f"Python {python[0]}.{python[1]} is named twice"
        elif python_accepts(requirement, python):
            problem = (
                f"Python {python[0]}.{python[1]} installs the latest release "
                f"(latest_release_python {requirement or 'is empty: every Python'})"
            )
        else:
            problem = ""
        seen.add(python)
        if problem:
            errors.append(ContentError(path, line, f"newest_for_python {entry!r}: {problem}"))
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
            for _, href in LINK_RE.findall(line):
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
        text = read_content_text(path)
    except OSError as exc:
        return [], [ContentError(path, 1, f"cannot read: {exc.strerror or exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [
            ContentError(path, toml_error_line(exc), f"bad TOML: {toml_error_message(exc)}")
        ]
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


def collect(root: Path, check_samples: bool = True) -> tuple[KnowledgeBase, list[ContentError]]:
    """Load every page and the comparison columns of `root`, with every problem found on the way."""
    errors: list[ContentError] = []
    pages_dir = root / "pages"
    try:
        found = pages_dir.is_dir()
    except OSError as exc:  # a --root too long for a path (pathlib lets ENAMETOOLONG through)
        problem = ContentError(pages_dir, 1, f"cannot read: {exc.strerror or exc}")
        return KnowledgeBase(root, [], []), [problem]
    if not found:
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
    bundle, errors = collect(Path(root), check_samples=False)
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


def comparison_columns(root: Path | str | None = None) -> list[ComparisonColumn]:
    """The columns of the comparison table, as comparison.toml defines them."""
    return load_knowledge(root).columns


def _cell(page: LibraryPage, column: ComparisonColumn) -> str:
    if column.field == "latest_release":
        return release_text(page)
    if column.field == "install":
        return page.install
    return format_value(column.field, page.front_matter.get(column.field, ""))


def release_text(page: LibraryPage, python: tuple[int, int] | None = None) -> str:
    """ "0.12.0.1 (2026-10-20; Python >=3.12)", and with `python` (an interpreter's version) the
    newest that interpreter can install when it is an older release."""
    needs = f"; Python {page.latest_release_python}" if page.latest_release_python else ""
    text = f"{page.latest_release} ({page.latest_release_date}{needs})"
    if python is None:
        return text
    newest = page.newest_for(python)
    if newest is None:
        return f"{text}; none recorded for Python {python[0]}.{python[1]}"
    if newest[0] == page.latest_release:
        return text
    when = f" ({newest[1]})" if newest[1] else ""
    return f"{text}; for Python {python[0]}.{python[1]}: {newest[0]}{when}"


def comparison_rows(root: Path | str | None = None) -> list[ComparisonRow]:
    """One row per library, its cells derived from the page's front matter."""
    bundle = load_knowledge(root)
    rows = []
    for page in bundle.library_pages:
        cells = {c.key: _cell(page, c) for c in bundle.columns}
        values = {c.key: page.front_matter.get(c.field) for c in bundle.columns}
        rows.append(ComparisonRow(page.id, cells, values))
    return rows
