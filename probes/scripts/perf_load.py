"""Measure how fast one ML library runs on this machine's devices: GEMM throughput and bandwidth.

Run as `python perf_load.py LIBRARY --devices cpu,cuda:0 [options]` with LIBRARY one of numpy,
torch, tensorflow, jax. Standalone on purpose (stdlib + the one library, Python >= 3.8 syntax, no
mltui import): mltui runs it in the *target* interpreter, in its own process group, with a
timeout, and reads NVML itself while this runs.

What it measures, per device:
  gemm   C = A @ B, square n x n, for each data type asked (fp32, tf32, bf16, fp16, fp8),
         2 n^3 FLOP per product; warmed up first, then repeated for about `--slice` seconds and
         timed with the device's own events (CUDA) or after synchronising (host clock);
         the last product is checked afterwards in float64 on the host (`check_product`:
         finite, Freivalds' test by rows and by columns, 16 elements) against the data type's
         error model; FP8 with fast accumulation where torch and the GPU allow it.
  copy   device-to-device (or, on the CPU, a STREAM-like copy of arrays far larger than the
         caches); reported as bytes read + bytes written per second.
  h2d/d2h  pinned host memory to the GPU and back (torch only).
  p2p    GPU i to GPU j for every pair that can access its peer (torch only, with --p2p).

Output, on stdout, is JSON lines only:
  {"event": "library", "library": "torch", "status": "ok", "version": "2.4.0", ...}
  {"event": "ready"}                          imported; waiting for the go file (--go)
  {"event": "measure", "device": "cuda:0", "kind": "gemm", "dtype": "bf16", "value": 7.1e14,
   "unit": "FLOP/s", "size": 8192, "seconds": 0.3, "repeats": 28, "result_ok": true}
     (a wrong product adds "result_check": "row 17 of C v is off by ..."; FP8 adds
     "accumulation": "fast" or "fp32")
  {"event": "error", "device": ..., "kind": ..., "dtype": ..., "error": "..."}
  {"event": "skip", "device": ..., "kind": ..., "dtype": ..., "reason": "..."}
  {"event": "done"}
The library's own chatter goes to stderr.
"""

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import random
import runpy
import sys
import time
import traceback

try:
    from importlib import metadata as _metadata
except ImportError:  # pragma: no cover - Python < 3.8 is refused by mltui before this runs
    _metadata = None  # type: ignore[assignment]

LIBRARIES = {
    # id: (import name, distributions)
    "numpy": ("numpy", ("numpy",)),
    "torch": ("torch", ("torch",)),
    "tensorflow": ("tensorflow", ("tensorflow", "tensorflow-cpu", "tf-nightly")),
    "jax": ("jax", ("jax",)),
}

#: Bytes per element of each data type (for the memory budget).
ELEMENT_BYTES = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
_OUT = sys.stdout


def emit(event, **fields):
    """Print one JSON event line and flush it at once."""
    fields["event"] = event
    _OUT.write(json.dumps(fields) + "\n")
    _OUT.flush()


def _version(distributions):
    if _metadata is None:
        return None
    for name in distributions:
        try:
            return _metadata.version(name)
        except Exception:
            continue
    return None


