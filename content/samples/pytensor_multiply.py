"""PyTensor: compile a * b, then run it."""


def lesson(mode=None):
    """A function computing a * b."""
    from pytensor import function
    from pytensor.tensor import dscalar

    a = dscalar("a")
    b = dscalar("b")
    return function([a, b], a * b, mode)


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# The same program as theano_multiply.py: c = a * b from two double-precision symbolic
# scalars, compiled with pytensor.function and checked against Python's own arithmetic
# (1.5 * 2.5 = 3.75 and a few more pairs).
#
# Engines. PyTensor compiles a graph through a "linker": Numba (the default in PyTensor 3 when
# numba is installed), C (Theano's old backend, kept up to date), or plain Python. `--engine`
# picks one; auto uses PyTensor's configured default. The engine that ran is reported.
#
# Devices: PyTensor's own backends run on the CPU (Theano's GPU backend was dropped; GPUs are
# reached through its JAX or PyTorch backends, which this sample does not set up), so
# `--device cuda` is refused with exit status 2.
#
# Usage: python pytensor_multiply.py [--device auto|cpu|cuda[:N]] [--engine auto|numba|c|python]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "pytensor_multiply"
LIBRARY = "pytensor"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N",))

# Linker class name -> engine reported in the verdict.
ENGINE_OF_LINKER = {
    "NumbaLinker": "numba",
    "CLinker": "c",
    "OpWiseCLinker": "c",
    "PerformLinker": "python",
    "JAXLinker": "jax",
    "PytorchLinker": "pytorch",
    "MLXLinker": "mlx",
}


def engine_of(function):
    """Which engine a compiled pytensor function runs on, from its linker."""
    linker = function.maker.linker
    name = type(linker).__name__
    if name in ENGINE_OF_LINKER:
        return ENGINE_OF_LINKER[name]
    if name == "VMLinker":
        # The VM either drives C thunks through its C loop, or Python thunks.
        return "c" if getattr(linker, "use_cloop", False) else "python"
    return name


def compile_mode(engine):
    """The pytensor mode for --engine (None: PyTensor's configured default)."""
    from pytensor.compile.mode import Mode

    if engine == "numba":
        return "NUMBA"
    if engine == "c":
        return Mode(linker="cvm")
    if engine == "python":
        return Mode(linker="py")
    return None


def main(argv=None):
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("PyTensor's compiled scalar multiplication.")
    parser.add_argument(
        "--engine",
        choices=("auto", "numba", "c", "python"),
        default="auto",
        help="the linker that compiles the graph (auto: PyTensor's default)",
    )
    args = parser.parse_args(argv)

    try:
        import pytensor
    except ImportError as error:
        print("PyTensor is not installed in %s (%s)" % (sys.executable, error), file=sys.stderr)
        harness.finish(
            "fail",
            "",
            args.device,
            "import pytensor",
            "PyTensor not installed",
            harness.EXIT_NO_LIBRARY,
        )

    version = pytensor.__version__
    print("library: PyTensor %s (Python %s)" % (version, sys.version.split()[0]))
    if args.device.startswith("cuda"):
        message = (
            "PyTensor's C, Numba and Python backends run on the CPU, so %s is unavailable "
            "to this sample; available: cpu" % args.device
        )
        print(message, file=sys.stderr)
        harness.finish("fail", version, args.device, "device", message, harness.EXIT_NO_DEVICE)
    print("device: cpu (PyTensor's C, Numba and Python backends compute on the CPU)")

    started = time.perf_counter()
    try:
        multiply = lesson(compile_mode(args.engine))
    except Exception as error:
        reason = "%s: %s" % (type(error).__name__, str(error).strip()[:200])
        print("compiling with the %s engine failed: %s" % (args.engine, reason), file=sys.stderr)
        harness.finish(
            "fail",
            version,
            "cpu",
            "pytensor.function (%s engine)" % args.engine,
            reason,
            harness.EXIT_FAIL,
            engine=args.engine,
        )
    compile_seconds = time.perf_counter() - started
    engine = engine_of(multiply)
    print(
        "engine: %s (linker %s, config.mode=%s)"
        % (engine, type(multiply.maker.linker).__name__, pytensor.config.mode)
    )

    passed, detail = harness.check_products(multiply, compile_seconds)
    harness.finish(
        "pass" if passed else "fail",
        version,
        "cpu",
        "pytensor.function(a * b) on dscalars equals Python's products, 1.5 * 2.5 == 3.75",
        detail,
        harness.EXIT_PASS if passed else harness.EXIT_FAIL,
        engine=engine,
    )


if __name__ == "__main__":
    harness.run(main)
