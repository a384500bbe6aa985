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
Besides the wall clock, each milestone carries the CPU seconds the process had used by then: on a
machine shared with other work the CPU figure moves far less than the wall clock.

`--baseline DIR` also times the mltui in DIR (a copy of another commit, e.g. from `git archive`,
put first on PYTHONPATH) in the same rounds, for a before/after of one run.

    .venv/bin/python bench/startup.py [--repeat 7] [--baseline DIR] [--json]
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
COLD = {"ready", "hardware"}
WARM = {"ready", "hardware", "libraries"}


def warm_env_extra(warm_cache: Path) -> dict[str, str]:
    """The environment of a warm start: the cache folder holding the saved check."""
    return {"MLTUI_CACHE_DIR": str(warm_cache)}


def _mltui_argv() -> list[str]:
    script = Path(sys.executable).parent / "mltui"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main())"]


def _launch(
    argv: list[str], env: dict[str, str], wanted: set[str], scratch: Path
) -> tuple[float, float]:
    """Seconds from launch to the last of the wanted milestones, and CPU seconds used by then."""
    marks_file = scratch / f"marks-{time.monotonic_ns()}.txt"
    run_env = {**env, BENCH_READY_FILE_ENV: str(marks_file)}
    program = PtyProgram(argv, run_env)
    cpu: dict[str, float] = {}
    try:
        marks = wait_for_marks(str(marks_file), wanted, timeout_s=60, cpu=cpu)
    except TimeoutError as exc:
        raise SystemExit(f"{' '.join(argv)}: {exc}\nscreen tail: {program.tail[-500:]!r}") from None
    finally:
        program.stop()
    last = max(wanted, key=lambda name: marks[name])
    return marks[last] - program.started, max(cpu.get(name, 0.0) for name in wanted)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 0 (goals are reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--baseline", metavar="DIR", help="also time the mltui tree in DIR, in the same rounds"
    )
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
        saved = list(warm_cache.glob("check-*.json"))
        if not saved:
            raise SystemExit("could not save a check for the warm start")
        saved_check = saved[0].read_bytes()

        bare_argv = [sys.executable, str(BARE_APP)]
        mltui_argv = _mltui_argv()
        trees = {"": base_env}
        if args.baseline:
            old = str(Path(args.baseline).resolve())
            trees["baseline "] = {**base_env, "PYTHONPATH": old}
        kinds = ["bare"] + [f"{tree}{kind}" for tree in trees for kind in ("cold", "warm")]
        runs: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}

        def record(kind: str, timing: tuple[float, float]) -> None:
            runs[kind].append(timing[0])
            cpu[kind].append(timing[1])

        # One untimed round: the first launch after a while reads everything from disk.
        _launch(bare_argv, base_env, {"ready"}, scratch)
        for env in trees.values():
            _launch(mltui_argv, {**env, **warm_env_extra(warm_cache)}, WARM, scratch)
        for round_number in range(args.repeat):
            record("bare", _launch(bare_argv, base_env, {"ready"}, scratch))
            # The trees take turns at going first, so neither always follows the bare app.
            order = list(trees.items())
            if round_number % 2:
                order.reverse()
            for tree, env in order:
                shutil.rmtree(cold_cache, ignore_errors=True)
                cold = {**env, "MLTUI_CACHE_DIR": str(cold_cache)}
                record(f"{tree}cold", _launch(mltui_argv, cold, COLD, scratch))
                # The app re-checks in the background and may have replaced the saved check.
                for path in warm_cache.glob("check-*.json"):
                    path.write_bytes(saved_check)
                warm = {**env, **warm_env_extra(warm_cache)}
                record(f"{tree}warm", _launch(mltui_argv, warm, WARM, scratch))
                time.sleep(0.3)

    medians = {kind: median(times) for kind, times in runs.items()}
    cpu_medians = {kind: median(times) for kind, times in cpu.items()}
    ratio = medians["cold"] / medians["bare"]
    warm_ratio = medians["warm"] / medians["bare"]
    figures = {
        "cpus": cpus(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "repeat": args.repeat,
        "baseline": args.baseline,
        "median_s": {kind: round(t, 3) for kind, t in medians.items()},
        "median_cpu_s": {kind: round(t, 3) for kind, t in cpu_medians.items()},
        "ratio_to_bare": {kind: round(t / medians["bare"], 2) for kind, t in medians.items()},
        "cpu_ratio_to_bare": {
            kind: round(t / cpu_medians["bare"], 2) for kind, t in cpu_medians.items()
        },
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
    labels = {
        "bare": "bare Textual app, first frame",
        "cold": "mltui, first frame with hardware (cold)",
        "warm": "mltui, hardware + cached libraries (warm)",
    }
    print(f"  {'':48s} {'wall':>7s} {'ratio':>6s} {'CPU':>7s} {'ratio':>6s}")
    for kind in kinds:
        tree, _, base_kind = kind.rpartition(" ")
        label = (f"{tree}: " if tree else "") + labels[base_kind]
        print(
            f"  {label:48s} {medians[kind]:6.3f}s {medians[kind] / medians['bare']:5.2f}x "
            f"{cpu_medians[kind]:6.3f}s {cpu_medians[kind] / cpu_medians['bare']:5.2f}x"
        )
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
