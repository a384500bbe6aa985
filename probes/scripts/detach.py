"""Start a command detached from its caller, then exit: `python detach.py LOG ARGV...`.

The command gets a session of its own (a kill of the caller's process group, or the caller's
terminal going away, does not reach it), stdin on /dev/null, stdout on /dev/null and stderr
appended to LOG, and no other inherited descriptor. This launcher exits as soon as the command
is started; its caller waits for it, so nobody's zombie is left behind: the command becomes the
child of init, which reaps it. Exit status: 0 started, 2 bad usage, 1 the command could not be
started. Standard library only (run by mltui's own interpreter with -I -S).
"""

import os
import stat
import subprocess
import sys


def open_log(path):
    """The log opened for appending; /dev/null when it cannot be, or when it is a symlink (never
    followed: one planted in the cache folder would have the log land on its target) or not a
    regular file (a FIFO would block)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return open(os.devnull, "wb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return open(os.devnull, "wb")
    return os.fdopen(fd, "ab")


def main(argv):
    """Start argv[1:] with its stderr in argv[0]; return this launcher's exit status."""
    if len(argv) < 2:
        sys.stderr.write("usage: detach.py LOG COMMAND [ARG...]\n")
        return 2
    log_path, command = argv[0], argv[1:]
    log = open_log(log_path)
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
