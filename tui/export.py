"""Export from the dashboard: the current check as JSON and Markdown, and the screen as SVG.

The Markdown is `tui.check_markdown` (the same text as `mltui check --format md`); the JSON is
the check's own (`mltui check --json`). Files go to the export folder ($MLTUI_EXPORT_DIR, else
$XDG_DATA_HOME/mltui/exports, i.e. ~/.local/share/mltui/exports), or to mltui's cache folder when
that cannot be written, named by host and time so a second export adds files.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from probes.model import CheckResult, to_json
from tui.check_markdown import check_markdown


@dataclass(frozen=True)
class ExportPaths:
    """Where one export's files go (the check's only when there is a check)."""

    folder: Path
    stem: str

    @property
    def json(self) -> Path:
        """The check as JSON."""
        return self.folder / f"{self.stem}.json"

    @property
    def markdown(self) -> Path:
        """The check as Markdown."""
        return self.folder / f"{self.stem}.md"

    @property
    def svg_name(self) -> str:
        """The screen's file name (Textual writes it into `folder`)."""
        return f"{self.stem}-screen.svg"


#: Where `e` saves when set; else EXPORT_SUBFOLDER of $XDG_DATA_HOME (~/.local/share).
EXPORT_DIR_VARIABLE = "MLTUI_EXPORT_DIR"
EXPORT_SUBFOLDER = Path("mltui") / "exports"


def default_export_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Where exports go: $MLTUI_EXPORT_DIR, else $XDG_DATA_HOME/mltui/exports, else
    ~/.local/share/mltui/exports (never the working directory, often a checkout)."""
    env = os.environ if environ is None else environ
    explicit = env.get(EXPORT_DIR_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    data = env.get("XDG_DATA_HOME")
    base = Path(data) if data and os.path.isabs(data) else Path.home() / ".local" / "share"
    return base / EXPORT_SUBFOLDER


def export_folder(candidates: list[Path] | None = None) -> Path:
    """The first folder of the candidates that can be written: the export folder
    (default_export_folder), then mltui's cache folder."""
    if candidates is None:
        from probes.cache import cache_dir

        candidates = []
        with contextlib.suppress(RuntimeError, KeyError):  # no home folder
            candidates.append(default_export_folder())
        with contextlib.suppress(OSError):
            candidates.append(Path(cache_dir()))
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError("no folder to export to can be written (tried the export folder and the cache)")


def export_paths(host: str, folder: Path, now: float | None = None) -> ExportPaths:
    """File names for an export now: 'mltui-<host>-<YYYYmmdd-HHMMSS>'."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    safe_host = re.sub(r"[^A-Za-z0-9._-]+", "_", host or "machine")[:40]
    return ExportPaths(folder=folder, stem=f"mltui-{safe_host}-{stamp}")


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a temporary file in the same folder, flushed
    to disk, then renamed over `path`. On any error (a full disk, a quota, a file too large) the
    temporary file is removed and the error raised: no empty or cut file is left behind."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_check(result: CheckResult, paths: ExportPaths) -> list[Path]:
    """Write the check's JSON and Markdown, each whole or not at all; the paths written.

    When the second cannot be written, the first is removed too: an export is all its files.
    """
    write_whole(paths.json, to_json(result, indent=2) + "\n")
    try:
        write_whole(paths.markdown, check_markdown(result))
    except BaseException:
        with contextlib.suppress(OSError):
            paths.json.unlink()
        raise
    return [paths.json, paths.markdown]
