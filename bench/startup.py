"""How long `mltui` takes from launch to its first complete screen, against a bare Textual app.

Both are launched the same way: a fresh process of this interpreter in a pseudo-terminal
(140x45), timed from just before the launch to a milestone the app appends to
$MLTUI_BENCH_READY_FILE after the frame that shows it is painted (tui/bench_marks.py):

  bare   bench/_bare_app.py, one Static: its first frame
  cold   `mltui` with an empty cache: first frame with the hardware reading drawn
         (goal: <= 1.5x bare)
  warm   `mltui` with a saved check in MLTUI_CACHE_DIR: the hardware and every library's
         cached result drawn (goal: <= 0.5 s)

Runs are interleaved (bare, cold, warm, bare, ...) so a change in machine load hits all three;
medians are reported. Each run is quit with `q` and its process tree killed before the next.

    .venv/bin/python bench/startup.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pty import PtyProgram, cpus, load_average, median, wait_for_marks

from probes.check import run_check_sync
from probes.target import current_target
from tui.bench_marks import BENCH_READY_FILE_ENV

RATIO_GOAL = 1.5
WARM_GOAL_S = 0.5
BARE_APP = Path(__file__).resolve().parent / "_bare_app.py"


def _mltui_argv() -> list[str]:
    script = Path(sys.executable).parent / "mltui"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main())"]


def _launch(argv: list[str], env: dict[str, str], wanted: set[str], scratch: Path) -> float:
    """Seconds from launch to the last of the wanted milestones."""
    marks_file = scratch / f"marks-{time.monotonic_ns()}.txt"
    run_env = {**env, BENCH_READY_FILE_ENV: str(marks_file)}
    program = PtyProgram(argv, run_env)
    try:
        marks = wait_for_marks(str(marks_file), wanted, timeout_s=60)
    except TimeoutError as exc:
        raise SystemExit(f"{' '.join(argv)}: {exc}\nscreen tail: {program.tail[-500:]!r}") from None
    finally:
        program.stop()
    return max(marks[name] for name in wanted) - program.started


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 0 (goals are reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="mltui-bench-startup-") as tmp:
        scratch = Path(tmp)
        base_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        base_env.pop("NO_COLOR", None)
        cold_cache = scratch / "cold-cache"
        warm_cache = scratch / "warm-cache"
        warm_cache.mkdir()
        # The warm start shows a real, complete check of this interpreter, saved beforehand.
        os.environ["MLTUI_CACHE_DIR"] = str(warm_cache)
        run_check_sync(current_target(), timeout=300)
        cold_env = {**base_env, "MLTUI_CACHE_DIR": str(cold_cache)}
        warm_env = {**base_env, "MLTUI_CACHE_DIR": str(warm_cache)}
        saved = list(warm_cache.glob("check-*.json"))
        if not saved:
            raise SystemExit("could not save a check for the warm start")
        saved_check = saved[0].read_bytes()

        bare_argv = [sys.executable, str(BARE_APP)]
        mltui_argv = _mltui_argv()
        runs: dict[str, list[float]] = {"bare": [], "cold": [], "warm": []}
        # One untimed round: the first launch after a while reads everything from disk.
        _launch(bare_argv, base_env, {"ready"}, scratch)
        _launch(mltui_argv, warm_env, {"ready", "hardware", "libraries"}, scratch)
        for _ in range(args.repeat):
            runs["bare"].append(_launch(bare_argv, base_env, {"ready"}, scratch))
            shutil.rmtree(cold_cache, ignore_errors=True)
            runs["cold"].append(_launch(mltui_argv, cold_env, {"ready", "hardware"}, scratch))
            # The app re-checks in the background and may have replaced the saved check.
            for path in warm_cache.glob("check-*.json"):
                path.write_bytes(saved_check)
            runs["warm"].append(
                _launch(mltui_argv, warm_env, {"ready", "hardware", "libraries"}, scratch)
            )
            time.sleep(0.3)

    medians = {kind: median(times) for kind, times in runs.items()}
    ratio = medians["cold"] / medians["bare"]
    warm_ratio = medians["warm"] / medians["bare"]
    figures = {
        "cpus": cpus(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "repeat": args.repeat,
        "median_s": {kind: round(t, 3) for kind, t in medians.items()},
        "runs_s": {kind: [round(t, 3) for t in times] for kind, times in runs.items()},
        "ratio_cold_to_bare": round(ratio, 3),
        "ratio_goal": RATIO_GOAL,
        "ratio_meets_goal": ratio <= RATIO_GOAL,
        "warm_s": round(medians["warm"], 3),
        "ratio_warm_to_bare": round(warm_ratio, 3),
        "warm_goal_s": WARM_GOAL_S,
        "warm_meets_goal": medians["warm"] <= WARM_GOAL_S,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['cpus']} CPUs, load average {load_before} before, "
        f"{figures['load_average_after']} after; median of {args.repeat} interleaved runs"
    )
    print(f"  bare Textual app, first frame             {medians['bare']:6.3f} s")
    print(f"  mltui, first frame with hardware (cold)   {medians['cold']:6.3f} s")
    print(f"  mltui, hardware + cached libraries (warm) {medians['warm']:6.3f} s")
    verdict = "PASS" if ratio <= RATIO_GOAL else "MISS"
    print(f"start-up ratio cold / bare: {ratio:.2f} (goal <= {RATIO_GOAL:g})  {verdict}")
    verdict = "PASS" if medians["warm"] <= WARM_GOAL_S else "MISS"
    print(
        f"warm start: {medians['warm']:.3f} s = {warm_ratio:.2f}x bare "
        f"(goal <= {WARM_GOAL_S:g} s)  {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