def _error_text(exc):
    text = "{}: {}".format(type(exc).__name__, exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


class Timer:
    """Repeats a step for about `slice_s` seconds after warm-up; returns (seconds, repeats)."""

    def __init__(self, slice_s, sync, events=None):
        self.slice_s = slice_s
        self.sync = sync
        self.events = events  # callable returning (start_event, end_event) pairs, CUDA only

    def run(self, step, warmup=2):
        for _ in range(warmup):
            step()
        self.sync()
        # One timed call tells how many fit in the slice.
        started = time.perf_counter()
        step()
        self.sync()
        one = max(time.perf_counter() - started, 1e-6)
        repeats = max(1, min(10000, int(self.slice_s / one)))
        if self.events is not None:
            start, end = self.events()
            start.record()
            for _ in range(repeats):
                step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0, repeats
        started = time.perf_counter()
        for _ in range(repeats):
            step()
        self.sync()
        return time.perf_counter() - started, repeats


#: The error model of one GEMM per data type, as unit roundoffs u = 2^-p (p significand bits):
#:   inputs  rounding the hardware applies to each input before multiplying: TF32 keeps 10 of
#:           FP32's 23 explicit bits (2^-10 covers truncation as well as rounding); 0 where the
#:           stored inputs are used as they are (the reference uses the same stored values);
#:   sum     the accumulator: FP32 on every path torch, TensorFlow and JAX take (tensor cores
#:           included), modelled by the probabilistic bound sqrt(k) * u * |a_i| |b_j|;
#:   output  rounding of the stored result, which also covers split-K partial sums reduced in the
#:           output type (cuBLAS's reduced-precision reduction, torch's default) and TF32's bias.
ERROR_MODEL = {
    "fp32": {"inputs": 0.0, "sum": 2.0**-24, "output": 2.0**-24},
    "tf32": {"inputs": 2.0**-10, "sum": 2.0**-24, "output": 2.0**-10},
    "bf16": {"inputs": 0.0, "sum": 2.0**-24, "output": 2.0**-8},
    "fp16": {"inputs": 0.0, "sum": 2.0**-24, "output": 2.0**-11},
    "fp8": {"inputs": 0.0, "sum": 2.0**-24, "output": 2.0**-8},  # torch._scaled_mm to BF16
}
#: FP8 with fast accumulation keeps about 14 bits in the accumulator and never promotes to FP32
#: (DeepSeek-V3 report, section 3.3.2: up to ~2 % relative error at k = 4096). Modelled as a
#: random walk of the partial sums, u * |a_i| |b_j|, with 2^-12 for a 4x margin.
FAST_ACCUMULATION_SUM = 2.0**-12
#: Multiples of the model's error scale a single element, row or column may be off by, and the
#: whole residual vector (its 2-norm against the norm of the scales; many rows average out).
ELEMENT_LIMIT = 5.0
NORM_LIMIT = 3.0
#: Output elements checked one by one against their float64 dot product.
CHECKED_ELEMENTS = 16
#: Elements converted to float64 at once on the host (32 MiB).
BLOCK_ELEMENTS = 1 << 22


class HostMath:
    """How the GEMM check reaches one library's arrays: float64 copies on the host, vectors.

    `f64(x)` returns a float64 host array (NumPy array or CPU torch tensor) of an array slice;
    `vector(values)` makes a float64 host vector of a list of floats. Both kinds of array
    support what the check uses: slicing, `@`, `*`, `-`, `abs`, `.sum(axis=...)` and `.max()`.
    """

    def __init__(self, f64, vector):
        self.f64 = f64
        self.vector = vector


def _gaussians(count, seed):
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(count)]


def _finite(x):
    # The float64 sum of values of 32 bits or fewer cannot overflow: it is finite exactly when
    # every value is (NaN and Inf propagate).
    return math.isfinite(float(x.sum()))


