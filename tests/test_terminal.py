"""What the terminal can show: ASCII from the locale the terminal has (not Python's UTF-8 mode),
no colour for NO_COLOR and TERM=dumb, and the ASCII stand-ins for mltui's own characters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.terminal import launch_environment, locale_is_utf8, to_ascii, wants_ascii, wants_colour

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("environ", "utf8"),
    [
        ({"LANG": "C.UTF-8"}, True),
        ({"LANG": "en_US.UTF-8"}, True),
        ({"LANG": "de_DE.utf8"}, True),
        ({"LANG": "sr_RS.UTF-8@latin"}, True),
        ({"LC_CTYPE": "UTF-8"}, True),  # macOS terminals set this alone
        ({"LANG": "C"}, False),
        ({"LANG": "POSIX"}, False),
        ({"LANG": "en_US"}, False),
        ({"LANG": "en_US.ISO-8859-1"}, False),
        ({}, False),  # nothing set: the C locale
        ({"LANG": "en_US.UTF-8", "LC_ALL": "C"}, False),  # LC_ALL wins
        ({"LANG": "C", "LC_CTYPE": "en_US.UTF-8"}, True),  # LC_CTYPE before LANG
        ({"LC_ALL": "", "LANG": "C.UTF-8"}, True),  # an empty variable does not count
        # What Python's C-locale coercion leaves in os.environ under LANG=C: still ASCII.
        ({"LANG": "C", "LC_CTYPE": "C.UTF-8"}, False),
    ],
)
def test_locale_decides_utf8(environ: dict[str, str], utf8: bool) -> None:
    assert locale_is_utf8(environ) is utf8


@pytest.mark.parametrize(
    ("environ", "ascii"),
    [
        ({"LANG": "C.UTF-8", "TERM": "xterm-256color"}, False),
        ({"LANG": "C.UTF-8", "TERM": "dumb"}, True),
        ({"LANG": "C.UTF-8", "TERM": "linux"}, True),
        ({"LANG": "C", "LC_ALL": "C", "TERM": "xterm"}, True),
    ],
)
def test_wants_ascii(environ: dict[str, str], ascii: bool) -> None:
    assert wants_ascii(False, environ) is ascii
    assert wants_ascii(True, environ) is True


def test_wants_colour() -> None:
    assert wants_colour({"TERM": "xterm"}) is True
    assert wants_colour({"TERM": "xterm", "NO_COLOR": ""}) is False  # any value, even empty
    assert wants_colour({"TERM": "dumb"}) is False


def test_python_utf8_mode_does_not_hide_a_c_locale() -> None:
    """Under LANG=C LC_ALL=C Python reports utf-8, but the terminal's locale is still C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    env.update(LANG="C", LC_ALL="C", TERM="xterm", PYTHONPATH=str(ROOT))
    code = (
        "import sys; from tui.terminal import wants_ascii; "
        "print(sys.stdout.encoding, wants_ascii())"
    )
    out = subprocess.run(
        [sys.executable, "-X", "utf8", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["utf-8", "True"]
    # Only LANG=C: Python coerces LC_CTYPE to C.UTF-8 in its own environment; still ASCII.
    env.pop("LC_ALL")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == "True"
    env["LANG"] = "C.UTF-8"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == "False"


def test_launch_environment_reads_the_process_start(tmp_path: Path) -> None:
    environ = tmp_path / "environ"
    environ.write_bytes(b"LANG=C\0TERM=dumb\0BROKEN\0")
    assert launch_environment(str(environ)) == {"LANG": "C", "TERM": "dumb"}
    assert launch_environment(str(tmp_path / "missing")) == dict(os.environ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("mltui \u2014 Python", "mltui -- Python"),
        ("a \u2192 b \u2026", "a -> b ..."),
        ("30 \u00b0C", "30  degC"),
        ("\u6f22\u5b57", "??"),
    ],
)
def test_to_ascii(text: str, expected: str) -> None:
    assert to_ascii(text) == expected
    assert to_ascii(text).isascii()
