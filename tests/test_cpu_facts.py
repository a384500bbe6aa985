"""When the CPU is the device (issue 19.3): each library's BLAS/oneDNN and threads, the CPU's
vector extensions, and the environment that changes results, in `check` and its Markdown."""

from __future__ import annotations

import importlib.util
import io
import sys

import pytest
from rich.console import Console

from probes.catalog import get_library
from probes.libraries import probe_library
from probes.model import CheckResult, CpuInfo, DeviceResult, LibraryReport, SystemInfo
from probes.peaks import parse_cpuinfo
from probes.system import RESULT_ENVIRONMENT, result_environment, vector_extensions
from probes.target import current_target
from tui.check_markdown import check_markdown
from tui.cli.check import render_report
from tui.presentation import cpu_backend_text, cpu_threads_text

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16 avx512_vnni avx512_fp16 amx_tile\
 amx_bf16 amx_int8

processor\t: 1
flags\t\t: fpu sse2
"""
GRACE = """processor\t: 0
BogoMIPS\t: 2000.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp sve sve2 bf16
CPU implementer\t: 0x41
"""


def test_vector_extensions_by_their_known_names() -> None:
    x86 = vector_extensions(parse_cpuinfo(SAPPHIRE_RAPIDS).flags)
    assert x86[:4] == ["AVX", "AVX2", "FMA3", "AVX-512F"]
    assert {"AMX", "AMX-BF16", "AMX-INT8", "AVX-512 FP16"} <= set(x86)
    assert vector_extensions(parse_cpuinfo(GRACE).flags) == ["NEON", "SVE", "SVE2"]
    assert vector_extensions(frozenset({"fpu", "sse2"})) == []


def test_the_environment_that_changes_results_is_each_variable_or_none() -> None:
    env = result_environment({"OMP_NUM_THREADS": "4", "PATH": "/bin", "XLA_FLAGS": ""})
    assert list(env) == list(RESULT_ENVIRONMENT)
    assert env["OMP_NUM_THREADS"] == "4" and env["XLA_FLAGS"] == ""
    assert env["MKL_NUM_THREADS"] is None and "PATH" not in env
    for name in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LD_LIBRARY_PATH",
        "XLA_FLAGS",
        "TF_CPP_MIN_LOG_LEVEL",
    ):
        assert name in env


@pytest.mark.parametrize("library", ["sklearn", "torch"])
async def test_the_probe_reports_the_cpu_backend_and_its_threads(library: str) -> None:
    if importlib.util.find_spec(library) is None:  # never imported here: the probe runs it
        pytest.skip(f"{library} is not installed (make install installs it)")
    spec = get_library(library)
    report = await probe_library(current_target(), spec, env={"OMP_NUM_THREADS": "1"})
    assert report.status == "ok", report.error
    build = report.build
    assert build.get("blas"), build
    assert isinstance(build.get("threads"), int) and build["threads"] >= 1
    assert build.get("threads_from")
    if library == "torch":
        # torch follows OMP_NUM_THREADS: the probe reads the library's own count.
        assert build["threads"] == 1
        assert "cpu_backend_error" not in build


def _report() -> CheckResult:
    torch = LibraryReport(
        name="torch",
        display_name="PyTorch",
        status="ok",
        build={
            "blas": "MKL 2024.2",
            "onednn": "oneDNN 3.5",
            "threads": 8,
            "threads_from": "torch.get_num_threads()",
        },
        devices=[DeviceResult(kind="cpu", computation_ok=True)],
    )
    silent = LibraryReport(name="caffe", display_name="Caffe", status="ok", build={})
    failed = LibraryReport(name="jax", display_name="JAX", status="timeout")
    system = SystemInfo(
        cpu=CpuInfo(model="Xeon", vector_extensions=["AVX2", "AVX-512F", "AMX-BF16"]),
        environment={"OMP_NUM_THREADS": "8", "XLA_FLAGS": None},
    )
    return CheckResult(system=system, libraries=[torch, silent, failed])


def test_backend_words_say_what_was_not_reported() -> None:
    torch, silent, failed = _report().libraries
    assert cpu_backend_text(torch) == "MKL 2024.2 + oneDNN 3.5"
    assert cpu_threads_text(torch) == "8 (torch.get_num_threads())"
    assert cpu_backend_text(silent) == cpu_threads_text(silent) == "not reported"
    assert cpu_backend_text(failed) == cpu_threads_text(failed) == "-"


def test_markdown_and_cli_show_the_cpu_facts() -> None:
    result = _report()
    markdown = check_markdown(result)
    assert "| Vector extensions | AVX2, AVX-512F, AMX-BF16 |" in markdown
    assert "## On the CPU" in markdown
    assert "| PyTorch | MKL 2024.2 + oneDNN 3.5 | 8 (torch.get\\_num\\_threads()) |" in markdown
    assert "| OMP\\_NUM\\_THREADS | 8 |" in markdown and "| XLA\\_FLAGS | unset |" in markdown
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(render_report(result))
    text = console.export_text()
    assert "AVX2, AVX-512F, AMX-BF16" in text
    assert "MKL 2024.2 + oneDNN 3.5" in text and "OMP_NUM_THREADS" in text


if sys.platform != "linux":  # pragma: no cover - the bus and cpuinfo are Linux files
    pytestmark = pytest.mark.skip("Linux only")
