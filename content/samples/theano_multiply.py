"""Theano: compile a * b, then call it."""


def lesson():
    """A function computing a * b."""
    import theano
    from theano import tensor

    a = tensor.dscalar("a")
    b = tensor.dscalar("b")
    return theano.function([a, b], a * b)


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# Builds c = a * b from two double-precision symbolic scalars, compiles it with
# theano.function, and checks the compiled function against Python's own arithmetic
# (1.5 * 2.5 = 3.75 and a few more pairs).
#
# Engines. Theano 1.0.5 (the last release) normally compiles its graphs to C. On current Python
# and NumPy 2.x that C code no longer builds (it still uses Python 2 C-API names such as
# PyInt_AsLong), and `import theano` then fails outright. The sample therefore first tries the
# C backend in a throw-away child process; when that fails it says why and runs Theano in its
# pure-Python mode, which needs two settings made before the import (see python_mode_flags):
#   cxx=           no C++ compiler: Theano uses its Python virtual machine and Python op code.
#   blas.ldflags=  no BLAS link flags: otherwise Theano asks numpy.distutils for them, which
#                  crashes with current setuptools ("Compiler.__init__() takes from 1 to 3
#                  positional arguments"). The scalar product needs no BLAS.
# No monkeypatching is needed. `--engine c|python` skips the probe and forces one engine.
#
# Devices: Theano's GPU backend needs pygpu (libgpuarray); without it only the CPU exists and
# `--device cuda` is refused with exit status 2.
#
# Usage: python theano_multiply.py [--device auto|cpu|cuda[:N]] [--engine auto|c|python]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "theano_multiply"
LIBRARY = "theano"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N",))
C_PROBE_TIMEOUT_S = 300

# Run in a child interpreter: compile one tiny graph with the C linker.
C_PROBE = """
import theano
from theano import tensor
x = tensor.dscalar()
double = theano.function([x], x * 2.0, mode=theano.Mode(linker="c"))
assert double(1.5) == 3.0
"""


def installed_version(distribution, module):
    """The installed version, read from package metadata (importing theano compiles C)."""
    try:
        from importlib import metadata

        return metadata.version(distribution)
    except Exception:
        return "unknown (%s)" % module


def visible_nvidia_gpus():
    """How many NVIDIA GPUs the driver lists (Linux), without creating a CUDA context."""
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def choose_device(requested, version):
    """Map --device to a Theano device name (cpu or cudaN), or exit 2 when it is missing."""
    has_gpu_backend = importlib.util.find_spec("pygpu") is not None
    gpus = visible_nvidia_gpus() if has_gpu_backend else 0
    if requested == "auto":
        return "cuda0" if gpus else "cpu"
    if requested == "cpu":
        return "cpu"
    index = int(requested.split(":")[1])
    if not has_gpu_backend:
        message = (
            "Theano's GPU backend needs pygpu (libgpuarray), which is not installed; "
            "%s is unavailable; available: cpu" % requested
        )
    elif index >= gpus:
        message = "%s does not exist: %d NVIDIA GPU(s) visible; available: cpu%s" % (
            requested,
            gpus,
            "".join(", cuda:%d" % i for i in range(gpus)),
        )
    else:
        return "cuda%d" % index
    print(message, file=sys.stderr)
    harness.finish("fail", version, requested, "device", message, harness.EXIT_NO_DEVICE)
    return "cpu"  # not reached


def merged_flags(ours_first, user_flags, ours_last):
    """THEANO_FLAGS text: defaults the user may override, the user's, then forced values."""
    parts = [p for p in [*ours_first, user_flags, *ours_last] if p]
    return ",".join(parts)


