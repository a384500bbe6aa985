"""`mltui compare`, `info`, `choose` and `content check`: the knowledge in the CLI.

Rich output for people, `--json` for scripts. No Textual here. Content errors and bad answers
end as one line and a non-zero exit (via `tui.exit_codes.UsageError` or the printed error list).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from content.chooser import (
    DEFAULT_ANSWERS,
    QUESTION_KEYS,
    Answers,
    ChooserError,
    ChooserSpec,
    ExistingAdvice,
    MachineState,
    Reason,
    Recommendation,
    load_chooser,
    recommend,
)
from content.knowledge import (
    ARTICLE_CREDIT,
    ComparisonColumn,
    ComparisonRow,
    ContentError,
    LibraryPage,
    comparison_columns,
    comparison_rows,
    content_root,
    get_page,
    render_page_markdown,
    validate_content,
)
from content.validate import stale_claims
from probes.model import TargetPython
from probes.perf_model import Measurement, PerfReport
from tui.cli.console import make_console
from tui.cli.layout import label_value_lines, longest_token, wrap
from tui.exit_codes import EXIT_FINDINGS, EXIT_OK, UsageError
from tui.perf_view import (
    MEASURED_AFTER,
    MEASURED_KEY,
    measured_by_library,
    measured_cell,
    measured_title,
)
from tui.presentation import (
    ACCENT,
    ERROR,
    MUTED,
    SUCCESS,
    WARNING,
    WARNING_STRONG,
    severity_style,
)
from tui.safe_text import inert, inert_line, safe_text


def _console() -> Console:
    return make_console()


def _usage_error(message: str) -> Exception:
    """A UsageError: one line on stderr, exit 2."""
    return UsageError(message)


def _wrap_content_error(exc: ContentError) -> Exception:
    return _usage_error(f"broken content: {exc}")


# --------------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the comparison table (the article's six columns plus mltui's four)."""
    try:
        columns = comparison_columns()
        rows = comparison_rows()
    except ContentError as exc:
        raise _wrap_content_error(exc) from None
    perf = _kept_perf(args)
    figures = measured_by_library(perf) if perf is not None else {}
    if getattr(args, "json", False):
        data: dict[str, object] = {
            "source": ARTICLE_CREDIT,
            "columns": [asdict(c) for c in columns],
            "rows": [
                {"id": r.library, **r.values, **_measured_json(figures.get(r.library))}
                for r in rows
            ],
        }
        if perf is not None and figures:
            data["measured_on"] = {"machine": perf.hostname, "created_at": perf.created_at}
        print(json.dumps(data, indent=2))
        return EXIT_OK
    if perf is not None and figures:
        columns, rows = _with_measured(columns, rows, perf, figures)
    console = _console()
    for line in compare_lines(
        columns, rows, console.width, colour=console.color_system is not None
    ):
        console.print(line, soft_wrap=True)
    return EXIT_OK


def _kept_perf(args: argparse.Namespace) -> PerfReport | None:
    """The last `mltui perf` of the target interpreter, if one is kept.

    No cache, no home folder or an unreadable file is no measured column (load_perf says None);
    an unusable --python is the user's to hear (TargetError: one line, exit 2).
    """
    from probes.cache import load_perf
    from probes.target import resolve_target

    return load_perf(resolve_target(getattr(args, "python", None)))


def _measured_json(m: Measurement | None) -> dict[str, object]:
    """A row's measured figure for `compare --json` (explicit nulls when not measured)."""
    if m is None:
        return {"measured_here": None}
    return {
        "measured_here": {
            "value": m.value,
            "unit": m.unit,
            "dtype": m.dtype,
            "device": m.device,
            "ratio_to_peak": m.ratio,
        }
    }


def _with_measured(
    columns: list[ComparisonColumn],
    rows: list[ComparisonRow],
    perf: PerfReport,
    figures: dict[str, Measurement],
) -> tuple[list[ComparisonColumn], list[ComparisonRow]]:
    """The comparison with what this machine measured, right after the article's claims."""
    measured = ComparisonColumn(MEASURED_KEY, measured_title(perf), MEASURED_KEY, False)
    at = next((i + 1 for i, c in enumerate(columns) if c.key == MEASURED_AFTER), len(columns))
    columns = [*columns[:at], measured, *columns[at:]]
    rows = [
        dataclasses.replace(
            row,
            cells={**row.cells, MEASURED_KEY: inert_line(measured_cell(figures.get(row.library)))},
        )
        for row in rows
    ]
    return columns, rows


