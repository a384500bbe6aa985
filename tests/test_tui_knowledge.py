"""Pilot tests of the Knowledge pane: pages, the sortable comparison, search, the chooser, and
the keys that run a page's sample and show its probe result."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import ContentSwitcher, Input, MarkdownViewer, OptionList, Select, Tree

from content.chooser import Recommendation
from probes.catalog import GUIDE_LIBRARIES
from tests.support import fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.screens.library_detail import LibraryDetailScreen
from tui.widgets.chooser_form import ChooserForm
from tui.widgets.comparison_table import ComparisonTable
from tui.widgets.knowledge_pane import KnowledgePane
from tui.widgets.run_pane import RunPane


def plain(cell: object) -> str:
    """A comparison cell's text: cells are Rich Text (outside text is never markup)."""
    return cell.plain if isinstance(cell, Text) else str(cell)


async def open_knowledge(app: MltuiApp, pilot: object) -> KnowledgePane:
    """Switch to the Knowledge pane and wait for its pages."""
    await pilot.press("3")  # type: ignore[attr-defined]
    pane = app.query_one(KnowledgePane)
    await wait_for(pilot, lambda: len(pane.pages) == len(GUIDE_LIBRARIES))
    return pane


def make_app() -> MltuiApp:
    """A dashboard over deterministic services."""
    return MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)


async def test_open_a_page_from_the_index_with_the_keyboard() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_knowledge(app, pilot)
        index = app.query_one("#kn-index", OptionList)
        assert index.has_focus
        index.highlighted = index.get_option_index("page:torch")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.open_library == "torch")
        viewer = app.query_one("#page-viewer", MarkdownViewer)
        await wait_for(pilot, lambda: "PyTorch" in (viewer.border_title or ""))
        assert app.query_one("#kn-views", ContentSwitcher).current == "page-viewer"
        assert "PyTorch" in (viewer.border_title or "")
        assert "Since then" in viewer.document.source
        assert "Kite" in screen_text(app)  # the credit to the source article


async def test_comparison_table_sorts_by_column_and_reverses() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_knowledge(app, pilot)
        table = app.query_one(ComparisonTable)
        await wait_for(pilot, lambda: table.row_count == len(GUIDE_LIBRARIES))
        table.focus()
        libraries = lambda: [plain(table.get_row_at(i)[0]) for i in range(table.row_count)]  # noqa: E731
        await pilot.press("s")  # sort by the cursor's column: library
        assert libraries() == sorted(libraries(), key=str.lower)
        assert table.sorted_by == ("library", False)
        await pilot.press("s")
        assert libraries() == sorted(libraries(), key=str.lower, reverse=True)
        assert table.sorted_by == ("library", True)


async def test_search_finds_a_page_and_opens_it() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_knowledge(app, pilot)
        await pilot.press("slash")
        assert app.query_one("#search-input", Input).has_focus
        await pilot.press(*"tf.Session")
        results = app.query_one("#search-results", OptionList)
        await wait_for(pilot, lambda: results.option_count > 0)
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: pane.open_library is not None)
        assert pane.open_library == "tensorflow"


async def test_chooser_recommends_with_reasons_and_follows_the_answers() -> None:
    app = make_app()
    async with app.run_test(size=(120, 48)) as pilot:
        pane = await open_knowledge(app, pilot)
        pane.show_view("chooser")
        form = app.query_one(ChooserForm)

        def shown() -> bool:
            rec = form.recommendation
            return (
                isinstance(rec, Recommendation)
                and rec.machine_checked
                and f"1. {rec.ranked[0].display_name}" in screen_text(app)
            )

        await wait_for(pilot, shown)
        first = form.recommendation
        assert isinstance(first, Recommendation)
        assert first.ranked and first.ranked[0].reasons
        assert f"1. {first.ranked[0].display_name}" in screen_text(app)
        assert first.machine_checked  # the canned check weighs in
        kind = app.query_one("#q-kind", Select)
        options = [value for _, value in kind._options]
        kind.value = options[-1]
        await wait_for(pilot, lambda: form.recommendation is not first)
        assert form.answers()["kind"] == options[-1]
        second = form.recommendation
        assert isinstance(second, Recommendation)
        assert second is not first
        assert second.answers.kind == options[-1]


