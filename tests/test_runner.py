"""probes.runner: samples and scripts run for real in a subprocess of the target interpreter."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from probes import catalog
from probes.model import from_dict, to_json
from probes.process import LineBatch, OutputLine
from probes.runner import (
    OutputBuffer,
    RunResult,
    SampleRef,
    list_samples,
    parse_verdict,
    resolve_sample,
    run_many,
    run_sample,
)
from probes.target import current_target

TARGET = current_target()


@pytest.fixture
def token() -> Iterator[str]:
    """A marker on each command line; no live process carrying it may outlive the test."""
    marker = f"mltui-test-{uuid.uuid4().hex}"
    yield marker
    left = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(
                marker in part for part in proc.info["cmdline"] or ()
            ):
                left.append(proc)
        except psutil.Error:
            continue
    for proc in left:
        proc.kill()
    assert left == []


def _script(tmp_path: Path, body: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _user_script(path: Path) -> SampleRef:
    return SampleRef(name=path.name, path=str(path))


def _fake_sample(path: Path) -> SampleRef:
    """A script held to the sample contract (gets --device, must print a verdict)."""
    return SampleRef(name="fake", path=str(path), library="torch", display_name="Fake")


def _verdict(verdict: str, **extra: str) -> str:
    fields = {
        "verdict": verdict,
        "sample": "fake",
        "library": "torch",
        "version": "0",
        "device": "cpu",
        "engine": "fake-engine",
        "checked": "a fake check",
        "detail": "details here",
        **extra,
    }
    return json.dumps(fields)


# --------------------------------------------------------------------------- OutputBuffer


def test_buffer_keeps_the_last_lines_and_counts_the_rest() -> None:
    buffer = OutputBuffer(max_lines=3)
    for i in range(10):
        buffer.add(OutputLine("stdout", f"l{i}"))
    assert [line.text for line in buffer.lines] == ["l7", "l8", "l9"]
    assert (buffer.total, buffer.dropped, len(buffer)) == (10, 7, 3)


def test_buffer_applies_carriage_return_updates_to_the_last_line() -> None:
    buffer = OutputBuffer(max_lines=10)
    buffer.add(OutputLine("stdout", "start"))
    buffer.add(OutputLine("stdout", "10%"))
    buffer.add(OutputLine("stdout", "50%", replace=True))
    buffer.extend(LineBatch("stdout", ["90%", "done", "after"], frozenset({0})))
    assert buffer.text() == "start\n90%\ndone\nafter"
    assert buffer.total == 4


def test_buffer_takes_a_large_batch_in_one_step_with_the_same_result() -> None:
    texts = [f"line {i}" for i in range(20_000)]
    fast = OutputBuffer(max_lines=100)
    fast.extend(LineBatch("stderr", texts))
    slow = OutputBuffer(max_lines=100)
    for text in texts:
        slow.add(OutputLine("stderr", text))
    assert fast.lines == slow.lines
    assert (fast.total, fast.dropped) == (20_000, 19_900)


def test_buffer_rejects_a_silly_size() -> None:
    with pytest.raises(ValueError):
        OutputBuffer(max_lines=0)


# --------------------------------------------------------------------------- resolving


def test_samples_resolve_by_id_alias_and_file_name() -> None:
    assert resolve_sample("pytorch").library == "torch"
    assert resolve_sample("scikit-learn").name == "sklearn"
    assert resolve_sample("TensorFlow").library == "tensorflow"
    torch_spec = catalog.get_library("torch")
    assert torch_spec.sample is not None
    assert resolve_sample(torch_spec.sample).library == "torch"
    ref = resolve_sample("theano")
    assert Path(ref.path).parent == catalog.SAMPLES_DIR
    assert ref.is_sample


def test_list_samples_covers_every_catalog_sample() -> None:
    names = [ref.name for ref in list_samples()]
    assert names == [spec.id for spec in catalog.LIBRARIES if spec.sample]
    assert {"sklearn", "theano", "caffe", "torch", "tensorflow"} <= set(names)


def test_unknown_name_lists_the_known_samples() -> None:
    with pytest.raises(catalog.UnknownLibraryError) as error:
        resolve_sample("nosuch")
    message = str(error.value)
    assert "nosuch" in message
    for ref in list_samples():
        assert ref.name in message


def test_library_without_a_sample_says_so() -> None:
    with pytest.raises(catalog.UnknownLibraryError, match="no sample of its own"):
        resolve_sample("cv2")


def test_script_path_resolves_to_a_user_script(tmp_path: Path) -> None:
    path = _script(tmp_path, "print('hi')")
    ref = resolve_sample(str(path))
    assert ref.path == str(path) and not ref.is_sample
    with pytest.raises(catalog.UnknownLibraryError, match="no such script"):
        resolve_sample(str(tmp_path / "missing.py"))


def test_parse_verdict_only_accepts_a_verdict_object() -> None:
    assert parse_verdict(_verdict("pass"))["verdict"] == "pass"  # type: ignore[index]
    assert parse_verdict("[1, 2]") is None
    assert parse_verdict('{"not": "a verdict"}') is None
    assert parse_verdict("{broken") is None
    assert parse_verdict(None) is None


# --------------------------------------------------------------------------- running


async def test_run_in_a_fresh_temp_dir_with_the_run_environment(
    tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTUI_USER_VAR", "kept")
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    script = _script(
        tmp_path,
        """
        import json, os, sys
        print(json.dumps({
            "cwd": os.getcwd(), "argv": sys.argv[1:], "stdin": sys.stdin.read(),
            "env": {k: os.environ.get(k) for k in ("PYTHONUNBUFFERED", "TF_CPP_MIN_LOG_LEVEL",
                    "TF_FORCE_GPU_ALLOW_GROWTH", "MLTUI_USER_VAR")},
        }))
        """,
    )
    buffer = OutputBuffer()
    result = await run_sample(TARGET, _user_script(script), args=[token], buffer=buffer, timeout=60)
    assert result.status == "pass", result
    seen = json.loads(buffer.lines[-1].text)
    assert seen["env"] == {
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "MLTUI_USER_VAR": "kept",
    }
    assert seen["stdin"] == ""
    assert seen["argv"] == [token]  # a user script gets no --device
    assert os.path.realpath(seen["cwd"]) != os.path.realpath(os.getcwd())
    assert os.path.basename(seen["cwd"]).startswith("mltui-run-")
    assert not os.path.exists(seen["cwd"])  # removed after the run


async def test_sample_contract_pass_fail_and_missing_library(tmp_path: Path, token: str) -> None:
    passing = _script(
        tmp_path,
        f"""
        import sys
        assert sys.argv[1:3] == ["--device", "cpu"], sys.argv
        print("working")
        print({_verdict("pass")!r})
        """,
        "passing.py",
    )
    result = await run_sample(TARGET, _fake_sample(passing), device="cpu", args=[token])
    assert (result.status, result.returncode, result.engine) == ("pass", 0, "fake-engine")
    assert result.verdict is not None and result.verdict["checked"] == "a fake check"
    assert result.used_device == "cpu"

    failing = _script(
        tmp_path,
        f"""
        import sys
        print({_verdict("fail", detail="wrong answer")!r})
        sys.exit(1)
        """,
        "failing.py",
    )
    result = await run_sample(TARGET, _fake_sample(failing), args=[token])
    assert (result.status, result.summary) == ("fail", "wrong answer")

    missing = _script(
        tmp_path,
        f"""
        import sys
        print({_verdict("fail", detail="torch is not installed")!r})
        sys.exit(3)
        """,
        "missing.py",
    )
    result = await run_sample(TARGET, _fake_sample(missing), args=[token])
    assert (result.status, result.returncode) == ("error", 3)
    assert "not installed" in result.summary

    silent = _script(tmp_path, "print('no verdict')", "silent.py")
    result = await run_sample(TARGET, _fake_sample(silent), args=[token])
    assert result.status == "error"
    assert "no verdict" in result.summary


async def test_user_script_status_follows_its_exit_code(tmp_path: Path, token: str) -> None:
    ok = _script(tmp_path, "print('fine')", "ok.py")
    bad = _script(tmp_path, "import sys; sys.exit(4)", "bad.py")
    crash = _script(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGABRT)", "c.py")
    results = await run_many(
        TARGET, [_user_script(ok), _user_script(bad), _user_script(crash)], args=[token]
    )
    assert [(r.status, r.returncode) for r in results] == [
        ("pass", 0),
        ("fail", 4),
        ("error", -6),
    ]
    assert results[2].signal_name == "SIGABRT"


async def test_million_line_flood_keeps_bounded_output(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        f"""
        import sys
        write = sys.stdout.write
        for block in range(1000):
            write("".join("flood %d\\n" % i for i in range(block * 1000, block * 1000 + 1000)))
        print({_verdict("pass")!r})
        """,
    )
    batches = 0

    def on_lines(batch: LineBatch) -> None:
        nonlocal batches
        batches += 1

    buffer = OutputBuffer(max_lines=5000)
    started = time.monotonic()
    result = await run_sample(
        TARGET, _user_script(script), args=[token], buffer=buffer, on_lines=on_lines, timeout=120
    )
    elapsed = time.monotonic() - started
    assert result.status == "pass"
    assert result.lines_total == 1_000_001
    assert len(buffer) == 5000
    assert result.lines_dropped == 1_000_001 - 5000
    assert buffer.lines[0].text == "flood 995001"
    assert result.verdict is not None and result.verdict["engine"] == "fake-engine"
    assert batches < 100_000  # batched, not one call per line
    assert elapsed < 60


async def test_timeout_gives_a_timeout_result(tmp_path: Path, token: str) -> None:
    script = _script(tmp_path, "import time; print('sleeping', flush=True); time.sleep(120)")
    result = await run_sample(TARGET, _user_script(script), args=[token], timeout=1.0, grace_s=0.5)
    assert result.status == "timeout" and result.timed_out
    assert result.lines_total == 1
    assert 0.9 <= result.elapsed_s < 10


_TREE = """
import signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)",
    sys.argv[1]])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""


