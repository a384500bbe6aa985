"""Command palette (ctrl+p) providers: jump to a pane or page, search the pages, run a sample,
switch interpreter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from content.knowledge import SearchHit
    from tui.app import MltuiApp

Entry = tuple[str, Callable[[], Any], str]


class _ListProvider(Provider):
    """A provider over a list of (title, callback, help) entries made at start-up."""

    entries: list[Entry]

    @property
    def mltui(self) -> MltuiApp:
        """The app, typed."""
        return cast("MltuiApp", self.app)

    async def startup(self) -> None:
        """Build the entries once per palette opening."""
        self.entries = await self.make_entries()

    async def make_entries(self) -> list[Entry]:
        """The entries this provider offers."""
        raise NotImplementedError

    async def discover(self) -> Hits:
        """Every entry, before anything is typed."""
        for title, callback, help_text in self.entries:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Entries matching the query, ranked by the matcher."""
        matcher = self.matcher(query)
        for title, callback, help_text in self.entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class PaneCommands(_ListProvider):
    """Go to a pane."""

    async def make_entries(self) -> list[Entry]:
        """One entry per pane."""
        app = self.mltui
        return [
            ("Go to Hardware", partial(app.action_show_pane, "hardware"), "CPU, GPUs, libraries"),
            ("Go to Run", partial(app.action_show_pane, "run"), "run the samples"),
            ("Go to Knowledge", partial(app.action_show_pane, "knowledge"), "pages, comparison"),
            ("Re-check libraries", app.action_recheck, "probe every library again"),
        ]


class PageCommands(_ListProvider):
    """Open any knowledge page (and the comparison and chooser)."""

    async def make_entries(self) -> list[Entry]:
        """One entry per page."""
        from tui.widgets.knowledge_pane import KnowledgePane

        app = self.mltui
        pane = cast(KnowledgePane, await app.pane("knowledge"))
        await pane.pages_loaded.wait()

        def show(view: str) -> None:
            app.action_show_pane("knowledge")
            if view == "search":
                pane.action_search()
            else:
                pane.show_view(view, focus=True)

        entries: list[Entry] = [
            ("Page: comparison of the libraries", partial(show, "comparison"), "sortable table"),
            ("Page: which library? (chooser)", partial(show, "chooser"), "the four questions"),
            (
                "Search the pages",
                partial(show, "search"),
                "full-text search",
            ),
        ]
        for library, page in pane.pages.items():
            entries.append(
                (
                    f"Page: {page.title}",
                    partial(app.open_page, library),
                    "what the guide says, and what changed since",
                )
            )
        return entries


class PageTextCommands(Provider):
    """Search the text of every knowledge page; a hit opens the page at its heading."""

    #: Shortest query searched: one or two letters match nearly every line.
    MIN_QUERY = 3
    MAX_HITS = 12

    async def search(self, query: str) -> Hits:
        """Page lines holding every word of the query, headings first."""
        if len(query.strip()) < self.MIN_QUERY:
            return
        from content.knowledge import load_pages, search
        from tui.widgets.knowledge_pane import plain_snippet

        def library_page_hits() -> list[SearchHit]:
            # The Knowledge pane opens the library pages; the credit page is shown beneath them.
            openable = {page.id for page in load_pages()}
            return [hit for hit in search(query) if hit.page_id in openable]

        app = cast("MltuiApp", self.app)
        hits = await asyncio.to_thread(library_page_hits)
        for rank, hit in enumerate(hits[: self.MAX_HITS]):
            title = f"{hit.page_title} > {hit.heading}"
            yield Hit(
                # Keep content.knowledge's order (headings first, then page order).
                1.0 - rank / (self.MAX_HITS + 1),
                title,
                partial(app.open_page, hit.page_id, hit.anchor or None),
                help=plain_snippet(hit.snippet)[:120],
            )


class SampleCommands(_ListProvider):
    """Run any sample."""

    async def make_entries(self) -> list[Entry]:
        """One entry per sample, and one to run them all."""
        from tui.widgets.run_pane import RunPane

        app = self.mltui
        pane = cast(RunPane, await app.pane("run"))
        await pane.samples_loaded.wait()
        entries: list[Entry] = [
            (f"Run sample: {name}", partial(app.run_sample, name), "in the current interpreter")
            for name in pane.samples
        ]

        def run_all() -> None:
            app.action_show_pane("run")
            pane.action_run_all()

        entries.append(("Run all samples", run_all, "one after another"))
        return entries


class InterpreterCommands(_ListProvider):
    """Switch the interpreter to a discovered environment."""

    async def make_entries(self) -> list[Entry]:
        """One entry per discovered environment, and the picker itself."""
        app = self.mltui
        entries: list[Entry] = [
            ("Switch interpreter...", app.action_switch_interpreter, "list or type a path"),
        ]
        try:
            environments = await asyncio.to_thread(app.services.discover_environments)
        except Exception:  # the palette still offers the picker
            environments = []
        for env in environments:
            python = str(getattr(env, "python", ""))
            label = (
                f"Use Python {getattr(env, 'version', '?')}: {getattr(env, 'name', '') or python}"
            )
            entries.append((label, partial(app.switch_target_path, python), python))
        return entries