def _spread(count, size, seed):
    """`count` indices over range(size): both ends, the middle, the rest at random."""
    rng = random.Random(seed)
    picks = [0, size - 1, size // 2] + [rng.randrange(size) for _ in range(count)]
    return picks[:count]


def check_product(a, b, c, dtype, host, fast_accumulation=False, seed=12345):
    """Whether C is A @ B within `dtype`'s error model; (ok, what was wrong or None).

    Three checks, all in float64 on the host over the stored (already rounded) inputs:
      1. every element of C is finite;
      2. Freivalds' test both ways: C v against A (B v) per row and w^T C against (w^T A) B per
         column for random v, w, each residual within ELEMENT_LIMIT times its modelled error
         and the residual vectors within NORM_LIMIT times theirs. This catches a scale error,
         a zeroed block, one corrupted row or column, permuted rows and a transposed output;
      3. CHECKED_ELEMENTS elements spread over rows and columns against their dot products.
    The error scale of element (i, j), with u from ERROR_MODEL and k the inner dimension, is
      s^2 = 2 u_in^2 S + u_out^2 (c_ij^2 + S) + u_sum^2 k |a_i|^2 |b_j|^2,  S = sum_l (a_il b_lj)^2
    (independent rounding errors add in variance; the accumulator term is sqrt(k) u |a_i| |b_j|).
    A residual vector's variance is the v^2-weighted sum of these, computed exactly in O(n^2):
    sum_j v_j^2 S_ij = (A^2 (B^2 v^2))_i.
    """
    model = ERROR_MODEL[dtype]
    u_in, u_out, u_sum = model["inputs"], model["output"], model["sum"]
    rows, inner = a.shape[0], a.shape[1]
    columns = b.shape[1]
    sum_factor = float(inner)
    if fast_accumulation:
        u_sum, sum_factor = FAST_ACCUMULATION_SUM, 1.0
    k_sum = u_sum * u_sum * sum_factor
    product_var = 2.0 * u_in * u_in + u_out * u_out
    block = max(1, BLOCK_ELEMENTS // max(inner, columns, 1))

    v = host.vector(_gaussians(columns, seed))
    w = host.vector(_gaussians(rows, seed + 1))
    v2, w2 = v * v, w * w
    # Pass 1 over B: B v, B^2 v^2 and each column's squared norm.
    bv, b2v2, b_norm2 = [], [], None
    for start in range(0, inner, block):
        part = host.f64(b[start : start + block])
        square = part * part
        bv.append(part @ v)
        b2v2.append(square @ v2)
        column_sums = square.sum(axis=0)
        b_norm2 = column_sums if b_norm2 is None else b_norm2 + column_sums
    s_b = float((v2 * b_norm2).sum())  # sum_j v_j^2 |b_j|^2
    # Pass 2 over A and C: the row check, and what the column check needs.
    w_a = w2_a2 = w_c = w2_c2 = None
    s_a = 0.0
    residual2 = scale2 = reference2 = 0.0
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        part_a = host.f64(a[start:stop])
        part_c = host.f64(c[start:stop])
        if not _finite(part_c):
            return False, "the result is not finite (NaN or Inf) in rows {}-{}".format(
                start, stop - 1
            )
        square_a, square_c = part_a * part_a, part_c * part_c
        expected = _chunked_matvec(part_a, bv, block)
        variance_s = _chunked_matvec(square_a, b2v2, block)
        computed = part_c @ v
        a_norm2 = square_a.sum(axis=1)
        variance = product_var * variance_s + u_out * u_out * (square_c @ v2)
        variance = variance + k_sum * s_b * a_norm2
        residual = computed - expected
        bad = _first_over(residual, variance, ELEMENT_LIMIT)
        if bad is not None:
            return False, "row {} of C v is off by {:.3g} (error scale {:.3g})".format(
                start + bad[0], bad[1], bad[2]
            )
        residual2 += float((residual * residual).sum())
        reference2 += float((expected * expected).sum())
        scale2 += float(variance.sum())
        part_w, part_w2 = w[start:stop], w2[start:stop]
        w_a = _add(w_a, part_w @ part_a)
        w2_a2 = _add(w2_a2, part_w2 @ square_a)
        w_c = _add(w_c, part_w @ part_c)
        w2_c2 = _add(w2_c2, part_w2 @ square_c)
        s_a += float((part_w2 * a_norm2).sum())
    if not residual2 <= NORM_LIMIT * NORM_LIMIT * scale2:
        return False, _norm_text("C v", residual2, scale2, reference2)
    # Pass 3 over B: the column check.
    expected_t = variance_t = None
    for start in range(0, inner, block):
        part = host.f64(b[start : start + block])
        expected_t = _add(expected_t, w_a[start : start + block] @ part)
        variance_t = _add(variance_t, w2_a2[start : start + block] @ (part * part))
    variance_t = product_var * variance_t + u_out * u_out * w2_c2 + k_sum * s_a * b_norm2
    residual_t = w_c - expected_t
    bad = _first_over(residual_t, variance_t, ELEMENT_LIMIT)
    if bad is not None:
        return False, "column {} of w C is off by {:.3g} (error scale {:.3g})".format(*bad)
    residual2 = float((residual_t * residual_t).sum())
    scale2 = float(variance_t.sum())
    if not residual2 <= NORM_LIMIT * NORM_LIMIT * scale2:
        reference2 = float((expected_t * expected_t).sum())
        return False, _norm_text("w C", residual2, scale2, reference2)
    # Single elements, spread over the rows and the columns.
    rows_checked = _spread(CHECKED_ELEMENTS, rows, seed)
    columns_checked = _spread(CHECKED_ELEMENTS, columns, seed + 7)
    for i, j in [(rows_checked[t], columns_checked[t]) for t in range(CHECKED_ELEMENTS)]:
        row = host.f64(a[i : i + 1])
        column = host.f64(b[:, j : j + 1])
        products = row @ column  # 1 x 1
        exact = float(products.sum())
        terms = (row * row) @ (column * column)
        got = float(host.f64(c[i : i + 1, j : j + 1]).sum())
        s = float(terms.sum())
        norms = float((row * row).sum()) * float((column * column).sum())
        variance = product_var * s + u_out * u_out * exact * exact + k_sum * norms
        if not abs(got - exact) <= ELEMENT_LIMIT * math.sqrt(variance):
            return False, "element ({}, {}) is {:.6g}, the float64 dot product {:.6g}".format(
                i, j, got, exact
            )
    return True, None


def _add(total, part):
    return part if total is None else total + part


def _chunked_matvec(matrix, chunks, block):
    """matrix @ concat(chunks), the vector held as consecutive chunks of `block` entries."""
    total = None
    for number, chunk in enumerate(chunks):
        total = _add(total, matrix[:, number * block : (number + 1) * block] @ chunk)
    return total


def _first_over(residual, variance, limit):
    """(index, residual, error scale) of the first entry over `limit` scales, or None.

    NaN counts as over: every comparison with it is false.
    """
    excess = abs(residual) - limit * variance**0.5
    if float(excess.max()) <= 0.0:
        return None
    for index, value in enumerate(excess.tolist()):
        if not value <= 0.0:
            off = abs(float(residual[index]))
            return index, off, math.sqrt(max(0.0, float(variance[index])))
    return None


def _norm_text(what, residual2, scale2, reference2):
    off = math.sqrt(residual2 / reference2) if reference2 > 0 else float("inf")
    allowed = NORM_LIMIT * math.sqrt(scale2 / reference2) if reference2 > 0 else 0.0
    return "{} is off by {:.3g} % of its norm (allowed {:.3g} %)".format(
        what, 100.0 * off, 100.0 * allowed
    )


def gemm_size(device, dtype, memory_bytes, cpu_size, gpu_size=8192):
    """The matrix size: large enough to saturate the device, within the memory budget."""
    n = cpu_size if device == "cpu" else gpu_size
    while n > 256 and 3 * n * n * ELEMENT_BYTES[dtype] > memory_bytes:
        n //= 2
    return n


# ----------------------------------------------------------------------------- devices

#: mltui's name of each CUDA device of this process ("cuda:3": NVML's index 3) -> the ordinal
#: CUDA numbers it by here. mltui pins the process to the GPUs' UUIDs, in the order of
#: --devices, with CUDA_VISIBLE_DEVICES: the k-th CUDA device named is CUDA's device k.
_LOCAL = {}
#: The UUID mltui pinned each device to, and the UUID it was found to run on (every figure of
#: the device carries the latter).
_PINNED = {}
_RAN_ON = {}


def pin_devices(devices, uuids):
    """Number the CUDA devices of `devices` as CUDA sees them after mltui's pinning by `uuids`
    (one per CUDA device, in order); without UUIDs the names are taken as CUDA's numbers."""
    cuda = [d for d in devices if d.startswith("cuda:")]
    for ordinal, label in enumerate(cuda):
        if uuids:
            _LOCAL[label] = "cuda:%d" % ordinal
            _PINNED[label] = uuids[ordinal] if ordinal < len(uuids) else None
        else:
            _LOCAL[label] = label


def _local(device):
    return _LOCAL.get(device, device)


def _ordinal(device):
    return int(_local(device).split(":")[1])


#: The one rule for GPU/MIG UUIDs (mltui_gpu_uuid.py beside this script, read by its path).
_UUIDS = runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "mltui_gpu_uuid.py")
)


