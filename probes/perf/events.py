"""What a perf run reports while it goes on (the CLI's live panel and the Perf pane follow it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EventCallback = Callable[[str, Any], None]
