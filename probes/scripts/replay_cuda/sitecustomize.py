"""Loads mltui's CUDA stand-in when MLTUI_REPLAY names a recording (replay mode only).

mltui puts this folder first on PYTHONPATH of the programs it starts in the target interpreter
only when MLTUI_REPLAY is set. Python imports `sitecustomize` at start-up: this one arms an
import hook, so that when the program imports torch, the real (CPU) torch presents the recorded
GPUs (see mltui_replay_cuda.py). Nothing is imported before the program imports torch. Another
sitecustomize later on the path (the environment's own) still runs. Standard library only,
Python >= 3.8.
"""

import importlib.util
import os
import sys


def _run_next_sitecustomize():
    """Run the sitecustomize this one shadows, if the environment has one."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        try:
            if os.path.abspath(entry or ".") == here:
                continue
        except (TypeError, ValueError):
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location(
                "_mltui_shadowed_sitecustomize", candidate
            )
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                try:
                    spec.loader.exec_module(module)
                except Exception as exc:  # the environment's own hook: report, never stop
                    sys.stderr.write("sitecustomize %s failed: %s\n" % (candidate, exc))
            return


if os.environ.get("MLTUI_REPLAY"):
    try:
        import mltui_replay_cuda

        mltui_replay_cuda.arm()
    except Exception as exc:
        sys.stderr.write("mltui replay: CUDA stand-in not loaded: %s\n" % exc)
_run_next_sitecustomize()
