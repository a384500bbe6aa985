"""The chooser: the guide's four questions as a form, and the recommendation with its reasons.

The rules live in content/ (chooser.toml); this form only asks and shows. When a check of the
target interpreter is known, each recommended library carries what this machine says about it.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Select, Static

from tui.presentation import ERROR, MUTED, SUCCESS_STRONG, WARNING, severity_style
from tui.safe_text import safe_content, safe_text
from tui.state import CheckState


class ChooserAnswer(Static, can_focus=True):
    """The recommendation; focusable so that tab reaches it and the arrows scroll the form."""

    BINDINGS = [
        Binding("up", "scroll_form(-1)", "Up", show=False),
        Binding("down", "scroll_form(1)", "Down", show=False),
        Binding("pageup", "scroll_form(-10)", "Page up", show=False),
        Binding("pagedown", "scroll_form(10)", "Page down", show=False),
    ]

    def action_scroll_form(self, lines: int) -> None:
        """Scroll the form around the answer by `lines`."""
        form = self.parent
        if isinstance(form, VerticalScroll):
            form.scroll_relative(y=lines, animate=False)


class ChooserForm(VerticalScroll, can_focus=False):
    """Answer four questions, read which library fits and what this machine can do with it.

    The form itself takes no focus: tab goes from question to question, then to the answer.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._check: CheckState | None = None
        #: The recommendation shown now (a content.chooser.Recommendation), None before the first.
        self.recommendation: object | None = None

    def compose(self) -> ComposeResult:
        """A Select per question (first option chosen), then the answer."""
        try:
            from content.chooser import load_chooser

            questions = load_chooser().questions
        except Exception as exc:  # a broken chooser file is shown, the rest of the app works
            yield Static(safe_text(f"the chooser cannot load: {exc}", style=ERROR))
            return
        for question in questions:
            yield Static(safe_content(question.prompt), classes="question")
            yield Select(
                [(safe_content(option.label), option.key) for option in question.options],
                value=question.options[0].key,
                allow_blank=False,
                compact=True,
                id=f"q-{question.key}",
                classes="chooser-question",
            )
        yield Static(
            "tab: next question, enter: its choices",
            classes="dialog-hint",
        )
        yield ChooserAnswer("", id="chooser-answer")

    def on_mount(self) -> None:
        """Answer for the preselected options at once."""
        self.border_title = "which library?"
        self._recommend()

    def focus_first_question(self) -> None:
        """Put the cursor on the first question."""
        questions = self.query(".chooser-question")
        if questions:
            questions.first().focus()

    def set_check(self, state: CheckState) -> None:
        """Weigh recommendations against this check from now on."""
        self._check = state
        if self.is_mounted:
            self._recommend()

    @on(Select.Changed, ".chooser-question")
    def _on_answer(self) -> None:
        self._recommend()

    def answers(self) -> dict[str, str]:
        """Question key -> the chosen option key."""
        return {
            str(select.id)[2:]: str(select.value)
            for select in self.query(".chooser-question").results(Select)
        }

    def _recommend(self) -> None:
        answer = self.query("#chooser-answer")
        if not answer:
            return
        from content.chooser import Answers, MachineState, recommend

        machine = None
        state = self._check
        if state is not None and state.result is not None:
            machine = MachineState.from_check(state.result, source="this machine's last check")
        try:
            recommendation = recommend(Answers(**self.answers()), machine)
        except Exception as exc:  # shown in place of the answer
            answer.first(Static).update(safe_text(f"no recommendation: {exc}", style=ERROR))
            return
        self.recommendation = recommendation
        answer.first(Static).update(recommendation_renderable(recommendation))


def recommendation_renderable(recommendation: object) -> RenderableType:
    """The ranked libraries with reasons, caveats and what this machine says."""
    from content.chooser import Recommendation

    assert isinstance(recommendation, Recommendation)
    parts: list[RenderableType] = []
    for place, item in enumerate(recommendation.ranked[:3], 1):
        head = Text(f"{place}. {item.display_name}", style=SUCCESS_STRONG if place == 1 else "bold")
        head.append(f"  (score {item.score})", style=MUTED)
        parts.append(head)
        for reason in item.reasons:
            parts.append(Text(f"   + {reason.text}"))
        for reason in item.against:
            parts.append(Text(f"   - {reason.text}", style=WARNING))
        for reason in item.notes:
            parts.append(Text(f"   note: {reason.text}", style="italic"))
        for flag in item.machine:
            parts.append(
                safe_text(f"   > {flag.message}", style=severity_style(flag.severity, strong=False))
            )
    if recommendation.left_out:
        parts.append(Text(recommendation.left_out, style=MUTED))
    advice = recommendation.existing
    if advice is not None:
        parts.append(Text(f"Your existing {advice.display_name} code", style=WARNING))
        for step in advice.steps:
            parts.append(Text(f"   {step.kind}: {step.text}"))
            if step.machine is not None:
                parts.append(safe_text(f"     > {step.machine.message}", style=MUTED))
    if not recommendation.machine_checked:
        parts.append(
            Text("This machine is not checked yet; its caveats come after the check.", style=MUTED)
        )
    return Group(*parts)
