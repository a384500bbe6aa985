"""probes.process: real child processes, real pipes, real signals; psutil says what is left."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from probes.process import (
    CUT_MARK,
    MAX_LINE_CHARS,
    LineBatch,
    LineSplitter,
    OutputLine,
    stream_process,
)

PY = sys.executable


def _live_with_token(token: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line carries `token`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(token in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def token() -> Iterator[str]:
    """A marker put on every command line of a test; nothing carrying it may outlive the test."""
    marker = f"mltui-test-{uuid.uuid4().hex}"
    yield marker
    left = _live_with_token(marker)
    for proc in left:  # clean up before failing, so one failure does not leak into others
        proc.kill()
    assert left == [], f"processes left behind: {[p.pid for p in left]}"


def _script(tmp_path: Path, body: str, name: str = "child.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


class Collected:
    """Folds lines the way a screen would: a replacing line overwrites the previous one."""

    def __init__(self) -> None:
        self.lines: list[OutputLine] = []
        self.batches = 0

    def __call__(self, batch: LineBatch) -> None:
        self.batches += 1
        for line in batch:
            if line.replace and self.lines:
                self.lines[-1] = line
            else:
                self.lines.append(line)

    def texts(self, stream: str = "stdout") -> list[str]:
        return [line.text for line in self.lines if line.stream == stream]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --------------------------------------------------------------------------- splitting


def _split(chunks: list[bytes]) -> list[OutputLine]:
    collected = Collected()
    splitter = LineSplitter("stdout", collected)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.close()
    return collected.lines


def test_lines_split_across_chunks_and_without_final_newline() -> None:
    lines = _split([b"one\ntw", b"o\n", b"", b"three"])
    assert [line.text for line in lines] == ["one", "two", "three"]


def test_carriage_return_updates_replace_the_line_like_a_terminal() -> None:
    # "\r\n" split over two chunks is a plain line end; a lone "\r" rewrites in place.
    lines = _split([b"start\r", b"\n10%\r", b"20%\r30", b"%\rdone\n", b"abc\rX\n"])
    assert [line.text for line in lines] == ["start", "done", "Xbc"]


def test_every_update_is_flagged_as_replacing() -> None:
    batches: list[LineBatch] = []
    splitter = LineSplitter("stderr", batches.append)
    for chunk in (b"a\n", b"1%\r", b"x", b"2%\r", b"y", b"3%\n", b"b\n"):
        splitter.feed(chunk)
    splitter.close()
    flat = [line for batch in batches for line in batch]
    assert [(line.text, line.replace) for line in flat] == [
        ("a", False),
        ("1%", False),
        ("x2%", True),
        ("y3%", True),
        ("b", False),
    ]
    assert {line.stream for line in flat} == {"stderr"}


def test_invalid_utf8_is_replaced_and_split_characters_survive() -> None:
    euro = "€".encode()
    lines = _split([b"bad \xff\xfe end\n", euro[:1], euro[1:] + b" ok\n"])
    assert lines[0].text == "bad \ufffd\ufffd end"
    assert lines[1].text == "€ ok"


def test_overlong_line_is_cut_once_and_the_rest_dropped() -> None:
    chunk = b"x" * 50_000
    lines = _split([chunk, chunk, chunk + b"\nnext\n"])
    assert [len(line.text) for line in lines] == [MAX_LINE_CHARS + len(CUT_MARK), 4]
    assert lines[0].text.endswith(CUT_MARK)
    assert lines[1].text == "next"


# --------------------------------------------------------------------------- real children


async def test_stdout_and_stderr_are_tagged(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import sys
        print("to out")
        print("to err", file=sys.stderr)
        """,
    )
    seen: list[OutputLine] = []
    outcome = await stream_process([PY, script, token], seen.append, timeout=30)
    assert outcome.ok
    assert ("stdout", "to out") in [(line.stream, line.text) for line in seen]
    assert ("stderr", "to err") in [(line.stream, line.text) for line in seen]


