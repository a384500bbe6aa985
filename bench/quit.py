"""How long `q` takes to give the terminal back while the start-up check probes every library
(issue 19.2: "`q` took 2.2 s"), against `q` in a bare Textual app, in the same run.

Each round starts the real `mltui` in a pseudo-terminal (120x40, an empty cache, so the check
probes every library for real) and, once a probe process is running, types `2` and `q` in one
write (the Run pane is being built when `q` comes, as on a first visit). It times `q` until the
terminal is given back (Textual leaves the alternate screen) and until the process has exited,
then counts the processes of its tree (taken just before `q`, probes included) still alive. The
baseline is `q` in bench/_bare_app.py, timed the same way in the same round. Goal: the terminal
back within 200 ms of `q`, and no process left.

    .venv/bin/python bench/quit.py [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pty import PtyProgram, cpus, load_average

from tui.bench_marks import BENCH_READY_FILE_ENV

GOAL_MS = 200.0
MLTUI = Path(sys.executable).parent / "mltui"
BARE_APP = Path(__file__).resolve().parent / "_bare_app.py"
ROOT = Path(__file__).resolve().parent.parent
BUS = ROOT / "tests" / "fixtures" / "sysfs" / "vm_no_display"
#: Textual's "leave the alternate screen": the terminal is the shell's again.
LEAVE_ALT_SCREEN = "\x1b[?1049l"


def _wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.002)  # waits-for: the program's output or its children, polled
    return False


def _quit_once(argv: list[str], env: dict[str, str], wait_for_probe: bool) -> dict[str, float]:
    """Start, wait until ready (and a probe runs), type `2q`; the times from `q`, and the left."""
    marks = Path(env["MLTUI_CACHE_DIR"] + ".marks")
    program = PtyProgram(argv, {**env, BENCH_READY_FILE_ENV: str(marks)}, columns=120, rows=40)
    try:
        ready = _wait(lambda: marks.exists() and "ready" in marks.read_text(), 60)
        if wait_for_probe:  # then its probes, as children of it
            ready = ready and _wait(lambda: len(program.tree()) > 1, 120)
        if not ready:
            raise SystemExit(f"{argv[0]} did not get ready:\n{program.tail}")
        tree = program.tree()
        seen = program.output_bytes
        program.send(b"2q")
        started = time.perf_counter()
        _wait(lambda: program.output_bytes > seen and LEAVE_ALT_SCREEN in program.tail, 30)
        restored = time.perf_counter() - started
        program.proc.wait(timeout=30)
        exited = time.perf_counter() - started
        left = sum(1 for proc in tree[1:] if proc.is_running() and proc.status() != "zombie")
        return {"restored": restored, "exited": exited, "left": float(left)}
    finally:
        program.stop()


def main() -> int:
    """Print the figures (or JSON); 0 when the goal is met and nothing was left running."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    bare: list[dict[str, float]] = []
    during: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mltui-bench-quit-") as tmp:
        for index in range(args.rounds):
            env = {**os.environ, "TERM": "xterm-256color", "MLTUI_PCI_ROOT": str(BUS)}
            env["MLTUI_CACHE_DIR"] = f"{tmp}/{index}"  # no cached check: the probes run
            bare.append(_quit_once([sys.executable, str(BARE_APP)], env, wait_for_probe=False))
            env["MLTUI_CACHE_DIR"] = f"{tmp}/{index}-mltui"
            during.append(_quit_once([str(MLTUI)], env, wait_for_probe=True))

    def median_ms(runs: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(run[key] for run in runs) * 1000, 1)

    result = {
        "restored_median_ms": median_ms(during, "restored"),
        "restored_max_ms": round(max(run["restored"] for run in during) * 1000, 1),
        "exited_median_ms": median_ms(during, "exited"),
        "bare_restored_median_ms": median_ms(bare, "restored"),
        "bare_exited_median_ms": median_ms(bare, "exited"),
        "processes_left": int(sum(run["left"] for run in during)),
        "rounds": args.rounds,
        "load": [load_before, load_average()],
        "cpus": cpus(),
        "goal_ms": GOAL_MS,
    }
    result["ratio"] = round(result["restored_median_ms"] / result["bare_restored_median_ms"], 2)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"q during the check: terminal back in {result['restored_median_ms']} ms median "
            f"(max {result['restored_max_ms']} ms), process gone in "
            f"{result['exited_median_ms']} ms; bare Textual app {result['bare_restored_median_ms']}"
            f" / {result['bare_exited_median_ms']} ms (= {result['ratio']}x); "
            f"{result['processes_left']} processes left; load {load_before} -> "
            f"{result['load'][1]} on {cpus()} CPUs; goal <= {GOAL_MS:g} ms"
        )
    ok = result["restored_median_ms"] <= GOAL_MS and result["processes_left"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
