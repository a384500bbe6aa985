"""Measure how fast one ML library runs on this machine's devices: GEMM throughput and bandwidth.

Run as `python perf_load.py LIBRARY --devices cpu,cuda:0 [options]` with LIBRARY one of numpy,
torch, tensorflow, jax. Standalone on purpose (stdlib + the one library, Python >= 3.8 syntax, no
mltui import): mltui runs it in the *target* interpreter, in its own process group, with a
timeout, and reads NVML itself while this runs.

What it measures, per device:
  gemm   C = A @ B, square n x n, for each data type asked (fp32, tf32, bf16, fp16, fp8),
         2 n^3 FLOP per product; warmed up first, then repeated for about `--slice` seconds and
         timed with the device's own events (CUDA) or after synchronising (host clock);
         one element of C is checked against a float64 dot product afterwards.
  copy   device-to-device (or, on the CPU, a STREAM-like copy of arrays far larger than the
         caches); reported as bytes read + bytes written per second.
  h2d/d2h  pinned host memory to the GPU and back (torch only).
  p2p    GPU i to GPU j for every pair that can access its peer (torch only, with --p2p).

Output, on stdout, is JSON lines only:
  {"event": "library", "library": "torch", "status": "ok", "version": "2.4.0", ...}
  {"event": "ready"}                          imported; waiting for the go file (--go)
  {"event": "measure", "device": "cuda:0", "kind": "gemm", "dtype": "bf16", "value": 7.1e14,
   "unit": "FLOP/s", "size": 8192, "seconds": 0.3, "repeats": 28, "result_ok": true}
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
import os
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
#: Relative tolerance of the one-element result check, per data type.
TOLERANCE = {"fp32": 1e-3, "tf32": 2e-2, "bf16": 5e-2, "fp16": 2e-2, "fp8": 0.2}

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


def _check_element(value, row, column, rtol):
    """True when the computed element matches the float64 dot product of its row and column."""
    products = [float(row[i]) * float(column[i]) for i in range(min(len(row), len(column)))]
    expected = sum(products)
    scale = sum(abs(p) for p in products) or 1.0
    return abs(float(value) - expected) <= rtol * scale


def gemm_size(device, dtype, memory_bytes, cpu_size):
    """The matrix size: large enough to saturate the device, within the memory budget."""
    n = cpu_size if device == "cpu" else 8192
    while n > 256 and 3 * n * n * ELEMENT_BYTES[dtype] > memory_bytes:
        n //= 2
    return n


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
    n = gemm_size(device, "fp32", args.memory_bytes, args.cpu_size)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)

    def step():
        np.matmul(a, b, out=out)

    seconds, repeats = timer.run(step)
    ok = _check_element(out[1, 2], a[1, :], b[:, 2], TOLERANCE["fp32"])
    _measured(
        device, "gemm", "fp32", 2.0 * n**3 * repeats / seconds, "FLOP/s", n, seconds, repeats, ok
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


def _measured(device, kind, dtype, value, unit, size, seconds, repeats, ok, **extra):
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
    for device in devices:
        if device != "cpu" and not device.startswith("cuda"):
            emit("skip", device=device, kind="gemm", dtype=None, reason="unknown device")
            continue
        if device.startswith("cuda") and not torch.cuda.is_available():
            kind = "gemm" if args.dtypes else "copy" if "copy" in args.kinds else "h2d"
            emit("error", device=device, kind=kind, dtype=None, error="torch sees no CUDA device")
            continue
        _torch_device(torch, args, device)
    if args.p2p and len(cuda) > 1:
        _torch_p2p(torch, args, cuda)


def _torch_timer(torch, args, device):
    if device == "cpu":
        return Timer(args.slice, lambda: None)
    dev = torch.device(device)

    def sync():
        torch.cuda.synchronize(dev)

    def events():
        with torch.cuda.device(dev):
            return (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))

    return Timer(args.slice, sync, events)


def _torch_device(torch, args, device):
    dev = torch.device(device)
    if device.startswith("cuda"):
        torch.cuda.set_device(dev)
        emit(
            "device",
            device=device,
            name=torch.cuda.get_device_name(dev),
            sm_count=torch.cuda.get_device_properties(dev).multi_processor_count,
            compute_capability="{}.{}".format(*torch.cuda.get_device_capability(dev)),
        )
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


def _torch_gemm(torch, timer, args, device, dtype):
    cpu = device == "cpu"
    if cpu and dtype in ("tf32", "fp16", "fp8"):
        emit("skip", device=device, kind="gemm", dtype=dtype, reason="not a CPU data type")
        return
    if dtype == "fp8":
        _torch_fp8(torch, timer, args, device)
        return
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size)
    torch_dtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}.get(
        dtype, torch.float16
    )
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn((n, n), device=device, dtype=torch_dtype, generator=generator)
    b = torch.randn((n, n), device=device, dtype=torch_dtype, generator=generator)
    out = torch.empty((n, n), device=device, dtype=torch_dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        seconds, repeats = timer.run(lambda: torch.matmul(a, b, out=out))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    row = a[1, :].float().cpu().tolist()
    column = b[:, 2].float().cpu().tolist()
    ok = _check_element(out[1, 2].float().item(), row, column, TOLERANCE[dtype])
    _measured(
        device, "gemm", dtype, 2.0 * n**3 * repeats / seconds, "FLOP/s", n, seconds, repeats, ok
    )


def _torch_fp8(torch, timer, args, device):
    if not device.startswith("cuda"):
        emit("skip", device=device, kind="gemm", dtype="fp8", reason="not a CPU data type")
        return
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if (major, minor) < (8, 9) or not hasattr(torch, "_scaled_mm"):
        reason = "FP8 needs compute capability 8.9+ and torch._scaled_mm"
        emit("skip", device=device, kind="gemm", dtype="fp8", reason=reason)
        return
    n = gemm_size(device, "fp8", args.memory_bytes, args.cpu_size)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn((n, n), device=device, generator=generator).to(torch.float8_e4m3fn)
    # _scaled_mm wants the second operand column-major.
    b = torch.randn((n, n), device=device, generator=generator).to(torch.float8_e4m3fn).t()
    one = torch.ones((), device=device, dtype=torch.float32)
    result = {}

    def step():
        result["out"] = torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)

    seconds, repeats = timer.run(step)
    out = result["out"]
    if isinstance(out, tuple):  # older torch returned (out, amax)
        out = out[0]
    row = a[1, :].float().cpu().tolist()
    column = b[:, 2].float().cpu().tolist()
    ok = _check_element(out[1, 2].float().item(), row, column, TOLERANCE["fp8"])
    _measured(
        device, "gemm", "fp8", 2.0 * n**3 * repeats / seconds, "FLOP/s", n, seconds, repeats, ok
    )


def _torch_copy(torch, timer, args, device):
    count = max(1, min(args.copy_bytes, args.memory_bytes // 2) // 4)
    src = torch.ones(count, device=device, dtype=torch.float32)
    dst = torch.zeros(count, device=device, dtype=torch.float32)
    seconds, repeats = timer.run(lambda: dst.copy_(src), warmup=1)
    ok = float(dst[count // 2].item()) == 1.0
    nbytes = 2 * count * 4
    _measured(
        device, "copy", None, nbytes * repeats / seconds, "B/s", count * 4, seconds, repeats, ok
    )


def _torch_host(torch, timer, args, device, direction):
    nbytes = max(1, min(args.host_bytes, args.memory_bytes // 2))
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    gpu = torch.empty(nbytes, dtype=torch.uint8, device=device)
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
            src_dev, dst_dev = torch.device(source), torch.device(target)
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
                    source, "p2p", None, value, "B/s", nbytes, seconds, repeats, ok, peer=target
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
    for device in devices:
        if device == "cpu":
            name = "/CPU:0"
        elif device.startswith("cuda:") and int(device.split(":")[1]) < len(gpus):
            name = "/GPU:" + device.split(":")[1]
        else:
            emit(
                "error", device=device, kind="gemm", dtype=None, error="TensorFlow sees no such GPU"
            )
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
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size)
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
        row = tf.cast(a[1, :], tf.float64).numpy().tolist()
        column = tf.cast(b[:, 2], tf.float64).numpy().tolist()
        ok = _check_element(
            float(tf.cast(out[1, 2], tf.float64).numpy()), row, column, TOLERANCE[dtype]
        )
    _measured(
        device, "gemm", dtype, 2.0 * n**3 * repeats / seconds, "FLOP/s", n, seconds, repeats, ok
    )


def _chained(step, sync, slice_s):
    """Time a step whose completion is only seen by `sync` (TensorFlow, JAX)."""
    timer = Timer(slice_s, sync)
    return timer.run(step)


# ----------------------------------------------------------------------------- jax


def run_jax(args, devices):
    import jax
    import jax.numpy as jnp

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    cpus = jax.devices("cpu")
    for device in devices:
        if device == "cpu":
            target = cpus[0]
        elif device.startswith("cuda:") and int(device.split(":")[1]) < len(gpus):
            target = gpus[int(device.split(":")[1])]
        else:
            emit("error", device=device, kind="gemm", dtype=None, error="JAX sees no such GPU")
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
    n = gemm_size(device, dtype, args.memory_bytes, args.cpu_size)
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
    out = result["out"]
    row = [float(x) for x in a[1, :].astype(jnp.float32).tolist()]
    column = [float(x) for x in b[:, 2].astype(jnp.float32).tolist()]
    ok = _check_element(float(out[1, 2].astype(jnp.float32)), row, column, TOLERANCE[dtype])
    _measured(
        device, "gemm", dtype, 2.0 * n**3 * repeats / seconds, "FLOP/s", n, seconds, repeats, ok
    )


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
    parser.add_argument("--p2p", action="store_true")
    parser.add_argument("--go", help="wait for this file before measuring")
    parser.add_argument("--go-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    args.devices = [d for d in args.devices.split(",") if d]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.kinds = [k for k in args.kinds.split(",") if k]
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
    try:
        RUNNERS[args.library](args, args.devices)
    except Exception as exc:
        traceback.print_exc()
        emit("error", device=None, kind=None, dtype=None, error=_error_text(exc))
    emit("done", elapsed_s=round(time.monotonic() - started, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
