"""The library probes against the real frameworks on this (GPU-less) machine, and their faults.

Each framework is probed once per test session (a session-scoped fixture running all probes in
parallel, as `mltui check` does); the fault tests stage misbehaving probe scripts through the
`script` override and check that each becomes a report, and that no process is left behind.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from probes.catalog import LIBRARIES, LibrarySpec, get_library
from probes.libraries import probe_libraries, probe_library
from probes.model import LibraryReport, TargetPython
from probes.target import current_target, resolve_target

pytestmark = pytest.mark.frameworks

#: Libraries installed in the test interpreter (pyproject's `frameworks` extra), pycaffe excepted.
INSTALLED = [s.id for s in LIBRARIES if importlib.util.find_spec(s.import_name) is not None]
PROBE_SCRIPT = get_library("torch").probe_script


@pytest.fixture(scope="session")
def real_reports() -> dict[str, LibraryReport]:
    """Every library probed once, in parallel, in the interpreter running the tests."""
    reports = asyncio.run(probe_libraries(current_target(), timeout=300))
    return {r.name: r for r in reports}


def test_every_known_library_gets_a_report(real_reports: dict[str, LibraryReport]) -> None:
    assert sorted(real_reports) == sorted(s.id for s in LIBRARIES)


@pytest.mark.parametrize("library_id", INSTALLED)
def test_installed_library_reports_version_and_a_cpu_computation(
    real_reports: dict[str, LibraryReport], library_id: str
) -> None:
    from importlib import metadata

    report = real_reports[library_id]
    spec = get_library(library_id)
    assert report.status == "ok", (report.error, report.stderr_tail)
    dist_versions = set()
    for dist in spec.distributions:
        try:
            dist_versions.add(metadata.version(dist))
        except metadata.PackageNotFoundError:
            continue
    # The module's own version; a wheel may add a build number (opencv 4.14.0 in 4.14.0.94).
    assert report.version is not None
    assert any(v == report.version or v.startswith(report.version + ".") for v in dist_versions)
    assert report.location is not None and Path(report.location).is_dir()
    assert report.gpu_devices == []  # no GPU on this machine
    (cpu,) = report.devices
    assert cpu.kind == "cpu"
    assert cpu.computation_ok is True, cpu
    assert cpu.computation_detail and "=" in cpu.computation_detail
    assert {"import", "compute"} <= set(report.phase_timings)
    assert report.elapsed_s is not None and report.elapsed_s > 0


def test_caffe_is_not_installed(real_reports: dict[str, LibraryReport]) -> None:
    report = real_reports["caffe"]
    assert report.status == "not_installed"
    assert report.version is None and report.devices == []


def test_torch_build_details(real_reports: dict[str, LibraryReport]) -> None:
    build = real_reports["torch"].build
    assert set(build) >= {
        "is_cuda_build",
        "cuda_version",
        "cudnn_version",
        "hip_version",
        "arch_list",
        "cuda_available",
        "mps_available",
    }
    assert build["cuda_available"] is False
    assert build["is_cuda_build"] == (build["cuda_version"] is not None)


def test_tensorflow_build_details(real_reports: dict[str, LibraryReport]) -> None:
    build = real_reports["tensorflow"].build
    assert set(build) >= {
        "is_cuda_build",
        "cuda_version",
        "cudnn_version",
        "distribution",
        "gpus_listed",
    }
    assert build["gpus_listed"] == 0
    assert build["distribution"] in get_library("tensorflow").distributions


def test_jax_build_details(real_reports: dict[str, LibraryReport]) -> None:
    """JAX lists its platforms one by one; a platform that is simply absent is not an error."""
    report = real_reports["jax"]
    build = report.build
    assert set(build) >= {"jaxlib_version", "default_backend", "devices_listed"}
    assert build["jaxlib_version"] == report.version  # jax and jaxlib are released together
    assert build["default_backend"] == "cpu"
    assert build["devices_listed"] == {"cpu": 1, "gpu": 0, "tpu": 0}
    # No CUDA plugin and no libtpu here: absent platforms, not failures.
    assert not {"cpu_error", "gpu_error", "tpu_error", "backend_error"} & set(build)
    (cpu,) = report.devices
    assert cpu.computation_detail and cpu.computation_detail.startswith("jit 2x2 matmul on cpu")


def test_theano_reports_its_c_backend(real_reports: dict[str, LibraryReport]) -> None:
    build = real_reports["theano"].build
    assert set(build) >= {"device", "c_backend", "c_backend_error"}
    assert build["device"] == "cpu"
    # Theano 1.0.5's C code does not build on Python >= 3.11: the probe must notice, not crash.
    if sys.version_info >= (3, 11):
        assert build["c_backend"] is False
        assert build["c_backend_error"]
    if build["c_backend"] is False:
        assert "pure-Python" in (real_reports["theano"].devices[0].computation_detail or "")


def test_pytensor_and_cv2_build_details(real_reports: dict[str, LibraryReport]) -> None:
    assert set(real_reports["pytensor"].build) >= {"c_backend", "c_backend_error"}
    cv2_build = real_reports["cv2"].build
    assert cv2_build["has_caffe_importer"] is True
    assert cv2_build["cuda_enabled_devices"] == 0  # pip wheels carry no CUDA


def test_probe_output_is_json_lines_ending_in_the_report() -> None:
    done = subprocess.run(
        [sys.executable, str(PROBE_SCRIPT), "cv2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["phase"] for e in events if e["event"] == "phase"] == [
        "find",
        "import",
        "devices",
        "compute",
    ]
    assert events[-1]["event"] == "report"
    assert events[-1]["name"] == "cv2"


def test_probe_rejects_an_unknown_id() -> None:
    done = subprocess.run(
        [sys.executable, str(PROBE_SCRIPT), "nosuchlib"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "usage" in done.stderr


# ------------------------------------------------------------------------------- bare target


@pytest.fixture(scope="module")
def bare_target(tmp_path_factory: pytest.TempPathFactory) -> TargetPython:
    """A fresh venv with no packages at all."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return resolve_target(str(folder))


