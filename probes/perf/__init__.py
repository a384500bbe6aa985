"""`mltui perf`: does each device deliver the speed it should? Measure, compare, explain.

The load runs as standalone scripts in the target interpreter (`scripts/perf_load.py`, one
process per library; `scripts/perf_allreduce.py`, one process per GPU under a launcher), always
through `probes.process.stream_process`: own process group, a timeout from the `--seconds`
budget, the whole tree killed on cancel. mltui's own process only reads NVML while the load
runs (`NvmlSampler`), so a shortfall can be tied to what the card did.

The package, one concern per module:
- `devices`: the `--device` words and "cuda:N";
- `sampler`: the NVML sampler;
- `load`: the load-process protocol (argv, JSON event lines, how a load ended);
- `judge`: figures against peaks and siblings become verdicts;
- `plan`: what a run will do, decided first; `run`: measure the plan, then judge;
- `events`: what a run reports while it goes on.
The model is `probes.perf_model`; the peaks (GPU and CPU specs) are `probes.peaks`; the extra
NVML fields the peaks need are `probes.nvml.nvml_extras`.
"""

from __future__ import annotations

from probes.perf.devices import PerfUsageError, select_devices
from probes.perf.events import EventCallback
from probes.perf.judge import best_figures
from probes.perf.plan import PerfOptions
from probes.perf.run import run_perf, run_perf_sync
from probes.perf.sampler import NvmlSampler

__all__ = [
    "EventCallback",
    "NvmlSampler",
    "PerfOptions",
    "PerfUsageError",
    "best_figures",
    "run_perf",
    "run_perf_sync",
    "select_devices",
]