#: Marks a row (or column) mltui added to the article's table.
ADDED_MARK = "*"
#: Narrowest library column the side-by-side layout accepts.
MIN_LIBRARY_COLUMN = 10


def _row_label(column: ComparisonColumn) -> str:
    return column.title if column.article else f"{column.title} {ADDED_MARK}"


def compare_lines(
    columns: Sequence[ComparisonColumn], rows: Sequence[ComparisonRow], width: int, *, colour: bool
) -> list[Text]:
    """The comparison for a terminal `width` wide: libraries side by side when every word fits
    its column, else a block per library; no word, name or command is ever cut inside.

    Install commands are not squeezed into a column: side by side they follow the table, one
    library a line. The legend names the colour only when there is colour.
    """
    name_column = columns[0]
    facts = [c for c in columns[1:] if c.key != "install"]
    install = next((c for c in columns if c.key == "install"), None)
    lines = [Text(f"{len(rows)} Python ML libraries, then and now", style="bold"), Text()]
    side_by_side = _side_by_side(name_column, facts, rows, width, colour=colour)
    if side_by_side is not None:
        lines += side_by_side
        if install is not None:
            lines += [Text(), Text(_row_label(install), style="bold")]
            pairs = [(row.cells[name_column.key], row.cells[install.key]) for row in rows]
            for label, value in label_value_lines(pairs, width):
                lines.append(Text(label) + Text(value))
    else:
        for row in rows:
            lines.append(Text(row.cells[name_column.key], style="bold"))
            pairs = [(_row_label(c), row.cells[c.key]) for c in columns[1:]]
            for label, value in label_value_lines(pairs, width):
                lines.append(Text(label, style=MUTED) + Text(value))
            lines.append(Text())
    legend = f"{ADDED_MARK} checked against today by mltui; the rest is the article's table"
    if colour:
        legend += f" ({ADDED_MARK} rows highlighted)"
    lines += [Text(legend, style=MUTED), Text(ARTICLE_CREDIT, style="dim italic")]
    if colour:
        for line in lines:
            if ADDED_MARK + " " in line.plain[:40] or line.plain.rstrip().endswith(ADDED_MARK):
                line.stylize(ACCENT)
    return [_fit_legend(line, width) for line in lines]


def _fit_legend(line: Text, width: int) -> Text:
    """Prose lines (legend, credit) wrapped at words to the width; others as they are."""
    if cell_len(line.plain) <= width or "  " in line.plain.strip():
        return line
    wrapped = Text("\n".join(wrap(line.plain, width)), style=line.style)
    return wrapped


def _side_by_side(
    name_column: ComparisonColumn,
    facts: Sequence[ComparisonColumn],
    rows: Sequence[ComparisonRow],
    width: int,
    *,
    colour: bool,
) -> list[Text] | None:
    """Libraries as columns, facts as rows; None when some word would not fit its column."""
    labels = [_row_label(c) for c in facts]
    label_width = min(max(cell_len(label) for label in labels), 26)
    gap = 2
    count = len(rows)
    column_width = (width - label_width - gap * count) // max(count, 1)
    if column_width < MIN_LIBRARY_COLUMN:
        return None
    for row in rows:
        texts = [row.cells[name_column.key], *(row.cells[c.key] for c in facts)]
        if longest_token(texts) > column_width:
            return None
    lines: list[Text] = []
    header = Text(" " * label_width)
    for row in rows:
        header.append(" " * gap + row.cells[name_column.key].ljust(column_width), style="bold")
    lines.append(Text(header.plain.rstrip(), style="bold"))
    for column, label in zip(facts, labels, strict=True):
        cells = [wrap(label, label_width)] + [wrap(r.cells[column.key], column_width) for r in rows]
        for index in range(max(len(c) for c in cells)):
            parts = [cells[0][index] if index < len(cells[0]) else ""]
            parts[0] = parts[0].ljust(label_width)
            for cell in cells[1:]:
                parts.append(
                    " " * gap + (cell[index] if index < len(cell) else "").ljust(column_width)
                )
            text = Text(parts[0], style=MUTED) + Text("".join(parts[1:]).rstrip())
            lines.append(text)
    return lines


