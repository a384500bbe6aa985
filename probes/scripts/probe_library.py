"""Probe one ML library in this interpreter: is it installed, how was it built, what devices does it
see, and does a tiny real computation give the right answer on each of them.

Run as `python probe_library.py <id>`, id one of those the @library decorators below register.
Standalone on purpose (stdlib + the library under test, Python >= 3.8 syntax, no mltui import):
mltui runs it in the *target* interpreter, in its own process group, with a timeout.

Output, on stdout, is JSON lines only:
  {"event": "phase", "phase": "import", "t": 0.01}       as each phase starts
  {"event": "partial", "report": {...}}                  what is known so far, after each phase
  {"event": "report", ...LibraryReport fields...}        last line
Everything the library itself prints (C++ logs, compiler errors, warnings) is sent to stderr, so it
cannot corrupt the report.
"""

import contextlib
import faulthandler
import hashlib
import importlib
import importlib.util
import json
import os
import re
import runpy
import shutil
import stat
import sys
import tempfile
import time
import traceback
import warnings

#: The one rule for GPU/MIG UUIDs (mltui_gpu_uuid.py beside this script, read by its path).
_UUIDS = runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "mltui_gpu_uuid.py")
)

# The matmul every device is asked to do, and the answer it must give.
LEFT = [[1.0, 2.0], [3.0, 4.0]]
RIGHT = [[5.0, 6.0], [7.0, 8.0]]
PRODUCT = [[19.0, 22.0], [43.0, 50.0]]

#: id -> (display name, import name, distributions, probe function); each library's entry is made
#: by the @library decorator on its probe function, so this script names every library once.
LIBRARIES = {}


def library(lib_id, display_name, import_name, distributions):
    """Register the decorated function as the probe of `lib_id` (and its names)."""

    def register(function):
        LIBRARIES[lib_id] = (display_name, import_name, tuple(distributions), function)
        return function

    return register


STARTED = time.monotonic()
#: The longest string a report carries; a longer one (a 1 MB exception message, a 20 KB version)
#: is cut here and marked, so the report line stays whole and readable.
MAX_FIELD_CHARS = 16384
CUT_NOTE = " ...[cut by the probe: %d more characters]"


