"""TUI: the steps a user pages through with `n` / `p` — each phase, and each top-down attempt.

In: a `Plan`. Out: `PhaseStep`s, each naming the layer sets (trainable, frozen, re-initialised)
that hold while it runs, so the graph view can colour nodes and the plan view can filter the
optimiser's parameter groups. A `top_down` phase expands into one step per cut it tries: the
plan records the sets of its first attempt, and (as `PhasePlan` documents) every later attempt
freezes the classifier of its own cut and re-initialises and trains the extractor below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.plan import PhasePlan, Plan
from nndsl.plan.layer_sets import LayerSet

TRAINABLE, FROZEN, REINITIALISED = "trainable", "frozen", "re-init"


@dataclass(frozen=True)
class PhaseStep:
    """One position of the phase stepper.

    Args:
        index: position of the phase in the plan (attempts of one phase share it).
        phase: the planned phase.
        trainable / frozen / reinitialised: the layer sets of this step (ranges of the graph
            order, shared with the plan: a step per top-down attempt copies no names).
        attempt: 1-based attempt number inside a top-down search, None for other phases.
        attempts: how many attempts the search has (0 for other phases).
        cut: the cut this step trains below, when it has one.
    """

    index: int
    phase: PhasePlan
    trainable: LayerSet
    frozen: LayerSet
    reinitialised: LayerSet
    attempt: int | None = None
    attempts: int = 0
    cut: str | None = None

    def state(self, layer: str) -> str:
        """`re-init`, `trainable` or `frozen`: re-initialised layers are trained too, but the
        re-initialisation is what a user needs to see."""
        if layer in self.reinitialised:
            return REINITIALISED
        if layer in self.trainable:
            return TRAINABLE
        return FROZEN

    @property
    def title(self) -> str:
        """`top_down (attempt 2/4, cut C3)` or `joint`."""
        if self.attempt is not None:
            return f"{self.phase.name} (attempt {self.attempt}/{self.attempts}, cut {self.cut})"
        return self.phase.name + (f" (cut {self.cut})" if self.cut else "")


def phase_steps(plan: Plan | None) -> list[PhaseStep]:
    """Every step of the plan in order; empty when there is no plan or it has no phases."""
    if plan is None:
        return []
    steps: list[PhaseStep] = []
    cuts = {cut.name: cut for cut in plan.cuts}  # a search over n cuts: n look-ups, not n scans
    for index, phase in enumerate(plan.phases):
        search = phase.search
        if search is not None and all(name in cuts for name in search.cuts):
            for attempt, cut_name in enumerate(search.cuts, start=1):
                cut = cuts[cut_name]
                steps.append(
                    PhaseStep(
                        index,
                        phase,
                        cut.extractor,
                        cut.classifier,
                        cut.extractor,
                        attempt,
                        len(search.cuts),
                        cut_name,
                    )
                )
        else:
            steps.append(
                PhaseStep(
                    index,
                    phase,
                    phase.trainable,
                    phase.frozen,
                    phase.reinitialised,
                    cut=phase.cut,
                )
            )
    return steps


def find_step(steps: list[PhaseStep], previous: PhaseStep | None, fallback: int) -> int:
    """Where the stepper should stand after a reload: the same phase name and attempt if it still
    exists, else the old position clamped to the new list."""
    if not steps:
        return 0
    if previous is not None:
        for position, step in enumerate(steps):
            if step.phase.name == previous.phase.name and step.attempt == previous.attempt:
                return position
    return max(0, min(fallback, len(steps) - 1))
