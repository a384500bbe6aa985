"""The launchers `mltui fleet` knows, by name: adding one is one module plus one line here.

A launcher module defines a `LauncherKind` (its name, the command-line words that choose and
configure it, and how to build its `Launcher` from the parsed words) and registers it with
`register_launcher`; `LAUNCHER_MODULES` below lists the modules to load. The CLI and the
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


_KINDS: dict[str, LauncherKind] = {}


def register_launcher(kind: LauncherKind) -> LauncherKind:
    """Make `kind` known (called once by its module); a second kind of one name is a bug."""
    known = _KINDS.get(kind.name)
    if known is not None and known is not kind:
        raise ValueError(f"two launchers named {kind.name!r}")
    _KINDS[kind.name] = kind
    return kind


def launcher_kinds() -> list[LauncherKind]:
    """Every registered launcher, in LAUNCHER_MODULES order (the modules are loaded here)."""
    for module in LAUNCHER_MODULES:
        importlib.import_module(module)
    order = {module: index for index, module in enumerate(LAUNCHER_MODULES)}
    return sorted(_KINDS.values(), key=lambda kind: order.get(kind.build.__module__, len(order)))


def launcher_kind(name: str) -> LauncherKind:
    """The registered launcher called `name` (KeyError when there is none)."""
    launcher_kinds()
    return _KINDS[name]
