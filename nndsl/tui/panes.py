"""TUI: the small panes — status line, diagnostic list and phase bar.

In: a `Compiled` (its diagnostics, its plan's phase steps). Out: widgets that show them.
The diagnostic list reports the diagnostic the user moved to (`DiagnosticList.Jump`) so that the
app can scroll the YAML view; refilling it after a reload keeps the highlighted entry and sends
no jump, so a reload never moves the user's place in the YAML.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from nndsl.api import Compiled
from nndsl.cli.render import bounded
from nndsl.diagnostics import Diagnostic
from nndsl.tui.phase_steps import FROZEN, REINITIALISED, TRAINABLE, PhaseStep

STATE_STYLES = {TRAINABLE: "bold green3", FROZEN: "deep_sky_blue1", REINITIALISED: "bold orange1"}
STATE_MARKS = {TRAINABLE: "●", FROZEN: "❄", REINITIALISED: "↺"}


def counts(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = sum(item.severity == "error" for item in diagnostics)
    return errors, len(diagnostics) - errors


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class StatusLine(Static):
    """One line: the file, whether it is valid, its size, and how many times it was reloaded."""

    def show(self, compiled: Compiled, reloads: int) -> None:
        errors, warnings = counts(compiled.diagnostics)
        text = Text(no_wrap=True, overflow="ellipsis")
        if errors:
            text.append(f"✗ {plural(errors, 'error')}", style="bold red")
        else:
            text.append("✓ valid", style="bold green")
        if warnings:
            text.append(f"  ! {plural(warnings, 'warning')}", style="yellow")
        if compiled.graph is not None:
            text.append(f"  {compiled.graph.parameter_count:,} parameters", style="dim")
        if reloads:
            text.append(f"  reloaded ×{reloads}", style="dim")
        # The file name matters more than the folders above it: shorten from the left.
        room = max(12, self.size.width - len(text.plain) - 4) if self.size.width else 40
        path = compiled.path if len(compiled.path) <= room else "…" + compiled.path[-(room - 1) :]
        self.update(Text.assemble((path, "bold"), "  ", text, no_wrap=True, overflow="ellipsis"))


class DiagnosticList(OptionList):
    """Every diagnostic as `✗ E301 7:22 message` with its hint underneath."""

    class Jump(Message):
        """The user moved to a diagnostic (`focus`: they pressed enter and want the YAML)."""

        def __init__(self, diagnostic: Diagnostic, focus: bool):
            super().__init__()
            self.diagnostic = diagnostic
            self.focus = focus

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.diagnostics: list[Diagnostic] = []
        self.spec_file = ""

    def set_diagnostics(self, diagnostics: tuple[Diagnostic, ...], spec_file: str) -> None:
        """Refill, keeping the highlighted entry (the same code on the same line, else the same
        position) and without sending a jump."""
        previous = self.current
        position = self.highlighted
        self.diagnostics, self.spec_file = list(diagnostics), spec_file
        with self.prevent(OptionList.OptionHighlighted):
            self.clear_options()
            if not self.diagnostics:
                self.add_option(Option(Text("✓ no problems found", style="green"), disabled=True))
            else:
                self.add_options([Option(self._prompt(item)) for item in self.diagnostics])
                self.highlighted = self._find(previous, position)
        errors, warnings = counts(self.diagnostics)
        self.border_title = "diagnostics"
        self.border_subtitle = f"{errors} ✗ {warnings} !" if self.diagnostics else ""

    @property
    def current(self) -> Diagnostic | None:
        """The highlighted diagnostic."""
        if self.highlighted is None or not self.diagnostics:
            return None
        return self.diagnostics[min(self.highlighted, len(self.diagnostics) - 1)]

    def _find(self, previous: Diagnostic | None, position: int | None) -> int | None:
        if previous is not None:
            for index, item in enumerate(self.diagnostics):
                if (item.code, item.span and item.span.line) == (
                    previous.code,
                    previous.span and previous.span.line,
                ):
                    return index
        if position is None:
            return None
        return min(position, len(self.diagnostics) - 1)

    def _prompt(self, diagnostic: Diagnostic) -> Text:
        colour = "red" if diagnostic.severity == "error" else "yellow"
        span = diagnostic.span
        text = Text.assemble(
            ("✗ " if diagnostic.severity == "error" else "! ", colour),
            (diagnostic.code, f"bold {colour}"),
        )
        if span is not None:
            text.append(f" {span.line}:{span.column}", style="bold")
            if span.file != self.spec_file:
                text.append(f" in {span.file}", style="dim")
        text.append(f"\n{bounded(diagnostic.message)}")
        if diagnostic.hint:
            text.append(f"\n→ {bounded(diagnostic.hint)}", style="italic cyan")
        return text

    def on_focus(self) -> None:
        # Arriving at the list shows the first problem at once, without an extra key press.
        if self.highlighted is None and self.diagnostics:
            self.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if self.current is not None:
            self.post_message(self.Jump(self.current, focus=False))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.current is not None:
            self.post_message(self.Jump(self.current, focus=True))


class PhaseBar(Static):
    """`phase 2/3 · top_down (attempt 1/4, cut C4)` and the colour legend."""

    def show(self, steps: list[PhaseStep], position: int, reason: str | None) -> None:
        self.display = bool(steps) or reason is None
        if not steps:
            self.update(Text("the plan has no phases", style="dim"))
            return
        step = steps[position]
        text = Text.assemble(
            ("◀ p ", "dim"),
            (f"phase {step.index + 1}/{steps[-1].index + 1}", "bold"),
            " · ",
            (step.title, "bold"),
            ("  n ▶", "dim"),
            "\n",
        )
        for state in (TRAINABLE, FROZEN, REINITIALISED):
            text.append(f"{STATE_MARKS[state]} {state}  ", style=STATE_STYLES[state])
        self.update(text)
