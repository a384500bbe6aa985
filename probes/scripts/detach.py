"""Start a command detached from its caller, then exit: `python detach.py LOG ARGV...`.

The command gets a session of its own (a kill of the caller's process group, or the caller's
terminal going away, does not reach it), stdin on /dev/null, stdout on /dev/null and stderr
appended to LOG, and no other inherited descriptor. This launcher exits as soon as the command
is started; its caller waits for it, so nobody's zombie is left behind: the command becomes the
child of init, which reaps it. Exit status: 0 started, 2 bad usage, 1 the command could not be
started. Standard library only (run by mltui's own interpreter with -I -S).
"""

import os
import subprocess
import sys


def main(argv):
    """Start argv[1:] with its stderr in argv[0]; return this launcher's exit status."""
    if len(argv) < 2:
        sys.stderr.write("usage: detach.py LOG COMMAND [ARG...]\n")
        return 2
    log_path, command = argv[0], argv[1:]
    try:
        log = open(log_path, "ab")  # noqa: SIM115 - closed below, once the command has its copy
    except OSError:
        log = open(os.devnull, "wb")  # noqa: SIM115
    try:
        with log:
            subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                close_fds=True,
                start_new_session=True,
            )
    except OSError as exc:
        sys.stderr.write("detach.py: cannot start %s: %s\n" % (command[0], exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
