"""Each class of hostile text through each display path: shown inert and exactly, never parsed.

The sequences × paths matrix of issue 9: a library's version, an error, a stderr tail, a sample's
output, a path, package metadata and the cache replay (the dashboard started on a cached check)
all reach the terminal only through `tui.safe_text`. JSON output keeps the exact strings.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, RenderableType

from probes.envs import PythonEnvironment
from probes.model import CheckResult, DeviceResult, Finding, LibraryReport, TargetPython, to_json
from probes.process import LineBatch
from probes.runner import RunResult, SampleRef
from tests.support import canned_check, fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.presentation import terminal_theme
from tui.safe_text import UNSAFE_CHARACTERS, inert
from tui.widgets.output_log import OutputLog, OutputRecord

#: One short vector per class of sequence (kept short so no table wraps it).
VECTORS = {
    "csi": "\x1b[31mRED\x1b[0m",
    "osc-title": "\x1b]0;TITLE\x07",
    "osc52-clipboard": "\x1b]52;c;Y2xp\x07",
    "osc8-link": "\x1b]8;;http://x/\x1b\\L\x1b]8;;\x1b\\",
    "dcs": "\x1bPq#0\x1b\\",
    "c1-csi": "\x9b2J",
    "lone-esc": "end\x1b",
    "c0-bell-bs": "a\x07\x08b",
    "markup-path": "/data/[old]/env",
    "markup-device": "[/dev/nvidia0]",
    "markup-bold": "[bold]x[/]",
    # issue 17, class 9: invisible and format characters (the issue's, then our own)
    "zero-width": "ad\u200bmin\u200c",
    "bidi-marks": "a\u061cb\u200e\u200f",
    "bom-and-tags": "\ufeffx\U000e0001\U000e0041",
    "word-joiner-soft-hyphen": "a\u2060b\u00adc",
    "private-use-surrogate": "\ue000y\udcff",
}
IDS = list(VECTORS)
#: Anything the sanitiser escapes must not reach the output raw.
_RAW_CONTROL = re.compile(f"[{UNSAFE_CHARACTERS}]")


def _plain(renderable: RenderableType, width: int = 400) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=False, color_system=None, theme=terminal_theme()
    )
    console.print(renderable)
    return buffer.getvalue()


def _assert_inert(shown: str, vector: str) -> None:
    assert not _RAW_CONTROL.search(shown), repr(shown)
    assert inert(vector) in shown, (inert(vector), shown)


def hostile_check(v: str, target: TargetPython | None = None) -> CheckResult:
    """A check whose every outside string carries the vector."""
    base = canned_check(target)
    torch = LibraryReport(
        "torch",
        f"PyTorch{v}",
        "crashed",
        f"2.4{v}",
        location=f"/opt/{v}/torch",
        build={"note": f"b{v}"},
        devices=[DeviceResult(kind="cpu", name=f"cpu{v}", computation_ok=False, error=f"dev{v}")],
        error=f"Segfault{v}",
        stderr_tail=[f"tail{v}"],
    )
    base.libraries = [lib for lib in base.libraries if lib.name != "torch"] + [torch]
    base.findings = [
        Finding(
            rule="probe_failed",
            severity="error",
            title=f"title{v}",
            evidence=f"evidence{v}",
            fix=f"fix{v}",
            library="torch",
        )
    ]
    base.system.hostname = f"host{v}"
    return base


# --------------------------------------------------------------------------- CLI paths


@pytest.mark.parametrize("name", IDS)
def test_check_report(name: str) -> None:
    from tui.cli.check import render_report

    v = VECTORS[name]
    target = TargetPython(executable=f"/py{v}/bin/python", version="3.11.0")
    shown = _plain(render_report(hostile_check(v, target)))
    # (the version column is cut at 14 cells by design: its absence of raw controls is checked)
    for piece in ("Segfault", "title", "evidence", "fix", "host", "/py"):
        _assert_inert(shown, piece + v)


@pytest.mark.parametrize("name", IDS)
def test_run_summary_and_result_line(name: str) -> None:
    from tui.cli.run import summary_table

    v = VECTORS[name]
    result = RunResult(
        name=f"s{v}",
        script=f"/x{v}.py",
        target="/py",
        device="cpu",
        status="fail",
        verdict={"engine": f"eng{v}", "device": f"dev{v}"},
        summary=f"sum{v}",
    )
    target = TargetPython(executable=f"/py{v}", version="3.11.0")
    shown = _plain(summary_table([result], target))
    for piece in ("s", "eng", "dev", "sum", "/py"):
        _assert_inert(shown, piece + v)


@pytest.mark.parametrize("name", IDS)
def test_run_streamed_output_is_inert_unless_raw(name: str) -> None:
    from tui.cli.run import TerminalEcho

    v = VECTORS[name]
    out, err = io.StringIO(), io.StringIO()
    echo = TerminalEcho(out, err)
    echo(LineBatch("stdout", [f"o{v}"]))
    echo(LineBatch("stderr", [f"e{v}"]))
    echo.end()
    _assert_inert(out.getvalue(), "o" + v)
    _assert_inert(err.getvalue(), "e" + v)
    raw_out = io.StringIO()
    raw = TerminalEcho(raw_out, io.StringIO(), raw=True)
    raw(LineBatch("stdout", [f"o{v}"]))
    raw.end()
    assert raw_out.getvalue() == f"o{v}\n"


@pytest.mark.parametrize("name", IDS)
def test_envs_table(name: str) -> None:
    from rich.console import Group

    from tui.cli.run import environments_lines

    v = VECTORS[name]
    env = PythonEnvironment(
        python=f"/e{v}/bin/python",
        kind="venv",
        name=f"n{v}",
        version=f"3.{v}",
        prefix=f"/e{v}",
        libraries={"torch": f"2{v}"},
    )
    for width in (80, 200):
        shown = _plain(Group(*environments_lines([env], width)))
        for piece in ("n", "3.", "/e", "2"):
            _assert_inert(shown, piece + v)


@pytest.mark.parametrize("name", IDS)
def test_json_keeps_the_exact_strings(name: str) -> None:
    v = VECTORS[name]
    data = json.loads(to_json(hostile_check(v)))
    torch = next(lib for lib in data["libraries"] if lib["name"] == "torch")
    assert torch["version"] == f"2.4{v}"
    assert torch["error"] == f"Segfault{v}"
    assert data["findings"][0]["evidence"] == f"evidence{v}"


def test_run_raw_flag_reaches_the_real_command(tmp_path: Path) -> None:
    """`mltui run SCRIPT` prints inert text; `--raw` gives the program's bytes unchanged."""
    import subprocess

    script = tmp_path / "colours.py"
    script.write_text("print('\\x1b[31mred\\x1b[0m [bold]x[/] \\x1b]0;T\\x07')\n")
    base = [sys.executable, "-m", "tui.cli", "run", str(script)]
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PATH": "/usr/bin:/bin"}
    plain = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    raw = subprocess.run([*base, "--raw"], capture_output=True, text=True, env=env, timeout=60)
    assert "\\x1b[31mred\\x1b[0m [bold]x[/] \\x1b]0;T\\x07" in plain.stdout
    assert "\x1b" not in plain.stdout
    assert "\x1b[31mred\x1b[0m [bold]x[/] \x1b]0;T\x07" in raw.stdout