async def test_page_keys_run_its_sample_and_show_its_probe_result() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_knowledge(app, pilot)
        # The Run pane is not built yet: `r` builds it, waits for its samples, then runs.
        assert not app.query(RunPane)
        pane.open_page("torch")
        await wait_for(pilot, lambda: pane.open_library == "torch")
        app.query_one("#page-viewer").focus()
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, LibraryDetailScreen))
        assert "2.13.0+cpu" in screen_text(app)
        await pilot.press("escape")
        # The page takes the keys again once the dialog is gone and its focus is back.
        await wait_for(
            pilot,
            lambda: not isinstance(app.screen, LibraryDetailScreen) and pane.has_focus_within,
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.query(RunPane)))
        run = app.query_one(RunPane)
        # Building the Run pane, reading its samples and starting torch: a minute under load.
        # The run may also have ended between two looks (a fast failure): either way `r` started
        # torch's sample, and its status says how it went.
        await wait_for(pilot, lambda: "torch" in run.last_status, timeout=60)
        assert app.active_pane == "run"
        if run.running:
            assert run.last_status["torch"] == "running"
            await pilot.press("c")
            await wait_for(pilot, lambda: not run.running, timeout=15)
            assert run.last_status["torch"] == "cancelled"
        else:
            assert run.last_status["torch"] in ("pass", "cancelled"), screen_text(app)


async def test_a_page_takes_the_keys_and_its_contents_never_lose_them() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_knowledge(app, pilot)
        assert not pane.check_action("run_sample", ())  # no page open: r, p, t not offered
        index = app.query_one("#kn-index", OptionList)
        index.highlighted = index.get_option_index("page:theano")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.open_library == "theano")
        viewer = app.query_one("#page-viewer", MarkdownViewer)
        assert viewer.document.has_focus  # the arrows scroll the page
        assert pane.check_action("run_sample", ())
        await pilot.press("t")
        assert viewer.show_table_of_contents
        toc_tree = viewer.table_of_contents.query_one(Tree)
        assert toc_tree.has_focus
        await pilot.press("t")  # hiding the contents hands the keys back to the page
        assert not viewer.show_table_of_contents
        assert viewer.document.has_focus
        await pilot.press("escape")
        assert index.has_focus


async def test_chooser_tab_goes_from_question_to_question_then_the_answer() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_knowledge(app, pilot)
        index = app.query_one("#kn-index", OptionList)
        index.highlighted = index.get_option_index("view:chooser")
        await pilot.press("enter")
        questions = list(app.query(".chooser-question").results(Select))
        assert questions[0].has_focus
        for question in questions[1:]:
            await pilot.press("tab")
            assert question.has_focus
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id == "chooser-answer"


def test_search_snippets_lose_their_markdown() -> None:
    from tui.widgets.knowledge_pane import plain_snippet

    assert plain_snippet("| GPU backends | CUDA **only** |") == "GPU backends - CUDA only"
    assert plain_snippet("see [the docs](https://x.y/z) and `tf.function`") == (
        "see the docs and tf.function"
    )


async def test_footer_of_an_open_page_fits_80_columns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_knowledge(app, pilot)
        pane.open_page("torch")
        # The Footer composes its keys again when the page's bindings come in: wait for that.
        await wait_for(pilot, lambda: "t Contents" in screen_text(app).splitlines()[-1])
        footer = screen_text(app).splitlines()[-1]
        for words in ("/ Search", "r Run", "p Probe", "t Contents", "? Help", "q Quit"):
            assert words in footer, footer