def c_backend_failure(base_flags):
    """None when Theano's C backend compiles in a child interpreter, else a short reason."""
    env = dict(os.environ)
    env["THEANO_FLAGS"] = base_flags
    with tempfile.TemporaryDirectory(prefix="theano-c-probe-") as scratch:
        # Theano drops its failed C sources into the temp folder: keep them out of /tmp.
        env["TMPDIR"] = scratch
        try:
            probe = subprocess.run(
                [sys.executable, "-c", C_PROBE],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=C_PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return "the C compile took over %d s" % C_PROBE_TIMEOUT_S
    if probe.returncode == 0:
        return None
    return summarise_failure(probe.stdout.decode("utf-8", "replace"), probe.returncode)


def summarise_failure(output, returncode=None):
    """The first C++ compiler error in `output`, else its last line, shortened."""
    compiler_error = re.search(r"error: (.+?)(?:\.\s|$)", output, re.MULTILINE)
    if compiler_error:
        return "C++ compile error: " + compiler_error.group(1).strip()[:160]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return (lines[-1] if lines else "exit status %s" % returncode)[:200]


def main(argv=None):
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("Theano's compiled scalar multiplication.")
    parser.add_argument(
        "--engine",
        choices=("auto", "c", "python"),
        default="auto",
        help="c: Theano's C backend; python: its pure-Python mode; auto: C if it compiles",
    )
    args = parser.parse_args(argv)

    if importlib.util.find_spec("theano") is None:
        print("Theano is not installed in %s" % sys.executable, file=sys.stderr)
        harness.finish(
            "fail",
            "",
            args.device,
            "import theano",
            "Theano not installed",
            harness.EXIT_NO_LIBRARY,
        )
    version = installed_version("Theano", "theano")
    print("library: Theano %s (Python %s)" % (version, sys.version.split()[0]))
    theano_device = choose_device(args.device, version)

    user_flags = os.environ.get("THEANO_FLAGS", "")
    defaults = ["blas.ldflags="]
    forced = ["device=" + theano_device]
    engine = args.engine
    if engine == "auto":
        print("checking whether Theano's C backend compiles here ...", flush=True)
        reason = c_backend_failure(merged_flags(defaults, user_flags, forced))
        if reason is None:
            engine = "c"
            print("engine: C (Theano compiles its graphs to C++)")
        else:
            engine = "python"
            print("Theano's C backend does not compile here: %s" % reason)
            print("engine: pure Python (Theano's Python VM and Python op code)")
    if engine == "python":
        forced.insert(0, "cxx=")
    os.environ["THEANO_FLAGS"] = merged_flags(defaults, user_flags, forced)
    print("THEANO_FLAGS=%s" % os.environ["THEANO_FLAGS"])

    # Expected in pure-Python mode, and not worth a screenful: the no-compiler deprecation
    # warning and the note that BLAS calls go through NumPy.
    warnings.filterwarnings("ignore", message=".*there is no c\\+\\+ compiler")
    logging.getLogger("theano.tensor.blas").setLevel(logging.ERROR)
    try:
        import theano
    except Exception as error:
        reason = summarise_failure(str(error)) if str(error) else type(error).__name__
        print("import theano failed: %s" % reason, file=sys.stderr)
        requested = "cpu" if theano_device == "cpu" else "cuda:" + theano_device[4:]
        harness.finish(
            "fail",
            version,
            requested,
            "import theano (%s engine)" % engine,
            reason,
            harness.EXIT_FAIL,
            engine=engine,
        )

    device = "cpu" if theano.config.device == "cpu" else "cuda:" + theano.config.device[4:]
    print("device: %s (theano.config.device=%s)" % (device, theano.config.device))
    print("linker: %s" % theano.config.linker)

    started = time.perf_counter()
    multiply = lesson()
    compile_seconds = time.perf_counter() - started

    passed, detail = harness.check_products(multiply, compile_seconds)
    harness.finish(
        "pass" if passed else "fail",
        version,
        device,
        "theano.function(a * b) on dscalars equals Python's products, 1.5 * 2.5 == 3.75",
        detail,
        harness.EXIT_PASS if passed else harness.EXIT_FAIL,
        engine=engine,
    )


if __name__ == "__main__":
    harness.run(main)
