"""Exit statuses of the `mltui` command, and the error that ends a command with a usage status.

This module imports nothing of mltui's, so any subcommand can use it without reaching back into
the command-line entry (`tui.cli`).
"""

from __future__ import annotations

#: Everything went as it should (no error finding, every sample passed).
EXIT_OK = 0
#: The command ran and found a problem: an error finding, a failed sample, an invalid content file.
EXIT_FINDINGS = 1
#: The command was called wrongly (bad arguments, an unknown library, an unusable interpreter).
EXIT_USAGE = 2
#: Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (`| head`): a quiet exit, as a writer killed by SIGPIPE (13).
EXIT_BROKEN_PIPE = 141

#: Every exit status of `mltui`, said once: `--help` prints these lines and README's
#: "Exit status" section holds the same lines (a test compares all three with behaviour).
EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "all clear: each library proved a computation on each device it claims"),
    (EXIT_FINDINGS, "a problem: an error finding, a failed sample, device or node"),
    (EXIT_USAGE, "bad usage: arguments, interpreter, input, or nowhere to write"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C): every process mltui started is killed"),
    (EXIT_BROKEN_PIPE, "the reader went away (| head): a quiet end"),
)


#: What each status means for `mltui perf` in particular: `mltui perf --help` prints these
#: lines and README's command table says the same (a test compares them with behaviour).
PERF_EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "measured, and no device failed, ran incomplete or (a GPU) was slow"),
    (
        EXIT_FINDINGS,
        "a failed device, a slow GPU, an incomplete run (a library timed out or failed), "
        "no device measured, or a result that could not be kept (it is printed all the same)",
    ),
    (EXIT_USAGE, "bad usage: a bad or empty --device, interpreter or cache folder"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C): every load process is killed"),
)


def perf_exit_status_help() -> str:
    """`mltui perf --help`'s epilog: 'exit status:' and one line per status."""
    return "exit status:\n" + "\n".join(
        f"  {code:>3}  {meaning}" for code, meaning in PERF_EXIT_STATUSES
    )


def exit_status_lines() -> list[str]:
    """The exit statuses as lines, for `--help` and README ('  0  all clear: ...')."""
    return [f"  {code:>3}  {meaning}" for code, meaning in EXIT_STATUSES]


def exit_status_help() -> str:
    """The `--help` epilog: 'exit status:' and one line per status."""
    return "exit status:\n" + "\n".join(exit_status_lines())


class UsageError(Exception):
    """A mistake in how mltui was called; str() is the one-line message (exit `EXIT_USAGE`)."""
