"""Plain-text layout for the command line: wrap at word boundaries, never inside a word.

The CLI's text output (compare, envs, info, choose) is laid out here rather than by Rich's table
folding, which cut words ("sciki / t-lea / rn") and install commands. The rule is simple: text is
a list of tokens (words; a path, a command or a library name is one token), lines are filled
greedily, and a token wider than the line gets a line of its own and is never cut: a terminal
wraps it softly, so it still copies and pastes whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rich.cells import cell_len

#: Shell commands inside prose (an install hint): each is kept whole, as one token.
COMMAND = re.compile(
    r"(?:sudo )?(?:pip3?|uv pip|conda|mamba|apt|apt-get|brew|python3? -m pip) install"
    # Its arguments, up to a bracket, a semicolon or a plain word of prose ("or", "and").
    r"(?: (?![(;])(?!(?:or|and|then|for|to|with|on|in|if)\b)[^\s;()]+(?:\[[^\]\s]*\])?'?)+"
)


def tokens(text: str) -> list[str]:
    """The words of `text`, with any shell command in it kept as one token."""
    result: list[str] = []
    position = 0
    for match in COMMAND.finditer(text):
        if match.start() < position:
            continue
        # Punctuation touching a command (an opening or closing bracket) stays on its line.
        start, end = match.start(), match.end()
        while start > position and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        result.extend(text[position:start].split())
        result.append(text[start:end])
        position = end
    result.extend(text[position:].split())
    return result


def fill(words: Sequence[str], width: int) -> list[str]:
    """Words filled into lines of at most `width` cells; a longer word is a line on its own."""
    lines: list[str] = []
    line = ""
    for word in words:
        if not line:
            line = word
        elif cell_len(line) + 1 + cell_len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return lines


def wrap(text: str, width: int) -> list[str]:
    """`text` wrapped at `width` without breaking a word or a command."""
    return fill(tokens(text), max(1, width))


def longest_token(texts: Iterable[str]) -> int:
    """The width of the widest token in any of `texts` (what a column must at least hold)."""
    return max((cell_len(token) for text in texts for token in tokens(text)), default=0)


def label_value_lines(
    pairs: Sequence[tuple[str, str]], width: int, *, indent: int = 2, gap: int = 2
) -> list[tuple[str, str]]:
    """Label/value pairs laid out as two columns: [(label cell, value line), ...].

    The label column is as wide as the longest label (capped at a third of the width, longer
    labels wrap at words); values wrap under their own column. When the value column would be
    narrower than 16 cells, each value goes under its label instead.
    """
    label_width = min(max((cell_len(label) for label, _ in pairs), default=0), width // 3)
    value_width = width - indent - label_width - gap
    rows: list[tuple[str, str]] = []
    if value_width < 16:
        for label, value in pairs:
            rows.append((" " * indent + label, ""))
            rows.extend(("", " " * (indent + 2) + line) for line in wrap(value, width - indent - 2))
        return rows
    for label, value in pairs:
        labels = wrap(label, label_width)
        values = wrap(value, value_width)
        for index in range(max(len(labels), len(values))):
            label_cell = labels[index] if index < len(labels) else ""
            pad = " " * (label_width - cell_len(label_cell))
            value_line = values[index] if index < len(values) else ""
            rows.append((" " * indent + label_cell + pad + " " * gap, value_line))
    return rows