async def test_child_gets_own_session_closed_stdin_and_the_given_env(
    tmp_path: Path, token: str
) -> None:
    script = _script(
        tmp_path,
        """
        import os, sys
        data = sys.stdin.read()  # must see EOF at once, not hang
        print("stdin", repr(data))
        # A session and group of their own (led by mltui's supervisor), apart from mltui's.
        print("session", os.getsid(0) != int(sys.argv[2]), os.getpgrp() == os.getsid(0))
        print("env", os.environ.get("MLTUI_PROBE_VAR"))
        print("cwd", os.getcwd())
        """,
    )
    collected = Collected()
    env = {**os.environ, "MLTUI_PROBE_VAR": "passed-through"}
    started = time.monotonic()
    argv = [PY, script, token, str(os.getsid(0))]
    outcome = await stream_process(
        argv, None, on_lines=collected, timeout=30, env=env, cwd=str(tmp_path)
    )
    assert outcome.ok, outcome
    assert time.monotonic() - started < 20
    assert collected.texts() == [
        "stdin ''",
        "session True True",
        "env passed-through",
        f"cwd {tmp_path}",
    ]


async def test_output_without_final_newline_on_both_streams(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import sys
        sys.stdout.write("first\\nno newline at the end")
        sys.stderr.write("err without newline")
        """,
    )
    collected = Collected()
    outcome = await stream_process([PY, script, token], None, on_lines=collected, timeout=30)
    assert outcome.ok
    assert collected.texts("stdout") == ["first", "no newline at the end"]
    assert collected.texts("stderr") == ["err without newline"]


async def test_invalid_utf8_from_a_child(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import sys
        sys.stdout.buffer.write(b"caf\\xe9 \\xff\\n")
        sys.stdout.buffer.write(b"after\\n")
        """,
    )
    collected = Collected()
    outcome = await stream_process([PY, script, token], None, on_lines=collected, timeout=30)
    assert outcome.ok
    assert collected.texts() == ["caf\ufffd \ufffd", "after"]


async def test_progress_bar_updates_from_a_child(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import sys, time
        print("begin")
        for step in range(5):
            sys.stdout.write("\\rprogress %d/4" % step)
            sys.stdout.flush()
            time.sleep(0.02)
        print()
        print("end")
        """,
    )
    seen: list[OutputLine] = []
    collected = Collected()

    def both(batch: LineBatch) -> None:
        seen.extend(batch)
        collected(batch)

    outcome = await stream_process([PY, script, token], None, on_lines=both, timeout=30)
    assert outcome.ok
    assert collected.texts() == ["begin", "progress 4/4", "end"]
    assert any(line.replace for line in seen)


async def test_a_million_lines_arrive_in_batches_with_bounded_batches(
    tmp_path: Path, token: str
) -> None:
    script = _script(
        tmp_path,
        """
        import sys
        write = sys.stdout.write
        for block in range(1000):
            write("".join("line %d\\n" % i for i in range(block * 1000, block * 1000 + 1000)))
        """,
    )
    count = 0
    largest = 0
    last = ""

    def on_lines(batch: LineBatch) -> None:
        nonlocal count, largest, last
        count += len(batch)
        largest = max(largest, len(batch))
        last = batch.texts[-1]

    outcome = await stream_process([PY, script, token], None, on_lines=on_lines, timeout=120)
    assert outcome.ok
    assert count == 1_000_000
    assert last == "line 999999"
    # A batch is one chunk read from the pipe, never the whole flood at once.
    assert largest < 200_000


async def test_one_giant_line_without_newline_costs_bounded_memory(
    tmp_path: Path, token: str
) -> None:
    script = _script(
        tmp_path,
        """
        import sys
        block = "y" * (1 << 20)
        for _ in range(64):  # 64 MiB, no newline anywhere
            sys.stdout.write(block)
        """,
    )
    collected = Collected()
    tracemalloc.start()
    try:
        outcome = await stream_process([PY, script, token], None, on_lines=collected, timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.ok
    assert [len(t) for t in collected.texts()] == [MAX_LINE_CHARS + len(CUT_MARK)]
    assert peak < 16 * (1 << 20), f"peak traced memory {peak / (1 << 20):.1f} MiB"


async def test_hang_is_killed_at_the_timeout(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import time
        print("hanging", flush=True)
        time.sleep(120)
        """,
    )
    collected = Collected()
    started = time.monotonic()
    outcome = await stream_process(
        [PY, script, token], None, on_lines=collected, timeout=1.0, grace_s=1.0
    )
    elapsed = time.monotonic() - started
    assert outcome.timed_out and not outcome.ok
    assert outcome.signal_name == "SIGTERM"
    assert 0.9 <= elapsed < 10
    assert collected.texts() == ["hanging"]
    assert "timed out" in outcome.describe()