def check_identity(device, cuda_uuid):
    """None when CUDA's device is the GPU mltui pinned `device` to (its UUID recorded as the
    one the figures ran on), else the error. Without a UUID from CUDA (an old torch, TensorFlow,
    JAX) the pinning itself names the GPU: CUDA_VISIBLE_DEVICES=<uuid> shows only that one."""
    pinned = _PINNED.get(device)
    if cuda_uuid and pinned and not _UUIDS["same_uuid"](cuda_uuid, pinned):
        return "CUDA's device {} here is {}, not {} that mltui pinned it to".format(
            _local(device), cuda_uuid, pinned
        )
    if pinned:
        _RAN_ON[device] = pinned
    elif cuda_uuid:
        _RAN_ON[device] = _UUIDS["uuid_text"](cuda_uuid)
    return None


def no_gpu(library, cuda, reason):
    """The library sees no GPU (a CPU-only build): a state of the library, said once, and each
    GPU asked for skipped with that reason; never an error of the GPUs."""
    emit(
        "library",
        library=library,
        status="no_gpu",
        error=reason,
        version=_version(LIBRARIES[library][1]),
    )
    for device in cuda:
        emit("skip", device=device, kind="gemm", dtype=None, reason=reason)


# ----------------------------------------------------------------------------- numpy


def run_numpy(args, devices):
    import numpy as np

    for device in devices:
        if device != "cpu":
            emit(
                "skip", device=device, kind="gemm", dtype=None, reason="NumPy runs on the CPU only"
            )
            continue
        timer = Timer(args.slice, lambda: None)
        for dtype in args.dtypes:
            if dtype != "fp32":
                emit(
                    "skip", device=device, kind="gemm", dtype=dtype, reason="NumPy has no " + dtype
                )
                continue
            _gemm_numpy(np, timer, args, device)
        if "copy" in args.kinds:
            _copy_numpy(np, timer, args, device)


def _gemm_numpy(np, timer, args, device):
    n = gemm_size(device, "fp32", args.memory_bytes, args.cpu_size, args.gpu_size)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)

    def step():
        np.matmul(a, b, out=out)

    seconds, repeats = timer.run(step)
    _gemm_measured(device, "fp32", seconds, repeats, a, b, out, numpy_math(np))


def numpy_math(np):
    """The GEMM check's host arrays for NumPy (also TensorFlow's and JAX's, via NumPy)."""
    return HostMath(
        lambda x: np.asarray(x).astype(np.float64), lambda values: np.array(values, np.float64)
    )


