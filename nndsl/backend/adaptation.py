"""Backend stage: adaptation on unlabelled inputs, with the network's own decision as target.

In: what `NndslModule` takes (network, loss, trainable layers, groups, optimiser, metrics) and a
split's examples. Out: a LightningModule whose training step never reads the labels: the output
z is squashed to bipolar values y = tanh(z), the target t is +1 for the winning output and -1
elsewhere (Bae & Lee's eq. 1), and the error ½Σ(t - y)² is backpropagated into the trainable
layers, one example at a time. Layers add their loss terms as in training: an `ica` layer's
independence term joins the error that reaches it in eq. (3)'s update; variational dropout adds
its KL term. Validation and test steps are the ordinary, labelled ones.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torchdata.stateful_dataloader import StatefulDataLoader

from nndsl.backend.datamodule import ArrayDataset, pad_collate
from nndsl.backend.lightning_module import NndslModule


def own_decision_targets(outputs: torch.Tensor) -> torch.Tensor:
    """+1 at each example's largest output, -1 elsewhere (last axis)."""
    targets = torch.full_like(outputs, -1.0)
    return targets.scatter(-1, outputs.argmax(dim=-1, keepdim=True), 1.0)


def adaptation_loss(output: torch.Tensor) -> torch.Tensor:
    """½Σ(t - tanh z)² with t the own-decision targets, averaged over the batch."""
    targets = own_decision_targets(output.detach())
    return 0.5 * (targets - torch.tanh(output)).pow(2).sum(dim=-1).mean()


class AdaptationModule(NndslModule):
    """`NndslModule` whose training loss adapts to the network's own decisions."""

    def training_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        output, _ = self.network(batch["inputs"], batch.get("input_lengths"))
        loss = self.compiled_loss.with_layer_terms(self.network, adaptation_loss(output))
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=batch["inputs"].shape[0])
        return loss


def _dataset(examples: Any, base: Any) -> Any:
    """The split's examples as a dataset: arrays in memory, or a lazy store's rows read one at a
    time (standardised as the base module's own loaders standardise them)."""
    from nndsl.backend.streaming import StoreDataset, StoreView

    if isinstance(examples, StoreView):
        return StoreDataset(examples, base.feature_statistics)
    return ArrayDataset(examples)


class AdaptationData(LightningDataModule):
    """One split's examples in order, one per batch, as the training data; validation and test
    loaders are the base data module's own."""

    def __init__(self, base: Any, split: str) -> None:
        super().__init__()
        self.base = base
        self.split = split
        self.batch_size = 1
        self.class_names = base.class_names
        self.lexicon, self.grammar = base.lexicon, base.grammar
        self._shuffle_state: torch.Tensor | None = None
        if base.splits.valid is None:
            # As in the base module: a hook left as the base class's own skips validation.
            self.val_dataloader = super().val_dataloader  # type: ignore[method-assign]

    def resume_shuffle(self, state: torch.Tensor) -> None:
        """A resumed run's loader generator state, as `ArrayDataModule.resume_shuffle` takes it
        (the order is fixed here, but the generator still seeds loader workers)."""
        self._shuffle_state = state

    def train_dataloader(self) -> StatefulDataLoader:
        examples = getattr(self.base.splits, self.split)
        generator = torch.Generator().manual_seed(self.base.seed)
        if self._shuffle_state is not None:
            generator.set_state(self._shuffle_state)
            self._shuffle_state = None
        return StatefulDataLoader(_dataset(examples, self.base), batch_size=1, shuffle=False,
                                  collate_fn=pad_collate, generator=generator)

    def val_dataloader(self) -> Any:
        return self.base.val_dataloader()

    def test_dataloader(self) -> Any:
        return self.base.test_dataloader()
