"""Whether a library build can use an NVIDIA GPU at all: the ONE answer the headline and the
diagnosis give.

A build is "CPU-only" when it says so (`is_cuda_build` false: torch's +cpu wheel,
tensorflow-cpu) and also when TensorFlow's Linux wheel, a CUDA build, is installed without the
CUDA libraries it loads from pip wheels (`pip install tensorflow` instead of
`tensorflow[and-cuda]`): it then lists no GPU and computes on the CPU, a known state with a known
fix, not a GPU that failed. The probe reports the nvidia-cudnn-cu* wheels it finds
(`build["cuda_wheels"]`); an old probe without that field is never called CPU-only by it.
"""

from __future__ import annotations

from probes.model import LibraryReport


def cpu_only_reason(lib: LibraryReport) -> str | None:
    """Why `lib` cannot use a GPU ("CPU build", "CUDA libraries not installed"), or None."""
    build = lib.build
    if build.get("is_cuda_build") is False:
        return "CPU build"
    if (
        lib.name == "tensorflow"
        and build.get("is_cuda_build") is True
        and build.get("gpus_listed") == 0
        and build.get("cuda_wheels") == []
    ):
        return "CUDA libraries not installed"
    return None


def is_cpu_only(lib: LibraryReport) -> bool:
    """True when `lib` is a build that cannot use a GPU (see `cpu_only_reason`)."""
    return cpu_only_reason(lib) is not None
