"""The launchers `mltui fleet` knows, by name: adding one is one module plus one line here.

A launcher module defines `LAUNCHER_KIND`, a `LauncherKind` (its name, the command-line words
that choose and configure it, and how to build its `Launcher` from the parsed words); its line in
`LAUNCHER_MODULES` below registers it (a launcher from elsewhere, a plug-in or a test, calls
`register_launcher` instead). The CLI and the
dashboard's Fleet pane build their argument words and their launcher from `launcher_kinds()`,
and `run_fleet` runs whatever `Launcher` it is given: nothing else names a launcher.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from probes.fleet.launch import Launcher

#: The modules that register a launcher, in the order their options are listed.
LAUNCHER_MODULES: tuple[str, ...] = (
    "probes.fleet.slurm",
    "probes.fleet.ray_launch",
    "probes.fleet.ssh",
)

#: Adds a launcher's words to the fleet parser: (the parser, the mutually exclusive group that
#: holds every launcher's choosing option).
ArgumentAdder = Callable[[argparse.ArgumentParser, argparse._MutuallyExclusiveGroup], None]
#: Builds the launcher from the parsed words (raises FleetError for a bad value).
LauncherBuilder = Callable[[argparse.Namespace], Launcher]


@dataclass(frozen=True)
class LauncherKind:
    """One launcher as the command line knows it."""

    name: str
    #: The `dest` of the option that chooses this launcher (`--slurm` -> "slurm").
    chooser: str
    #: The option as the user types it, for messages: "--hosts FILE".
    usage: str
    add_arguments: ArgumentAdder
    build: LauncherBuilder
    #: `dest`s of options that belong to this launcher only (refused with another one).
    own_options: tuple[str, ...] = ()
    #: What the options are called in a refusal: "a Slurm option".
    label: str = ""


#: Launchers registered at run time (not in LAUNCHER_MODULES), by name.
_KINDS: dict[str, LauncherKind] = {}


def _built_in() -> dict[str, LauncherKind]:
    kinds: dict[str, LauncherKind] = {}
    for module in LAUNCHER_MODULES:
        kind: LauncherKind = importlib.import_module(module).LAUNCHER_KIND
        kinds[kind.name] = kind
    return kinds


def register_launcher(kind: LauncherKind) -> LauncherKind:
    """Make a launcher from outside LAUNCHER_MODULES known; a second of one name is a bug."""
    known = _built_in().get(kind.name) or _KINDS.get(kind.name)
    if known is not None and known is not kind:
        raise ValueError(f"two launchers named {kind.name!r}")
    _KINDS[kind.name] = kind
    return kind


def launcher_kinds() -> list[LauncherKind]:
    """Every launcher: those of LAUNCHER_MODULES in its order, then the registered ones."""
    return [*_built_in().values(), *_KINDS.values()]


def launcher_kind(name: str) -> LauncherKind:
    """The launcher called `name` (KeyError when there is none)."""
    return {kind.name: kind for kind in launcher_kinds()}[name]