def _bounded(value, depth=0):
    """`value` with every string longer than MAX_FIELD_CHARS cut and marked (recursively)."""
    if isinstance(value, str):
        if len(value) > MAX_FIELD_CHARS:
            return value[:MAX_FIELD_CHARS] + CUT_NOTE % (len(value) - MAX_FIELD_CHARS)
        return value
    if depth > 32:
        return str(value)[:MAX_FIELD_CHARS]
    if isinstance(value, dict):
        return dict((_bounded(k, depth + 1), _bounded(v, depth + 1)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_bounded(v, depth + 1) for v in value]
    return value


class Emitter(object):
    """Writes JSON lines to the real stdout, which libraries can no longer reach."""

    def __init__(self):
        sys.stdout.flush()
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        # From here on, anything written to fd 1 (Python or C level) lands on stderr.
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def emit(self, obj):
        self.out.write(json.dumps(_bounded(obj), default=str) + "\n")
        self.out.flush()


class Probe(object):
    """Collects one library's report while its phases run."""

    def __init__(self, lib_id, emitter):
        display, import_name, distributions, _ = LIBRARIES[lib_id]
        self.emitter = emitter
        self.import_name = import_name
        self.distributions = distributions
        self.report = {
            "name": lib_id,
            "display_name": display,
            "status": "not_installed",
            "version": None,
            "location": None,
            "build": {},
            "devices": [],
            "error": None,
            "elapsed_s": None,
            "phase_timings": {},
        }
        self._phase = None
        self._phase_started = 0.0

    def phase(self, name):
        """Close the running phase (recording its time) and start the next one."""
        self.end_phase()
        self._phase = name
        self._phase_started = time.monotonic()
        self.emitter.emit(
            {"event": "phase", "phase": name, "t": round(time.monotonic() - STARTED, 4)}
        )

    def end_phase(self):
        if self._phase is not None:
            spent = time.monotonic() - self._phase_started
            self.report["phase_timings"][self._phase] = round(spent, 4)
            self._phase = None
            self.emitter.emit({"event": "partial", "report": self.report})

    def device(self, kind, index=None, **fields):
        entry = {
            "kind": kind,
            "index": index,
            "name": None,
            "compute_capability": None,
            "uuid": None,
            "memory_total_bytes": None,
            "computation_ok": None,
            "computation_detail": None,
            "error": None,
        }
        entry.update(fields)
        self.report["devices"].append(entry)
        return entry

    def finish(self):
        self.end_phase()
        if self.report["status"] == "ok":
            failed = [d for d in self.report["devices"] if d["computation_ok"] is False]
            if failed:
                self.report["status"] = "degraded"
                if self.report["error"] is None:
                    first = failed[0]
                    where = (
                        first["kind"]
                        if first["index"] is None
                        else "%s:%s"
                        % (
                            first["kind"],
                            first["index"],
                        )
                    )
                    self.report["error"] = "computation failed on %s: %s" % (
                        where,
                        first["error"] or first["computation_detail"],
                    )
        self.report["elapsed_s"] = round(time.monotonic() - STARTED, 4)
        event = {"event": "report"}
        event.update(self.report)
        self.emitter.emit(event)


# ----------------------------------------------------------------------------------- helpers


def last_line(exc):
    """The exception as one line: its type and the last non-empty line of its message."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    name = type(exc).__name__
    return "%s: %s" % (name, message) if message else name


def distribution_version(distributions):
    """(distribution, version) of the first installed distribution, read without importing."""
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8 is refused by mltui before we get here
        return None, None
    for dist in distributions:
        try:
            return dist, metadata.version(dist)
        except Exception:
            continue
    return None, None


def cudnn_wheels():
    """The nvidia-cudnn-cu* wheels installed (TensorFlow's Linux CUDA build loads cuDNN from
    them: without one, `pip install tensorflow` runs on the CPU only), sorted; [] when none."""
    try:
        from importlib import metadata

        names = set()
        for dist in metadata.distributions():
            name = str(dist.metadata.get("Name") or "").lower().replace("_", "-")
            if name.startswith("nvidia-cudnn-cu"):
                names.add(name)
        return sorted(names)
    except Exception:
        return None


def module_location(spec):
    if spec is None:
        return None
    if spec.submodule_search_locations:
        locations = list(spec.submodule_search_locations)
        if locations:
            return locations[0]
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return os.path.dirname(spec.origin)
    return None


def matches(result, expected=PRODUCT, tolerance=1e-4):
    """True when a nested 2x2 list of numbers equals the expected one within tolerance."""
    try:
        rows = [[float(v) for v in row] for row in result]
    except Exception:
        return False
    if len(rows) != len(expected):
        return False
    for got_row, want_row in zip(rows, expected):  # noqa: B905 - Python 3.8
        if len(got_row) != len(want_row):
            return False
        for got, want in zip(got_row, want_row):  # noqa: B905 - Python 3.8
            if abs(got - want) > tolerance:
                return False
    return True


def fmt(result):
    try:
        return (
            "["
            + ", ".join(
                "[" + ", ".join("%g" % (float(v) + 0.0) for v in row) + "]" for row in result
            )
            + "]"
        )
    except Exception:
        return repr(result)[:200]


def run_computation(entry, what, compute, expected=PRODUCT):
    """Run compute() -> nested list, check it against `expected`, and record it on the device."""
    started = time.monotonic()
    try:
        result = compute()
    except Exception as exc:
        entry["computation_ok"] = False
        entry["error"] = last_line(exc)
        entry["computation_detail"] = "%s raised" % what
        return
    took_ms = (time.monotonic() - started) * 1000.0
    if matches(result, expected):
        entry["computation_ok"] = True
        entry["computation_detail"] = "%s = %s in %.1f ms" % (what, fmt(result), took_ms)
    else:
        entry["computation_ok"] = False
        entry["computation_detail"] = "%s gave %s, expected %s" % (what, fmt(result), fmt(expected))
        entry["error"] = "wrong result"


def cudnn_text(value):
    """cuDNN's integer version (8906 or 90100) as "8.9.6" / "9.1.0"."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    if number >= 90000:
        return "%d.%d.%d" % (number // 10000, (number % 10000) // 100, number % 100)
    return "%d.%d.%d" % (number // 1000, (number % 1000) // 100, number % 100)


def gpu_uuid(raw):
    """The UUID a library reports for a device, as it gave it: CUDA's bare form cannot say a
    whole GPU (NVML's GPU-...) from a MIG instance (MIG-...), so no prefix is invented; mltui
    compares UUIDs with mltui_gpu_uuid.uuid_key."""
    return _UUIDS["uuid_text"](raw)


# ------------------------------------------------------------------------------ per library


@library("sklearn", "scikit-learn", "sklearn", ["scikit-learn"])
def probe_sklearn(probe):
    probe.phase("import")
    import sklearn
    from sklearn.linear_model import LinearRegression

    probe.report["version"] = sklearn.__version__
    probe.phase("devices")
    try:
        dispatch = bool(sklearn.get_config().get("array_api_dispatch", False))
    except Exception:
        dispatch = False
    probe.report["build"] = {"array_api_dispatch": dispatch}
    cpu = probe.device("cpu", name="CPU")
    probe.phase("compute")

    def fit_line():
        # The line y = 2x + 1 through four points; the fitted model must predict 19 at x = 9.
        model = LinearRegression().fit([[0.0], [1.0], [2.0], [3.0]], [1.0, 3.0, 5.0, 7.0])
        return [
            [float(model.coef_[0]), float(model.intercept_)],
            [float(model.predict([[9.0]])[0])],
        ]

    run_computation(cpu, "LinearRegression fit of y=2x+1", fit_line, expected=[[2.0, 1.0], [19.0]])


@library("torch", "PyTorch", "torch", ["torch"])
def probe_torch(probe):
    probe.phase("import")
    import torch

    probe.report["version"] = str(torch.__version__)
    probe.phase("devices")
    build = probe.report["build"]
    build["cuda_version"] = torch.version.cuda
    build["hip_version"] = getattr(torch.version, "hip", None)
    build["is_cuda_build"] = torch.version.cuda is not None
    try:
        build["cudnn_version"] = cudnn_text(torch.backends.cudnn.version())
    except Exception as exc:
        build["cudnn_version"] = None
        build["cudnn_error"] = last_line(exc)
    try:
        build["arch_list"] = list(torch.cuda.get_arch_list())
    except Exception:
        build["arch_list"] = []
    try:
        build["cuda_available"] = bool(torch.cuda.is_available())
    except Exception as exc:
        build["cuda_available"] = False
        build["cuda_error"] = last_line(exc)
    mps = getattr(torch.backends, "mps", None)
    try:
        build["mps_available"] = bool(mps is not None and mps.is_available())
    except Exception:
        build["mps_available"] = False

    targets = [(probe.device("cpu", name="CPU"), "cpu")]
    if build["cuda_available"]:
        kind = "rocm" if build["hip_version"] else "cuda"
        try:
            count = torch.cuda.device_count()
        except Exception as exc:
            count = 0
            build["cuda_error"] = last_line(exc)
        for index in range(count):
            entry = probe.device(kind, index)
            try:
                props = torch.cuda.get_device_properties(index)
                entry["name"] = props.name
                entry["compute_capability"] = "%d.%d" % (props.major, props.minor)
                entry["memory_total_bytes"] = int(props.total_memory)
                entry["uuid"] = gpu_uuid(getattr(props, "uuid", None))
            except Exception as exc:
                entry["error"] = last_line(exc)
            targets.append((entry, "cuda:%d" % index))
    if build["mps_available"]:
        targets.append((probe.device("mps", 0, name="Apple GPU (MPS)"), "mps"))

    probe.phase("compute")
    for entry, device in targets:
        if entry["error"] is not None:
            entry["computation_ok"] = False
            entry["computation_detail"] = "not attempted: the device could not be described"
            continue

        def matmul(device=device):
            left = torch.tensor(LEFT, device=device)
            right = torch.tensor(RIGHT, device=device)
            product = left @ right
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            return product.cpu().tolist()

        run_computation(entry, "2x2 matmul on %s" % device, matmul)


@library(
    "tensorflow",
    "TensorFlow",
    "tensorflow",
    ["tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-macos"],
)
def probe_tensorflow(probe):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    probe.phase("import")
    import tensorflow as tf

    probe.report["version"] = str(tf.__version__)
    probe.phase("devices")
    build = probe.report["build"]
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception as exc:
        info = {}
        build["build_info_error"] = last_line(exc)
    build["is_cuda_build"] = bool(info.get("is_cuda_build", False))
    build["cuda_version"] = info.get("cuda_version")
    build["cudnn_version"] = info.get("cudnn_version")
    build["is_rocm_build"] = bool(info.get("is_rocm_build", False))
    build["cuda_compute_capabilities"] = list(info.get("cuda_compute_capabilities") or [])
    build["distribution"] = distribution_version(probe.distributions)[0]
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:
        gpus = []
        build["gpu_list_error"] = last_line(exc)
    build["gpus_listed"] = len(gpus)
    build["cuda_wheels"] = cudnn_wheels()
    # Growth on before anything touches a GPU, so the probe never takes a whole card's memory.
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except Exception as exc:
            build.setdefault("memory_growth_error", last_line(exc))
    # A computation pinned to a GPU must run there or fail, not quietly fall back to the CPU.
    with contextlib.suppress(Exception):
        tf.config.set_soft_device_placement(False)

    kind = "rocm" if build["is_rocm_build"] else "cuda"
    targets = [(probe.device("cpu", name="CPU"), "/CPU:0")]
    for index, gpu in enumerate(gpus):
        entry = probe.device(kind, index)
        try:
            details = tf.config.experimental.get_device_details(gpu)
            entry["name"] = details.get("device_name")
            capability = details.get("compute_capability")
            if capability:
                entry["compute_capability"] = "%d.%d" % tuple(capability)
        except Exception as exc:
            entry["computation_detail"] = "details unavailable: %s" % last_line(exc)
        targets.append((entry, "/GPU:%d" % index))

    probe.phase("compute")
    for entry, device in targets:

        def matmul(device=device):
            with tf.device(device):
                product = tf.matmul(tf.constant(LEFT), tf.constant(RIGHT))
            placed = str(product.device)
            wanted = device.strip("/").upper()
            if not placed.upper().endswith(wanted.replace("/", "")):
                raise RuntimeError("ran on %s instead of %s" % (placed, device))
            return product.numpy().tolist()

        run_computation(entry, "2x2 matmul on %s" % device, matmul)


THEANO_COMPILE_PROGRAM = """
import theano
print("C backend ok:", theano.config.cxx)
"""


def theano_flags(base, extra):
    """THEANO_FLAGS with `extra` added where the user has not set that flag already."""
    parts = [p for p in base.split(",") if p.strip()]
    names = set(p.split("=", 1)[0].strip() for p in parts)
    for flag in extra:
        if flag.split("=", 1)[0] not in names:
            parts.append(flag)
    return ",".join(parts)


def first_compiler_error(text):
    """The first `error:` line of a compiler's output, shortened to something readable."""
    for chunk in text.replace(". ", "\n").splitlines():
        if "error:" in chunk:
            line = chunk.strip()
            if "/" in line.split(":", 1)[0]:
                line = os.path.basename(line.split(":", 1)[0]) + ":" + line.split(":", 1)[1]
            return line[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


def drop_modules(prefix):
    for name in list(sys.modules):
        if name == prefix or name.startswith(prefix + "."):
            del sys.modules[name]


def c_failure_file(base_flags, import_name, distributions):
    """Where this interpreter's failed Theano C build is remembered, or None (no cache dir).

    The name hashes everything the build's outcome depends on: this interpreter and its version,
    the installed Theano (version and file time), the compiler (path, size, time) and the flags,
    so a new compiler, Python or Theano is tried afresh.
    """
    folder = os.environ.get("MLTUI_PROBE_CACHE_DIR")
    if not folder:
        return None
    parts = [os.path.realpath(sys.executable), sys.version, base_flags]
    parts.append(str(distribution_version(distributions)))
    spec = importlib.util.find_spec(import_name)
    compiler = shutil.which("g++")
    for path in (spec.origin if spec else None, compiler):
        try:
            info = os.stat(path)
            parts.append("%s %d %d" % (os.path.realpath(path), info.st_size, info.st_mtime_ns))
        except (OSError, TypeError):
            parts.append(str(path))
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(folder, "theano-c-failed-%s.json" % digest[:24])


#: The largest remembered-failure file read (one compiler error, cut to a few KiB when saved).
MAX_REMEMBERED_BYTES = 256 * 1024


def read_c_failure(path):
    """The compiler error remembered at `path`, or None.

    The folder is outside the probe's control: only a regular file (never a FIFO that would
    block or a device such as /dev/zero that never ends), opened without blocking, at most
    MAX_REMEMBERED_BYTES of JSON; anything else is "nothing remembered".
    """
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = os.read(fd, MAX_REMEMBERED_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_REMEMBERED_BYTES:
            return None  # not what remember_c_failure writes
        # (too deep a nesting is a RecursionError of the parser, caught below)
        error = json.loads(data.decode("utf-8")).get("c_backend_error")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return error if isinstance(error, str) and error else None


def remember_c_failure(path, error):
    """Remember a failed C build (best effort: an unwritable folder only costs the next probe)."""
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"c_backend_error": error, "saved_at": time.time()}, out)
        os.replace(tmp, path)
    except OSError:
        pass


@library("theano", "Theano", "theano", ["Theano", "theano"])
def probe_theano(probe):
    user_flags = os.environ.get("THEANO_FLAGS", "")
    # Theano's BLAS detection runs numpy.distutils, which is gone or broken with numpy 2.x and a
    # recent setuptools (TypeError in Compiler.__init__); an empty ldflags skips it (NumPy BLAS).
    base = theano_flags(user_flags, ["blas.ldflags="])
    # The C build failing costs ~0.8 s CPU (g++ and a first import) on every check; its outcome
    # depends only on what c_failure_file() hashes, so a failure is remembered per interpreter.
    failure_file = c_failure_file(base, probe.import_name, probe.distributions)
    known_failure = read_c_failure(failure_file)
    # A compile failure leaves a copy of the C code in a temporary file; keep it in our own dir.
    scratch = tempfile.mkdtemp(prefix="mltui-theano-")
    tempfile.tempdir = scratch
    build = probe.report["build"]
    build["cxx"] = shutil.which("g++")
    try:
        probe.phase("import")
        os.environ["THEANO_FLAGS"] = base
        c_backend = True
        c_error = None
        if known_failure is not None:
            c_backend = False
            c_error = known_failure
            build["c_backend_checked"] = "remembered from an earlier probe of this interpreter"
            os.environ["THEANO_FLAGS"] = theano_flags(base, ["cxx="])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import theano
        else:
            try:
                import theano
            except Exception as exc:
                # Importing with the C backend compiles Theano's lazy linker; on Python 3.11 that
                # C code no longer builds. Fall back to pure-Python mode to go on probing.
                c_backend = False
                c_error = first_compiler_error(str(exc)) or last_line(exc)
                drop_modules(probe.import_name)
                os.environ["THEANO_FLAGS"] = theano_flags(base, ["cxx="])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import theano
                # Only now is the failure the C build's: without it, Theano imports.
                remember_c_failure(failure_file, c_error)
            build["c_backend_checked"] = "compiled in this probe"
        if c_backend and not theano.config.cxx:
            c_backend = False
            c_error = (
                "disabled by THEANO_FLAGS (cxx is empty)"
                if "cxx=" in user_flags.replace(" ", "")
                else "no C++ compiler found (g++)"
            )
        probe.report["version"] = str(theano.__version__)
        build["device"] = str(theano.config.device)
        build["c_backend"] = c_backend
        build["c_backend_error"] = c_error
        build["flags"] = os.environ["THEANO_FLAGS"]
        if theano.config.cxx:
            build["cxx"] = str(theano.config.cxx)
        build["linker"] = str(theano.config.linker)
        probe.phase("devices")
        import numpy
        import theano.tensor as tensor

        targets = [(probe.device("cpu", name="CPU"), None)]
        device = build["device"]
        if device.startswith(("cuda", "gpu")):
            entry = probe.device("cuda", 0, name=device)
            try:
                from theano import gpuarray

                if not gpuarray.pygpu_activated:
                    raise RuntimeError("the GPU backend (pygpu) is not active")
                targets.append((entry, "gpu"))
            except Exception as exc:
                entry["computation_ok"] = False
                entry["error"] = last_line(exc)
        probe.phase("compute")
        for entry, where in targets:

            def matmul(where=where):
                left = tensor.dmatrix("left")
                right = tensor.dmatrix("right")
                product = tensor.dot(left, right)
                if where == "gpu":
                    product = product.transfer(None)
                function = theano.function([left, right], product)
                return numpy.asarray(function(numpy.array(LEFT), numpy.array(RIGHT))).tolist()

            label = "2x2 matmul (%s)" % ("C backend" if c_backend else "pure-Python mode")
            run_computation(entry, label, matmul)
    finally:
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


@library("pytensor", "PyTensor", "pytensor", ["pytensor"])
def probe_pytensor(probe):
    probe.phase("import")
    import numpy
    import pytensor
    import pytensor.tensor as tensor

    probe.report["version"] = str(pytensor.__version__)
    probe.phase("devices")
    build = probe.report["build"]
    build["c_backend"] = bool(pytensor.config.cxx)
    build["cxx"] = str(pytensor.config.cxx) or None
    build["c_backend_error"] = (
        None if pytensor.config.cxx else "no C++ compiler found (cxx is empty)"
    )
    build["mode"] = str(pytensor.config.mode)
    cpu = probe.device("cpu", name="CPU")
    probe.phase("compute")

    def matmul():
        left = tensor.dmatrix("left")
        right = tensor.dmatrix("right")
        function = pytensor.function([left, right], tensor.dot(left, right))
        return numpy.asarray(function(numpy.array(LEFT), numpy.array(RIGHT))).tolist()

    run_computation(cpu, "2x2 matmul", matmul)
    if build["c_backend"]:
        # Prove the C backend compiles: an elementwise graph built with the pure C linker.
        try:
            from pytensor.compile.mode import Mode

            left = tensor.dmatrix("left")
            right = tensor.dmatrix("right")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                function = pytensor.function(
                    [left, right], left * right + 1.0, mode=Mode(linker="c")
                )
            got = numpy.asarray(function(numpy.array(LEFT), numpy.array(RIGHT))).tolist()
            if not matches(got, [[6.0, 13.0], [22.0, 33.0]]):
                raise RuntimeError("C-compiled a*b+1 gave %s" % fmt(got))
        except Exception as exc:
            build["c_backend"] = False
            build["c_backend_error"] = first_compiler_error(str(exc)) or last_line(exc)


# A Caffe network needing no weights: one ReLU over a 1x1x2x2 input.
RELU_PROTOTXT = """name: "mltui_probe"
input: "data"
input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }
layer { name: "relu" type: "ReLU" bottom: "data" top: "out" }
"""
RELU_INPUT = [[-1.0, 2.0], [3.0, -4.0]]
RELU_OUTPUT = [[0.0, 2.0], [3.0, 0.0]]


@library(
    "cv2",
    "OpenCV DNN",
    "cv2",
    [
        "opencv-python-headless",
        "opencv-python",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ],
)
def probe_cv2(probe):
    probe.phase("import")
    import cv2
    import numpy

    probe.report["version"] = str(cv2.__version__)
    probe.phase("devices")
    build = probe.report["build"]
    dnn = getattr(cv2, "dnn", None)
    build["has_caffe_importer"] = bool(dnn is not None and hasattr(dnn, "readNetFromCaffe"))
    count = 0
    cuda = getattr(cv2, "cuda", None)
    try:
        count = int(cuda.getCudaEnabledDeviceCount()) if cuda is not None else 0
    except Exception as exc:
        build["cuda_error"] = last_line(exc)
    build["cuda_enabled_devices"] = count
    targets = [(probe.device("cpu", name="CPU"), None)]
    for index in range(count):
        entry = probe.device("cuda", index)
        try:
            info = cuda.DeviceInfo(index)
            entry["name"] = info.name()
            entry["compute_capability"] = "%d.%d" % (info.majorVersion(), info.minorVersion())
            entry["memory_total_bytes"] = int(info.totalMemory())
        except Exception:
            pass
        targets.append((entry, index))

    probe.phase("compute")
    for entry, index in targets:
        if build["has_caffe_importer"]:

            def relu_net(index=index):
                net = cv2.dnn.readNetFromCaffe(
                    numpy.frombuffer(RELU_PROTOTXT.encode(), numpy.uint8)
                )
                if index is None:
                    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
                else:
                    cuda.setDevice(index)
                    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
                    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
                net.setInput(numpy.array(RELU_INPUT, numpy.float32).reshape(1, 1, 2, 2))
                return net.forward().reshape(2, 2).tolist()

            where = "CPU" if index is None else "CUDA %d" % index
            run_computation(entry, "Caffe-imported ReLU net on %s" % where, relu_net, RELU_OUTPUT)
        else:

            def gemm():
                left = numpy.array(LEFT, numpy.float32)
                right = numpy.array(RIGHT, numpy.float32)
                return cv2.gemm(left, right, 1.0, None, 0.0).tolist()

            run_computation(entry, "2x2 cv2.gemm", gemm)


@library("caffe", "Caffe", "caffe", ["caffe"])
def probe_caffe(probe):
    probe.phase("import")
    import caffe

    probe.report["version"] = str(getattr(caffe, "__version__", None) or probe.report["version"])
    probe.phase("devices")
    caffe.set_mode_cpu()
    probe.report["build"]["mode"] = "cpu"
    cpu = probe.device("cpu", name="CPU")
    probe.phase("compute")

    def relu_net():
        import numpy

        handle, path = tempfile.mkstemp(suffix=".prototxt")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(RELU_PROTOTXT)
            net = caffe.Net(path, caffe.TEST)
            net.blobs["data"].data[...] = numpy.array(RELU_INPUT).reshape(1, 1, 2, 2)
            return net.forward()["out"].reshape(2, 2).tolist()
        finally:
            os.unlink(path)

    run_computation(cpu, "ReLU net (pycaffe, CPU)", relu_net, RELU_OUTPUT)


@library("jax", "JAX", "jax", ["jax"])
def probe_jax(probe):
    # JAX takes most of a GPU's memory when it first touches it; a probe needs a few kilobytes.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    probe.phase("import")
    import jax
    import jax.numpy as jnp

    probe.report["version"] = str(jax.__version__)
    probe.phase("devices")
    build = probe.report["build"]
    try:
        import jaxlib

        build["jaxlib_version"] = str(jaxlib.__version__)
    except Exception:
        build["jaxlib_version"] = None
    try:
        build["default_backend"] = str(jax.default_backend())
    except Exception as exc:
        build["default_backend"] = None
        build["backend_error"] = last_line(exc)
    # jax.devices() lists only the default backend's devices: ask each platform in turn.
    listed = []
    backends = {}
    for platform in ("cpu", "gpu", "tpu"):
        try:
            found = list(jax.devices(platform))
        except Exception as exc:
            # "Unknown backend" (no plugin for it) and a missing libtpu mean the platform is not
            # here; anything else (a CUDA plugin that fails to start, say) is worth reporting.
            text = str(exc)
            absent = "nknown backend" in text or (platform == "tpu" and "libtpu" in text)
            if platform == "cpu" or not absent:
                build["%s_error" % platform] = last_line(exc)
            found = []
        backends[platform] = len(found)
        listed.extend(found)
    build["devices_listed"] = backends

    targets = []
    for device in listed:
        platform = str(getattr(device, "platform", "cpu"))
        if platform == "cpu":
            if any(entry["kind"] == "cpu" for entry, _ in targets):
                continue  # one CPU entry, as for the other libraries
            targets.append((probe.device("cpu", name="CPU"), device))
            continue
        version = ""
        with contextlib.suppress(Exception):
            version = str(device.client.platform_version).lower()
        kind = "tpu" if platform == "tpu" else ("rocm" if "rocm" in version else "cuda")
        entry = probe.device(kind, int(getattr(device, "id", len(targets))))
        entry["name"] = str(getattr(device, "device_kind", "") or "") or None
        capability = getattr(device, "compute_capability", None)
        if capability:
            entry["compute_capability"] = str(capability)
        try:
            stats = device.memory_stats() or {}
            if stats.get("bytes_limit"):
                entry["memory_total_bytes"] = int(stats["bytes_limit"])
        except Exception:
            pass
        targets.append((entry, device))

    probe.phase("compute")
    for entry, device in targets:

        def matmul(device=device):
            left = jax.device_put(jnp.asarray(LEFT), device)
            right = jax.device_put(jnp.asarray(RIGHT), device)
            product = jax.jit(jnp.matmul)(left, right).block_until_ready()
            placed = set(product.devices())
            if placed != {device}:
                raise RuntimeError("ran on %s instead of %s" % (sorted(map(str, placed)), device))
            return product.tolist()

        run_computation(entry, "jit 2x2 matmul on %s" % device, matmul)


# ------------------------------------------------------------------ the CPU backend (all libraries)

BLAS_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "flexiblas": "FlexiBLAS"}


def usable_cpus():
    """The CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def loaded_thread_pools():
    """(BLAS words, BLAS threads, OpenMP threads) of the native pools loaded in this process.

    threadpoolctl (a scikit-learn dependency) reads them from the loaded libraries; without it,
    NumPy's build configuration names its BLAS and the threads are unknown.
    """
    blas, blas_threads, omp_threads = [], None, None
    try:
        import threadpoolctl

        pools = threadpoolctl.threadpool_info()
    except Exception:
        pools = []
    for pool in pools:
        if pool.get("user_api") == "blas":
            name = BLAS_NAMES.get(pool.get("internal_api"), str(pool.get("internal_api")))
            words = name + (" %s" % pool["version"] if pool.get("version") else "")
            layer = pool.get("threading_layer")
            if layer and layer not in ("unknown", "pthreads"):
                words += " (%s)" % layer
            if words not in blas:
                blas.append(words)
            if blas_threads is None:
                blas_threads = pool.get("num_threads")
        elif pool.get("user_api") == "openmp" and omp_threads is None:
            omp_threads = pool.get("num_threads")
    if not blas and "numpy" in sys.modules:
        with contextlib.suppress(Exception):
            config = sys.modules["numpy"].__config__.CONFIG["Build Dependencies"]["blas"]
            blas.append("%s %s (NumPy's build)" % (config["name"], config.get("version") or ""))
    return ", ".join(sorted(blas)) or None, blas_threads, omp_threads


def torch_cpu_backend(build):
    import torch

    text = str(torch.__config__.show())
    match = re.search(r"BLAS_INFO=([\w-]+)", text)
    build["blas"] = BLAS_NAMES.get(match.group(1), match.group(1)) if match else None
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", text)
    if build["blas"] == "MKL" and mkl:
        build["blas"] = "MKL %s" % mkl.group(1)
    onednn = re.search(r"MKL-DNN v([\d.]+)", text)
    available = bool(torch.backends.mkldnn.is_available())
    build["onednn"] = ("oneDNN %s" % onednn.group(1) if onednn else "oneDNN") if available else None
    build["threads"] = int(torch.get_num_threads())
    build["threads_from"] = "torch.get_num_threads()"


def tensorflow_cpu_backend(build):
    import tensorflow as tf

    enabled = None
    with contextlib.suppress(Exception):
        from tensorflow.python.util import _pywrap_util_port

        enabled = bool(_pywrap_util_port.IsMklEnabled())
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() in ("0", "false", "False"):
        enabled = False
    build["blas"] = "Eigen"
    build["onednn"] = "oneDNN" if enabled else None
    intra = int(tf.config.threading.get_intra_op_parallelism_threads())
    build["threads"] = intra or usable_cpus()
    build["threads_from"] = (
        "tf.config.threading (intra-op)" if intra else "default: one per usable CPU"
    )


def jax_cpu_backend(build):
    flags = os.environ.get("XLA_FLAGS", "")
    build["blas"] = "XLA:CPU (Eigen)"
    build["onednn"] = "oneDNN" if "xla_cpu_use_onednn=true" in flags.replace(" ", "") else None
    single = "xla_cpu_multi_thread_eigen=false" in flags.replace(" ", "")
    build["threads"] = 1 if single else usable_cpus()
    build["threads_from"] = "XLA_FLAGS" if single else "default: one per usable CPU"


def cv2_cpu_backend(build):
    import cv2

    info = str(cv2.getBuildInformation())
    lapack = re.search(r"^\s*LAPACK:\s*(.+)$", info, re.MULTILINE)
    parallel = re.search(r"^\s*Parallel framework:\s*(.+)$", info, re.MULTILINE)
    lapack_words = lapack.group(1).strip() if lapack else ""
    build["blas"] = None if lapack_words in ("", "NO") else lapack_words.split(" ")[0]
    build["onednn"] = None
    build["threads"] = int(cv2.getNumThreads())
    build["threads_from"] = "cv2.getNumThreads()" + (
        " (%s)" % parallel.group(1).strip() if parallel else ""
    )


#: id -> what its own API says about its CPU backend; the others use the loaded BLAS pools.
#: A library's probe function -> how to read its own CPU backend (keyed by the probe, so the
#: library ids stay written once, in the @library registrations).
CPU_BACKENDS = {
    probe_torch: torch_cpu_backend,
    probe_tensorflow: tensorflow_cpu_backend,
    probe_jax: jax_cpu_backend,
    probe_cv2: cv2_cpu_backend,
}


def describe_cpu_backend(lib_id, build):
    """Add `blas`, `onednn`, `threads`, `threads_from` (and `openmp_threads`) to `build`.

    Never fails the probe: what cannot be read is None, with `cpu_backend_error` saying why.
    """
    try:
        blas, blas_threads, omp_threads = loaded_thread_pools()
        build["openmp_threads"] = omp_threads
        own_backend = CPU_BACKENDS.get(LIBRARIES[lib_id][3]) if lib_id in LIBRARIES else None
        if own_backend is not None:
            own_backend(build)
            if not build.get("blas"):
                build["blas"] = blas
            return
        build["blas"] = blas
        build["onednn"] = None
        build["threads"] = blas_threads if blas_threads is not None else omp_threads
        build["threads_from"] = (
            "the BLAS pool" if blas_threads is not None else ("OpenMP" if omp_threads else None)
        )
    except Exception as exc:
        build.setdefault("blas", None)
        build.setdefault("threads", None)
        build["cpu_backend_error"] = last_line(exc)


def main(argv):
    if len(argv) != 2 or argv[1] not in LIBRARIES:
        sys.stderr.write("usage: probe_library.py {%s}\n" % ",".join(sorted(LIBRARIES)))
        return 2
    faulthandler.enable()  # a crash in native code leaves its Python stack on stderr
    # mltui lowers the priority of all probes but the longest when they outnumber the CPUs.
    with contextlib.suppress(ValueError, OSError):
        os.nice(int(os.environ.get("MLTUI_PROBE_NICE") or 0))
    emitter = Emitter()
    probe = Probe(argv[1], emitter)
    report = probe.report

    probe.phase("find")
    spec = None
    try:
        spec = importlib.util.find_spec(probe.import_name)
    except (ImportError, ValueError) as exc:
        report["error"] = last_line(exc)
    dist, version = distribution_version(probe.distributions)
    report["version"] = version
    report["location"] = module_location(spec)
    if spec is None:
        if dist is not None:
            report["status"] = "import_error"
            report["error"] = "distribution %s %s is installed, but module %r cannot be found" % (
                dist,
                version,
                probe.import_name,
            )
        probe.finish()
        return 0

    try:
        LIBRARIES[report["name"]][3](probe)
        report["status"] = "ok"
        describe_cpu_backend(report["name"], report["build"])
    except (Exception, SystemExit) as exc:
        if report["phase_timings"].get("import") is None and probe._phase == "import":
            report["status"] = "import_error"
        else:
            report["status"] = "degraded"
        report["error"] = last_line(exc)
        traceback.print_exc(file=sys.stderr)
    probe.finish()
    return 0


if __name__ == "__main__":
    status = main(sys.argv)
    sys.stderr.flush()
    # The report is out: skip interpreter teardown, which costs TensorFlow and PyTorch up to a
    # second (atexit hooks, thread pools, unloading native libraries) and tells us nothing.
    os._exit(status)