async def test_comparison_keeps_the_library_in_view_and_shows_the_sort_column() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_knowledge(app, pilot)
        table = app.query_one(ComparisonTable)
        await wait_for(pilot, lambda: table.row_count == len(GUIDE_LIBRARIES))
        table.focus()
        first = plain(table.get_row_at(0)[0])
        # Scrolled sideways to the last column: the library names are still on screen.
        await pilot.press("end")
        for _ in range(12):
            await pilot.press("right")
        await wait_for(pilot, lambda: table.scroll_x > 0)
        await wait_for(pilot, lambda: first in screen_text(app))
        shown = screen_text(app)
        assert first in shown and "Library" in shown
        # The column sorted by carries an arrow after its title; sorting again turns it.
        await pilot.press("s")
        column = list(table.columns.values())[table.cursor_column]
        assert column.label.plain.endswith(" \u25b2")
        await pilot.press("s")
        assert column.label.plain.endswith(" \u25bc")
        others = [c.label.plain for c in table.columns.values() if c is not column]
        assert not any(label.endswith(("\u25b2", "\u25bc")) for label in others)


async def test_a_search_hit_is_marked_and_in_view_on_its_page() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_knowledge(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"libgpuarray")
        results = app.query_one("#search-results", OptionList)
        await wait_for(pilot, lambda: results.option_count > 0)
        # The word searched for stands out in the hit's snippet.
        prompt = results.get_option_at_index(0).prompt
        assert isinstance(prompt, Text)
        assert any(
            "reverse" in str(span.style)
            and prompt.plain[span.start : span.end].lower() == "libgpuarray"
            for span in prompt.spans
        )
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: pane.open_library is not None)
        viewer = app.query_one("#page-viewer", MarkdownViewer)
        await wait_for(pilot, lambda: bool(viewer.document.query(".-search-hit")))
        hit = viewer.document.query_one(".-search-hit")
        assert "libgpuarray" in (hit.source or "").lower()  # type: ignore[attr-defined]
        # Its first line is on screen, inside the viewer.
        await wait_for(pilot, lambda: viewer.region.contains(hit.region.x, hit.region.y), timeout=5)


async def test_comparison_shows_what_this_machine_measured_beside_the_claims() -> None:
    # Issue 12 part 5: the article's speed claims ("High-speed computation", "Processing large
    # data sets quickly") face the figures `mltui perf` measured here, labelled machine and date.
    from dataclasses import replace

    from tests.perf_fixtures import canned_report
    from tests.support import canned_check

    check = replace(canned_check(fixed_target()), perf=canned_report())
    app = MltuiApp(target=fixed_target(), services=make_services(check=check), refresh=3600)
    async with app.run_test(size=(200, 48)) as pilot:
        await open_knowledge(app, pilot)
        table = app.query_one(ComparisonTable)
        await wait_for(pilot, lambda: "measured_here" in [str(k.value) for k in table.columns])
        keys = [str(k.value) for k in table.columns]
        assert keys.index("measured_here") == keys.index("best_application") + 1
        title = table.columns[keys[keys.index("measured_here")]].label.plain.rstrip()  # type: ignore[index]
        assert title == "Measured here (gpu-node-07, 2026-11-27)"
        column = keys.index("measured_here")
        rows = [table.get_row_at(i) for i in range(6)]
        cells = {plain(row[0]): plain(row[column]) for row in rows}
        assert cells["PyTorch"] == "520 GFLOP/s FP32 on cpu (58% of peak)"
        assert cells["TensorFlow"] == "470 GFLOP/s FP32 on cpu (52% of peak)"
        assert cells["JAX"] == "505 GFLOP/s FP32 on cpu (56% of peak)"
        assert cells["Theano"] == "-" and cells["scikit-learn"] == "-"


async def test_comparison_has_no_measured_column_before_a_perf_run() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_knowledge(app, pilot)
        table = app.query_one(ComparisonTable)
        await wait_for(pilot, lambda: table.row_count == len(GUIDE_LIBRARIES))
        assert "measured_here" not in [str(k.value) for k in table.columns]
