"""`mltui check --only torch` against PyTorch's own `python -m torch.utils.collect_env`.

Both answer "what does PyTorch see here" from a cold process of the same interpreter (this
one): mltui runs its CLI, reads the machine and NVML, and probes torch in a subprocess (import,
build, devices, a real matmul); collect_env imports torch and asks it, pip and the system. Each
is run `--repeat` times, interleaved, output discarded; medians of wall time are compared.
Goal: mltui / collect_env <= 1.0. The cache is pointed at a temporary folder.

    .venv/bin/python bench/collect_env.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pty import cpus, load_average, median

GOAL = 1.0


def _mltui_argv() -> list[str]:
    script = Path(sys.executable).parent / "mltui"
    if script.exists():
        return [str(script), "check", "--only", "torch"]
    return [
        sys.executable,
        "-c",
        "import sys; from tui.cli import main; sys.exit(main())",
        "check",
        "--only",
        "torch",
    ]


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - started, done.returncode


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 0 (the goal is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    load_before = load_average()
    collect_argv = [sys.executable, "-m", "torch.utils.collect_env"]
    mltui_argv = _mltui_argv()
    runs: dict[str, list[float]] = {"mltui": [], "collect_env": []}
    codes: dict[str, set[int]] = {"mltui": set(), "collect_env": set()}
    with tempfile.TemporaryDirectory(prefix="mltui-bench-collect-") as tmp:
        env = {**os.environ, "MLTUI_CACHE_DIR": tmp}
        _time(collect_argv, env)  # warm the disk cache for both
        _time(mltui_argv, env)
        for _ in range(args.repeat):
            for name, command in (("collect_env", collect_argv), ("mltui", mltui_argv)):
                took, code = _time(command, env)
                runs[name].append(took)
                codes[name].add(code)

    medians = {name: median(times) for name, times in runs.items()}
    ratio = medians["mltui"] / medians["collect_env"]
    figures = {
        "cpus": cpus(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "repeat": args.repeat,
        "median_s": {name: round(t, 3) for name, t in medians.items()},
        "runs_s": {name: [round(t, 3) for t in times] for name, times in runs.items()},
        "exit_codes": {name: sorted(c) for name, c in codes.items()},
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "meets_goal": ratio <= GOAL,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['cpus']} CPUs, load average {load_before} before, "
        f"{figures['load_average_after']} after; median of {args.repeat} interleaved runs"
    )
    print(f"  python -m torch.utils.collect_env  {medians['collect_env']:6.3f} s")
    print(f"  mltui check --only torch           {medians['mltui']:6.3f} s")
    verdict = "PASS" if ratio <= GOAL else "MISS"
    print(f"ratio mltui / collect_env: {ratio:.2f} (goal <= {GOAL:g})  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
