"""`mltui choose --help` lists each question's allowed answers, read from the chooser content.

The answers live in content/chooser.toml; reading them costs a file parse, so it happens only
when the help is shown (every other command builds the same parser without it).
"""

from __future__ import annotations

import argparse

from tui.cli.output import OneLineParser


class ChooseParser(OneLineParser):
    """The `choose` subparser: its help names each question and every answer it accepts."""

    def format_help(self) -> str:
        """The usual help, with each question's answers filled in first."""
        describe_answers(self)
        return super().format_help()


def describe_answers(parser: argparse.ArgumentParser) -> None:
    """Give each question flag its question and allowed answers (once; broken content: as is)."""
    from content.chooser import QUESTION_KEYS, ChooserError, load_chooser
    from content.knowledge import ContentError

    try:
        spec = load_chooser()
    except (ContentError, ChooserError, OSError):
        return
    for action in parser._actions:
        if action.dest not in QUESTION_KEYS or getattr(action, "_answers_described", False):
            continue
        question = spec.question(action.dest)
        answers = "; ".join(f"{o.key} = {o.label}" for o in question.options)
        # argparse formats help with %-substitution: a literal % must be doubled.
        action.help = f"{question.prompt} {answers}".replace("%", "%%")
        action.metavar = "{" + ",".join(o.key for o in question.options) + "}"
        action._answers_described = True  # type: ignore[attr-defined]