# --------------------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace) -> int:
    """Print a library's page (or 'about'/'guide'): its text and "Since then" first, the facts
    table after, and the sample last, as its path and the command that runs it (`--source`
    adds the source, highlighted and never wrapped). Off a terminal, links print their address.
    """
    try:
        page = get_page(args.library)  # UnknownLibraryError propagates: one line, exit 2
        # The releases this interpreter can install: mltui's own, or --python's when given.
        own = (sys.version_info.major, sys.version_info.minor)
        python = own if not getattr(args, "python", None) else None
        markdown = render_page_markdown(page, include_sample=False, python=python)
    except ContentError as exc:
        raise _wrap_content_error(exc) from None
    console = _console()
    markdown = reorder_page(markdown)
    # Clickable links need a terminal that shows colour (Rich drops them otherwise); anywhere
    # else each link becomes "text [n]" and its address is listed whole at the end.
    clickable = console.is_terminal and console.color_system is not None
    addresses: list[str] = []
    if not clickable:
        markdown, addresses = link_references(markdown)
    console.print(Markdown(markdown, code_theme="ansi_dark", hyperlinks=clickable))
    if addresses:
        console.print()
        console.print(Text("Links", style="bold"))
        for number, address in enumerate(addresses, 1):
            console.print(Text(f"  [{number}] {inert_line(address)}"), soft_wrap=True)
    if isinstance(page, LibraryPage) and page.sample:
        path = page.path.parent.parent / "samples" / page.sample
        console.print()
        console.print(Text("Sample", style="bold"))
        console.print(Text("  " + str(path)), soft_wrap=True)
        console.print(Text(f"  run it: mltui run {page.id}"), soft_wrap=True)
        if getattr(args, "source", False):
            _print_source(console, path)
    console.print(Text(ARTICLE_CREDIT, style="dim italic"))
    return EXIT_OK


#: Sections moved after the page's own text, in this order; the sample is always last.
_LATE_SECTIONS = ("At a glance", "The sample")


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def link_references(markdown: str) -> tuple[str, list[str]]:
    """Links as numbered references: "[text](url)" becomes "text [1]"; the addresses in order.

    A link to another page of the guide keeps only its text (`mltui info` names the pages).
    """
    addresses: list[str] = []

    def reference(match: re.Match[str]) -> str:
        text, address = match.group(1), match.group(2)
        if "://" not in address:
            return text
        if address not in addresses:
            addresses.append(address)
        return f"{text} \\[{addresses.index(address) + 1}\\]"

    return _LINK.sub(reference, markdown), addresses


def reorder_page(markdown: str) -> str:
    """The page's Markdown with its own text and "Since then" first, then the facts table, then
    the sample section (without the placeholder line where the source used to be)."""
    head: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in markdown.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            head.append(line)
    early = [lines for title, lines in sections if title not in _LATE_SECTIONS]
    late = [lines for name in _LATE_SECTIONS for title, lines in sections if title == name]
    out = list(head)
    for lines in [*early, *late]:
        out += [line for line in lines if not line.startswith("*(sample: ")]
    return "\n".join(out).rstrip("\n") + "\n"


def _print_source(console: Console, path: Path) -> None:
    """The sample's source, highlighted, never wrapped (long lines run on; the terminal may
    wrap them softly, so they still copy whole)."""
    from rich.syntax import Syntax

    try:
        code = path.read_text(encoding="utf-8")
    except OSError as exc:
        console.print(Text(f"cannot read {inert_line(path)}: {exc.strerror}", style=ERROR))
        return
    console.print()
    syntax = Syntax(inert(code), "python", theme="ansi_dark", word_wrap=False)
    console.print(syntax, soft_wrap=True)


# --------------------------------------------------------------------------- choose


