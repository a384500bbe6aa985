"""What the dashboard costs while it sits there: CPU over 30 s at a 1 s refresh, and memory.

`mltui --refresh 1` runs in a pseudo-terminal (140x45) with an empty cache, so it checks the
libraries at start; once the check is drawn (and a few seconds more, for the probes to be gone),
its CPU time is read from outside with psutil over `--seconds`, and its resident memory at the
end. The probes are children that have exited by then; any process still below the app is
listed, and not counted. The baseline is the bare Textual app of bench/startup.py, running over
the very same interval. Goals: CPU < 2 % of one core, RSS <= 90 MB.

    .venv/bin/python bench/idle.py [--seconds 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from _pty import PtyProgram, cpus, load_average, wait_for_marks

from tui.bench_marks import BENCH_READY_FILE_ENV

CPU_GOAL_PERCENT = 2.0
RSS_GOAL_MB = 90.0
MB = 1024 * 1024
BARE_APP = Path(__file__).resolve().parent / "_bare_app.py"


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _mltui_argv() -> list[str]:
    script = Path(sys.executable).parent / "mltui"
    if script.exists():
        return [str(script), "--refresh", "1"]
    return [
        sys.executable,
        "-c",
        "import sys; from tui.cli import main; sys.exit(main())",
        "--refresh",
        "1",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 0 (goals are reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the measurement")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the check")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mltui-bench-idle-") as tmp:
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "MLTUI_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        marks = str(Path(tmp) / "marks.txt")
        app = PtyProgram(_mltui_argv(), {**env, BENCH_READY_FILE_ENV: marks})
        bare = PtyProgram(
            [sys.executable, str(BARE_APP)], {**env, BENCH_READY_FILE_ENV: marks + ".bare"}
        )
        try:
            # "libraries" is drawn when the fresh check is done (the cache was empty).
            wait_for_marks(marks, {"ready", "hardware", "libraries"}, timeout_s=300)
            wait_for_marks(marks + ".bare", {"ready"}, timeout_s=60)
            time.sleep(args.settle)
            app_proc = psutil.Process(app.proc.pid)
            bare_proc = psutil.Process(bare.proc.pid)
            load_before = load_average()
            children_before = [p.pid for p in app_proc.children(recursive=True)]
            app_cpu, bare_cpu = _cpu_s(app_proc), _cpu_s(bare_proc)
            started = time.monotonic()
            time.sleep(args.seconds)
            took = time.monotonic() - started
            app_cpu = _cpu_s(app_proc) - app_cpu
            bare_cpu = _cpu_s(bare_proc) - bare_cpu
            app_mem = app_proc.memory_full_info()
            bare_mem = bare_proc.memory_full_info()
            children = app_proc.children(recursive=True)
            children_rss = sum(p.memory_info().rss for p in children if p.is_running())
            threads = app_proc.num_threads()
        finally:
            app.stop()
            bare.stop()

    app_percent = 100.0 * app_cpu / took
    bare_percent = 100.0 * bare_cpu / took
    rss_mb = app_mem.rss / MB
    figures = {
        "cpus": cpus(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "seconds": round(took, 2),
        "cpu_percent_of_one_core": {"mltui": round(app_percent, 2), "bare": round(bare_percent, 2)},
        "cpu_ratio_to_bare": round(app_percent / bare_percent, 2) if bare_percent else None,
        "rss_mb": {"mltui": round(rss_mb, 1), "bare": round(bare_mem.rss / MB, 1)},
        "uss_mb": {"mltui": round(app_mem.uss / MB, 1), "bare": round(bare_mem.uss / MB, 1)},
        "rss_ratio_to_bare": round(app_mem.rss / bare_mem.rss, 2),
        "threads": threads,
        "children_at_start_of_measure": children_before,
        "children_at_end": [p.pid for p in children],
        "children_rss_mb": round(children_rss / MB, 1),
        "cpu_goal_percent": CPU_GOAL_PERCENT,
        "rss_goal_mb": RSS_GOAL_MB,
        "cpu_meets_goal": app_percent < CPU_GOAL_PERCENT,
        "rss_meets_goal": rss_mb <= RSS_GOAL_MB,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['cpus']} CPUs, load average {load_before} at the start, "
        f"{figures['load_average_after']} at the end; {took:.1f} s at a 1 s refresh"
    )
    print(
        f"  CPU: mltui {app_percent:.2f} % of one core, bare Textual app {bare_percent:.2f} % "
        f"({figures['cpu_ratio_to_bare']}x)"
    )
    print(
        f"  RSS: mltui {rss_mb:.1f} MB (USS {app_mem.uss / MB:.1f} MB, {threads} threads), "
        f"bare {bare_mem.rss / MB:.1f} MB ({figures['rss_ratio_to_bare']}x); "
        f"processes below mltui: {len(children)} ({children_rss / MB:.1f} MB, not counted)"
    )
    verdict = "PASS" if app_percent < CPU_GOAL_PERCENT else "MISS"
    print(f"idle CPU {app_percent:.2f} % (goal < {CPU_GOAL_PERCENT:g} %)  {verdict}")
    verdict = "PASS" if rss_mb <= RSS_GOAL_MB else "MISS"
    print(f"resident memory {rss_mb:.1f} MB (goal <= {RSS_GOAL_MB:g} MB)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
