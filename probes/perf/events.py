"""What a perf run reports while it goes on: one small frozen dataclass per kind of news.

The run calls `on_event(event)` from the event loop, except `Sampled`, which comes from the NVML
sampling thread (ten a second per GPU): a receiver that draws must hand it over to its own
thread (the Perf pane posts each event as a Textual message, which is thread-safe). The CLI's
live panel and the Perf pane render them; nothing in probes/ does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from probes.model import NvmlReport
from probes.perf_model import LibraryRun, Measurement, NvmlSample


@dataclass(frozen=True)
class GpusRead:
    """NVML was read before the plan: the GPUs (and their limits) the live strip shows."""

    report: NvmlReport


@dataclass(frozen=True)
class LibraryStarted:
    """A library's load process was started (it imports, then waits for its turn)."""

    library: str


@dataclass(frozen=True)
class Measured:
    """A load process reported one figure (or why it has none)."""

    measurement: Measurement


@dataclass(frozen=True)
class Sampled:
    """The NVML readings of the GPUs under load since the last `Sampled`, by NVML index, oldest
    first (from the sampling thread, about twice a second: five readings of each GPU)."""

    samples: dict[int, list[NvmlSample]]


@dataclass(frozen=True)
class LibraryDone:
    """A library's load process ended: how it went."""

    run: LibraryRun


@dataclass(frozen=True)
class AllReduced:
    """The all-reduce across the GPUs ended with this figure (or its error)."""

    measurement: Measurement


PerfEvent = GpusRead | LibraryStarted | Measured | Sampled | LibraryDone | AllReduced
#: Receives the run's events (see the module's note on threads).
EventCallback = Callable[[PerfEvent], None]