def _ask_missing(spec: ChooserSpec, given: dict[str, str | None]) -> dict[str, str | None]:
    """Prompt for each missing answer (stdin is a terminal)."""
    from rich.prompt import Prompt

    console = _console()
    answers = dict(given)
    for key in QUESTION_KEYS:
        if answers.get(key):
            continue
        question = spec.question(key)
        console.print(Text("\n" + question.prompt, style="bold"))
        for number, option in enumerate(question.options, 1):
            console.print(Text.assemble(f"  {number}. ", (option.key, ACCENT), "  ", option.label))
        while True:
            reply = Prompt.ask(
                f"Your answer (1-{len(question.options)} or its word)", console=console
            )
            try:
                answers[key] = question.resolve(reply)
                break
            except ChooserError as exc:
                console.print(Text(str(exc), style=ERROR))
    return answers


def _read_answers(args: argparse.Namespace, spec: ChooserSpec) -> Answers:
    given: dict[str, str | None] = {k: getattr(args, k, None) for k in QUESTION_KEYS}
    try:
        # Bad values are refused before any prompt, so a typo never waits for input.
        for key, value in given.items():
            if value is not None:  # `--existing=` is a bad value, not an answer left out
                given[key] = spec.question(key).resolve(value)
        if not all(given.values()) and sys.stdin.isatty() and not getattr(args, "json", False):
            given = _ask_missing(spec, given)
        return Answers.parse(given, spec)
    except ChooserError as exc:
        if str(exc).startswith("missing"):
            valid = "; ".join(
                f"--{k} {'|'.join(o.key for o in spec.question(k).options)}"
                for k in QUESTION_KEYS
                if not given.get(k) and k not in DEFAULT_ANSWERS
            )
            raise _usage_error(f"choose: {exc} (not a terminal, so no prompts): {valid}") from None
        raise _usage_error(f"choose: {exc}") from None