def _copy_numpy(np, timer, args, device):
    count = max(1, min(args.copy_bytes, args.memory_bytes // 2) // 4)
    src = np.ones(count, dtype=np.float32)
    dst = np.zeros(count, dtype=np.float32)

    def step():
        np.copyto(dst, src)

    seconds, repeats = timer.run(step, warmup=1)
    ok = bool(dst[count // 2] == 1.0)
    nbytes = 2 * count * 4  # read + write
    _measured(
        device, "copy", None, nbytes * repeats / seconds, "B/s", count * 4, seconds, repeats, ok
    )


def _gemm_measured(device, dtype, seconds, repeats, a, b, out, host, **extra):
    """Check the product C = A @ B of the last repetition, then report the GEMM's rate.

    Every library's GEMM goes through here: the rate is reported with `result_ok` and, when the
    product is wrong, `result_check` saying where.
    """
    n, k, m = a.shape[0], a.shape[1], b.shape[1]
    ok, wrong = check_product(
        a, b, out, dtype, host, fast_accumulation=extra.get("accumulation") == "fast"
    )
    if wrong is not None:
        extra["result_check"] = wrong
    value = 2.0 * n * k * m * repeats / seconds
    _measured(device, "gemm", dtype, value, "FLOP/s", n, seconds, repeats, ok, **extra)


def _measured(device, kind, dtype, value, unit, size, seconds, repeats, ok, **extra):
    if device in _RAN_ON:
        extra["uuid"] = _RAN_ON[device]
    emit(
        "measure",
        device=device,
        kind=kind,
        dtype=dtype,
        value=value,
        unit=unit,
        size=size,
        seconds=round(seconds, 6),
        repeats=repeats,
        result_ok=bool(ok),
        **extra,
    )


# ----------------------------------------------------------------------------- torch


def run_torch(args, devices):
    import torch

    if "tf32" in args.dtypes or "fp32" in args.dtypes:
        # fp32 means IEEE FP32 here; tf32 is asked for explicitly, per product.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    cuda = [d for d in devices if d.startswith("cuda")]
    if cuda and not torch.cuda.is_available():
        if torch.version.cuda is None:
            reason = "torch {} is a CPU-only build".format(torch.__version__)
        else:
            reason = "torch {} (CUDA {}) sees no CUDA device".format(
                torch.__version__, torch.version.cuda
            )
        no_gpu("torch", cuda, reason)
        devices, cuda = [d for d in devices if not d.startswith("cuda")], []
    working = []
    for device in devices:
        if device != "cpu" and not device.startswith("cuda"):
            emit("skip", device=device, kind="gemm", dtype=None, reason="unknown device")
            continue
        if _torch_device(torch, args, device):
            working.append(device)
    cuda = [d for d in cuda if d in working]
    if args.p2p and len(cuda) > 1:
        _torch_p2p(torch, args, cuda)


def _torch_timer(torch, args, device):
    if device == "cpu":
        return Timer(args.slice, lambda: None)
    dev = torch.device(_local(device))

    def sync():
        torch.cuda.synchronize(dev)

    def events():
        with torch.cuda.device(dev):
            return (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))

    return Timer(args.slice, sync, events)


def _torch_device(torch, args, device):
    """Measure one device; False when it is not the GPU mltui pinned (nothing measured)."""
    dev = torch.device(_local(device))
    if device.startswith("cuda"):
        torch.cuda.set_device(dev)
        properties = torch.cuda.get_device_properties(dev)
        cuda_uuid = str(getattr(properties, "uuid", "") or "") or None
        wrong = check_identity(device, cuda_uuid)
        emit(
            "device",
            device=device,
            name=torch.cuda.get_device_name(dev),
            sm_count=properties.multi_processor_count,
            compute_capability="{}.{}".format(*torch.cuda.get_device_capability(dev)),
            uuid=_RAN_ON.get(device) or cuda_uuid,
        )
        if wrong is not None:
            emit("error", device=device, kind="gemm", dtype=None, error=wrong)
            return False
    timer = _torch_timer(torch, args, device)
    for dtype in args.dtypes:
        try:
            _torch_gemm(torch, timer, args, device, dtype)
        except Exception as exc:
            emit("error", device=device, kind="gemm", dtype=dtype, error=_error_text(exc))
        finally:
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    if "copy" in args.kinds:
        try:
            _torch_copy(torch, timer, args, device)
        except Exception as exc:
            emit("error", device=device, kind="copy", dtype=None, error=_error_text(exc))
    if device.startswith("cuda") and "host" in args.kinds:
        for direction in ("h2d", "d2h"):
            try:
                _torch_host(torch, timer, args, device, direction)
            except Exception as exc:
                emit("error", device=device, kind=direction, dtype=None, error=_error_text(exc))
        torch.cuda.empty_cache()
    return True


def _torch_gemm(torch, timer, args, device, dtype):
    cpu = device == "cpu"
    if cpu and dtype in ("tf32", "fp16", "fp8"):
        emit("skip", device=device, kind="gemm", dtype=dtype, reason="not a CPU data type")
        return
    if dtype == "fp8":
        _torch_fp8(torch, timer, args, device)
        return
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size, args.gpu_size)
    torch_dtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}.get(
        dtype, torch.float16
    )
    generator = torch.Generator(device=_local(device)).manual_seed(0)
    a = torch.randn((n, n), device=_local(device), dtype=torch_dtype, generator=generator)
    b = torch.randn((n, n), device=_local(device), dtype=torch_dtype, generator=generator)
    out = torch.empty((n, n), device=_local(device), dtype=torch_dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        seconds, repeats = timer.run(lambda: torch.matmul(a, b, out=out))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    _gemm_measured(device, dtype, seconds, repeats, a, b, out, torch_math(torch))


def torch_math(torch):
    """The GEMM check's host arrays for torch: float64 CPU tensors (no NumPy needed)."""
    return HostMath(
        lambda x: x.detach().to("cpu").double(),
        lambda values: torch.tensor(values, dtype=torch.float64),
    )


def _torch_fp8(torch, timer, args, device):
    if not device.startswith("cuda"):
        emit("skip", device=device, kind="gemm", dtype="fp8", reason="not a CPU data type")
        return
    major, minor = torch.cuda.get_device_capability(torch.device(_local(device)))
    if (major, minor) < (8, 9) or not hasattr(torch, "_scaled_mm"):
        reason = "FP8 needs compute capability 8.9+ and torch._scaled_mm"
        emit("skip", device=device, kind="gemm", dtype="fp8", reason=reason)
        return
    n = gemm_size(device, "fp8", args.memory_bytes, args.cpu_size, args.gpu_size)
    generator = torch.Generator(device=_local(device)).manual_seed(0)
    a = torch.randn((n, n), device=_local(device), generator=generator).to(torch.float8_e4m3fn)
    # _scaled_mm wants the second operand column-major.
    b = torch.randn((n, n), device=_local(device), generator=generator).to(torch.float8_e4m3fn).t()
    one = torch.ones((), device=_local(device), dtype=torch.float32)
    result = {}

    def product(fast):
        return torch._scaled_mm(
            a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=fast
        )

    # The datasheet's FP8 rate assumes fast accumulation; where this torch or GPU refuses it,
    # FP32 accumulation is timed instead and the event says which.
    accumulation = "fast"
    try:
        product(True)
        torch.cuda.synchronize(torch.device(_local(device)))
    except (RuntimeError, TypeError):
        accumulation = "fp32"

    def step():
        result["out"] = product(accumulation == "fast")

    seconds, repeats = timer.run(step)
    out = result["out"]
    if isinstance(out, tuple):  # older torch returned (out, amax)
        out = out[0]
    host = torch_math(torch)
    _gemm_measured(device, "fp8", seconds, repeats, a, b, out, host, accumulation=accumulation)


def _torch_copy(torch, timer, args, device):
    count = max(1, min(args.copy_bytes, args.memory_bytes // 2) // 4)
    src = torch.ones(count, device=_local(device), dtype=torch.float32)
    dst = torch.zeros(count, device=_local(device), dtype=torch.float32)
    seconds, repeats = timer.run(lambda: dst.copy_(src), warmup=1)
    ok = float(dst[count // 2].item()) == 1.0
    nbytes = 2 * count * 4
    _measured(
        device, "copy", None, nbytes * repeats / seconds, "B/s", count * 4, seconds, repeats, ok
    )


def _torch_host(torch, timer, args, device, direction):
    nbytes = max(1, min(args.host_bytes, args.memory_bytes // 2))
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    gpu = torch.empty(nbytes, dtype=torch.uint8, device=_local(device))
    host.fill_(7)
    if direction == "h2d":
        seconds, repeats = timer.run(lambda: gpu.copy_(host, non_blocking=True), warmup=1)
        ok = int(gpu[nbytes // 2].item()) == 7
    else:
        gpu.fill_(9)
        seconds, repeats = timer.run(lambda: host.copy_(gpu, non_blocking=True), warmup=1)
        ok = int(host[nbytes // 2].item()) == 9
    _measured(
        device, direction, None, nbytes * repeats / seconds, "B/s", nbytes, seconds, repeats, ok
    )


def _torch_p2p(torch, args, cuda):
    nbytes = max(1, min(args.host_bytes, args.memory_bytes // 2))
    for i, source in enumerate(cuda):
        for target in cuda[i + 1 :]:
            src_dev, dst_dev = torch.device(_local(source)), torch.device(_local(target))
            try:
                if not torch.cuda.can_device_access_peer(src_dev.index, dst_dev.index):
                    emit(
                        "skip",
                        device=source,
                        kind="p2p",
                        dtype=None,
                        peer=target,
                        reason="no peer access between these GPUs",
                    )
                    continue
                src = torch.full((nbytes,), 5, dtype=torch.uint8, device=src_dev)
                dst = torch.empty(nbytes, dtype=torch.uint8, device=dst_dev)

                def sync(src_dev=src_dev, dst_dev=dst_dev):
                    torch.cuda.synchronize(src_dev)
                    torch.cuda.synchronize(dst_dev)

                timer = Timer(args.slice, sync)
                seconds, repeats = timer.run(
                    lambda src=src, dst=dst: dst.copy_(src, non_blocking=True), warmup=1
                )
                ok = int(dst[nbytes // 2].item()) == 5
                value = nbytes * repeats / seconds
                _measured(
                    source,
                    "p2p",
                    None,
                    value,
                    "B/s",
                    nbytes,
                    seconds,
                    repeats,
                    ok,
                    peer=target,
                    peer_uuid=_RAN_ON.get(target),
                )
                del src, dst
                torch.cuda.empty_cache()
            except Exception as exc:
                emit(
                    "error",
                    device=source,
                    kind="p2p",
                    dtype=None,
                    peer=target,
                    error=_error_text(exc),
                )


# ----------------------------------------------------------------------------- tensorflow


def run_tensorflow(args, devices):
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(Exception):
            tf.config.experimental.set_memory_growth(gpu, True)
    gpus = tf.config.list_physical_devices("GPU")
    cuda = [d for d in devices if d.startswith("cuda:")]
    if cuda and not gpus:
        built = tf.test.is_built_with_cuda()
        reason = "TensorFlow {} sees no GPU ({})".format(
            tf.__version__, "built with CUDA" if built else "a CPU-only build"
        )
        no_gpu("tensorflow", cuda, reason)
        devices = [d for d in devices if d not in cuda]
    for device in devices:
        if device == "cpu":
            name = "/CPU:0"
        elif device.startswith("cuda:") and _ordinal(device) < len(gpus):
            name = "/GPU:%d" % _ordinal(device)
            check_identity(device, None)
        else:
            error = "TensorFlow sees {} GPU(s), not {}".format(len(gpus), device)
            emit("error", device=device, kind="gemm", dtype=None, error=error)
            continue
        for dtype in args.dtypes:
            if dtype not in ("fp32", "tf32", "bf16", "fp16") or (
                device == "cpu" and dtype != "fp32"
            ):
                emit(
                    "skip",
                    device=device,
                    kind="gemm",
                    dtype=dtype,
                    reason="not measured with TensorFlow",
                )
                continue
            try:
                _tf_gemm(tf, args, device, name, dtype)
            except Exception as exc:
                emit("error", device=device, kind="gemm", dtype=dtype, error=_error_text(exc))


def _tf_gemm(tf, args, device, name, dtype):
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size, args.gpu_size)
    tf.config.experimental.enable_tensor_float_32_execution(dtype == "tf32")
    tf_dtype = {"fp32": tf.float32, "tf32": tf.float32, "bf16": tf.bfloat16}.get(dtype, tf.float16)
    with tf.device(name):
        a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), tf_dtype)
        b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 2)), tf_dtype)
        result = {}

        def step():
            result["out"] = tf.linalg.matmul(a, b)

        def sync():
            if "out" in result:
                # Reading one element waits for the product (TensorFlow runs ops asynchronously).
                result["out"][0, 0].numpy()

        seconds, repeats = _chained(step, sync, args.slice)
        out = result["out"]
        import numpy as np  # TensorFlow depends on NumPy

        host = numpy_math(np)
        _gemm_measured(device, dtype, seconds, repeats, a.numpy(), b.numpy(), out.numpy(), host)


def _chained(step, sync, slice_s):
    """Time a step whose completion is only seen by `sync` (TensorFlow, JAX)."""
    timer = Timer(slice_s, sync)
    return timer.run(step)


# ----------------------------------------------------------------------------- jax


def run_jax(args, devices):
    import jax
    import jax.numpy as jnp

    cuda = [d for d in devices if d.startswith("cuda:")]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
        if cuda:
            platforms = sorted({d.platform for d in jax.devices()})
            reason = "JAX {} has no GPU backend (platforms: {})".format(
                jax.__version__, ", ".join(platforms)
            )
            no_gpu("jax", cuda, reason)
            devices = [d for d in devices if d not in cuda]
    cpus = jax.devices("cpu")
    for device in devices:
        if device == "cpu":
            target = cpus[0]
        elif device.startswith("cuda:") and _ordinal(device) < len(gpus):
            target = gpus[_ordinal(device)]
            check_identity(device, None)
        else:
            error = "JAX sees {} GPU(s), not {}".format(len(gpus), device)
            emit("error", device=device, kind="gemm", dtype=None, error=error)
            continue
        for dtype in args.dtypes:
            if dtype not in ("fp32", "bf16", "fp16") or (device == "cpu" and dtype != "fp32"):
                emit(
                    "skip", device=device, kind="gemm", dtype=dtype, reason="not measured with JAX"
                )
                continue
            try:
                _jax_gemm(jax, jnp, args, device, target, dtype)
            except Exception as exc:
                emit("error", device=device, kind="gemm", dtype=dtype, error=_error_text(exc))


def _jax_gemm(jax, jnp, args, device, target, dtype):
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size, args.gpu_size)
    jax_dtype = {"fp32": jnp.float32, "bf16": jnp.bfloat16}.get(dtype, jnp.float16)
    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.device_put(jax.random.normal(key_a, (n, n), dtype=jax_dtype), target)
    b = jax.device_put(jax.random.normal(key_b, (n, n), dtype=jax_dtype), target)
    result = {}
    # fp32 means IEEE FP32: JAX would otherwise use TF32 (or bf16 passes) on a GPU.
    precision = jax.lax.Precision.HIGHEST if dtype == "fp32" else jax.lax.Precision.DEFAULT
    matmul = jax.jit(lambda x, y: jnp.matmul(x, y, precision=precision))

    def step():
        result["out"] = matmul(a, b)

    def sync():
        if "out" in result:
            result["out"].block_until_ready()

    seconds, repeats = _chained(step, sync, args.slice)
    import numpy as np  # JAX depends on NumPy

    arrays = [np.asarray(x) for x in (a, b, result["out"])]
    _gemm_measured(device, dtype, seconds, repeats, *arrays, numpy_math(np))


RUNNERS = {"numpy": run_numpy, "torch": run_torch, "tensorflow": run_tensorflow, "jax": run_jax}


# ----------------------------------------------------------------------------- main


def _wait_for(path, timeout):
    """Wait until the go file exists (mltui creates it when the device is free)."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(description="measure one library's speed")
    parser.add_argument("library", choices=sorted(LIBRARIES))
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--dtypes", default="fp32")
    parser.add_argument("--kinds", default="gemm,copy,host")
    parser.add_argument("--slice", type=float, default=0.25, help="seconds per measurement")
    parser.add_argument("--memory-bytes", type=int, default=1 << 30, help="allocation budget")
    parser.add_argument("--copy-bytes", type=int, default=256 << 20)
    parser.add_argument("--host-bytes", type=int, default=256 << 20)
    parser.add_argument("--cpu-size", type=int, default=1024, help="GEMM size on the CPU")
    parser.add_argument("--gpu-size", type=int, default=8192, help="GEMM size on a GPU")
    parser.add_argument("--p2p", action="store_true")
    parser.add_argument(
        "--uuids", default="", help="the UUID of each CUDA device of --devices, in order"
    )
    parser.add_argument("--go", help="wait for this file before measuring")
    parser.add_argument("--go-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    args.devices = [d for d in args.devices.split(",") if d]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.uuids = [u for u in args.uuids.split(",") if u]
    return args


def main(argv):
    args = parse_args(argv)
    module, distributions = LIBRARIES[args.library]
    started = time.monotonic()
    if importlib.util.find_spec(module) is None:
        emit("library", library=args.library, status="not_installed", version=None)
        emit("done")
        return 0
    # Whatever the library prints goes to stderr: stdout carries the JSON lines only.
    real_stdout_fd = os.dup(1)
    os.dup2(2, 1)
    global _OUT
    _OUT = os.fdopen(real_stdout_fd, "w")
    try:
        importlib.import_module(module)
    except Exception as exc:
        emit(
            "library",
            library=args.library,
            status="import_error",
            error=_error_text(exc),
            version=_version(distributions),
        )
        emit("done")
        return 0
    emit(
        "library",
        library=args.library,
        status="ok",
        version=_version(distributions),
        import_s=round(time.monotonic() - started, 3),
    )
    emit("ready")
    if args.go and not _wait_for(args.go, args.go_timeout):
        emit("library", library=args.library, status="error", error="never given the go")
        return 1
    pin_devices(args.devices, args.uuids)
    try:
        RUNNERS[args.library](args, args.devices)
    except Exception as exc:
        traceback.print_exc()
        emit("error", device=None, kind=None, dtype=None, error=_error_text(exc))
    emit("done", elapsed_s=round(time.monotonic() - started, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
