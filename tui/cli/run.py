"""`mltui run` and `mltui envs`: run samples with their output streamed to the terminal, and
list the Python environments on this machine. Plain terminal output (Rich), no dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from probes.envs import PythonEnvironment, discover_environments, environments_json
from probes.model import TargetPython
from probes.process import LineBatch
from probes.runner import RunResult, SampleRef, list_samples, resolve_sample, run_many
from probes.target import resolve_target
from tui.cli.console import SIMPLE_HEAD, make_console
from tui.cli.layout import fill
from tui.exit_codes import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tui.presentation import MUTED, SUCCESS, WARNING, duration, run_status_style
from tui.safe_text import inert_line, inert_lines, safe_assemble, safe_text

EXIT_FAILED = EXIT_FINDINGS
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_CLEAR_LINE = "\r\x1b[2K"


class TerminalEcho:
    """Writes a child's lines as they come: stdout to stdout, stderr (dimmed) to stderr.

    On a terminal a `\\r` update rewrites the line in place; elsewhere (a pipe, a log file, a
    terminal that says TERM=dumb and so takes no escape sequence) every update is a line of its
    own. The newline of the latest line is held back until the next line shows whether that one
    replaces it. The child's text is made inert (`tui.safe_text`) unless `raw` is set, which
    passes it through unchanged (its own colours included).
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, raw: bool = False
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.raw = raw
        self._dumb = os.environ.get("TERM") == "dumb"
        self._tty = self.out.isatty() and not self._dumb
        self._open: TextIO | None = None  # the stream whose last line has no newline yet

    def __call__(self, batch: LineBatch) -> None:
        stream = self.out if batch.stream == "stdout" else self.err
        dim = batch.stream == "stderr" and stream.isatty() and not self._dumb
        texts = batch.texts if self.raw else inert_lines(batch.texts)
        if dim:
            texts = [_DIM + t + _RESET for t in texts]
        if not self._tty:
            # Off a terminal an update cannot rewrite a line: every line is printed, at once.
            stream.write("\n".join(texts) + "\n")
            stream.flush()
            return
        if not batch.replacing:
            self._write(stream, "\n".join(texts), replace=False)
            return
        for index, text in enumerate(texts):
            self._write(stream, text, replace=index in batch.replacing)

    def _write(self, stream: TextIO, text: str, *, replace: bool) -> None:
        if self._open is not None:
            if replace and self._open is stream:
                stream.write(_CLEAR_LINE)
            else:
                self._open.write("\n")
                self._open.flush()
        stream.write(text)
        stream.flush()
        self._open = stream

    def end(self) -> None:
        """Finish the last line (call when the run ends)."""
        if self._open is not None:
            self._open.write("\n")
            self._open.flush()
            self._open = None


def _target(args: argparse.Namespace) -> TargetPython:
    return resolve_target(getattr(args, "python", None))


def _selected_samples(names: Sequence[str]) -> list[SampleRef]:
    """The samples named, 'all' expanded, in order, without repeats; unknown names raise."""
    chosen: list[SampleRef] = []
    for name in names:
        refs = list_samples() if name.strip().lower() == "all" else [resolve_sample(name)]
        for ref in refs:
            if ref.path not in [c.path for c in chosen]:
                chosen.append(ref)
    return chosen