# --------------------------------------------------------------------------- dashboard paths


def _detail_text(check: CheckResult) -> str:
    from tui.screens.library_detail import report_renderable

    torch = next(lib for lib in check.libraries if lib.name == "torch")
    return _plain(report_renderable(torch, check.findings, "5 min ago"))


@pytest.mark.parametrize("name", IDS)
def test_detail_screen(name: str) -> None:
    v = VECTORS[name]
    shown = _detail_text(hostile_check(v))
    for piece in ("PyTorch", "2.4", "/opt/", "b", "cpu", "dev", "Segfault", "tail", "title"):
        _assert_inert(shown, piece + v)
    for piece in ("evidence", "fix"):
        _assert_inert(shown, piece + v)


@pytest.mark.parametrize("name", IDS)
def test_findings_and_matrix_cells(name: str) -> None:
    from tui.widgets.hardware_pane import findings_renderable
    from tui.widgets.libraries_matrix import matrix_row

    v = VECTORS[name]
    check = hostile_check(v)
    shown = _plain(findings_renderable(check.findings))
    _assert_inert(shown, "title" + v)
    _assert_inert(shown, "fix" + v)
    torch = next(lib for lib in check.libraries if lib.name == "torch")
    cells = " | ".join(cell.plain for cell in matrix_row(torch))
    _assert_inert(cells, "2.4" + v)


async def _dashboard_shows(
    check: CheckResult, cached: CheckResult, expect: list[str], act: Callable[..., object]
) -> None:
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(check=check, cached=cached, cached_age_s=60),
        refresh=3600,
    )
    async with app.run_test(size=(220, 60)) as pilot:
        await act(app, pilot)
        await wait_for(pilot, lambda: all(inert(e) in screen_text(app) for e in expect))
        assert not _RAW_CONTROL.search(screen_text(app))


