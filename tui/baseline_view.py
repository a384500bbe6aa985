"""This machine's check against the dashboard's baseline, in a few words for the Hardware pane.

The baseline is the file the Fleet pane saves (`b`), or `mltui fleet … --save-baseline` wrote, at
`probes.health.model.default_baseline_path()` ($MLTUI_BASELINE, else baseline.json in the cache
folder). Nothing is shown while there is no such file. The verdict is the one `mltui health`
gives (`probes.health.verdict.judge`); it is worked out again only when the check or the file
changes (a stat per call, cheap enough for every hardware reading).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from probes.model import CheckResult
from tui.presentation import ERROR, SUCCESS, WARNING
from tui.safe_text import inert_line


def _default_path() -> Path:
    # Imported when first asked (not at the dashboard's start-up).
    from probes.health.model import default_baseline_path

    return default_baseline_path()


class BaselineView:
    """The last words about this node against the baseline, remade when either side changes."""

    def __init__(self, path: Callable[[], Path] | None = None) -> None:
        self._path = path or _default_path
        self._key: tuple[object, ...] | None = None
        self._words: Text | None = None

    def words(self, check: CheckResult | None) -> Text | None:
        """'baseline: matches (32 nodes)', '…: <the first difference>', or None (no baseline)."""
        try:
            path = self._path()
            stat = os.stat(path)
        except OSError:
            self._key, self._words = None, None
            return None
        key = (id(check), str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if key != self._key:
            self._key, self._words = key, self._judge(check, path)
        return self._words

    @staticmethod
    def _judge(check: CheckResult | None, path: Path) -> Text:
        from probes.health.model import BaselineError, load_baseline
        from probes.health.verdict import judge

        try:
            baseline = load_baseline(str(path))
        except BaselineError as exc:
            return Text(f"baseline: {inert_line(exc)}", style=WARNING)
        if check is None:
            return Text("baseline: waiting for the check", style=WARNING)
        report = judge(check, baseline, node=check.system.hostname or socket.gethostname())
        if report.verdict == "healthy":
            return Text(f"baseline: this node matches ({baseline.nodes} nodes)", style=SUCCESS)
        style = ERROR if report.verdict == "unhealthy" else WARNING
        return Text(f"baseline: {inert_line(report.reason)}", style=style)