_SPAWNER = """
import os, signal, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", '''
import os, signal, sys, time
if "{setsid}" == "yes":
    os.setsid()
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("grandchild", os.getpid(), flush=True)
time.sleep(120)
''', sys.argv[1]])
time.sleep({child_sleep})
"""


async def _start_family(
    tmp_path: Path, token: str, *, setsid: bool, child_sleep: float = 120
) -> tuple[asyncio.Task[object], asyncio.Future[int], asyncio.Event]:
    script = _script(
        tmp_path,
        _SPAWNER.format(setsid="yes" if setsid else "no", child_sleep=child_sleep),
    )
    loop = asyncio.get_running_loop()
    grandchild_pid: asyncio.Future[int] = loop.create_future()
    cancel = asyncio.Event()

    def on_line(line: OutputLine) -> None:
        if line.text.startswith("grandchild ") and not grandchild_pid.done():
            grandchild_pid.set_result(int(line.text.split()[1]))

    task = asyncio.ensure_future(
        stream_process([PY, script, token], on_line, timeout=60, grace_s=0.5, cancel=cancel)
    )
    await asyncio.wait_for(asyncio.shield(grandchild_pid), 30)
    return task, grandchild_pid, cancel


async def test_cancel_event_kills_a_grandchild_that_ignores_sigterm(
    tmp_path: Path, token: str
) -> None:
    task, pid, cancel = await _start_family(tmp_path, token, setsid=False)
    assert _alive(pid.result())
    cancel.set()
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.cancelled  # type: ignore[attr-defined]
    assert not _alive(pid.result())


async def test_task_cancel_kills_the_tree_and_reraises(tmp_path: Path, token: str) -> None:
    task, pid, _ = await _start_family(tmp_path, token, setsid=False)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(pid.result())


async def test_grandchild_that_left_the_session_is_killed_too(tmp_path: Path, token: str) -> None:
    task, pid, cancel = await _start_family(tmp_path, token, setsid=True)
    assert os.getsid(pid.result()) == pid.result()  # really out of the child's group
    cancel.set()
    await asyncio.wait_for(task, 30)
    assert not _alive(pid.result())


async def test_grandchild_left_running_after_a_normal_exit_is_ended(
    tmp_path: Path, token: str
) -> None:
    # The child exits after 1 s; a grandchild that setsid()ed away would live on otherwise.
    task, pid, _ = await _start_family(tmp_path, token, setsid=True, child_sleep=1.0)
    outcome = await asyncio.wait_for(task, 30)
    assert outcome.returncode == 0  # type: ignore[attr-defined]
    assert not _alive(pid.result())


async def test_program_that_cannot_start_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    outcome = await stream_process([str(tmp_path / "no-such-program")], None, timeout=5)
    assert outcome.start_error
    assert outcome.returncode is None
    assert outcome.describe().startswith("could not start")


async def test_callback_error_stops_the_run_and_is_raised(tmp_path: Path, token: str) -> None:
    script = _script(
        tmp_path,
        """
        import time
        print("first", flush=True)
        time.sleep(120)
        """,
    )

    def explode(line: OutputLine) -> None:
        raise RuntimeError("consumer broke")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="consumer broke"):
        await stream_process([PY, script, token], explode, timeout=60, grace_s=0.5)
    assert time.monotonic() - started < 20


async def test_exit_code_and_signal_are_reported(tmp_path: Path, token: str) -> None:
    exits = _script(tmp_path, "import sys; sys.exit(7)", "exits.py")
    outcome = await stream_process([PY, exits, token], None, timeout=30)
    assert (outcome.returncode, outcome.signal_name, outcome.ok) == (7, None, False)
    crash = _script(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "c.py")
    outcome = await stream_process([PY, crash, token], None, timeout=30)
    assert outcome.signal_name == "SIGSEGV"
    assert outcome.describe() == "killed by SIGSEGV"
