"""The words of `mltui fleet`, shared by the CLI and the dashboard's Fleet pane.

`add_fleet_arguments` puts the common options and each registered launcher's own words
(`probes.fleet.registry`) on a parser; `build_launcher` and `build_command` turn the parsed words
into the `Launcher` and the node command; `parse_fleet_words` does all three for the text typed
into the Fleet pane. This module imports neither the CLI package nor the app, so the pane and
`tui.cli` both use it without closing an import circle.
"""

from __future__ import annotations

import argparse
import math
import shlex
from typing import NoReturn

from probes.arg_types import positive_float, positive_int
from probes.catalog import UnknownLibraryError, parse_library_list
from probes.fleet.launch import (
    DEFAULT_MAX_REPORT_MIB,
    MAX_REPORT_MIB,
    MIB,
    FleetError,
    Launcher,
    NodeCommand,
    parse_remote_mltui,
)
from probes.fleet.registry import LauncherKind, launcher_kinds
from probes.limits import PROBE_TIMEOUT_S, RUN_TIMEOUT_S, SSH_HOST_TIMEOUT_S
from tui.exit_codes import UsageError


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mltui fleet` on `parser`: each launcher's, then the common ones."""
    choose = parser.add_mutually_exclusive_group()
    for kind in launcher_kinds():
        kind.add_arguments(parser, choose)
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument("--schema", action="store_true", help="print the JSON schema and exit")
    parser.add_argument(
        "--perf", action="store_true", help="also run `mltui perf` on each node (throughput)"
    )
    parser.add_argument(
        "--perf-seconds",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="time budget of each node's perf run (default 60 s)",
    )
    parser.add_argument("--only", metavar="LIBS", help="comma-separated libraries to probe")
    parser.add_argument("--gpus", type=positive_int, metavar="N", help="GPUs each node should have")
    parser.add_argument(
        "--remote-mltui",
        metavar="COMMAND",
        default="mltui",
        help="the mltui command on the nodes (ssh, slurm; default: mltui on their PATH)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help=(
            f"time for each host (ssh, default {SSH_HOST_TIMEOUT_S:g} s)"
            f" or the whole run (slurm, ray, {RUN_TIMEOUT_S:g} s)"
        ),
    )
    parser.add_argument(
        "--probe-timeout",
        type=positive_float,
        default=PROBE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"time each library probe may take on a node (default {PROBE_TIMEOUT_S:g} s)",
    )
    parser.add_argument(
        "--max-report-mib",
        type=_report_mib,
        default=float(DEFAULT_MAX_REPORT_MIB),
        metavar="MIB",
        help=(
            "the most read from one node; a larger report makes that node's row say so "
            f"(default {DEFAULT_MAX_REPORT_MIB} MiB)"
        ),
    )


def build_launcher(args: argparse.Namespace) -> Launcher:
    """The launcher the parsed words choose; UsageError on a bad combination or value."""
    kinds = launcher_kinds()
    chosen = [kind for kind in kinds if getattr(args, kind.chooser, None)]
    if not chosen:
        raise UsageError(f"fleet needs a launcher: {_alternatives(kinds)}")
    kind = chosen[0]
    for other in kinds:
        if other is kind:
            continue
        for name in other.own_options:
            if getattr(args, name, None):
                option = "--" + name.replace("_", "-")
                raise UsageError(
                    f"{option} is {other.label}; it does not go with {kind.usage.split()[0]}"
                )
    try:
        return kind.build(args)
    except FleetError as exc:
        raise UsageError(str(exc)) from None


def build_command(args: argparse.Namespace) -> NodeCommand:
    """What each node runs, from the parsed arguments; UsageError when no node could run it."""
    if args.only:
        parse_library_list(args.only)  # an unknown name is a usage error here, not per node
    try:
        command = NodeCommand(
            mltui=parse_remote_mltui(args.remote_mltui),
            only=args.only,
            probe_timeout=args.probe_timeout,
            perf=args.perf,
            perf_seconds=args.perf_seconds,
            max_report_bytes=max(1, math.ceil(args.max_report_mib * MIB)),
        )
    except FleetError as exc:
        raise UsageError(str(exc)) from None
    return command


class _WordsParser(argparse.ArgumentParser):
    """A fleet parser whose usage errors are a FleetError (the pane shows it as one line)."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing and exiting."""
        raise FleetError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """Nothing typed in the pane's line ends the app (argparse would exit)."""
        raise FleetError((message or "not a fleet run").strip())


def parse_fleet_words(text: str) -> tuple[Launcher, NodeCommand, int | None]:
    """The launcher, node command and expected GPUs of `mltui fleet <text>`; FleetError if bad."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FleetError(f"cannot split {text!r}: {exc}") from None
    parser = _WordsParser(prog="fleet", add_help=False)
    add_fleet_arguments(parser)
    args = parser.parse_args(words)
    try:
        return build_launcher(args), build_command(args), args.gpus
    except (UsageError, UnknownLibraryError) as exc:
        raise FleetError(str(exc)) from None


def _report_mib(text: str) -> float:
    """--max-report-mib: above zero and at most MAX_REPORT_MIB (argparse type)."""
    value = positive_float(text)
    if value > MAX_REPORT_MIB:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_REPORT_MIB} MiB: {text!r}")
    return value


def _alternatives(kinds: list[LauncherKind]) -> str:
    """ "--slurm, --ray [ADDRESS] or --hosts FILE" """
    usages = [kind.usage for kind in kinds]
    return usages[0] if len(usages) == 1 else ", ".join(usages[:-1]) + " or " + usages[-1]
