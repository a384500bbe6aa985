"""How much slower is streaming a flood through mltui's runner than piping it to `cat`?

Runs a generated "sample" that prints a million lines (plus a verdict line) three ways, a few
times each, and prints the medians:

  runner    run_sample() in the current interpreter, every line into an OutputBuffer
  pipe      the same script, same environment, piped to `cat > /dev/null`
  cat file  `cat` of the same lines from a file to /dev/null (no Python at all), and
            the runner's core (stream_process) reading that `cat` into an OutputBuffer

The headline is runner / pipe (goal <= 2): what the runner adds to a program that floods.
`--check` exits 1 when the goal is missed.

    .venv/bin/python bench/stream.py [--lines 1000000] [--repeats 5] [--style block|print]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.process import stream_process
from probes.runner import OutputBuffer, SampleRef, run_environment, run_sample
from probes.target import current_target

GOAL = 2.0

_FLOOD = {
    # A program that writes its output in big pieces: the hardest case for the reader.
    "block": """
import json, sys
LINES = {lines}
write = sys.stdout.write
for start in range(0, LINES, 1000):
    write("".join("flood line %d of the benchmark\\n" % i
                  for i in range(start, min(start + 1000, LINES))))
print(json.dumps({{"verdict": "pass", "sample": "flood", "checked": "%d lines" % LINES}}))
""",
    # A program that print()s line by line, unbuffered, as samples do.
    "print": """
import json
LINES = {lines}
for i in range(LINES):
    print("flood line %d of the benchmark" % i)
print(json.dumps({{"verdict": "pass", "sample": "flood", "checked": "%d lines" % LINES}}))
""",
}


def _median_time(action: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; return 1 under --check when over the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--style", choices=sorted(_FLOOD), default="block")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if the ratio is > {GOAL}")
    args = parser.parse_args(argv)

    target = current_target()
    env = run_environment()
    with tempfile.TemporaryDirectory(prefix="mltui-bench-") as tmp:
        script = Path(tmp) / "flood.py"
        script.write_text(_FLOOD[args.style].format(lines=args.lines), encoding="utf-8")
        lines_file = Path(tmp) / "flood.txt"
        with open(lines_file, "wb") as out:
            subprocess.run([target.executable, str(script)], stdout=out, env=env, check=True)
        sample = SampleRef(name="flood", path=str(script))
        results: dict[str, object] = {}

        def through_runner() -> None:
            buffer = OutputBuffer(5000)
            result = asyncio.run(run_sample(target, sample, buffer=buffer, timeout=600))
            if result.status != "pass" or result.lines_total != args.lines + 1:
                raise SystemExit(f"runner lost lines: {result}")
            results["dropped"] = result.lines_dropped

        def through_cat_pipe() -> None:
            command = f"'{target.executable}' '{script}' | cat > /dev/null"
            subprocess.run(command, shell=True, env=env, check=True)

        def cat_file() -> None:
            with open(os.devnull, "wb") as sink:
                subprocess.run(["cat", str(lines_file)], stdout=sink, check=True)

        def cat_file_through_core() -> None:
            buffer = OutputBuffer(5000)

            async def go() -> None:
                await stream_process(["cat", str(lines_file)], None, on_lines=buffer.extend)

            asyncio.run(go())
            if buffer.total != args.lines + 1:
                raise SystemExit("stream_process lost lines")

        runner, runner_all = _median_time(through_runner, args.repeats)
        pipe, pipe_all = _median_time(through_cat_pipe, args.repeats)
        cat, cat_all = _median_time(cat_file, args.repeats)
        core, core_all = _median_time(cat_file_through_core, args.repeats)

    figures = {
        "lines": args.lines,
        "style": args.style,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "runner_s": round(runner, 4),
        "cat_pipe_s": round(pipe, 4),
        "ratio_runner_to_cat_pipe": round(runner / pipe, 3),
        "cat_file_s": round(cat, 4),
        "core_reading_cat_file_s": round(core, 4),
        "ratio_core_to_cat_file": round(core / cat, 3),
        "all_runs_s": {
            "runner": [round(t, 4) for t in runner_all],
            "cat_pipe": [round(t, 4) for t in pipe_all],
            "cat_file": [round(t, 4) for t in cat_all],
            "core_reading_cat_file": [round(t, 4) for t in core_all],
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        n = f"{args.lines:,}"
        print(f"{n} lines ({args.style} writes), median of {args.repeats}, {os.cpu_count()} CPUs")
        print(f"  runner (run_sample -> OutputBuffer) {runner:8.3f} s")
        print(f"  same script | cat > /dev/null       {pipe:8.3f} s")
        print(f"  cat file > /dev/null                {cat:8.3f} s")
        print(f"  stream_process(cat file) -> buffer  {core:8.3f} s")
        verdict = "PASS" if runner / pipe <= GOAL else "MISS"
        print(f"ratio runner / cat pipe: {runner / pipe:.2f} (goal <= {GOAL:g})  {verdict}")
        print(f"ratio reading cat through the core / cat file: {core / cat:.1f}")
    return 1 if args.check and runner / pipe > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
