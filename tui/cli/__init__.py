"""The `mltui` command line: the dashboard by default, and one-shot subcommands for scripts.

Each subcommand's work lives in its own module of this package (`check`, `run`, `knowledge`,
`dashboard`), imported only when that command runs, so `mltui check` never pays for Textual.
Errors a user can cause end here as one line on stderr and exit status 2; never a traceback. The
exit statuses live in `tui.exit_codes`, which the subcommands import instead of this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from probes.arg_types import positive_float as _positive_float
from probes.catalog import GUIDE_LIBRARIES, UnknownLibraryError
from probes.limits import PROBE_TIMEOUT_S
from probes.target import TargetError
from tui.exit_codes import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    exit_status_help,
    perf_exit_status_help,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `mltui` and all its subcommands."""
    from probes import __version__
    from tui.cli.output import OneLineParser

    parser: argparse.ArgumentParser = OneLineParser(
        prog="mltui",
        description="What hardware is here, which ML libraries can use it, do they run,\n"
        "and which library fits the job.",
        epilog=exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mltui {__version__}")
    python_help = "the Python interpreter (or environment folder) to probe and run samples in"
    parser.add_argument("--python", metavar="PATH", help=python_help)
    parser.add_argument(
        "--refresh",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="hardware refresh interval of the dashboard (default 1 s)",
    )
    parser.add_argument("--ascii", action="store_true", help="draw with plain ASCII only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="probe the machine and every library, print a report")
    check.add_argument("--python", metavar="PATH", help=python_help, default=argparse.SUPPRESS)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--format",
        choices=["text", "json", "md"],
        default=None,
        help="text (default), json (as --json), or md: Markdown to paste into a bug report",
    )
    check.add_argument("--only", metavar="LIBS", help="comma-separated libraries to probe")
    check.add_argument(
        "--timeout",
        type=_positive_float,
        default=PROBE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"time allowed to each library probe (default {PROBE_TIMEOUT_S:g} s)",
    )
    check.add_argument("--schema", action="store_true", help="print the JSON schema and exit")

    run = sub.add_parser("run", help="run a library's sample (or 'all', or a script path)")
    run.add_argument("names", nargs="*", metavar="SAMPLE", help="sample names, 'all', or a path")
    run.add_argument("--python", metavar="PATH", help=python_help, default=argparse.SUPPRESS)
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="time allowed to each sample (default 300 s)",
    )
    run.add_argument(
        "--raw",
        action="store_true",
        help="pass the sample's output through unchanged (its colours and control sequences); "
        "by default control sequences are shown as visible \\xNN text",
    )

    perf = sub.add_parser(
        "perf",
        help="measure each device's speed against its peak, and say why it falls short",
        epilog=perf_exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    perf.add_argument("--python", metavar="PATH", help=python_help, default=argparse.SUPPRESS)
    perf.add_argument(
        "--device",
        metavar="DEVICES",
        help="all (default), cpu, cuda, cuda:N or N, comma-separated",
    )
    perf.add_argument(
        "--seconds",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="time budget of the whole run (default 60 s)",
    )
    perf.add_argument("--json", action="store_true", help="print the result as JSON")
    perf.add_argument(
        "--force", action="store_true", help="also measure GPUs that other processes are using"
    )
    perf.add_argument("--schema", action="store_true", help="print the JSON schema and exit")

    envs = sub.add_parser("envs", help="list the Python environments on this machine")
    envs.add_argument("--json", action="store_true", help="print as JSON")

    guide = ", ".join(spec.display_name for spec in GUIDE_LIBRARIES)
    compare = sub.add_parser("compare", help=f"the comparison table of the guide's {guide}")
    compare.add_argument("--json", action="store_true", help="print as JSON")

    info = sub.add_parser("info", help="a library's page from the guide")
    info.add_argument("library", help="sklearn, theano, caffe, torch, tensorflow or jax")
    info.add_argument(
        "--source", action="store_true", help="also print the sample's source (at the end)"
    )

    choose = sub.add_parser(
        "choose", help="which library fits me? (the guide's four questions, and existing code)"
    )
    # Its help lists each question's answers, read from the content only when it is shown.
    from tui.cli.choose_help import ChooseParser

    choose.__class__ = ChooseParser
    choose.add_argument("--python", metavar="PATH", help=python_help, default=argparse.SUPPRESS)
    choose.add_argument("--level", help="confidence with ML fundamentals")
    choose.add_argument("--kind", help="classic ML or deep learning")
    choose.add_argument("--application", help="what the library is for")
    choose.add_argument("--hardware", help="extra hardware or scaling to bigger data")
    choose.add_argument(
        "--existing", help="existing code in an unmaintained library (default: none, new work)"
    )
    choose.add_argument("--json", action="store_true", help="print as JSON")
    choose.add_argument("--no-probe", action="store_true", help="do not check this machine")
    choose.add_argument(
        "--facts", action="store_true", help="quote the page fact behind each reason in full"
    )

    _add_fleet_parser(sub)
    from tui.cli.health import add_parser as add_health_parser

    add_health_parser(sub, python_help)

    content = sub.add_parser("content", help="knowledge content tools")
    content_sub = content.add_subparsers(dest="content_command", metavar="ACTION")
    content_check = content_sub.add_parser("check", help="validate the knowledge pages")
    content_check.add_argument("--root", help="content folder to check (default: the bundled)")
    content_check.add_argument(
        "--today", help="date that dated claims are aged against, YYYY-MM-DD (default: today)"
    )
    return parser


def _add_fleet_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="run the check on many nodes (Slurm, Ray or SSH) and show what differs",
        description="Run `mltui check --json` on many nodes through Slurm, Ray or SSH, then "
        "one row per node and the skew between them. Exit 1 when a node failed, differs "
        "from the others or has an error finding.",
    )
    from tui.fleet_args import add_fleet_arguments

    add_fleet_arguments(fleet)
    fleet.add_argument(
        "--save-baseline",
        metavar="FILE",
        help="save what the majority of nodes have as a baseline for `mltui health`",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mltui` console script; returns the exit status."""
    from tui.cli import output

    problem = output.prepare_streams()
    output.route_rich_broken_pipe()
    parser = build_parser()
    args = parser.parse_args(argv)
    if problem is None:
        from probes.replay import replay_problem

        problem = replay_problem()  # a bad MLTUI_REPLAY file: one line, before anything runs
        if problem is not None:
            from tui.safe_text import inert_line

            problem = inert_line(problem)  # it quotes the recording's own text
    if problem is not None:
        print(f"mltui: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is not None:
        # The dashboard installs its own (it must give the terminal back before it exits).
        from tui.session_end import install_for_command

        install_for_command()
    try:
        status = _dispatch(parser, args)
        output.flush_stdout()
        return status
    except (UsageError, TargetError, UnknownLibraryError) as exc:
        print(f"mltui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mltui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly, as head's writers do.
        output.silence_stdout()
        return output.EXIT_BROKEN_PIPE
    except OSError as exc:
        failure = output.write_failure(exc)
        if failure is None:
            raise
        output.silence_stdout()
        print(f"mltui: {failure}", file=sys.stderr)
        return EXIT_USAGE


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    command = args.command
    if command == "check":
        from tui.cli.check import cmd_check

        return cmd_check(args)
    if command == "run":
        from tui.cli.run import cmd_run

        return cmd_run(args)
    if command == "perf":
        from tui.cli.perf import cmd_perf

        return cmd_perf(args)
    if command == "envs":
        from tui.cli.run import cmd_envs

        return cmd_envs(args)
    if command == "fleet":
        from tui.cli.fleet import cmd_fleet

        return cmd_fleet(args)
    if command == "health":
        from tui.cli.health import cmd_health

        return cmd_health(args)
    if command in ("compare", "info", "choose", "content"):
        from tui.cli import knowledge

        if command == "content" and args.content_command is None:
            raise UsageError("content needs an action: mltui content check")
        return int(getattr(knowledge, f"cmd_{command}")(args))
    from tui.cli.dashboard import cmd_dashboard

    return cmd_dashboard(args)
