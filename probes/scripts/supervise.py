"""Run a command and take its whole process group down when mltui dies: the direct child of mltui.

Usage (by probes.process only): python -I -S supervise.py PARENT_PID TOKEN, with COMMAND as a
JSON list in the environment variable MLTUI_SUPERVISED_ARGV (kept off this process's command line,
so that `ps` and process counts show COMMAND once; removed before COMMAND starts).

mltui starts this script as the leader of a new session and process group, with Linux's
parent-death signal set to SIGHUP (prctl, between fork and exec). The script starts COMMAND in
the same group and waits for it, then exits the way COMMAND did (the same exit status, or the
same signal), so mltui sees COMMAND's outcome.

When mltui dies, even by SIGKILL, the kernel sends this script SIGHUP (and a watch on the parent
pid catches the case where the signal was set too late or is not available): the script then
kills the run's cgroup (MLTUI_RUN_CGROUP, when mltui made one: probes/containment.py), or sweeps
for every process carrying the run's token in its environment until the process table is quiet,
and kills the whole group, itself included. SIGTERM from mltui's own cancel reaches the group as a
whole; this script then waits for COMMAND, so COMMAND's end decides the outcome.

Only the standard library; prints nothing on stdout (that is COMMAND's).
"""

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading

#: Holds COMMAND as a JSON list of strings.
ARGV_VARIABLE = "MLTUI_SUPERVISED_ARGV"
#: Seconds between looks at the parent pid (the fallback for a missed parent-death signal).
PARENT_POLL_S = 0.25


def _load_containment():
    """probes/containment.py, loaded by its path (mltui's package is not importable under -I -S):
    the run's cgroup, and the sweep for its token until the process table is quiet."""
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "containment.py"
    )
    spec = importlib.util.spec_from_file_location("_mltui_containment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


containment = _load_containment()


def _take_down(token, cgroup):
    """Kill the run's escaped descendants, then the whole group (this process included).

    With the run's cgroup, its kill takes everything at once (this process too, last). Without
    one, the token is swept until the process table is quiet, then the group is killed.
    """
    if cgroup is None:
        containment.sweep_token(token)
    else:
        containment.RunCgroup(cgroup).kill()
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGKILL)
    os._exit(128 + signal.SIGKILL)


def _watch_parent(parent, token, cgroup):
    while True:
        if os.getppid() != parent:
            _take_down(token, cgroup)
        threading.Event().wait(PARENT_POLL_S)


def _mirror(status):
    """Exit as COMMAND did: its status, or the signal that ended it."""
    if status >= 0:
        os._exit(status)
    signum = -status
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of ours
    except (ImportError, OSError, ValueError):
        pass
    try:
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def main(argv):
    """Start COMMAND, wait for it, mirror its end; take the group down if mltui dies first."""
    try:
        parent, token = int(argv[0]), argv[1]
        command = json.loads(os.environ.pop(ARGV_VARIABLE))
        if not command or not all(isinstance(part, str) for part in command):
            raise ValueError(command)
    except (IndexError, KeyError, ValueError):
        sys.stderr.write("supervise.py: usage: PARENT_PID TOKEN, with %s set\n" % ARGV_VARIABLE)
        return 2
    cgroup = os.environ.pop(containment.CGROUP_VARIABLE, None)
    if cgroup is not None and not os.path.basename(cgroup).startswith(containment.CGROUP_PREFIX):
        cgroup = None  # only a run cgroup mltui made is ever killed
    signal.signal(signal.SIGHUP, lambda signum, frame: _take_down(token, cgroup))
    # The group gets SIGTERM/SIGINT when mltui cancels the run: COMMAND decides how it ends.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    if os.getppid() != parent:  # mltui died before the parent-death signal was armed
        _take_down(token, cgroup)
    threading.Thread(target=_watch_parent, args=(parent, token, cgroup), daemon=True).start()
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        sys.stderr.write("cannot start %s: %s\n" % (command[0], exc.strerror or exc))
        return 127
    while True:
        try:
            status = child.wait()
            break
        except KeyboardInterrupt:
            continue
    _mirror(status)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