def _print_sample_list(console: Console) -> None:
    table = Table(title="Samples", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("library")
    table.add_column("script")
    for ref in list_samples():
        script = ref.path if ref.exists else f"{ref.path} (missing)"
        table.add_row(safe_text(ref.name), safe_text(ref.display_name), safe_text(script))
    console.print(table)


def summary_totals(results: Sequence[RunResult]) -> str:
    """'8 samples: 6 pass, 1 fail, 1 error in 43.1 s' (the counts in the order met)."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    each = ", ".join(f"{count} {status}" for status, count in counts.items())
    total = sum(result.elapsed_s for result in results)
    samples = "sample" if len(results) == 1 else "samples"
    return f"{len(results)} {samples}: {each or 'none run'} in {duration(total)}"


def summary_table(results: Sequence[RunResult], target: TargetPython) -> Table:
    """The end-of-run table: one row per sample, the totals under it.

    The short columns never wrap; the detail (the engine, then what the sample said) gets the
    rest of the width and at least DETAIL_MIN_WIDTH, so at 80 columns it is not squeezed to a
    sliver.
    """
    table = Table(
        title=safe_text(f"Samples run in {target.executable} (Python {target.version})"),
        title_justify="left",
        caption=safe_text(summary_totals(results)),
        caption_justify="left",
        caption_style="bold",
        box=SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("sample", "status", "device", "elapsed", "exit"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=DETAIL_MIN_WIDTH, ratio=1)
    for result in results:
        exit_text = result.signal_name or (
            "-" if result.returncode is None else str(result.returncode)
        )
        device = result.used_device or result.device
        detail = f"{result.engine}: {result.summary}" if result.engine else result.summary
        table.add_row(
            safe_text(result.name),
            safe_text(result.status, style=run_status_style(result.status, strong=True)),
            safe_text(device),
            duration(result.elapsed_s),
            safe_text(exit_text),
            safe_text(detail),
        )
    return table


#: The narrowest the run summary's detail column gets (at 80 columns it had 16).
DETAIL_MIN_WIDTH = 40


async def _run_all(
    target: TargetPython,
    samples: Sequence[SampleRef],
    args: argparse.Namespace,
    console: Console,
    cancel: asyncio.Event,
) -> list[RunResult]:
    echo = TerminalEcho(raw=bool(getattr(args, "raw", False)))
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        cancel.set()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        installed = True

    def on_start(ref: SampleRef) -> None:
        console.rule(safe_text(f"{ref.name}  ·  {ref.path}", style="bold"), align="left")

    def on_result(result: RunResult) -> None:
        echo.end()
        style = run_status_style(result.status, strong=True)
        console.print(
            safe_assemble(
                (f"{result.name}: {result.status}", style),
                f"  ({duration(result.elapsed_s)}) {result.summary}",
            )
        )

    try:
        return await run_many(
            target,
            samples,
            device=args.device,
            timeout=float(args.timeout),
            on_start=on_start,
            on_lines=echo,
            on_result=on_result,
            cancel=cancel,
        )
    finally:
        echo.end()
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def cmd_run(args: argparse.Namespace) -> int:
    """`mltui run NAME...`: stream each sample's output, then a summary table.

    Exit 0 when every sample passed, 1 when any did not, 2 for a usage error, 130 after Ctrl-C
    (which kills the running sample's process tree and skips the rest).
    """
    console = make_console()
    names = list(getattr(args, "names", None) or [])
    if not names:
        _print_sample_list(console)
        print(
            "usage: mltui run SAMPLE... | all | SCRIPT.py  [--device auto|cpu|cuda[:N]]",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from probes.nvml import cuda_device_problem

    wrong_device = cuda_device_problem(str(args.device))
    if wrong_device is not None:
        print(f"mltui: {wrong_device}", file=sys.stderr)
        return EXIT_USAGE
    samples = _selected_samples(names)
    target = _target(args)
    cancel = asyncio.Event()
    try:
        results = asyncio.run(_run_all(target, samples, args, console, cancel))
    except KeyboardInterrupt:
        # Only where no SIGINT handler could be installed; the tree is killed on the way out.
        console.print(Text("interrupted", style=WARNING))
        return EXIT_INTERRUPTED
    console.print()
    console.print(summary_table(results, target))
    if cancel.is_set():
        skipped = len(samples) - len(results)
        note = f"; {skipped} not run" if skipped else ""
        console.print(Text(f"interrupted: the running sample was killed{note}", style=WARNING))
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def environments_lines(envs: Sequence[PythonEnvironment], width: int = 80) -> list[Text]:
    """A block per environment: its name, kind and Python; its path whole on a line of its own;
    the libraries it has, filled to the width ("torch 2.13.0" kept together).

    Nothing is cut inside: a path longer than the line is left for the terminal to wrap softly,
    so it still copies whole.
    """
    lines = [Text(f"Python environments ({len(envs)})", style="bold"), Text()]
    for env in envs:
        lines.append(
            Text.assemble(
                (inert_line(env.name), "bold"),
                f"  {inert_line(env.kind)}, Python {inert_line(env.version or '?')}",
            )
        )
        lines.append(Text("  " + inert_line(env.prefix)))
        libraries = [
            f"{inert_line(lib)} {inert_line(env.libraries[lib])}," for lib in env.installed
        ]
        if libraries:
            libraries[-1] = libraries[-1].rstrip(",")
        if libraries:
            lines += [Text("  " + line, style=SUCCESS) for line in fill(libraries, width - 2)]
        else:
            lines.append(Text("  no ML library of the guide", style=MUTED))
        lines.append(Text())
    return lines


def cmd_envs(args: argparse.Namespace) -> int:
    """`mltui envs`: the Python environments found on this machine (read from disk only)."""
    envs = discover_environments()
    # A reader that goes away (`| head`) is handled once for every command (tui.cli.output).
    if getattr(args, "json", False):
        print(environments_json(envs), flush=True)
    else:
        console = make_console()
        for line in environments_lines(envs, console.width):
            console.print(line, soft_wrap=True)
    return EXIT_OK
