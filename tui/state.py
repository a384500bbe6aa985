"""What the dashboard knows about the target's libraries: the last check, its age, a re-check."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from probes.model import CheckResult, DeviceResult, Finding, LibraryReport, TargetPython
from tui.presentation import human_age


@dataclass(frozen=True)
class CheckState:
    """The newest complete check (cached or fresh), reports of a re-check under way, and errors."""

    target: TargetPython
    result: CheckResult | None = None
    #: Seconds old the result was when it was loaded, and the clock reading at that moment.
    age_s: float | None = None
    loaded_at: float = 0.0
    from_cache: bool = False
    running: bool = False
    #: Library reports of the re-check under way, by library id; they replace the cached ones.
    partial: dict[str, LibraryReport] = field(default_factory=dict)
    error: str | None = None
    #: How many libraries the check under way probes (0: not known).
    expected: int = 0

    def reports(self) -> dict[str, LibraryReport]:
        """Each library's newest report by id."""
        merged = {r.name: r for r in (self.result.libraries if self.result else [])}
        merged.update(self.partial)
        return merged

    def findings_for(self, library: str) -> list[Finding]:
        """The findings of the newest complete check about one library (or about every one)."""
        if self.result is None:
            return []
        return [f for f in self.result.findings if f.library in (library, None)]

    def devices(self) -> list[str]:
        """Devices a sample can ask for: 'cpu' and every GPU some library saw, as 'cuda:N'."""
        seen: set[str] = set()
        for report in self.reports().values():
            for device in report.devices:
                if device.kind != "cpu":
                    seen.add(_device_name(device))
        return ["cpu", *sorted(seen)]

    def age_text(self, now: float) -> str:
        """'checked 5 min ago (cached)', 'checked just now', or 'not checked yet'."""
        if self.result is None:
            return "not checked yet"
        age = None if self.age_s is None else self.age_s + max(0.0, now - self.loaded_at)
        cached = " (cached)" if self.from_cache else ""
        return f"checked {human_age(age)}{cached}"

    def progress_text(self) -> str:
        """'3 of 8 checked' while a check runs ('' otherwise)."""
        if not self.running:
            return ""
        done = len(self.partial)
        return f"{done} of {max(self.expected, done)} checked"

    def with_partial(self, report: LibraryReport) -> CheckState:
        """This state with one more report from the re-check under way."""
        return replace(self, partial={**self.partial, report.name: report})


def _device_name(device: DeviceResult) -> str:
    kind = "cuda" if device.kind in ("cuda", "rocm") else device.kind
    return kind if device.index is None else f"{kind}:{device.index}"
