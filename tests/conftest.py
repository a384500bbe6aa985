"""Shared fixtures, and how the suite is spread over pytest-xdist workers.

The helpers the fixtures use (fixed readings, the canned check, `make_services`, `wait_for`) live
in tests/support.py, which bench/ and docs/ import too.

`make test` runs the suite with `-n auto --dist loadgroup`. Tests without a group are dealt out
one by one; two kinds of module run whole on one worker instead (see `xdist_group_of`):
- a module whose tests share a module- or session-scoped fixture of its own (a real check, every
  sample's run, a fresh venv), so that fixture is set up once, not once per worker or interleave;
- every module that starts a real engine (sshd, Slurm, Ray) with tests/fleet_engines.py, i.e.
  imports a name from it, joins one group, "engines", so no two engines run at once: one munged
  and one Ray cluster per machine, free ports picked without racing another worker, one
  slurmctld's state at a time.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import make_services
from tui.services import Services

#: The terminal every test (and every program it starts) runs under, whatever the host's: a UTF-8
#: locale and a colour xterm of no fixed size. A test about another (LANG=C, TERM=dumb, NO_COLOR)
#: sets that itself. Without this, a host with LANG=C or NO_COLOR set changes what mltui prints
#: (ASCII instead of box drawing, no colour) and the tests that read it fail there only.
TEST_TERMINAL = {"LANG": "C.UTF-8", "TERM": "xterm-256color"}
HOST_TERMINAL_VARIABLES = (
    "LC_ALL",
    "LC_CTYPE",
    "NO_COLOR",
    "FORCE_COLOR",
    "COLUMNS",
    "LINES",
    "TEXTUAL_COLOR_SYSTEM",
)

#: The module that starts the real engines; the test modules that use it share one worker.
ENGINES_MODULE = "tests.fleet_engines"
ENGINE_GROUP = "engines"
#: Fixture scopes whose set-up a module's tests share.
SHARED_SCOPES = frozenset({"module", "package", "session"})


def pytest_configure(config: pytest.Config) -> None:
    """Every test sees the same terminal, whatever the host's (in each xdist worker too)."""
    for name in HOST_TERMINAL_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(TEST_TERMINAL)


def _own_shared_fixtures(item: pytest.Item) -> bool:
    """Whether `item` uses a module/package/session-scoped fixture defined in its own module."""
    module_id = item.nodeid.split("::", 1)[0]
    definitions = getattr(item, "_fixtureinfo", None)
    for defs in getattr(definitions, "name2fixturedefs", {}).values():
        fixture = defs[-1]
        if fixture.scope in SHARED_SCOPES and fixture.baseid == module_id:
            return True
    return False


def _uses_engines(module: ModuleType | None) -> bool:
    """Whether a test module imports something from the engines module (tests/fleet_engines.py)."""
    names = vars(module).values() if module is not None else ()
    return any(getattr(value, "__module__", None) == ENGINES_MODULE for value in names)


def xdist_group_of(items: list[pytest.Item]) -> dict[str, str]:
    """The xdist group of each test module that must run whole on one worker (by module id)."""
    by_module: dict[str, list[pytest.Item]] = defaultdict(list)
    for item in items:
        by_module[item.nodeid.split("::", 1)[0]].append(item)
    groups = {}
    for module_id, module_items in by_module.items():
        if _uses_engines(getattr(module_items[0], "module", None)):
            groups[module_id] = ENGINE_GROUP
        elif any(_own_shared_fixtures(item) for item in module_items):
            groups[module_id] = module_id
    return groups


def _start_rank(group: str | None) -> int:
    """Where a test's unit of work goes in an xdist run: the engines, then the other whole
    modules (each a long unit: a real check, every sample), then the single tests."""
    if group == ENGINE_GROUP:
        return 0
    return 1 if group is not None else 2


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of modules that must run whole on one worker with their xdist group.

    tryfirst: xdist's own hook turns the marks into the node ids its scheduler reads. In an xdist
    worker the long units also go first (xdist deals units out in collection order): started
    last, one would keep a worker busy after the other has run out of work.
    """
    groups = xdist_group_of(items)
    for item in items:
        group = groups.get(item.nodeid.split("::", 1)[0])
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _start_rank(groups.get(item.nodeid.split("::", 1)[0])))


@pytest.fixture
def services() -> Services:
    """Deterministic services over the H100 fixture."""
    return make_services()


@pytest.fixture
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLTUI_CACHE_DIR, so a test never reads or writes the user's cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MLTUI_CACHE_DIR", str(folder))
    return folder