async def test_bare_interpreter_reports_every_library_not_installed(
    bare_target: TargetPython,
) -> None:
    assert bare_target.prefix != sys.prefix
    reports = await probe_libraries(bare_target, timeout=60)
    assert {r.name: r.status for r in reports} == {s.id: "not_installed" for s in LIBRARIES}
    assert all(r.version is None and r.devices == [] for r in reports)


# ------------------------------------------------------------------------------------ faults


def _fault_script(tmp_path: Path, body: str) -> tuple[Path, str]:
    """A probe script that misbehaves as `body` says; returns it and a marker in its argv."""
    marker = f"mltui-fault-{uuid.uuid4().hex}"
    path = tmp_path / f"{marker}.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path, marker


def _leftovers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if any(marker in part for part in cmdline) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _assert_nothing_left(marker: str) -> None:
    children = [
        c
        for c in psutil.Process().children(recursive=True)
        if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
    ]
    assert children == []
    assert _leftovers(marker) == []


SPEC: LibrarySpec = get_library("torch")


async def test_hanging_probe_is_killed_at_its_timeout(tmp_path: Path) -> None:
    script, marker = _fault_script(
        tmp_path,
        """
        import json, subprocess, sys, time
        print(json.dumps({"event": "phase", "phase": "import"}), flush=True)
        # A grandchild that would outlive its parent if only the parent were killed.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", sys.argv[0]])
        time.sleep(600)
        """,
    )
    report = await probe_library(current_target(), SPEC, timeout=2.0, script=script)
    assert report.status == "timeout"
    assert "2 s" in (report.error or "") and "import" in (report.error or "")
    assert report.elapsed_s is not None and 2.0 <= report.elapsed_s < 10
    _assert_nothing_left(marker)


async def test_segfaulting_probe_is_reported_with_its_signal(tmp_path: Path) -> None:
    script, marker = _fault_script(
        tmp_path,
        """
        import os, signal
        print("about to crash", file=__import__("sys").stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
        """,
    )
    report = await probe_library(current_target(), SPEC, timeout=30, script=script)
    assert report.status == "crashed"
    assert "SIGSEGV" in (report.error or "")
    assert "about to crash" in report.stderr_tail
    _assert_nothing_left(marker)


async def test_garbage_output_is_bad_output(tmp_path: Path) -> None:
    script, marker = _fault_script(
        tmp_path,
        """
        print("Hello, I am not JSON")
        print("{\\"neither\\": \\"am I an event\\"}")
        """,
    )
    report = await probe_library(current_target(), SPEC, timeout=30, script=script)
    assert report.status == "bad_output"
    assert "Hello, I am not JSON" in (report.error or "")
    _assert_nothing_left(marker)


async def test_nonzero_exit_without_report_is_crashed_with_stderr(tmp_path: Path) -> None:
    script, marker = _fault_script(
        tmp_path, 'import sys\nsys.stderr.write("fatal: out of cheese\\n")\nsys.exit(3)\n'
    )
    report = await probe_library(current_target(), SPEC, timeout=30, script=script)
    assert report.status == "crashed"
    assert "status 3" in (report.error or "") and "out of cheese" in (report.error or "")
    _assert_nothing_left(marker)


async def test_import_raising_is_import_error(tmp_path: Path) -> None:
    """The real probe script, with a fake `torch` on the path whose import raises."""
    package = tmp_path / "fakesite" / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        'raise ImportError("libcudart.so.12: cannot open shared object file")\n'
    )
    report = await probe_library(
        current_target(), SPEC, timeout=60, env={"PYTHONPATH": str(package.parent)}
    )
    assert report.status == "import_error"
    assert report.error == "ImportError: libcudart.so.12: cannot open shared object file"
    assert report.location == str(package)


async def test_cancelling_a_probe_kills_it(tmp_path: Path) -> None:
    script, marker = _fault_script(
        tmp_path,
        """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", sys.argv[0]])
        time.sleep(600)
        """,
    )
    task = asyncio.ensure_future(probe_library(current_target(), SPEC, timeout=600, script=script))
    # Cancelled once the probe and its grandchild both run (not after a guessed pause).
    deadline = asyncio.get_running_loop().time() + 30
    while len(_leftovers(marker)) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the probe never started"
        assert not task.done(), task
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _assert_nothing_left(marker)