@pytest.mark.parametrize("name", ["csi", "osc52-clipboard", "c1-csi", "markup-bold"])
async def test_cache_replay_and_detail_screen_in_the_dashboard(name: str) -> None:
    """The dashboard started on a hostile cached check shows it inert (matrix, detail screen)."""
    v = VECTORS[name]
    hostile = hostile_check(v)

    async def open_detail(app: MltuiApp, pilot: object) -> None:
        await wait_for(pilot, lambda: inert(f"2.4{v}") in screen_text(app))
        app.show_library("torch")

    await _dashboard_shows(hostile, hostile, [f"Segfault{v}", f"tail{v}"], open_detail)


@pytest.mark.parametrize("name", ["osc-title", "dcs", "lone-esc", "markup-path"])
async def test_notification_of_a_new_interpreter(name: str) -> None:
    from textual.content import Content

    v = VECTORS[name]
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(220, 60)) as pilot:
        app.set_target(TargetPython(executable=f"/py{v}/python", version="3.12.0"))
        await wait_for(pilot, lambda: bool(list(app._notifications)))
        # As a toast shows it: the message as text (markup off), never parsed.
        assert all(not n.markup for n in app._notifications)
        shown = " ".join(Content(n.message).plain for n in app._notifications)
        _assert_inert(shown, f"now using /py{v}/python")


@pytest.mark.parametrize("name", IDS)
async def test_run_pane_output(name: str) -> None:
    from textual.app import App, ComposeResult

    from probes.process import OutputLine

    v = VECTORS[name]

    class LogApp(App[None]):
        def compose(self) -> ComposeResult:
            yield OutputLog(id="log")

    app = LogApp()
    async with app.run_test(size=(120, 20)) as pilot:
        log = app.query_one(OutputLog)
        record = OutputRecord("x")
        log.show(record)
        record.add_lines([OutputLine("stdout", f"o{v}"), OutputLine("stderr", f"e{v}")])
        record.note(f"note{v}")
        log.changed(record)
        await wait_for(pilot, lambda: inert(f"note{v}") in screen_text(app))
        shown = screen_text(app)
        for piece in ("o", "e", "note"):
            _assert_inert(shown, piece + v)


def test_sample_path_in_the_run_pane_title_is_inert(tmp_path: Path) -> None:
    """A sample's file name becomes a border title: a Content, inert, never parsed."""
    from textual.content import Content

    from tui.safe_text import inert_line, safe_content

    ref = SampleRef(name="x", path=str(tmp_path / "[bold]a\x1b[2J.py"))
    title = safe_content(inert_line(Path(ref.path).name))
    assert isinstance(title, Content)
    assert title.plain == "[bold]a\\x1b[2J.py"


# --------------------------------------------------------------------------- never read as markup
#
# Issue 17, class 2: outside text is never parsed as markup, anywhere in the running app. The
# hostile strings below all carry `MARK`; `markup_guard` makes every markup parser of Rich and
# Textual raise on such text, and the walk over the widget tree finds any text-bearing attribute
# that still holds it as a plain string (a tooltip or label parsed later, when first drawn).

#: Markup look-alikes, by what each would do if parsed (the first six are the issue's own).
MARKUP_VECTORS = {
    "closing-tag": "[/bold]",
    "link": "[link=https://evil.example/]click[/link]",
    "click-action": "[@click=app.quit]quit[/]",
    "unclosed": "[red",
    "escaped-bracket": "\\[x]",
    "emoji-code": ":smile: :thumbs_up:",
    "extra-tag": "jax[cuda13]",
    # vectors of our own: Textual's template variables and CSS variables, a bare closer, an
    # unknown style, a sub-tag in a hostname, controls and invisible characters mixed in
    "template-variable": "[b]$name[/b] $accent",
    "css-variable": "[$accent on $error]x",
    "bare-closer": "[/]",
    "unknown-style": "[not_a_style]y[/not_a_style]",
    "controls-and-invisible": "[bold]\x1b]0;T\x07a\u200bb\U000e0041\ufeff",
}


def _hostile(vector: str) -> str:
    from tests.markup_guard import MARK

    return f"{MARK}{vector}"


def _text_of(value: object) -> str | None:
    """The plain text of a text-bearing value, or None when it holds none."""
    from rich.text import Text
    from textual.content import Content

    if isinstance(value, (Text, Content)):
        return value.plain
    if isinstance(value, str):
        return value
    return None


