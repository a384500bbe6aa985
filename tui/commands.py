"""Command palette (ctrl+p) providers: jump to a pane or page, search the pages, run a sample,
switch interpreter.

The providers read what they list (panes, pages, samples, environments) from the app's registry,
the content and the services, and their entries call the app's verbs (`show_pane`, `open_page`,
`run_sample`, ...): none of them reaches into a pane, so opening the palette builds none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from content.page import ContentError
from tui.panes import KNOWLEDGE_PANE, RUN_PANE
from tui.safe_text import content_for_markup_api, inert_line

if TYPE_CHECKING:
    from content.knowledge import SearchHit
    from tui.app import MltuiApp

#: A palette entry: its title, what choosing it does, and a line of help.
Entry = tuple[str, Callable[[], object], str]


def highlighted(matcher: Matcher, title: str) -> Content:
    """A hit's title as text, the letters the query matched highlighted.

    Textual's own `Matcher.highlight` reads the title as markup: a page's `jax[cuda13]` or a
    sample named `[b]x` would lose its brackets (or raise). Every palette text is shown as text.
    """
    candidate = inert_line(title)
    content = Content(candidate)
    score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    if score:
        for offset in offsets:
            if not candidate[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


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
            yield DiscoveryHit(
                Content(inert_line(title)),
                callback,
                text=inert_line(title),
                help=content_for_markup_api(inert_line(help_text)),
            )

    async def search(self, query: str) -> Hits:
        """Entries matching the query, ranked by the matcher."""
        matcher = self.matcher(query)
        for title, callback, help_text in self.entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    highlighted(matcher, title),
                    callback,
                    text=inert_line(title),
                    help=content_for_markup_api(inert_line(help_text)),
                )


class PaneCommands(_ListProvider):
    """Go to a pane."""

    async def make_entries(self) -> list[Entry]:
        """One entry per pane of the app, and the re-check."""
        app = self.mltui
        entries: list[Entry] = [
            (f"Go to {spec.title}", partial(app.show_pane, spec.id), spec.description)
            for spec in app.panes.values()
        ]
        entries.append(("Re-check libraries", app.action_recheck, "probe every library again"))
        return entries


class PageCommands(_ListProvider):
    """Open any knowledge page (and the comparison and chooser)."""

    async def make_entries(self) -> list[Entry]:
        """One entry per page."""
        from content.knowledge import load_pages

        app = self.mltui
        entries: list[Entry] = [
            (
                "Page: comparison of the libraries",
                partial(app.show_knowledge_view, "comparison"),
                "sortable table",
            ),
            (
                "Page: which library? (chooser)",
                partial(app.show_knowledge_view, "chooser"),
                "the four questions",
            ),
            ("Search the pages", partial(app.show_knowledge_view, "search"), "full-text search"),
        ]
        try:
            pages = await asyncio.to_thread(load_pages)
        except (ContentError, OSError) as exc:  # the Knowledge pane says it in full
            pages = []
            entries.append(
                ("Pages cannot be read", partial(app.show_pane, KNOWLEDGE_PANE), str(exc))
            )
        for page in pages:
            entries.append(
                (
                    f"Page: {page.title}",
                    partial(app.open_page, page.id),
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
                Content(inert_line(title)),
                partial(app.open_page, hit.page_id, hit.anchor or None),
                text=inert_line(title),
                help=content_for_markup_api(inert_line(plain_snippet(hit.snippet)[:120])),
            )


class SampleCommands(_ListProvider):
    """Run any sample."""

    async def make_entries(self) -> list[Entry]:
        """One entry per sample, and one to run them all."""
        app = self.mltui
        unlisted: list[Entry] = []
        try:
            samples = await asyncio.to_thread(app.services.all_samples)
        except OSError as exc:  # the Run pane says it too
            samples = []
            unlisted.append(
                ("Samples cannot be listed", partial(app.show_pane, RUN_PANE), str(exc))
            )
        entries: list[Entry] = unlisted + [
            (
                f"Run sample: {sample.name}",
                partial(app.run_sample, sample.name),
                "in the current interpreter",
            )
            for sample in samples
        ]
        entries.append(("Run all samples", partial(app.run_samples, None), "one after another"))
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
        except OSError as exc:  # the picker is still offered: a path can be typed
            environments = []
            entries.append(
                ("Environments cannot be listed", app.action_switch_interpreter, str(exc))
            )
        for env in environments:
            label = f"Use Python {env.version or '?'}: {env.name or env.python}"
            entries.append((label, partial(app.switch_target_path, env.python), env.python))
        return entries
