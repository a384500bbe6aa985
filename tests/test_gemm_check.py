"""The GEMM result check of the load script (issue 17, class 4): wrong products are caught.

Real products from NumPy, torch, TensorFlow and JAX on this CPU (FP32, BF16, FP16), and NumPy
emulations of what GPU paths do (TF32 inputs, split-K reduced in BF16, FP8 with a 14-bit fast
accumulator), must pass `check_product`; every corruption of them must fail: scale errors of
1 % (FP32) and 5 % (BF16/FP16), a zeroed block, an output zero except one row, NaN and Inf, one
row or column wrong, permuted rows, shifted columns, a transposed or negated output, one element
off, a lower precision passed off as FP32. The frameworks run in a subprocess
(tests/gemm_check_driver.py), never in this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).resolve().parent / "gemm_check_driver.py"

#: Shapes (n, k, m): rectangular, and a long inner dimension where FP32's accumulator error
#: is largest (k = 8192, the GPU size).
SHAPES = {"rectangular": (256, 384, 200), "long inner": (48, 8192, 40)}


def _cases(framework: str, shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(DRIVER), framework, *map(str, shape)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cases = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert cases, done.stderr[-2000:]
    return cases


def _judge(cases: list[dict[str, Any]]) -> None:
    """Correct products pass; everything else is caught, with a sentence saying where."""
    wrongly = [
        c for c in cases if c["ok"] is not c["case"].startswith("correct") and c["ok"] is not None
    ]
    assert not wrongly, wrongly
    for case in cases:
        if case["ok"] is False:
            assert case["detail"] and (
                "off by" in case["detail"]
                or "not finite" in case["detail"]
                or "dot product" in case["detail"]
            ), case


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", ["numpy", "torch", "tensorflow", "jax"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_real_products_pass_and_every_corruption_fails(framework: str, shape: str) -> None:
    cases = _cases(framework, SHAPES[shape])
    _judge(cases)
    corrupt = [c for c in cases if not c["case"].startswith("correct")]
    names = {c["case"] for c in corrupt}
    assert {"scale up", "scale down", "zero except row 1", "one NaN", "two rows swapped"} <= names
    # fp32 with a 1 % error and the half-precision types with 5 %, both ways.
    scaled = {(c["dtype"], c["case"]) for c in corrupt if c["case"].startswith("scale")}
    dtypes = {c["dtype"] for c in cases}
    assert scaled == {(d, s) for d in dtypes for s in ("scale up", "scale down")}


@pytest.mark.frameworks  # NumPy and ml_dtypes come with the frameworks
def test_gpu_behaviour_emulated_passes_and_wrong_results_fail() -> None:
    cases = _cases("emulated", SHAPES["rectangular"])
    _judge(cases)
    by_case = {c["case"]: c for c in cases}
    assert by_case["correct FP8 fast accumulation"]["ok"] is True
    assert by_case["TF32 passed off as FP32"]["ok"] is False
    assert by_case["fast accumulation x2.0"]["ok"] is False


@pytest.mark.frameworks
def test_every_gemm_path_of_the_script_checks_its_product() -> None:
    # The script's own paths, each library's matmul returning 1 % / 5 % too much.
    cases = _cases("paths", (192, 192, 192))
    seen = {(c["framework"], c["dtype"], c["case"]): c["ok"] for c in cases}
    for library in ("numpy", "torch", "tensorflow", "jax"):
        assert seen[(f"paths:{library}", "fp32", "right")] is True
        assert seen[(f"paths:{library}", "fp32", "1 % too large")] is False
    assert seen[("paths:torch", "bf16", "right")] is True
    assert seen[("paths:torch", "bf16", "5 % too large")] is False
    wrong = [c for c in cases if c["case"] != "right" and c["ok"] is False]
    assert all(c["detail"] for c in wrong)
