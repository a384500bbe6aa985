"""The Knowledge pane: the comparison table, a page per library, search, and the chooser.

From a library page, `r` asks the app to run its sample and `p` to show its probe result; the
pane only posts those wishes as messages, the app carries them out. Those keys (and `t`, the
page's contents) are offered only while a page is open, which keeps the footer short at 80 columns.
The app asks the pane to open a page or a view with the `OpenPage` and `ShowView` messages; the
chooser follows the app's check.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, MarkdownViewer, OptionList, Static, Tree
from textual.widgets.markdown import MarkdownBlock
from textual.widgets.option_list import Option, OptionDoesNotExist

from content.knowledge import ComparisonRow, LibraryPage, SearchHit
from probes.perf_model import PerfReport
from tui.perf_view import with_measured_column
from tui.presentation import MUTED
from tui.safe_text import inert_line, notify, safe_content
from tui.state import CheckState
from tui.widgets.chooser_form import ChooserForm
from tui.widgets.comparison_table import ComparisonTable
from tui.widgets.pane import Pane

#: The views besides the library pages.
KnowledgeView = Literal["comparison", "chooser", "search"]

CREDIT = (
    'Source: "TensorFlow or PyTorch? A Guide to Python Machine Learning Libraries" '
    "(Kite blog), rewritten and updated."
)


class KnowledgePane(Pane):
    """Browse what the guide says about each library, and what changed since."""

    BINDINGS = [
        Binding("slash", "search", "Search", tooltip="Search every page"),
        Binding("r", "run_sample", "Run", tooltip="Run the sample of the open page"),
        Binding("p", "probe_result", "Probe", tooltip="This library's probe result"),
        Binding("t", "toggle_contents", "Contents", tooltip="Show or hide the table of contents"),
        Binding(
            "escape", "back_to_index", "Pages", show=False, tooltip="Back to the list of pages"
        ),
    ]

    #: Actions that only make sense on an open library page.
    PAGE_ACTIONS = frozenset({"run_sample", "probe_result", "toggle_contents"})

    class RunSampleRequested(Message):
        """The user asked to run the sample of a library."""

        def __init__(self, library: str) -> None:
            super().__init__()
            self.library = library

    class ProbeResultRequested(Message):
        """The user asked for a library's probe result."""

        def __init__(self, library: str) -> None:
            super().__init__()
            self.library = library

    class OpenPage(Message, bubble=False):
        """Asks the pane to open a library's page (at a heading's anchor), once pages are read."""

        def __init__(self, library: str, anchor: str | None = None) -> None:
            super().__init__()
            self.library = library
            self.anchor = anchor

    class ShowView(Message, bubble=False):
        """Asks the pane to show the comparison, the chooser or the search, with the keys in it."""

        def __init__(self, view: KnowledgeView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: The hits of the last search, in the order listed.
        self._hits: list[SearchHit] = []
        self.pages: dict[str, LibraryPage] = {}
        #: The library whose page is open, if one is.
        self.open_library: str | None = None
        #: Set once the pages have been read (even if none could be).
        self.pages_loaded = asyncio.Event()
        self._rows: list[dict[str, str]] = []
        self._labels: dict[str, str] = {}
        self._row_ids: list[str] = []
        #: The last `mltui perf` of the target (the check's), shown in the comparison.
        self._perf: PerfReport | None = None
        #: The target interpreter's version, so a page says which release it can install.
        self._python: tuple[int, int] | None = None

    def main_widget(self) -> Widget:
        """The index of the pages and views."""
        return self.query_one("#kn-index", OptionList)

    def compose(self) -> ComposeResult:
        """The index on the left; the chosen view and the credit on the right."""
        with Horizontal(id="kn-body"):
            yield OptionList(id="kn-index")
            with Vertical(id="kn-main"):
                with ContentSwitcher(initial="comparison", id="kn-views"):
                    yield ComparisonTable(id="comparison")
                    yield MarkdownViewer(id="page-viewer", show_table_of_contents=False)
                    yield ChooserForm(id="chooser")
                    with Vertical(id="search"):
                        yield Input(placeholder="search every page", id="search-input")
                        yield OptionList(id="search-results")
                yield Static(CREDIT, id="credit")

    def on_mount(self) -> None:
        """Read the pages and the comparison (files on disk) in a worker."""
        self.query_one("#kn-index").border_title = "pages"
        self._load()
        self.watch(self.app, "check_state", self._follow_check)

    @work(thread=True, exclusive=True, group="knowledge-load", exit_on_error=False)
    def _load(self) -> None:
        try:
            from content.knowledge import comparison_columns, comparison_rows, load_pages

            pages = list(load_pages())
            loaded = comparison_rows()
            rows = comparison_table_rows(loaded)
            self._row_ids = [row.library for row in loaded]
            labels = {"library": "library"} | {c.key: c.title for c in comparison_columns()}
        except Exception as exc:  # a broken content file is shown, not fatal
            self.app.call_from_thread(
                notify, self, f"cannot load the knowledge pages: {exc}", severity="error"
            )
            pages, rows, labels = [], [], {}
        self.app.call_from_thread(self._show_loaded, pages, rows, labels)

    def _show_loaded(
        self, pages: list[LibraryPage], rows: list[dict[str, str]], labels: dict[str, str]
    ) -> None:
        self.pages = {p.id: p for p in pages}
        self.pages_loaded.set()
        index = self.query_one("#kn-index", OptionList)
        index.clear_options()
        index.add_options(
            [
                Option("Comparison", id="view:comparison"),
                Option("Chooser", id="view:chooser"),
                None,
                *(Option(safe_content(p.title), id=f"page:{p.id}") for p in pages),
            ]
        )
        self._rows, self._labels = rows, labels
        self._show_comparison()
        if self._current_view() == "comparison":
            self._mark_in_index("view:comparison")

    def _mark_in_index(self, option_id: str) -> None:
        """Put the pages list's cursor on what is shown, so the list always has one (it is
        drawn reversed without colour, NO_COLOR/TERM=dumb, and in colour alike)."""
        index = self.query_one("#kn-index", OptionList)
        try:
            position = index.get_option_index(option_id)
        except OptionDoesNotExist:
            return  # the pages are not listed yet: marked when they are
        if index.highlighted != position:
            index.highlighted = position

    def _show_comparison(self) -> None:
        """The comparison, with what this machine measured per library once `mltui perf` ran."""
        rows, labels = self._rows, self._labels
        if self._perf is not None and len(self._row_ids) == len(rows):
            rows, titles = with_measured_column(rows, self._row_ids, self._perf)
            labels = {**labels, **titles}
        self.query_one(ComparisonTable).show(rows, labels)

    # ------------------------------------------------------------------------- navigation

    @on(OptionList.OptionSelected, "#kn-index")
    def _on_index(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        kind, _, name = option_id.partition(":")
        if kind == "view":
            self.show_view(name, focus=True)
        elif kind == "page":
            self.open_page(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer the page keys (run, probe, contents) only while a library page is shown."""
        if action in self.PAGE_ACTIONS:
            return self.open_library is not None and self._current_view() == "page-viewer"
        return True

    def _current_view(self) -> str | None:
        return self.query_one("#kn-views", ContentSwitcher).current

    def show_view(self, name: str, *, focus: bool = False) -> None:
        """Switch to 'comparison', 'chooser' or 'search'; `focus` moves the keys into it."""
        self.query_one("#kn-views", ContentSwitcher).current = name
        if name != "search":
            self.open_library = None
            self._mark_in_index(f"view:{name}")
        self.refresh_bindings()
        if focus:
            if name == "chooser":
                self.query_one(ChooserForm).focus_first_question()
            elif name == "comparison":
                self.query_one(ComparisonTable).focus()

    def open_page(
        self, library: str, anchor: str | None = None, highlight: SearchHit | None = None
    ) -> None:
        """Show a library's page (at a heading's anchor, when given) and move the keys into it.

        `highlight`: a search hit whose line is marked and scrolled into view.
        """
        page = self.pages.get(library)
        if page is None:
            notify(self, f"no page for {inert_line(library)}", severity="warning")
            return
        from content.knowledge import render_page_markdown

        self.open_library = library
        self._mark_in_index(f"page:{library}")
        self.query_one("#kn-views", ContentSwitcher).current = "page-viewer"
        viewer = self.query_one("#page-viewer", MarkdownViewer)
        viewer.border_title = safe_content(page.title)
        viewer.border_subtitle = "escape: back to the pages"
        self.refresh_bindings()
        self._show_markdown(render_page_markdown(page, python=self._python), anchor, highlight)
        # The arrows and page keys scroll the page from now on; escape goes back to the index.
        viewer.document.focus()

    @work(exclusive=True, group="page-render", exit_on_error=False)
    async def _show_markdown(
        self, markdown: str, anchor: str | None, highlight: SearchHit | None = None
    ) -> None:
        viewer = self.query_one("#page-viewer", MarkdownViewer)
        await viewer.document.update(markdown)
        viewer.scroll_home(animate=False)
        if anchor:
            viewer.document.goto_anchor(anchor)
        if highlight is not None:
            block = search_hit_block(viewer.document.query(MarkdownBlock), highlight)
            if block is not None:
                block.add_class("-search-hit")
                viewer.call_after_refresh(
                    lambda: viewer.scroll_to_widget(block, animate=False, center=True)
                )

    def _follow_check(self, state: CheckState | None) -> None:
        """Let the chooser weigh its advice against what this machine can do; show what this
        machine measured beside the article's claims."""
        if state is not None:
            from content.page import python_version_tuple

            self._python = python_version_tuple(state.target.version)
            self.query_one(ChooserForm).set_check(state)
            perf = state.result.perf if state.result is not None else None
            if perf is not self._perf:
                self._perf = perf
                if self._rows:
                    self._show_comparison()

    async def on_knowledge_pane_open_page(self, message: OpenPage) -> None:
        """Open the page the app asked for, once the pages are read."""
        await self.pages_loaded.wait()
        self.open_page(message.library, message.anchor)

    async def on_knowledge_pane_show_view(self, message: ShowView) -> None:
        """Show the view the app asked for, once the pages are read."""
        await self.pages_loaded.wait()
        if message.view == "search":
            self.action_search()
        else:
            self.show_view(message.view, focus=True)

    # ------------------------------------------------------------------------- actions

    def action_search(self) -> None:
        """Open the search view with the cursor in the query."""
        self.show_view("search")
        self.query_one("#search-input", Input).focus()

    def action_toggle_contents(self) -> None:
        """Show the open page's table of contents (with the cursor in it), or hide it again."""
        viewer = self.query_one("#page-viewer", MarkdownViewer)
        viewer.show_table_of_contents = not viewer.show_table_of_contents
        # Hiding the contents while they hold the focus would leave no widget with the keys.
        if viewer.show_table_of_contents:
            viewer.table_of_contents.query_one(Tree).focus()
        else:
            viewer.document.focus()

    def action_back_to_index(self) -> None:
        """Put the cursor back in the list of pages."""
        self.query_one("#kn-index", OptionList).focus()

    def action_run_sample(self) -> None:
        """Ask for the open page's sample to run."""
        if self.open_library is None:
            notify(self, "open a library page first", severity="warning")
            return
        self.post_message(self.RunSampleRequested(self.open_library))

    def action_probe_result(self) -> None:
        """Ask for the open page's probe result."""
        if self.open_library is None:
            notify(self, "open a library page first", severity="warning")
            return
        self.post_message(self.ProbeResultRequested(self.open_library))

    @on(Input.Changed, "#search-input")
    def _on_query(self, event: Input.Changed) -> None:
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        query = event.value.strip()
        if not query:
            return
        from content.knowledge import search

        self._hits = search(query)[:50]
        for position, hit in enumerate(self._hits):
            label = Text(f"{hit.page_title} > {hit.heading}", style="bold")
            snippet = Text("\n  " + plain_snippet(hit.snippet))
            # The words searched for stand out in each hit (reverse shows without colour too).
            for word in query.split():
                snippet.highlight_words([word], style="reverse", case_sensitive=False)
            label.append_text(snippet)
            results.add_option(Option(label, id=f"hit:{position}:{hit.page_id}:{hit.anchor}"))
        if not results.option_count:
            results.add_option(
                Option(Text(f"nothing matches {query!r}", style=MUTED), disabled=True)
            )

    @on(Input.Submitted, "#search-input")
    def _on_query_submitted(self) -> None:
        results = self.query_one("#search-results", OptionList)
        if results.option_count:
            results.highlighted = 0
        results.focus()

    @on(OptionList.OptionSelected, "#search-results")
    def _on_search_result(self, event: OptionList.OptionSelected) -> None:
        parts = (event.option.id or "").split(":", 3)
        if len(parts) == 4:
            position = int(parts[1])
            hit = self._hits[position] if position < len(self._hits) else None
            self.open_page(parts[2], parts[3] or None, hit)


def search_hit_block(blocks: Iterable[MarkdownBlock], hit: SearchHit) -> MarkdownBlock | None:
    """The block of a rendered page that holds a search hit: the first after the hit's heading
    whose source has the hit's words (any block with them when the heading is not found)."""
    words = [w.lower() for w in re.findall(r"\w+", plain_snippet(hit.snippet))[:6]]
    seen_heading, fallback = False, None
    for block in blocks:
        source = (block.source or "").lower()
        if not seen_heading and hit.heading and hit.heading.lower() in source:
            seen_heading = True
            if source.lstrip().startswith("#"):
                continue
        if words and all(word in source for word in words):
            if seen_heading:
                return block
            fallback = fallback or block
    return fallback


def plain_snippet(snippet: str) -> str:
    """A search hit's Markdown snippet as plain words: no emphasis marks, table bars or links."""
    words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", snippet)
    words = re.sub(r"[*_`]{1,3}", "", words)
    cells = [cell.strip() for cell in words.strip().strip("|").split("|")]
    return " - ".join(" ".join(cell.split()) for cell in cells if cell)


def comparison_table_rows(rows: list[ComparisonRow]) -> list[dict[str, str]]:
    """The comparison as plain rows: the library's name first, then each column's text."""
    from probes.catalog import get_library

    return [{"library": get_library(row.library).display_name, **row.cells} for row in rows]
