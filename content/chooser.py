"""Which library fits? The article's four questions, scored by the rules in content/chooser.toml.

`recommend(answers, machine)` ranks the maintained libraries whose rules add up above zero for
new work. Each comes with the reasons behind its score (each quoting the page fact it rests on)
and, when a `MachineState` is given, flags for what this machine cannot do: not installed, probe
failed, or no GPU where the answers want one. A library no longer maintained is never ranked:
someone with existing Theano or Caffe code says so (the `existing` question) and gets advice
for it instead (keep it running, or where to move), each step citing its page fact.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from content.advice import install_advice
from content.loading import content_root, load_knowledge, toml_error
from content.page import FIELD_LABELS, ContentError, LibraryPage, read_content_text
from probes.catalog import GUIDE_LIBRARIES, LIBRARIES, get_library
from probes.model import CheckResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

QUESTION_KEYS: tuple[str, ...] = ("level", "kind", "application", "hardware", "existing")
#: Answers a question may be left without; every other question must be answered.
DEFAULT_ANSWERS: dict[str, str] = {"existing": "none"}
#: Hardware answers that ask for a GPU (the machine check flags libraries that see none).
GPU_ANSWERS = ("gpu", "scale")

FlagSeverity = Literal["error", "warning", "info"]
#: The kinds of step in the advice for existing code, in the order they are shown.
EXISTING_STEP_KINDS: tuple[str, ...] = ("keep", "migrate", "why")


class ChooserError(ValueError):
    """A bad or missing answer; str() is one line that lists the valid options."""


@dataclass(frozen=True)
class Option:
    """One answer to a question."""

    key: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question (the article's four, and mltui's about existing code) and its options."""

    key: str
    prompt: str
    options: tuple[Option, ...]

    def resolve(self, text: str) -> str:
        """The option key `text` names: an exact key, an unambiguous prefix of one, or the
        option's number as the prompt lists them (1 for the first)."""
        wanted = text.strip().lower()
        keys = [o.key for o in self.options]
        if wanted in keys:
            return wanted
        if wanted.isdigit() and 1 <= int(wanted) <= len(keys):
            return keys[int(wanted) - 1]
        matches = [k for k in keys if wanted and k.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        why = "ambiguous" if matches else "unknown"
        raise ChooserError(f"--{self.key}: {why} value {text!r}; valid: {', '.join(keys)}")


@dataclass(frozen=True)
class Rule:
    """If every `when` entry matches, add `score` to `library`, citing `fact` of its page."""

    when: tuple[tuple[str, tuple[str, ...]], ...]
    library: str
    score: int
    reason: str
    fact: str
    line: int

    def matches(self, answers: Answers) -> bool:
        """Whether the answers meet every condition of the rule."""
        given = answers.as_dict()
        return all(given[q] in options for q, options in self.when)


@dataclass(frozen=True)
class Restriction:
    """When `when` matches, only the libraries in `only` may be recommended; `reason` says why."""

    when: tuple[tuple[str, tuple[str, ...]], ...]
    only: tuple[str, ...]
    reason: str

    def matches(self, answers: Answers) -> bool:
        """Whether the answers meet every condition."""
        given = answers.as_dict()
        return all(given[q] in options for q, options in self.when)


@dataclass(frozen=True)
class ExistingStepSpec:
    """One step of the advice for existing code: keep, migrate or why, citing a page fact."""

    kind: str
    text: str
    fact: str
    #: The library the step is about, whose install state matters (default: the unmaintained
    #: library itself). The fact is always on the unmaintained library's page.
    library: str | None = None


@dataclass(frozen=True)
class ExistingSpec:
    """The advice for someone with code in an unmaintained library."""

    library: str
    steps: tuple[ExistingStepSpec, ...]


@dataclass(frozen=True)
class ChooserSpec:
    """The questions, rules, restrictions and existing-code advice of chooser.toml."""

    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    restrictions: tuple[Restriction, ...] = ()
    existing: tuple[ExistingSpec, ...] = ()

    def question(self, key: str) -> Question:
        """The question with this key."""
        return next(q for q in self.questions if q.key == key)


@dataclass(frozen=True)
class Answers:
    """The user's option key for each question (`existing` defaults to new work)."""

    level: str
    kind: str
    application: str
    hardware: str
    existing: str = "none"

    def as_dict(self) -> dict[str, str]:
        """Question key -> option key."""
        return {k: getattr(self, k) for k in QUESTION_KEYS}

    @classmethod
    def parse(cls, given: Mapping[str, str | None], spec: ChooserSpec | None = None) -> Answers:
        """Answers from text (keys or unambiguous prefixes); ChooserError if bad or missing."""
        chooser = spec or load_chooser()
        missing = [f"--{k}" for k in QUESTION_KEYS if not given.get(k) and k not in DEFAULT_ANSWERS]
        if missing:
            raise ChooserError("missing: " + ", ".join(missing))
        values = {
            k: chooser.question(k).resolve(str(given.get(k) or DEFAULT_ANSWERS[k]))
            for k in QUESTION_KEYS
        }
        return cls(**values)


@dataclass(frozen=True)
class Reason:
    """Why a rule moved a library's score, and the page fact it rests on."""

    text: str
    score: int
    page: str
    fact_field: str
    fact_label: str
    fact_text: str


@dataclass(frozen=True)
class MachineFlag:
    """What this machine says about a recommended library."""

    severity: FlagSeverity
    code: str  # not_installed, probe_failed, degraded, no_gpu, gpu_not_seen, gpu_ok, ...
    message: str


@dataclass
class RankedLibrary:
    """One recommended library with its score, reasons, notes and machine flags."""

    library: str
    display_name: str
    score: int
    reasons: list[Reason]
    against: list[Reason] = field(default_factory=list)
    machine: list[MachineFlag] = field(default_factory=list)
    #: Neutral notes from rules scored 0 (e.g. the GPU options for classic ML), each with its fact.
    notes: list[Reason] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """True when the machine check found something that stops or limits this library."""
        return any(f.severity in ("error", "warning") for f in self.machine)


@dataclass(frozen=True)
class ExistingStep:
    """One step for existing code (keep, migrate, why), with the page fact it rests on."""

    kind: str
    text: str
    library: str
    display_name: str
    fact: Reason
    #: What this machine has of `library` (installed or not), when the machine was checked.
    machine: MachineFlag | None = None


@dataclass
class ExistingAdvice:
    """For code in a library no longer maintained: how to keep it running, and where to move."""

    library: str
    display_name: str
    legacy_note: str
    steps: list[ExistingStep]


@dataclass
class Recommendation:
    """The ranked libraries for a set of answers, and whether the machine was checked."""

    answers: Answers
    ranked: list[RankedLibrary]
    machine_checked: bool
    machine_note: str | None = None
    #: Why some libraries were left out for these answers (classic ML: no estimators).
    left_out: str | None = None
    #: Advice for existing code in an unmaintained library, when the answers name one.
    existing: ExistingAdvice | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (for `mltui choose --json`)."""
        return asdict(self)


# --------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class LibraryMachineState:
    """What a probe found about one library in the target interpreter."""

    id: str
    status: str
    version: str | None = None
    #: Kinds of non-CPU devices where the probe's computation ran ("cuda", "mps", ...).
    gpu_kinds: tuple[str, ...] = ()
    error: str | None = None

    @property
    def installed(self) -> bool:
        """Whether any distribution of the library is there."""
        return self.status != "not_installed"


@dataclass(frozen=True)
class MachineState:
    """This machine as the chooser needs it: libraries installed/working/seeing a GPU, and NVML."""

    libraries: Mapping[str, LibraryMachineState]
    nvml_gpu_count: int = 0
    nvml_status: str = "no_driver"
    nvml_reason: str | None = None
    #: Where the state came from, e.g. "cached check, 3 min old".
    source: str = ""
    #: The operating system the check saw ("Debian GNU/Linux 12 (bookworm)"), for install advice.
    os_name: str = ""

    @classmethod
    def from_check(cls, result: CheckResult, source: str = "") -> MachineState:
        """Build from a `mltui check` result (possibly covering only some libraries)."""
        libraries = {}
        for report in result.libraries:
            kinds = sorted(
                {
                    d.kind
                    for d in report.gpu_devices
                    if d.computation_ok is not False and not d.error
                }
            )
            libraries[report.name] = LibraryMachineState(
                report.name, report.status, report.version, tuple(kinds), report.error
            )
        gpus = len(result.nvml.gpus) if result.nvml.status == "ok" else 0
        return cls(
            libraries, gpus, result.nvml.status, result.nvml.reason, source, result.system.os
        )


def machine_flags(
    library: str, answers: Answers, machine: MachineState, install: str = ""
) -> list[MachineFlag]:
    """The flags for one library: installed and working, and a GPU when the answers want one."""
    name = get_library(library).display_name
    state = machine.libraries.get(library)
    if state is None:
        return [MachineFlag("info", "not_checked", f"{name} was not checked on this machine")]
    if not state.installed:
        advice = install_advice(library, install, machine.os_name)
        how = f"; install: {advice}" if advice else ""
        return [MachineFlag("warning", "not_installed", f"{name} is not installed here{how}")]
    flags: list[MachineFlag] = []
    version = f" {state.version}" if state.version else ""
    if state.status == "ok":
        flags.append(MachineFlag("info", "ok", f"{name}{version} is installed and ran its probe"))
    elif state.status == "degraded":
        flags.append(
            MachineFlag(
                "warning", "degraded", f"{name}{version}: a device it claims failed its computation"
            )
        )
    else:
        detail = f": {state.error}" if state.error else ""
        flags.append(
            MachineFlag(
                "error",
                "probe_failed",
                f"{name}{version} is installed but its probe ended {state.status}{detail}",
            )
        )
        return flags
    if answers.hardware in GPU_ANSWERS:
        if state.gpu_kinds:
            flags.append(
                MachineFlag("info", "gpu_ok", f"{name} computed on: {', '.join(state.gpu_kinds)}")
            )
        elif machine.nvml_gpu_count:
            flags.append(
                MachineFlag(
                    "warning",
                    "gpu_not_seen",
                    f"you asked for a GPU: NVML sees {machine.nvml_gpu_count}, {name} uses none",
                )
            )
        else:
            why = f" ({machine.nvml_reason})" if machine.nvml_reason else ""
            flags.append(
                MachineFlag(
                    "warning",
                    "no_gpu",
                    f"you asked for a GPU: NVML sees none here{why}; {name} runs on CPU",
                )
            )
    return flags


# --------------------------------------------------------------------------- the spec


def _read_spec(path: Path) -> tuple[ChooserSpec | None, list[ContentError]]:
    try:
        text = read_content_text(path)
    except OSError as exc:
        return None, [ContentError(path, 1, f"cannot read: {exc.strerror or exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [toml_error(path, exc)]
    lines = text.splitlines()
    question_lines = [i + 1 for i, s in enumerate(lines) if s.strip() == "[[question]]"]
    rule_lines = [i + 1 for i, s in enumerate(lines) if s.strip() == "[[rule]]"]
    errors: list[ContentError] = []
    questions: list[Question] = []
    for index, raw in enumerate(data.get("question", [])):
        line = question_lines[index] if index < len(question_lines) else 1
        options = raw.get("options") if isinstance(raw, dict) else None
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("key"), str)
            or not isinstance(raw.get("prompt"), str)
            or not isinstance(options, list)
            or not options
            or not all(
                isinstance(o, dict)
                and isinstance(o.get("key"), str)
                and isinstance(o.get("label"), str)
                for o in options
            )
        ):
            errors.append(
                ContentError(
                    path, line, "a question needs a key, a prompt and options with key and label"
                )
            )
            continue
        questions.append(
            Question(
                raw["key"], raw["prompt"], tuple(Option(o["key"], o["label"]) for o in options)
            )
        )
    keys = [q.key for q in questions]
    if not errors and sorted(keys) != sorted(QUESTION_KEYS):
        errors.append(
            ContentError(
                path,
                1,
                f"questions must be exactly: {', '.join(QUESTION_KEYS)} (have {', '.join(keys)})",
            )
        )
    by_key = {q.key: q for q in questions}
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("rule", [])):
        line = rule_lines[index] if index < len(rule_lines) else 1
        if not isinstance(raw, dict):
            errors.append(ContentError(path, line, "a rule must be a table"))
            continue
        problem = _rule_problem(raw, by_key)
        if problem:
            errors.append(ContentError(path, _rule_key_line(lines, line, problem[0]), problem[1]))
            continue
        when = tuple((q, (v,) if isinstance(v, str) else tuple(v)) for q, v in raw["when"].items())
        rules.append(Rule(when, raw["library"], raw["score"], raw["reason"], raw["fact"], line))
    if not rules and not errors:
        errors.append(ContentError(path, 1, "no [[rule]] tables"))
    restrictions = _read_restrictions(path, lines, data, by_key, errors)
    existing = _read_existing(path, lines, data, errors)
    spec = ChooserSpec(tuple(questions), tuple(rules), restrictions, existing)
    return spec, errors


def _table_lines(lines: list[str], header: str) -> list[int]:
    return [i + 1 for i, s in enumerate(lines) if s.strip() == header]


def _read_restrictions(
    path: Path,
    lines: list[str],
    data: dict[str, Any],
    questions: Mapping[str, Question],
    errors: list[ContentError],
) -> tuple[Restriction, ...]:
    """The [[restrict]] tables: when, only (library ids), reason."""
    known = [s.id for s in LIBRARIES]
    found: list[Restriction] = []
    header_lines = _table_lines(lines, "[[restrict]]")
    for index, raw in enumerate(data.get("restrict", [])):
        line = header_lines[index] if index < len(header_lines) else 1
        only = raw.get("only") if isinstance(raw, dict) else None
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("reason"), str)
            or not isinstance(only, list)
            or not only
            or not all(isinstance(o, str) and o in known for o in only)
        ):
            errors.append(
                ContentError(path, line, "a restrict needs 'when', 'only' (library ids), 'reason'")
            )
            continue
        problem = _when_problem(raw.get("when"), questions)
        if problem:
            errors.append(ContentError(path, line, problem))
            continue
        when = tuple((q, (v,) if isinstance(v, str) else tuple(v)) for q, v in raw["when"].items())
        found.append(Restriction(when, tuple(only), raw["reason"]))
    return tuple(found)


def _read_existing(
    path: Path, lines: list[str], data: dict[str, Any], errors: list[ContentError]
) -> tuple[ExistingSpec, ...]:
    """The [[existing]] tables: library and its steps (kind, text, fact, optional library)."""
    known = [s.id for s in LIBRARIES]
    found: list[ExistingSpec] = []
    header_lines = _table_lines(lines, "[[existing]]")
    for index, raw in enumerate(data.get("existing", [])):
        line = header_lines[index] if index < len(header_lines) else 1
        steps = raw.get("steps") if isinstance(raw, dict) else None
        if (
            not isinstance(raw, dict)
            or raw.get("library") not in known
            or not isinstance(steps, list)
            or not steps
        ):
            errors.append(ContentError(path, line, "an existing needs a known 'library' and steps"))
            continue
        parsed: list[ExistingStepSpec] = []
        for step in steps:
            if (
                not isinstance(step, dict)
                or step.get("kind") not in EXISTING_STEP_KINDS
                or not isinstance(step.get("text"), str)
                or not isinstance(step.get("fact"), str)
                or step.get("library", raw["library"]) not in known
            ):
                kinds = ", ".join(EXISTING_STEP_KINDS)
                errors.append(
                    ContentError(
                        path, line, f"a step needs kind ({kinds}), text, fact and a known library"
                    )
                )
                break
            parsed.append(
                ExistingStepSpec(step["kind"], step["text"], step["fact"], step.get("library"))
            )
        else:
            found.append(ExistingSpec(raw["library"], tuple(parsed)))
    return tuple(found)


def _when_problem(when: object, questions: Mapping[str, Question]) -> str | None:
    """What is wrong with a `when` table (question = option or list of options), or None."""
    if not isinstance(when, dict) or not when:
        return "needs a 'when' table naming question = option(s)"
    for question, value in when.items():
        if question not in questions:
            return f"names unknown question {question!r} (known: {', '.join(questions)})"
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return f"'when.{question}' must be an option key or a list of them"
        valid = [o.key for o in questions[question].options]
        for v in values:
            if v not in valid:
                return f"names unknown option {v!r} for {question} (valid: {', '.join(valid)})"
    return None


def _rule_problem(raw: dict[str, Any], questions: Mapping[str, Question]) -> tuple[str, str] | None:
    """(key, message) for the first thing wrong with a rule, or None."""
    for key, kind in (("library", str), ("reason", str), ("fact", str), ("score", int)):
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            return key, f"rule needs '{key}' ({kind.__name__})"
    problem = _when_problem(raw.get("when"), questions)
    if problem:
        return "when", f"rule {problem}"
    known = [s.id for s in LIBRARIES]
    if raw["library"] not in known:
        return (
            "library",
            f"rule names unknown library {raw['library']!r} (known: {', '.join(known)})",
        )
    return None


def _rule_key_line(lines: list[str], header_line: int, key: str) -> int:
    for number in range(header_line + 1, len(lines) + 1):
        text = lines[number - 1].strip()
        if text.startswith("[["):
            break
        if text.startswith(f"{key} ") or text.startswith(f"{key}="):
            return number
    return header_line


def validate_chooser(root: Path, pages: list[LibraryPage]) -> list[ContentError]:
    """Problems in root/chooser.toml: structure, unknown library/question/option, facts the pages
    lack, and any combination of answers that would get no recommendation."""
    path = root / "chooser.toml"
    spec, errors = _read_spec(path)
    if spec is None or errors:
        return errors
    by_id = {p.id: p for p in pages}
    try:
        lines = read_content_text(path).splitlines()
    except OSError as exc:  # replaced since _read_spec read it
        return [ContentError(path, 1, f"cannot read: {exc.strerror or exc}")]
    for rule in spec.rules:
        page = by_id.get(rule.library)
        if page is None and (root / "pages" / f"{rule.library}.md").exists():
            continue  # the page exists but failed to load; its own errors are reported
        if page is None:
            line = _rule_key_line(lines, rule.line, "library")
            errors.append(
                ContentError(path, line, f"rule names {rule.library!r}, which has no page")
            )
            continue
        try:
            page.fact(rule.fact)
        except KeyError:
            line = _rule_key_line(lines, rule.line, "fact")
            errors.append(
                ContentError(path, line, f"page {rule.library!r} has no fact {rule.fact!r}")
            )
        if rule.score > 0 and not page.maintained:
            line = _rule_key_line(lines, rule.line, "score")
            errors.append(
                ContentError(
                    path,
                    line,
                    f"{rule.library!r} is no longer maintained: it gets no positive score for "
                    "new work (existing code has its [[existing]] advice)",
                )
            )
    errors += _existing_problems(path, spec, by_id)
    if errors or len(by_id) < len(GUIDE_LIBRARIES):
        return errors
    for answers in all_answers(spec):
        scores = _scores(spec, answers)
        if not any(by_id[lib].maintained for lib in scores if lib in by_id):
            detail = ", ".join(f"{k}={v}" for k, v in answers.as_dict().items())
            errors.append(
                ContentError(path, 1, f"no maintained library is recommended for {detail}")
            )
            break
    return errors


def _existing_problems(
    path: Path, spec: ChooserSpec, pages: Mapping[str, LibraryPage]
) -> list[ContentError]:
    """Every unmaintained library has an `existing` answer and advice whose facts exist."""
    errors: list[ContentError] = []
    answers = {o.key for o in spec.question("existing").options} - {"none"}
    advised = {e.library for e in spec.existing}
    unmaintained = {lib for lib, page in pages.items() if not page.maintained}
    for library in sorted(unmaintained - advised):
        errors.append(ContentError(path, 1, f"no [[existing]] advice for {library!r}"))
    for library in sorted(answers ^ advised):
        errors.append(
            ContentError(path, 1, f"'existing' answers and [[existing]] tables differ: {library!r}")
        )
    for advice in spec.existing:
        if advice.library in pages and pages[advice.library].maintained:
            errors.append(ContentError(path, 1, f"{advice.library!r} is maintained: no advice"))
        page = pages.get(advice.library)
        if page is None:
            errors.append(
                ContentError(path, 1, f"advice for {advice.library!r}, which has no page")
            )
            continue
        for step in advice.steps:
            try:
                page.fact(step.fact)
            except KeyError:
                errors.append(
                    ContentError(path, 1, f"page {advice.library!r} has no fact {step.fact!r}")
                )
    return errors


def load_chooser(root: Path | str | None = None) -> ChooserSpec:
    """The chooser spec of a content folder; raises the first ContentError in it or its pages."""
    base = content_root(root)
    pages = load_knowledge(base).library_pages
    spec, errors = _read_spec(base / "chooser.toml")
    errors = errors or validate_chooser(base, pages)
    if errors or spec is None:
        raise errors[0]
    return spec


def all_answers(spec: ChooserSpec | None = None) -> Iterator[Answers]:
    """Every combination of answers (the cartesian product of the options)."""
    chooser = spec or load_chooser()
    options = [[o.key for o in chooser.question(k).options] for k in QUESTION_KEYS]
    for combo in itertools.product(*options):
        yield Answers(*combo)


# --------------------------------------------------------------------------- recommending


def _scores(spec: ChooserSpec, answers: Answers) -> dict[str, int]:
    totals: dict[str, int] = {}
    for rule in spec.rules:
        if rule.matches(answers):
            totals[rule.library] = totals.get(rule.library, 0) + rule.score
    return {lib: score for lib, score in totals.items() if score > 0}


def _reason(rule: Rule, page: LibraryPage) -> Reason:
    name = rule.fact.partition(".")[0]
    return Reason(
        rule.reason,
        rule.score,
        page.id,
        rule.fact,
        FIELD_LABELS.get(name, name),
        page.fact(rule.fact),
    )


def recommend(
    answers: Answers, machine: MachineState | None = None, root: Path | str | None = None
) -> Recommendation:
    """Rank the libraries for these answers, with reasons and machine flags; with existing code
    in an unmaintained library, the advice for it as well."""
    spec = load_chooser(root)
    pages = {p.id: p for p in load_knowledge(root).library_pages}
    order = {spec_.id: i for i, spec_ in enumerate(LIBRARIES)}
    totals = _scores(spec, answers)
    restriction = next((r for r in spec.restrictions if r.matches(answers)), None)
    if restriction is not None:
        totals = {lib: score for lib, score in totals.items() if lib in restriction.only}
    ranked: list[RankedLibrary] = []
    # The higher score wins, then the catalog's order.
    for library in sorted(totals, key=lambda lib: (-totals[lib], order.get(lib, 99))):
        page = pages[library]
        matching = [r for r in spec.rules if r.library == library and r.matches(answers)]
        item = RankedLibrary(
            library,
            page.title,
            totals[library],
            reasons=[_reason(r, page) for r in matching if r.score > 0],
            against=[_reason(r, page) for r in matching if r.score < 0],
            notes=[_reason(r, page) for r in matching if r.score == 0],
        )
        if machine is not None:
            item.machine = machine_flags(library, answers, machine, page.install)
        ranked.append(item)
    note = machine.source if machine is not None else "machine not checked"
    return Recommendation(
        answers,
        ranked,
        machine is not None,
        note or None,
        left_out=restriction.reason if restriction is not None else None,
        existing=_existing_advice(spec, pages, answers.existing, machine),
    )


def _existing_advice(
    spec: ChooserSpec,
    pages: Mapping[str, LibraryPage],
    library: str,
    machine: MachineState | None,
) -> ExistingAdvice | None:
    """The keep/migrate advice for existing code in `library` ("none": no advice)."""
    advice = next((e for e in spec.existing if e.library == library), None)
    if advice is None:
        return None
    page = pages[library]
    steps = []
    for step in advice.steps:
        subject = step.library or library
        name = get_library(subject).display_name
        install = pages[subject].install if subject in pages else ""
        flag = _install_flag(subject, machine, install) if machine is not None else None
        fact = _reason(Rule((), library, 0, step.text, step.fact, 0), page)
        steps.append(ExistingStep(step.kind, step.text, subject, name, fact, flag))
    return ExistingAdvice(library, page.title, page.legacy_note or "", steps)


def _install_flag(library: str, machine: MachineState, install: str) -> MachineFlag:
    """Whether this machine has `library` installed (for the existing-code steps), and if not,
    how to install it on the system the check saw."""
    name = get_library(library).display_name
    state = machine.libraries.get(library)
    if state is None:
        return MachineFlag("info", "not_checked", f"{name} was not checked on this machine")
    if not state.installed:
        advice = install_advice(library, install, machine.os_name)
        how = f"; install: {advice}" if advice else ""
        return MachineFlag("info", "not_installed", f"{name} is not installed here{how}")
    version = f" {state.version}" if state.version else ""
    return MachineFlag("info", "installed", f"{name}{version} is installed here")
