"""Argument types for command-line words: the CLI's and those each fleet launcher adds.

They live below `tui` so a launcher module (in `probes.fleet`) can declare its options with the
same checks as every other option, without importing the CLI.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def positive_float(text: str) -> float:
    """A number above zero and finite (argparse type)."""
    return _positive(text, float, "a number")


def positive_int(text: str) -> int:
    """A whole number above zero (argparse type)."""
    return _positive(text, int, "a whole number")


def _positive(text: str, kind: Callable[[str], N], noun: str) -> N:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero and finite: {text!r}")
    return value