def _walk_text_attributes(app: MltuiApp) -> list[tuple[str, object]]:
    """(where, value) for every text-bearing attribute of every widget on every screen."""
    from textual.widgets import DataTable, OptionList, Static, Tab

    found: list[tuple[str, object]] = []
    for screen in app.screen_stack:
        for widget in screen.walk_children(with_self=True):
            where = f"{type(widget).__name__}#{widget.id}"
            found.append((f"{where}.border_title", widget._border_title))
            found.append((f"{where}.border_subtitle", widget._border_subtitle))
            found.append((f"{where}.tooltip", widget.tooltip))
            if isinstance(widget, Static):
                found.append((f"{where}.content", widget.content))
            if isinstance(widget, Tab):
                found.append((f"{where}.label", widget.label))
            if isinstance(widget, OptionList):
                for index in range(widget.option_count):
                    found.append(
                        (f"{where}.option[{index}]", widget.get_option_at_index(index).prompt)
                    )
            if isinstance(widget, DataTable):
                for column in widget.columns.values():
                    found.append((f"{where}.column", column.label))
                for row_key in widget.rows:
                    for cell in widget.get_row(row_key):
                        found.append((f"{where}.cell", cell))
    return found


def _hostile_world(vector: str) -> tuple[Any, list[Any], Any]:
    """Services, fleet rows and a target where every outside string carries the vector."""
    from probes.fleet.model import NodeResult
    from probes.nvml import read_nvml
    from tests.fake_nvml import FakeNvml
    from tests.support import StaticNvml, fixed_system

    v = _hostile(vector)
    check = hostile_check(v)
    system = fixed_system()
    system.hostname = v
    check.system = system
    nvml = read_nvml(FakeNvml.from_fixture("h100_sxm_x8"))
    nvml.gpus = nvml.gpus[:2]
    nvml.gpus[0].name = f"H100{v}"
    nvml.driver_version = f"550{v}"
    env = PythonEnvironment(
        python=f"/env{v}/bin/python",
        kind="venv",
        name=f"env{v}",
        version=f"3.12{v}",
        prefix=f"/env{v}",
        libraries={"torch": f"2{v}"},
    )
    services = make_services(
        check=check,
        cached=check,
        read_system=lambda: system,
        open_nvml=lambda: StaticNvml(nvml),
        extra_samples=[SampleRef(name=f"sample{v}", path=f"/nowhere/{v}.py")],
        discover_environments=lambda: [env],
    )
    node_check = hostile_check(v)
    node_check.system.hostname = f"node{v}"
    rows = [
        NodeResult(f"node{v}", "ok", check=node_check),
        NodeResult(f"down{v}", "unreachable", reason=f"ssh: {v}", fix=f"fix {v}"),
    ]
    target = TargetPython(executable=f"/py{v}/bin/python", version=f"3.11{v}")
    return services, rows, target


