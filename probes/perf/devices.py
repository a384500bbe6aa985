"""Which devices a perf run measures: the `--device` words, and "cuda:N" ↔ NVML index N."""

from __future__ import annotations

import re
from collections.abc import Sequence

from probes.model import GpuInfo


class PerfUsageError(ValueError):
    """A bad --device (or other) value; str() is the one-line message for the user."""


# ------------------------------------------------------------------------- device selection


def select_devices(spec: str | None, gpus: Sequence[GpuInfo]) -> list[str]:
    """The devices a `--device` value names: "all" (default), "cpu", "cuda", "cuda:N", "N", lists.

    On a machine with GPUs "all" means every GPU plus the CPU baseline.
    """
    indices = [g.index for g in gpus]
    chosen: list[str] = []
    parts = ("all" if spec is None else spec).split(",")
    if not any(part.strip() for part in parts):
        raise PerfUsageError(
            f"--device {spec!r} names no device: use all, cpu, cuda, cuda:N or N (or a list)"
        )
    for part in parts:
        word = part.strip().lower()
        if not word:
            continue
        if word == "all":
            chosen += ["cpu", *(f"cuda:{i}" for i in indices)]
        elif word == "cpu":
            chosen.append("cpu")
        elif word in ("cuda", "gpu"):
            if not indices:
                raise PerfUsageError("no NVIDIA GPU here for --device cuda (NVML sees none)")
            chosen += [f"cuda:{i}" for i in indices]
        else:
            match = re.fullmatch(r"(?:cuda:|gpu:)?(\d+)", word)
            if match is None:
                raise PerfUsageError(
                    f"unknown device {part.strip()!r}: use all, cpu, cuda, cuda:N or N"
                )
            index = int(match.group(1))
            if index not in indices:
                have = ", ".join(map(str, indices)) or "none"
                raise PerfUsageError(f"no GPU {index} (NVML sees GPUs: {have})")
            chosen.append(f"cuda:{index}")
    return list(dict.fromkeys(chosen))


def gpu_index(device: str) -> int | None:
    """3 for "cuda:3" and for its MIG instance "cuda:3/mig:1", None for "cpu"."""
    match = re.match(r"cuda:(\d+)", device)
    return int(match.group(1)) if match else None
