"""Data collection for mltui: the machine, the NVIDIA GPUs, and each ML library in the target
interpreter. Plain dataclasses out (see `probes.model`); no Textual, no Rich, and no ML library is
ever imported here: those are examined by standalone scripts in `probes/scripts/` run as
subprocesses."""

__version__ = "0.1.0"
