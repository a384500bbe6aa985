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


class UsageError(Exception):
    """A mistake in how mltui was called; str() is the one-line message (exit `EXIT_USAGE`)."""
