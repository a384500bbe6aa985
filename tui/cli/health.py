"""`mltui health`: this node's verdict for the cluster's health hooks (Slurm, NPD, Prometheus).

Formats (one verdict → exit mapping for all: healthy 0, unhealthy 1, no verdict 2):
- `slurm` (default; Slurm's HealthCheckProgram, a Prolog, NHC): silent when healthy, else one
  line `ERROR: mltui: <reason>`;
- `npd` (a node-problem-detector custom plugin): a short message on stdout;
- `json`: the whole `HealthReport` (`mltui health --schema`).
`--drain` drains $SLURMD_NODENAME on an unhealthy verdict and resumes it when healthy again, only
if mltui drained it (probes.health.slurm). `--prometheus FILE` writes the node_exporter textfile.
`--detach` answers with the previous result at once and refreshes it in the background. A missing
or invalid baseline is a no-verdict report (exit 2) that never drains; bad usage is exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from probes.arg_types import positive_float
from tui.exit_codes import EXIT_OK, UsageError

#: The most seconds finding the target Python may take (a quarter of --timeout when less).
TARGET_TIMEOUT_S = 15.0
#: How old the previous result may be for --detach to answer with it (older: no verdict).
DEFAULT_STALE_AFTER_S = 900.0


def _seconds(text: str) -> float:
    """A number of seconds, zero or more (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more and finite: {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], python_help: str) -> None:
    """Register `mltui health` and its options."""
    from probes.health.run import DEFAULT_DEADLINE_S, DEFAULT_MAX_AGE_S, DEFAULT_PERF_SECONDS

    health = sub.add_parser(
        "health",
        help="this node's verdict against a fleet baseline, for Slurm, NPD and Prometheus",
        description="Judge this node for a cluster's health hook: against a baseline saved by "
        "`mltui fleet … --save-baseline FILE` (a difference is an error), or by its own "
        "findings without one. Exit 0 healthy, 1 unhealthy, 2 no verdict or bad usage.",
    )
    health.add_argument("--python", metavar="PATH", help=python_help, default=argparse.SUPPRESS)
    health.add_argument("--baseline", metavar="FILE", help="the fleet's baseline to compare with")
    health.add_argument(
        "--level",
        choices=["quick", "perf"],
        default="quick",
        help="quick (default): probe what the baseline names, reuse young results; "
        "perf: also a short perf run against the baseline's floor",
    )
    health.add_argument(
        "--format",
        choices=["slurm", "npd", "json"],
        default="slurm",
        help="slurm (default): silent when healthy, else one 'ERROR: mltui: …' line; "
        "npd: node-problem-detector plugin message; json: the whole report",
    )
    health.add_argument(
        "--max-age",
        type=_seconds,
        default=DEFAULT_MAX_AGE_S,
        metavar="S",
        help=f"reuse library results younger than S seconds (default {DEFAULT_MAX_AGE_S:g}; "
        "0: probe every time)",
    )
    health.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_DEADLINE_S,
        metavar="S",
        help=f"deadline of the whole check (default {DEFAULT_DEADLINE_S:g} s; slurmd kills its "
        "health program at 60 s); past it the verdict is unknown",
    )
    health.add_argument(
        "--perf-seconds",
        type=positive_float,
        default=DEFAULT_PERF_SECONDS,
        metavar="S",
        help=f"time of the perf run at --level perf (default {DEFAULT_PERF_SECONDS:g} s)",
    )
    health.add_argument(
        "--drain",
        action="store_true",
        help="drain $SLURMD_NODENAME when unhealthy (Reason='mltui: …'); resume it when healthy "
        "again, only if mltui drained it",
    )
    health.add_argument("--node", metavar="NAME", help="the node's name (default $SLURMD_NODENAME)")
    health.add_argument("--slurm-conf", metavar="FILE", help="slurm.conf for scontrol")
    health.add_argument(
        "--scontrol-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="time the scontrol calls of --drain may take together, after the check's deadline "
        "(default 10 s)",
    )
    health.add_argument(
        "--prometheus", metavar="FILE", help="also write the node_exporter textfile FILE (.prom)"
    )
    health.add_argument(
        "--detach",
        action="store_true",
        help="answer with the previous result at once; refresh it in the background",
    )
    health.add_argument(
        "--stale-after",
        type=positive_float,
        default=DEFAULT_STALE_AFTER_S,
        metavar="S",
        help=f"with --detach: a previous result older than S is no verdict "
        f"(default {DEFAULT_STALE_AFTER_S:g})",
    )
    health.add_argument(
        "--schema",
        nargs="?",
        const="report",
        choices=["report", "baseline"],
        help="print the JSON schema of --format json (or of a baseline file) and exit",
    )
    health.add_argument("--refresh-only", action="store_true", help=argparse.SUPPRESS)


