"""Drives perf_load.py's GEMM check with real products and corrupted ones (run as a script).

Run in the target interpreter as `python gemm_check_driver.py FRAMEWORK N K M`; prints one JSON
line per case: {"framework", "dtype", "case", "ok", "detail"}. Standalone like the load script
(it imports only that script and the one framework) so that mltui's test process never imports
an ML library. FRAMEWORK is numpy, torch, tensorflow, jax, emulated (NumPy emulations of what
GPUs do: TF32 inputs, split-K reduced in BF16, FP8 with a 14-bit accumulator) or paths (the
script's own GEMM paths run with each library's matmul replaced by a corrupting one).
"""

import importlib.util
import io
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "probes" / "scripts" / "perf_load.py"
spec = importlib.util.spec_from_file_location("perf_load", SCRIPT)
perf_load = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perf_load)


def report(framework, dtype, case, ok, detail):
    """One case's outcome as a JSON line."""
    print(
        json.dumps(
            {"framework": framework, "dtype": dtype, "case": case, "ok": bool(ok), "detail": detail}
        )
    )
    sys.stdout.flush()


def corruptions(c, dup, scale_error, shape):
    """(name, corrupted copy of C) for each way a GEMM result can be wrong."""
    n, m = shape
    nan, inf = float("nan"), float("inf")

    def changed(edit):
        x = dup(c)
        edit(x)
        return x

    def set_item(x, index, value):
        x[index] = value

    yield "scale up", c * (1 + scale_error)
    yield "scale down", c * (1 - scale_error)
    yield "ten percent too large", c * 1.10
    yield "three times too large", c * 3
    yield "negated", c * -1
    yield (
        "zeroed block",
        changed(lambda x: set_item(x, (slice(n // 4, n // 2), slice(m // 4, m // 2)), 0)),
    )
    only_row = dup(c) * 0
    only_row[1] = c[1]
    yield "zero except row 1", only_row
    yield "one NaN", changed(lambda x: set_item(x, (n // 3, m // 5), nan))
    yield "one +Inf", changed(lambda x: set_item(x, (n - 1, 0), inf))
    yield "one -Inf", changed(lambda x: set_item(x, (0, m - 1), -inf))
    yield "one row doubled", changed(lambda x: set_item(x, n // 7, c[n // 7] * 2))
    yield "one row zeroed", changed(lambda x: set_item(x, n - 2, 0))
    yield "one column zeroed", changed(lambda x: set_item(x, (slice(None), m // 3), 0))
    yield (
        "one column doubled",
        changed(lambda x: set_item(x, (slice(None), m - 1), c[:, m - 1] * 2)),
    )
    yield "two rows swapped", c[[n // 2 if i == 3 else 3 if i == n // 2 else i for i in range(n)]]
    yield "rows reversed", c[list(range(n - 1, -1, -1))]
    yield "columns shifted by one", c[:, [max(0, j - 1) for j in range(m)]]
    yield (
        "one element ten times",
        changed(lambda x: set_item(x, (n // 5, m // 2), c[n // 5, m // 2] * 10 + 100)),
    )
    if n == m:
        yield "transposed", dup(c.T)


def check_framework(framework, shape, make, host, dup, dtypes):
    """Real products of one framework must pass; every corruption of them must fail."""
    n, _, m = shape
    for dtype in dtypes:
        for label, (a, b, c) in make(dtype):
            ok, detail = perf_load.check_product(a, b, c, dtype, host)
            report(framework, dtype, "correct " + label, ok, detail)
        a, b, c = make(dtype)[0][1]
        error = 0.01 if dtype in ("fp32", "tf32") else 0.05
        for case, wrong in corruptions(c, dup, error, (n, m)):
            ok, detail = perf_load.check_product(a, b, wrong, dtype, host)
            report(framework, dtype, case, ok, detail)


def run_numpy(shape):
    import numpy as np

    n, k, m = shape
    rng = np.random.default_rng(1)

    def make(dtype):
        a = rng.standard_normal((n, k), dtype=np.float32)
        b = rng.standard_normal((k, m), dtype=np.float32)
        uniform = (rng.random((n, k), dtype=np.float32), rng.random((k, m), dtype=np.float32))
        big = (a * 1e3, b * 1e-2)
        return [
            (name, (x, y, x @ y))
            for name, (x, y) in (("gaussian", (a, b)), ("positive", uniform), ("scaled", big))
        ]

    check_framework("numpy", shape, make, perf_load.numpy_math(np), lambda x: x.copy(), ["fp32"])


def run_torch(shape):
    import torch

    n, k, m = shape
    generator = torch.Generator().manual_seed(1)

    def make(dtype):
        kind = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        cases = []
        for name in ("gaussian", "positive"):
            if name == "gaussian":
                a = torch.randn((n, k), generator=generator).to(kind)
                b = torch.randn((k, m), generator=generator).to(kind)
            else:
                a = torch.rand((n, k), generator=generator).to(kind)
                b = torch.rand((k, m), generator=generator).to(kind)
            cases.append((name, (a, b, torch.matmul(a, b))))
        return cases

    check_framework(
        "torch",
        shape,
        make,
        perf_load.torch_math(torch),
        lambda x: x.clone(),
        ["fp32", "bf16", "fp16"],
    )


def numpy_host(np):
    """The host math, copy and data types of a framework checked through NumPy arrays."""
    return perf_load.numpy_math(np), lambda x: x.copy(), ["fp32", "bf16", "fp16"]


def run_tensorflow(shape):
    import numpy as np
    import tensorflow as tf

    n, k, m = shape

    def make(dtype):
        kind = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}[dtype]
        a = tf.cast(tf.random.stateless_normal((n, k), seed=(0, 1)), kind)
        b = tf.cast(tf.random.stateless_normal((k, m), seed=(0, 2)), kind)
        return [("gaussian", (a.numpy(), b.numpy(), tf.linalg.matmul(a, b).numpy()))]

    check_framework("tensorflow", shape, make, *numpy_host(np))


def run_jax(shape):
    import jax
    import jax.numpy as jnp
    import numpy as np

    n, k, m = shape

    def make(dtype):
        kind = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}[dtype]
        key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
        a = jax.random.normal(key_a, (n, k), dtype=kind)
        b = jax.random.normal(key_b, (k, m), dtype=kind)
        precision = jax.lax.Precision.HIGHEST if dtype == "fp32" else jax.lax.Precision.DEFAULT
        c = jnp.matmul(a, b, precision=precision)
        return [("gaussian", tuple(np.asarray(x) for x in (a, b, c)))]

    check_framework("jax", shape, make, *numpy_host(np))


def run_emulated(shape):
    """What GPU paths do differently from a CPU, emulated exactly in NumPy."""
    import ml_dtypes
    import numpy as np

    n, k, m = shape
    rng = np.random.default_rng(2)
    host = perf_load.numpy_math(np)
    a = rng.standard_normal((n, k), dtype=np.float32)
    b = rng.standard_normal((k, m), dtype=np.float32)

    def truncate(x, bits):
        raw = x.astype(np.float32).view(np.uint32)
        return (raw & np.uint32((0xFFFFFFFF << (23 - bits)) & 0xFFFFFFFF)).view(np.float32)

    # TF32: inputs truncated to 10 explicit bits, products summed in FP32.
    tf32 = truncate(a, 10) @ truncate(b, 10)
    report(
        "emulated",
        "tf32",
        "correct TF32 tensor cores",
        *perf_load.check_product(a, b, tf32, "tf32", host),
    )
    report(
        "emulated",
        "fp32",
        "TF32 passed off as FP32",
        *perf_load.check_product(a, b, tf32, "fp32", host),
    )
    bf16_inputs = a.astype(ml_dtypes.bfloat16).astype(np.float32) @ b.astype(
        ml_dtypes.bfloat16
    ).astype(np.float32)
    report(
        "emulated",
        "fp32",
        "BF16 passed off as FP32",
        *perf_load.check_product(a, b, bf16_inputs, "fp32", host),
    )
    # BF16 split-K: four FP32 partial products rounded to BF16 and summed in BF16.
    a16, b16 = a.astype(ml_dtypes.bfloat16), b.astype(ml_dtypes.bfloat16)
    a32, b32 = a16.astype(np.float32), b16.astype(np.float32)
    total = None
    for part in range(4):
        lo, hi = part * k // 4, (part + 1) * k // 4
        piece = (a32[:, lo:hi] @ b32[lo:hi]).astype(ml_dtypes.bfloat16)
        total = (
            piece
            if total is None
            else (total.astype(np.float32) + piece.astype(np.float32)).astype(ml_dtypes.bfloat16)
        )
    report(
        "emulated",
        "bf16",
        "correct split-K reduced in BF16",
        *perf_load.check_product(a16, b16, total, "bf16", host),
    )
    report(
        "emulated",
        "bf16",
        "split-K 5 % too large",
        *perf_load.check_product(a16, b16, total * ml_dtypes.bfloat16(1.05), "bf16", host),
    )
    # FP8 with fast accumulation: E4M3 inputs, a 14-bit truncating accumulator, BF16 out.
    a8, b8 = a.astype(ml_dtypes.float8_e4m3fn), b.astype(ml_dtypes.float8_e4m3fn)
    x, y = a8.astype(np.float32), b8.astype(np.float32)
    accumulator = np.zeros((n, m), dtype=np.float32)
    for step in range(k):
        accumulator = truncate(accumulator + np.outer(x[:, step], y[step]), 13)
    fast = accumulator.astype(ml_dtypes.bfloat16)
    ok, detail = perf_load.check_product(a8, b8, fast, "fp8", host, fast_accumulation=True)
    report("emulated", "fp8", "correct FP8 fast accumulation", ok, detail)
    exact = (x.astype(np.float64) @ y.astype(np.float64)).astype(ml_dtypes.bfloat16)
    report(
        "emulated",
        "fp8",
        "correct FP8 FP32 accumulation",
        *perf_load.check_product(a8, b8, exact, "fp8", host),
    )
    for factor in (2.0, 0.5, 1.2):
        wrong = fast * ml_dtypes.bfloat16(factor)
        report(
            "emulated",
            "fp8",
            f"fast accumulation x{factor}",
            *perf_load.check_product(a8, b8, wrong, "fp8", host, fast_accumulation=True),
        )
    report(
        "emulated",
        "fp8",
        "FP32 accumulation x1.05",
        *perf_load.check_product(a8, b8, exact * ml_dtypes.bfloat16(1.05), "fp8", host),
    )


def run_paths(shape):
    """The load script's own GEMM path per library, with that library's matmul made wrong."""
    n = shape[0]
    args = perf_load.parse_args(
        [
            "numpy",
            "--dtypes",
            "fp32,bf16",
            "--kinds",
            "gemm",
            "--slice",
            "0.01",
            "--cpu-size",
            str(n),
        ]
    )
    plans = {
        "numpy": ("numpy", "matmul"),
        "torch": ("torch", "matmul"),
        "tensorflow": ("tensorflow.linalg", "matmul"),
        "jax": ("jax.numpy", "matmul"),
    }
    for library, (module_name, attribute) in plans.items():
        module = importlib.import_module(module_name)
        real = getattr(module, attribute)
        for case, factor in (("right", 1.0), ("1 % too large", 1.01), ("5 % too large", 1.05)):

            def wrong(x, y, *rest, _real=real, _factor=factor, **kw):
                out = kw.get("out")
                result = _real(x, y, *rest, **kw)
                if _factor == 1.0:
                    return result
                if out is not None:
                    out *= _factor
                    return out
                return result * _factor

            setattr(module, attribute, wrong)
            perf_load._OUT = io.StringIO()
            try:
                perf_load.RUNNERS[library](args, ["cpu"])
            finally:
                setattr(module, attribute, real)
            for line in perf_load._OUT.getvalue().splitlines():
                event = json.loads(line)
                if event["event"] == "measure":
                    report(
                        "paths:" + library,
                        event["dtype"],
                        case,
                        event["result_ok"],
                        event.get("result_check"),
                    )
                elif event["event"] == "error":
                    report(
                        "paths:" + library, event["dtype"], case + " (error)", None, event["error"]
                    )


if __name__ == "__main__":
    import importlib

    framework = sys.argv[1]
    dims = tuple(int(x) for x in sys.argv[2:5])
    globals()["run_" + framework](dims)