async def test_cancel_event_gives_a_cancelled_result(tmp_path: Path, token: str) -> None:
    script = _script(tmp_path, _TREE)
    cancel = asyncio.Event()

    def on_lines(batch: LineBatch) -> None:
        if "ready" in batch.texts:
            cancel.set()

    result = await run_sample(
        TARGET,
        _user_script(script),
        args=[token],
        on_lines=on_lines,
        cancel=cancel,
        timeout=60,
        grace_s=0.5,
    )
    assert result.status == "cancelled" and result.cancelled
    assert result.signal_name == "SIGKILL"  # it ignored SIGTERM


async def test_cancelling_the_task_reraises_and_kills_the_tree(tmp_path: Path, token: str) -> None:
    script = _script(tmp_path, _TREE)
    ready = asyncio.Event()

    def on_lines(batch: LineBatch) -> None:
        if "ready" in batch.texts:
            ready.set()

    task = asyncio.ensure_future(
        run_sample(TARGET, _user_script(script), args=[token], on_lines=on_lines, grace_s=0.5)
    )
    await asyncio.wait_for(ready.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_many_stops_after_a_cancel(tmp_path: Path, token: str) -> None:
    script = _script(tmp_path, _TREE)
    second = _script(tmp_path, "print('should not run')", "second.py")
    cancel = asyncio.Event()
    started: list[str] = []

    def on_lines(batch: LineBatch) -> None:
        if "ready" in batch.texts:
            cancel.set()

    results = await run_many(
        TARGET,
        [SampleRef("first", str(script)), SampleRef("second", str(second))],
        on_start=lambda ref: started.append(ref.name),
        args=[token],
        on_lines=on_lines,
        cancel=cancel,
        timeout=60,
    )
    assert started == ["first"]
    assert [r.status for r in results] == ["cancelled"]


async def test_missing_script_file_is_an_error_result(tmp_path: Path) -> None:
    result = await run_sample(TARGET, _fake_sample(tmp_path / "gone.py"))
    assert result.status == "error"
    assert "not found" in result.summary


def test_run_result_round_trips_through_json() -> None:
    result = RunResult(
        name="torch",
        script="/x/torch_tensors.py",
        target=sys.executable,
        device="auto",
        status="pass",
        returncode=0,
        elapsed_s=1.5,
        verdict={"verdict": "pass", "engine": "torch", "device": "cpu"},
        lines_total=12,
        summary="ok",
    )
    data = json.loads(to_json(result))
    assert data["status"] == "pass" and data["verdict"]["engine"] == "torch"
    assert from_dict(RunResult, data) == result


async def test_real_sklearn_sample_passes_on_the_cpu(token: str) -> None:
    ref = resolve_sample("sklearn")
    if not ref.exists:
        pytest.skip("content/samples/sklearn sample not written yet")
    result = await run_sample(TARGET, ref, device="cpu", timeout=240)
    assert result.status == "pass", (result.summary, result.verdict)
    assert result.verdict is not None and result.verdict["library"] in ("sklearn", "scikit-learn")
