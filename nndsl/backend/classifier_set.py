"""Backend stage: one extractor trained against several frozen classifiers at once.

In: the network and the values of other runs' classifier layers (state-dict entries above a
cut). Out: `ClassifierSet`, the network whose output stacks every classifier's output along the
batch, and `RepeatTargets`, a callback repeating each batch's targets to match, so the loss is
the mean over the classifiers and the metrics pool them (top-down training's `classifier_from`
with several checkpoints, `nndsl.run.schedule`).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback
from torch import nn
from torch.func import functional_call


class ClassifierSet(nn.Module):
    """The network with several frozen classifiers above one extractor (the paper's suggestion
    for a stable good classifier: classifiers of differently seeded runs, multi-task style).

    The network's own classifier is the first; `alternatives` hold the others' values. The output
    stacks every classifier's output along the batch; with `RepeatTargets` repeating the targets
    to match, the loss is the mean over the classifiers and the metrics pool them. The extractor
    runs once per classifier (a functional call), which costs time, not correctness.
    """

    def __init__(self, network: nn.Module, alternatives: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.base = network
        self.order = network.order
        self.names: list[dict[str, str]] = []
        for index, state in enumerate(alternatives):
            names = {}
            for position, (key, value) in enumerate(state.items()):
                names[key] = f"alternative{index}_{position}"
                self.register_buffer(names[key], value.clone(), persistent=False)
            self.names.append(names)

    def layer(self, name: str) -> nn.Module:
        return self.base.layer(name)

    def layer_parameters(self, name: str) -> list[tuple[str, nn.Parameter]]:
        return self.base.layer_parameters(name)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None):
        results = [self.base(inputs, lengths)]
        for names in self.names:
            values = {key: getattr(self, buffer) for key, buffer in names.items()}
            results.append(functional_call(self.base, values, (inputs, lengths), strict=False))
        outputs = torch.cat([output for output, _ in results])
        output_lengths = (None if results[0][1] is None
                          else torch.cat([length for _, length in results]))
        return outputs, output_lengths


class RepeatTargets(Callback):
    """Repeats a batch's targets once per classifier of a `ClassifierSet`, in place, before the
    step that computes the loss and the metrics on the stacked outputs."""

    def __init__(self, copies: int) -> None:
        self.copies = copies

    def _repeat(self, batch: dict[str, torch.Tensor]) -> None:
        for key in ("targets", "target_lengths"):
            if key in batch:
                batch[key] = torch.cat([batch[key]] * self.copies)

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_index: int) -> None:
        self._repeat(batch)

    def on_validation_batch_start(self, trainer: Any, module: Any, batch: Any, batch_index: int,
                                  dataloader_index: int = 0) -> None:
        self._repeat(batch)
