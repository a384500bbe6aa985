"""The README is true (issue 19.4): its code fences are balanced, each capture is the pane it is
labelled as, shows every pane's tab, and is what the real app draws today (docs/capture.py draws
the reproducible ones again here and they must match docs/*.txt and the README)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tui.panes import PANES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "docs"))

import capture  # noqa: E402  (docs/capture.py)

MARKER = re.compile(r"^<!-- capture: (\w+) -->$")
#: What only the pane a capture is labelled with shows on screen.
SIGNS = {
    "hardware": "CPU & memory",
    "run": "samples",
    "knowledge": "pages",
    "fleet": "--hosts FILE",
    "perf": "verdict",
}


def fence_problems(text: str) -> list[str]:
    """Where a Markdown text's ``` fences do not pair up: a fence never closed, or one opened
    with a language while another is open (its opener is read as content)."""
    problems: list[str] = []
    open_at: int | None = None
    opener = ""
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^ {0,3}(`{3,})(.*)$", line)
        if not match:
            continue
        fence, info = match.group(1), match.group(2).strip()
        if open_at is None:
            open_at, opener = number, fence
        elif fence.startswith(opener) and not info:
            open_at = None
        elif info:
            problems.append(f"line {number}: ```{info} inside the block opened at line {open_at}")
    if open_at is not None:
        problems.append(f"line {open_at}: a code block never closed")
    return problems


def readme_captures(text: str) -> dict[str, list[str]]:
    """Each capture block of the README by its marker's pane name."""
    lines = text.splitlines()
    found: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if match:
            assert lines[index + 1].strip() == "```text", f"README.md:{index + 2}"
            end = lines.index("```", index + 2)
            found[match.group(1)] = lines[index + 2 : end]
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n```sh\nx\n```\nb\n", 0),
        ("```sh\nx\n", 1),  # never closed
        ("```sh\nx\n```text\ny\n```\n", 1),  # the Fleet example's fault: a second opener
        ("````md\n```\ninside\n```\n````\n", 0),  # a longer fence holds shorter ones
        ("```\n```\n```\n", 1),
    ],
)
def test_the_fence_check_finds_unbalanced_fences(text: str, expected: int) -> None:
    assert len(fence_problems(text)) == expected


def test_the_readme_fences_are_balanced() -> None:
    assert fence_problems(README.read_text(encoding="utf-8")) == []


def test_each_capture_is_the_pane_it_is_labelled_with_and_shows_every_tab() -> None:
    captures = readme_captures(README.read_text(encoding="utf-8"))
    assert set(captures) == set(capture.CAPTURES)
    tabs = "  ".join(f"{spec.key} {spec.title}" for spec in PANES)
    for name, lines in captures.items():
        assert lines[1].strip() == tabs, f"{name}: {lines[1].strip()!r}"
        assert SIGNS[name] in "\n".join(lines), f"the {name} capture is not the {name} pane"
        # The README holds what docs/<pane>.txt holds.
        docs = (ROOT / "docs" / f"{name}.txt").read_text(encoding="utf-8")
        assert lines == capture.capture_block(docs), f"README's {name} capture != docs/{name}.txt"
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)


@pytest.mark.parametrize("name", capture.REPRODUCIBLE)
async def test_the_capture_is_what_the_app_draws_today(name: str, tmp_path: Path) -> None:
    drawn = await capture.capture(name, out=tmp_path, svg=False)
    fresh = capture.capture_block(drawn.read_text(encoding="utf-8"))
    recorded = capture.capture_block((ROOT / "docs" / f"{name}.txt").read_text(encoding="utf-8"))
    assert fresh == recorded, (
        f"docs/{name}.txt is out of date: run `.venv/bin/python docs/capture.py --readme`\n"
        + "\n".join(fresh)
    )


def test_update_readme_puts_each_capture_in_its_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- capture: one -->\n```text\nold\nlines\n```\nafter\n")
    (tmp_path / "one.txt").write_text("new line   \nsecond\n")
    assert capture.update_readme(readme, tmp_path) == ["one"]
    assert (
        readme.read_text()
        == "# x\n\n<!-- capture: one -->\n```text\nnew line\nsecond\n```\nafter\n"
    )
    (tmp_path / "bad.md").write_text("<!-- capture: one -->\n```text\nnever closed\n")
    with pytest.raises(SystemExit, match="never closed"):
        capture.update_readme(tmp_path / "bad.md", tmp_path)