def cmd_health(args: argparse.Namespace) -> int:
    """Run `mltui health` with parsed arguments; returns the exit status."""
    from probes.health.model import BaselineError, baseline_schema, health_schema, load_baseline
    from probes.target import resolve_target

    if args.schema:
        schema = baseline_schema() if args.schema == "baseline" else health_schema()
        print(json.dumps(schema, indent=2))
        return EXIT_OK
    given_node = args.node or os.environ.get("SLURMD_NODENAME")
    if args.drain and not given_node:
        raise UsageError(
            "--drain needs the node's name: $SLURMD_NODENAME (slurmd sets it) or --node NAME"
        )
    started = time.monotonic()
    scontrol = _scontrol(args, given_node, started) if args.drain else None
    node = given_node or socket.gethostname()
    # Part of the deadline: a Python that hangs (a stalled NFS venv) took 15 s on top of it.
    target = resolve_target(
        getattr(args, "python", None), timeout=min(TARGET_TIMEOUT_S, args.timeout / 4)
    )
    run = _Run(args, node, target, scontrol, started)
    if args.detach:
        return run.detached()
    baseline = None
    if args.baseline:
        try:
            baseline = load_baseline(args.baseline)
        except BaselineError as exc:
            return run.finish(run.no_verdict(str(exc)), drain=False)
    if args.refresh_only:
        return run.refresh(baseline)
    return run.finish(asyncio.run(run.check(baseline)))


def _scontrol(args: argparse.Namespace, node: str | None, started: float) -> Any:
    """scontrol for --drain; its calls together end within --scontrol-timeout after the check's
    deadline (40 + 10 s by default: the whole run ends before slurmd's kill at 60 s)."""
    from probes.health.slurm import SCONTROL_TIMEOUT_S, Scontrol, find_scontrol

    program = find_scontrol()
    if program is None:
        raise UsageError("--drain needs scontrol: not on PATH nor in /usr/bin, /usr/local/bin, …")
    timeout = args.scontrol_timeout or SCONTROL_TIMEOUT_S
    return Scontrol(
        node or "",
        program=program,
        slurm_conf=args.slurm_conf,
        timeout=timeout,
        end_by=started + args.timeout + timeout,
    )


