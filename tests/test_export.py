"""Export never leaves an empty or cut file behind (issue 17, class 8): each file is written to a
temporary name and renamed; on any error the temporary file and the export's other files go.

Vectors: a real full filesystem (a 64 KiB tmpfs, when root may mount one), the file size limit
(RLIMIT_FSIZE, in a child process), a quota, a late ENOSPC at fsync (delayed allocation), a
folder that cannot be written, a second file failing after the first was written, and the
dashboard's export whose screen capture fails.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import canned_check, fixed_target, make_services, wait_for
from tui.export import ExportPaths, write_check, write_whole

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs already filled to the last byte (root only; skipped elsewhere)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with open(folder / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "filler")


def test_a_full_filesystem_leaves_no_file(full_disk: Path) -> None:
    paths = ExportPaths(full_disk, "mltui-host-20261205-000000")
    with pytest.raises(OSError) as raised:
        write_check(canned_check(fixed_target()), paths)
    assert raised.value.errno == errno.ENOSPC
    assert _left(full_disk) == []


def test_the_file_size_limit_leaves_no_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE set in a child: the write fails with EFBIG (SIGXFSZ ignored), nothing stays."""
    script = textwrap.dedent(
        f"""
        import errno, resource, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from tui.export import write_whole
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            write_whole(Path({str(tmp_path)!r}) / "big.json", "x" * 100_000)
        except OSError as exc:
            sys.exit(0 if exc.errno == errno.EFBIG else 3)
        sys.exit(4)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "code"),
    [("write", errno.EDQUOT), ("fsync", errno.ENOSPC), ("replace", errno.EIO)],
    ids=["quota at write", "late ENOSPC at fsync", "EIO at rename"],
)
def test_an_error_at_any_step_leaves_no_file(
    call: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object, **__: object) -> None:
        raise OSError(code, os.strerror(code))

    if call == "write":
        real_fdopen = os.fdopen

        class QuotaFile:
            """The real file, whose write fails as a full quota makes it fail."""

            def __init__(self, *args: object, **kwargs: object) -> None:
                self.file = real_fdopen(*args, **kwargs)  # type: ignore[call-overload]

            def __enter__(self) -> QuotaFile:
                return self

            def __exit__(self, *_: object) -> None:
                self.file.close()

            write = fail

        monkeypatch.setattr(os, "fdopen", QuotaFile)
    else:
        monkeypatch.setattr(os, call, fail)
    target = tmp_path / "check.json"
    target_before = "the previous export\n"
    target.write_text(target_before) if call == "replace" else None
    with pytest.raises(OSError) as raised:
        write_whole(target, "{}\n")
    assert raised.value.errno == code
    left = sorted(p.name for p in tmp_path.iterdir())
    if call == "replace":  # an older file of that name stays as it was
        assert left == ["check.json"] and target.read_text() == target_before
    else:
        assert left == []


def test_a_folder_that_cannot_be_written_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    with pytest.raises(OSError):
        write_whole(folder / "x.json", "{}")
    assert not folder.exists()


def test_the_second_file_failing_takes_the_first_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tui.export

    def markdown_fails(_: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tui.export, "check_markdown", markdown_fails)
    with pytest.raises(OSError):
        write_check(canned_check(fixed_target()), ExportPaths(tmp_path, "mltui-x"))
    assert list(tmp_path.iterdir()) == []


async def test_the_dashboards_export_on_a_full_disk_leaves_nothing_and_says_so(
    full_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import MltuiApp

    monkeypatch.setenv("MLTUI_EXPORT_DIR", str(full_disk))
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("e")
        await wait_for(pilot, lambda: any("export failed" in n.message for n in app._notifications))
        note = next(n for n in app._notifications if "export failed" in n.message)
        assert "No space left on device" in note.message
    assert _left(full_disk) == []
