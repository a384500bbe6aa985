"""A process that tries every way out of a run's containment (issue 17, class 6).

Usage: python hopper.py HEARTBEAT WAY. Every generation appends one byte to HEARTBEAT, so a test
sees whether any part of it is still alive (the file stops growing when none is). The ways:

- hop: fork, the parent exits, the child calls setsid; again every 2 ms (the issue's daemon);
- double-fork: the classic daemon (fork, setsid, fork, the middle one exits), then it beats;
- new-pgid: like hop, with setpgid(0, 0) in place of setsid;
- clear-env: execs itself with an empty environment (the run's token gone), then hops;
- rename: execs itself as '[kworker/u8:2]' and renames its thread, then hops;
- deaf: ignores SIGTERM, SIGHUP and SIGINT, then hops.

Standard library only; stdin/stdout/stderr are closed in every generation after the first.
"""

import contextlib
import ctypes
import os
import signal
import sys
import time

BEAT_S = 0.002


def _beat(path):
    with open(path, "ab", buffering=0) as out:
        out.write(b".")


def _detach():
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)


def _hop(path, leave):
    while True:
        if os.fork():
            os._exit(0)
        leave()
        _beat(path)
        time.sleep(BEAT_S)


def main(path, way):
    """Start `way` (see the module's docstring); never returns in the process that stays."""
    if way == "clear-env":
        os.execve(sys.executable, [sys.executable, __file__, path, "hop"], {})
    if way == "rename":
        if len(sys.argv) < 4:
            os.execv(sys.executable, ["[kworker/u8:2]", __file__, path, "rename", "renamed"])
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(15, b"kworker/u8:2", 0, 0, 0)  # PR_SET_NAME
    if way == "deaf":
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
    print("hopping", flush=True)
    _detach()
    if os.fork():
        # The run's first process leaves only once the escapee has beaten, as a real daemon's
        # parent waits for it to start: a containment that kills on the first process's exit
        # must then find something alive to kill (the test's heartbeat proves it was there).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (os.path.exists(path) and os.path.getsize(path)):
            time.sleep(BEAT_S)
        os._exit(0)
    if way == "double-fork":
        if os.fork():
            os._exit(0)
        os.setsid()
        if os.fork():
            os._exit(0)
        while True:
            _beat(path)
            time.sleep(BEAT_S)
    if way == "new-pgid":
        _hop(path, lambda: os.setpgid(0, 0))
    _hop(path, os.setsid)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