def _machine_state(
    args: argparse.Namespace, libraries: list[str]
) -> tuple[MachineState | None, str]:
    """This machine's state for `libraries`: the cached check, with any library it lacks (a
    `check --only` run skips some) probed now in the target interpreter; no cache: a probe of
    `libraries` only."""
    if getattr(args, "no_probe", False):
        return None, "machine not checked (--no-probe)"
    from probes.target import resolve_target

    target = resolve_target(getattr(args, "python", None))
    try:
        from probes.cache import load_check

        cached = load_check(target)
    except ImportError:
        cached = None
    cached_state = None
    missing = list(libraries)
    if cached is not None:
        minutes = int(cached.age_s // 60)
        source = (
            f"cached check of {target.executable}, {minutes} min old (mltui check refreshes it)"
        )
        cached_state = MachineState.from_check(cached.result, source)
        missing = [lib for lib in libraries if lib not in cached_state.libraries]
        if not missing:
            return cached_state, source
    probed, why_not = _probe_libraries(args, target, missing)
    if probed is None:
        if cached_state is not None:
            return cached_state, f"{cached_state.source}; {why_not}"
        return None, why_not
    if cached_state is None:
        return probed, probed.source
    merged = dataclasses.replace(
        cached_state,
        libraries={**cached_state.libraries, **probed.libraries},
        source=f"{cached_state.source}; {probed.source}",
        os_name=cached_state.os_name or probed.os_name,
    )
    return merged, merged.source


def _probe_libraries(
    args: argparse.Namespace, target: TargetPython, libraries: list[str]
) -> tuple[MachineState | None, str]:
    """Probe `libraries` now, through the check orchestration, in the target interpreter."""
    from probes.catalog import get_library

    try:
        from probes.check import run_check_sync
    except ImportError:
        return None, "machine not checked (the probes are not available)"
    specs = [get_library(lib) for lib in libraries]
    if sys.stderr.isatty() and not getattr(args, "json", False):
        names = ", ".join(s.display_name for s in specs)
        print(f"checking {names} in {target.executable} ...", file=sys.stderr)
    try:
        # A partial check is not saved: it would replace a full one in the cache.
        result = run_check_sync(target, specs, save=False)
    except ImportError as exc:  # a probe module this build lacks
        return None, f"machine not checked (probes unavailable: {exc})"
    source = f"probed {', '.join(libraries)} in {target.executable} just now"
    return MachineState.from_check(result, source), source


def _reason_lines(mark: tuple[str, str], reason: Reason, facts: bool) -> list[Text]:
    """A reason on one line with the page fact it rests on named; with `facts`, quoted too."""
    line = Text.assemble(mark, reason.text, (f"  [{reason.fact_label}]", MUTED))
    if not facts:
        return [line]
    return [line, Text(f"    page fact: {reason.fact_text}", style=MUTED)]


def _print_recommendation(rec: Recommendation, spec: ChooserSpec, facts: bool = False) -> None:
    console = _console()
    answered = Text()
    for key, value in rec.answers.as_dict().items():
        label = next(o.label for o in spec.question(key).options if o.key == value)
        answered.append(f"{key}: ", style=MUTED)
        answered.append(value, style=ACCENT)
        answered.append(f"  {label}\n")
    answered.rstrip()
    console.print(Panel(answered, title="Your answers", border_style=MUTED))
    for rank, item in enumerate(rec.ranked, start=1):
        parts: list[Any] = []
        for reason in item.reasons:
            parts += _reason_lines(("+ ", SUCCESS), reason, facts)
        for reason in item.against:
            parts += _reason_lines(("- ", ERROR), reason, facts)
        for reason in item.notes:
            parts += _reason_lines(("note: ", ACCENT), reason, facts)
        for flag in item.machine:
            # Not a +/- line: what this machine says is set apart from the reasons for and against.
            parts.append(
                # The message quotes probe output (versions, errors): shown inert.
                safe_text(
                    f"this machine ({flag.severity}): {flag.message}",
                    style=severity_style(flag.severity),
                )
            )
        border = WARNING if item.flagged else SUCCESS
        title = f"{rank}. {item.display_name}  (score {item.score})"
        # The project's own words too are text, never markup (a name with brackets stays whole).
        console.print(
            Panel(Group(*parts), title=Text(title), title_align="left", border_style=border)
        )
    if rec.left_out:
        console.print(Text(rec.left_out, style=MUTED))
    if rec.existing is not None:
        _print_existing_advice(console, rec.existing, facts)
    note = rec.machine_note or ""
    console.print(Text(note, style=MUTED))
    console.print(Text(ARTICLE_CREDIT, style="dim italic"))


def _print_existing_advice(console: Console, advice: ExistingAdvice, facts: bool) -> None:
    """Keep it running, or where to move: each step with the page fact it rests on."""
    parts: list[Any] = [Text.assemble(("Since then: ", WARNING_STRONG), advice.legacy_note)]
    for step in advice.steps:
        parts += _reason_lines((f"{step.kind}: ", ACCENT), step.fact, facts)
        if step.machine is not None:
            parts.append(safe_text(f"    this machine: {step.machine.message}", style=MUTED))
    title = f"Your existing {advice.display_name} code"
    console.print(Panel(Group(*parts), title=Text(title), title_align="left", border_style=WARNING))


def cmd_choose(args: argparse.Namespace) -> int:
    """Ask (or read from flags) the article's four questions and mltui's about existing code,
    and print the ranked libraries (and the advice for existing code)."""
    try:
        spec = load_chooser()
        answers = _read_answers(args, spec)
        first = recommend(answers)
        named = [item.library for item in first.ranked]
        if first.existing is not None:
            named += [s.library for s in first.existing.steps if s.library not in named]
        machine, note = _machine_state(args, named)
        rec = recommend(answers, machine)
    except ContentError as exc:
        raise _wrap_content_error(exc) from None
    rec.machine_note = note
    if getattr(args, "json", False):
        print(json.dumps(rec.to_dict(), indent=2))
    else:
        _print_recommendation(rec, spec, facts=getattr(args, "facts", False))
    return EXIT_OK


# --------------------------------------------------------------------------- content check


def cmd_content(args: argparse.Namespace) -> int:
    """`mltui content check [--root DIR]`: print `ok: N pages` or one line per error (exit 1)."""
    if args.content_command != "check":
        raise _usage_error(f"unknown content action {args.content_command!r}; use: check")
    root = Path(args.root) if getattr(args, "root", None) else None
    today = None
    if getattr(args, "today", None):
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            raise _usage_error(f"content check: --today {args.today!r} is not YYYY-MM-DD") from None
    errors = validate_content(root)
    if errors:
        for error in errors:
            print(error)
        return EXIT_FINDINGS
    # Old dated claims are warnings: the guide is valid, but says where it needs checking again.
    for warning in stale_claims(root, today):
        print(f"warning: {warning}")
    base = content_root(root)
    count = len(list((base / "pages").glob("*.md")))
    print(f"ok: {count} pages")
    return EXIT_OK