@pytest.mark.parametrize("name", list(MARKUP_VECTORS))
async def test_no_outside_text_is_ever_parsed_as_markup(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hostile text everywhere (hostname, GPU, libraries, target, samples, environments, fleet
    nodes, palette, notifications, detail screens): no markup parser ever sees it, no widget keeps
    it as a string to parse later, and the screen shows it exactly, inert."""
    from textual.command import CommandPalette

    from tests.markup_guard import MARK, markup_guard
    from tui.screens.fleet_node import NodeCheckScreen
    from tui.widgets.fleet_pane import FleetPane

    vector = MARKUP_VECTORS[name]
    v = _hostile(vector)
    services, rows, target = _hostile_world(vector)
    strings_left: list[str] = []

    def no_plain_strings(app: MltuiApp) -> None:
        for where, value in _walk_text_attributes(app):
            if isinstance(value, str) and MARK in value:
                strings_left.append(f"{where}: {value!r}")

    with markup_guard(monkeypatch) as parsed:
        app = MltuiApp(target=target, services=services, refresh=3600)
        async with app.run_test(size=(220, 60)) as pilot:
            # the dashboard: hostname, GPU card, matrix, findings, header
            await wait_for(pilot, lambda: inert(f"H100{v}") in screen_text(app))
            assert inert_line_of(f"Python 3.11{v}") in app.sub_title
            no_plain_strings(app)
            # the library's detail screen
            app.show_library("torch")
            await wait_for(pilot, lambda: inert(f"Segfault{v}") in screen_text(app))
            no_plain_strings(app)
            app.pop_screen()
            # a new interpreter: a notification and the header
            app.set_target(TargetPython(executable=f"/new{v}/python", version="3.12.0"))
            await wait_for(pilot, lambda: inert(f"/new{v}/python") in screen_text(app))
            # the Run pane: the sample's name in the table, as a border title and a notification
            app.show_pane("run")
            await wait_for(pilot, lambda: held(app, inert_line_of(f"sample{v}")))
            app.run_sample(f"missing{v}")
            await wait_for(
                pilot, lambda: notified(app, f"unknown sample: {inert_line_of('missing' + v)}")
            )
            no_plain_strings(app)
            # the Fleet pane: node rows, a node without a report, a node's whole check
            app.show_pane("fleet")
            await wait_for(pilot, lambda: bool(app.query("FleetPane DataTable")))
            pane = app.query_one(FleetPane)
            for row in rows:
                pane.add_node(row)
            await wait_for(pilot, lambda: held(app, inert_line_of(f"down{v}")))
            pane.table.focus()
            pane.table.move_cursor(row=pane.table.get_row_index(f"down{v}"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: notified(app, f"\nfix: {inert_line_of('fix ' + v)}"))
            pane.table.move_cursor(row=pane.table.get_row_index(f"node{v}"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeCheckScreen))
            await wait_for(pilot, lambda: inert_line_of(f"node node{v}") in screen_text(app))
            no_plain_strings(app)
            app.pop_screen()
            # the command palette: a sample's and an environment's entries
            app.action_command_palette()
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*MARK)
            await wait_for(
                pilot, lambda: inert_line_of(f"Run sample: sample{v}") in screen_text(app)
            )
            await wait_for(pilot, lambda: inert_line_of(f"env{v}") in screen_text(app))
            no_plain_strings(app)
            assert not _RAW_CONTROL.search(screen_text(app))
    assert parsed == [], parsed
    assert strings_left == [], strings_left
    for note in app._notifications:
        assert MARK not in note.message or not note.markup, note


def held(app: MltuiApp, words: str) -> bool:
    """Whether a widget holds `words` as text (a narrow column may not show all of it)."""
    return any(words in (_text_of(value) or "") for _, value in _walk_text_attributes(app))


def notified(app: MltuiApp, words: str) -> bool:
    """Whether a notification (shown as text, never markup) holds `words`."""
    return any(words in note.message and not note.markup for note in app._notifications)


def inert_line_of(text: str) -> str:
    """How a one-line field shows `text`."""
    from tui.safe_text import inert_line

    return inert_line(text)


@pytest.mark.parametrize("query", ["cuda13", "jax"])
async def test_the_palette_shows_the_projects_own_brackets(query: str) -> None:
    """The JAX page's `pip install -U "jax[cuda13]"` keeps its brackets in a palette hit (Textual's
    matcher read hit titles and help as markup and dropped `[cuda13]`)."""
    from textual.command import CommandPalette

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(220, 60)) as pilot:
        app.action_command_palette()
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*query)
        await wait_for(pilot, lambda: "[cuda13]" in screen_text(app))


def test_notifications_and_markup_parsers_have_one_way_in() -> None:
    """In tui/, only tui/safe_text.py calls `.notify()` (with markup off), and nothing calls a
    markup parser (`from_markup`, Rich's markup module, Textual's `Matcher.highlight`)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "tui"
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "safe_text.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("notify", "from_markup", "highlight", "render_str")
            ):
                found.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
            if isinstance(node, ast.ImportFrom) and node.module in (
                "rich.markup",
                "textual.markup",
            ):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
    assert found == []


@pytest.mark.parametrize("name", list(MARKUP_VECTORS))
def test_the_command_lines_reports_never_parse_outside_text(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's renderers (check report, run summary, environments) under the markup guard:
    the hostile text is printed exactly, inert, and no parser ever sees it."""
    from rich.console import Group

    from tests.markup_guard import markup_guard
    from tui.cli.check import render_report
    from tui.cli.run import environments_lines, summary_table
    from tui.safe_text import inert_line

    v = _hostile(MARKUP_VECTORS[name])
    target = TargetPython(executable=f"/py{v}/bin/python", version="3.11.0")
    result = RunResult(
        name=f"s{v}", script=f"/x{v}.py", target="/py", device="cpu", status="fail",
        summary=f"sum{v}",
    )  # fmt: skip
    env = PythonEnvironment(
        python=f"/e{v}/bin/python", kind="venv", name=f"n{v}", version="3.12",
        prefix=f"/e{v}", libraries={"torch": f"2{v}"},
    )  # fmt: skip
    with markup_guard(monkeypatch) as parsed:
        shown = _plain(render_report(hostile_check(v, target)))
        shown += _plain(summary_table([result], target))
        shown += _plain(Group(*environments_lines([env], 300)))
    assert parsed == []
    assert not _RAW_CONTROL.search(shown)
    for piece in ("host", "Segfault", "title", "fix", "/py", "sum", "n"):
        assert inert_line(piece + v) in shown, piece