class _Run:
    """One `mltui health` call: the check, then the contract's output, drain and textfile."""

    def __init__(
        self, args: argparse.Namespace, node: str, target: Any, scontrol: Any, started: float
    ) -> None:
        from probes.health.state import state_key, state_paths

        self.args = args
        self.node = node
        self.target = target
        self.scontrol = scontrol
        #: time.monotonic() when the call began: --timeout counts from it (finding the target
        #: Python included), so the run ends before slurmd's kill whatever took the time.
        self.started = started
        self.paths: tuple[Path, Path, Path] | None = None
        key = state_key(target.executable, args.baseline, args.level, target.prefix)
        with contextlib.suppress(OSError):
            self.paths = state_paths(key)

    async def check(self, baseline: Any) -> Any:
        """The health report of this node now."""
        from probes.health.run import HealthOptions, run_health

        options = HealthOptions(
            baseline=baseline,
            baseline_path=os.path.abspath(self.args.baseline) if self.args.baseline else None,
            level=self.args.level,
            max_age_s=self.args.max_age,
            deadline_s=max(1.0, self.args.timeout - (time.monotonic() - self.started)),
            perf_seconds=self.args.perf_seconds,
            node=self.node,
        )
        return await run_health(self.target, options)

    def no_verdict(self, why: str) -> Any:
        """A report without a verdict (a missing baseline, no earlier result)."""
        from probes.health.verdict import judge

        report = judge(None, None, node=self.node, level=self.args.level, extra_unknown=[why])
        report.baseline = self.args.baseline
        return report

    def finish(
        self, report: Any, *, drain: bool = True, keep: bool = True, quiet: bool = False
    ) -> int:
        """Drain/resume (when asked, and `drain`); keep the result as the previous one and write
        the textfile (when `keep`: not for an answer given from the previous result); print."""
        from tui.health_contracts import VERDICT_EXIT

        if drain and self.scontrol is not None:
            from probes.health.slurm import apply_verdict
            from tui.health_contracts import contract_line

            outcome = apply_verdict(self.scontrol, report.verdict, contract_line(report.reason))
            report.drain = f"{outcome.action}: {outcome.detail}"
            if outcome.action == "failed":
                print(f"mltui: --drain: {contract_line(outcome.detail)}", file=sys.stderr)
        if keep and self.paths is not None:
            from probes.health.state import save_health

            try:
                save_health(self.paths[0], report)
            except OSError as exc:
                print(f"mltui: cannot keep the result: {exc.strerror or exc}", file=sys.stderr)
        if keep:
            self._textfile(report)
        if not quiet:
            self._print(report)
        return VERDICT_EXIT[report.verdict]

    def _textfile(self, report: Any) -> None:
        if not self.args.prometheus:
            return
        from probes.health.state import write_atomic
        from tui.health_contracts import contract_line, prometheus_text

        try:
            # node_exporter reads one folder: a folder made for a typo would never be read.
            write_atomic(Path(self.args.prometheus), prometheus_text(report), make_folder=False)
        except OSError as exc:
            where = contract_line(self.args.prometheus)
            print(f"mltui: --prometheus {where}: {exc.strerror or exc}", file=sys.stderr)

    def _print(self, report: Any) -> None:
        from probes.model import to_json
        from tui.health_contracts import npd_message, slurm_line

        fmt = self.args.format
        if fmt == "json":
            sys.stdout.write(to_json(report, indent=2) + "\n")
        elif fmt == "npd":
            print(npd_message(report))
        else:
            line = slurm_line(report)
            if line is not None:
                print(line)

    def refresh(self, baseline: Any) -> int:
        """The background refresh of --detach: under the lock, quiet; a second one ends at once."""
        from probes.health.state import refresh_lock
        from tui.health_contracts import VERDICT_EXIT, contract_line

        if self.paths is None:
            return self.finish(asyncio.run(self.check(baseline)), quiet=True)
        try:
            with refresh_lock(self.paths[1]) as got:
                if not got:
                    return EXIT_OK
                return self.finish(asyncio.run(self.check(baseline)), quiet=True)
        except OSError as exc:
            print(f"mltui: no refresh: {contract_line(str(exc))}", file=sys.stderr)
            return VERDICT_EXIT["unknown"]

    def detached(self) -> int:
        """Answer with the previous result now; start a refresh unless one is running."""
        from probes.health.state import load_health, lock_taken, spawn_detached
        from tui.health_contracts import contract_line

        if self.paths is None:
            raise UsageError("--detach needs mltui's cache folder to keep results in")
        result, lock, log = self.paths
        saved = load_health(result)
        started = ""
        try:
            taken = lock_taken(lock)
        except OSError as exc:
            taken = True
            started = f"; no background check: its lock file cannot be used ({exc})"
            print(f"mltui: --detach: {contract_line(started[2:])}", file=sys.stderr)
        if not taken:
            try:
                spawn_detached(self._refresh_argv(), log)
                started = "; a check was started in the background"
            except OSError as exc:
                started = f"; the background check could not start ({exc})"
        if saved is None:
            report = self.no_verdict("no earlier result yet" + (started or "; a check is running"))
        elif saved.age_s > self.args.stale_after:
            report = self.no_verdict(
                f"the last result is {saved.age_s:.0f} s old (more than {self.args.stale_after:g})"
                + started
            )
        else:
            report = saved.report
        return self.finish(report, drain=False, keep=False)

    def _refresh_argv(self) -> list[str]:
        args = self.args
        argv = [sys.executable, "-m", "tui.cli", "health", "--refresh-only"]
        argv += ["--python", self.target.executable, "--level", args.level]
        argv += ["--max-age", repr(args.max_age), "--timeout", repr(args.timeout)]
        argv += ["--perf-seconds", repr(args.perf_seconds), "--node", self.node]
        if args.baseline:
            argv += ["--baseline", os.path.abspath(args.baseline)]
        if args.prometheus:
            argv += ["--prometheus", os.path.abspath(args.prometheus)]
        if args.drain:
            argv.append("--drain")
            if args.slurm_conf:
                argv += ["--slurm-conf", os.path.abspath(args.slurm_conf)]
            if args.scontrol_timeout:
                argv += ["--scontrol-timeout", repr(args.scontrol_timeout)]
        return argv


def save_fleet_baseline(report: Any, path: str) -> str | None:
    """Save the baseline of a fleet run to `path` (`mltui fleet … --save-baseline`).

    Returns None when saved (a line on stderr says what it holds), else the one-line reason.
    """
    from probes.health.baseline import NoBaselineError, save_baseline
    from tui.health_contracts import contract_line

    try:
        baseline = save_baseline(report, path)
    except NoBaselineError as exc:
        return f"--save-baseline {contract_line(path)}: {exc}"
    except OSError as exc:
        return f"--save-baseline {contract_line(path)}: {exc.strerror or exc}"
    floors = f", {len(baseline.perf_floors)} perf floors" if baseline.perf_floors else ""
    print(
        f"mltui: baseline of {baseline.nodes} nodes saved to {contract_line(path)} "
        f"({len(baseline.facts)} subjects{floors})",
        file=sys.stderr,
    )
    for words in baseline.undecided:
        print(f"mltui: baseline leaves out {contract_line(words)}", file=sys.stderr)
    return None
