"""Periodic re-whitening of `WhitenedLinear` layers: PRONG's Algorithm 1 (backend stage).

Backend stage, from Desjardins et al., "Natural Neural Networks" (NIPS 2015). In: a Lightning
training run whose model contains `WhitenedLinear` layers; out: every `every_n_updates` optimiser
updates (and before the first), each layer's centre c and whitening U are re-estimated from its
inputs on up to `samples` training examples, and V, d are recomputed so that the network's function
is exactly unchanged. SGD on the freshly whitened V, d then approximates natural-gradient descent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset, Subset

from nndsl.backend.modules.whitened import WhitenedLinear, estimate_whitening


def forward_first_element(module: pl.LightningModule, batch: Any) -> Any:
    """Runs the model on a batch's inputs: the first element of a tuple or list batch, else all."""
    inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
    return module(inputs)


def rewhiten_layers(new_statistics: Sequence[tuple[WhitenedLinear, Tensor, Tensor]]) -> None:
    """Re-whitens several layers at once without changing the function they compute together.

    All canonical W, b are recorded before any U or c changes, then every U, c is replaced, then
    every V, d is recomputed. The paper's pseudo-code interleaves these steps per layer; doing each
    step for all layers first keeps the order of layers irrelevant.

    Args:
        new_statistics: `(layer, new mean c, new whitening U)` for each layer to re-whiten.
    """
    canonical = [layer.canonical_parameters() for layer, _, _ in new_statistics]  # P⁻¹, old U, c
    for layer, mean, whitening in new_statistics:
        layer.set_whitening(mean, whitening)
    for (layer, _, _), (weight, bias) in zip(new_statistics, canonical):
        layer.load_canonical_parameters(weight, bias)  # P with the new U, c


def reset_optimizer_state(
    optimizers: Iterable[torch.optim.Optimizer], parameters: Iterable[nn.Parameter]
) -> None:
    """Drops the optimisers' per-parameter state (momentum, Adam moments) for `parameters`.

    Torch optimisers rebuild a missing state lazily at the next step, as at the start of training.
    """
    parameters = list(parameters)
    for optimizer in optimizers:
        for parameter in parameters:
            optimizer.state.pop(parameter, None)


class Rewhitening(pl.Callback):
    """Re-whitens every `WhitenedLinear` in the model every T optimiser updates, starting at 0.

    Statistics come from a random subset of `samples` examples of the training set (drawn with a
    generator seeded by `seed` and the update count, so every process of a distributed run draws
    the same subset; rank 0's estimate is broadcast anyway). They are collected with forward hooks
    under `torch.no_grad()` with the model in evaluation mode, so that dropout noise does not enter
    the estimate and batch-norm running statistics are not updated.

    The momentum buffers and Adam moments of the re-parametrised V and d are reset: they were
    accumulated in the old coordinates, which no longer mean the same directions (the paper leaves
    this unspecified). U and c are buffers, so checkpoints hold them; the update counter is kept in
    this callback's `state_dict`, so resuming re-whitens on the same schedule.

    Args:
        every_n_updates: T, the number of optimiser updates between re-whitenings.
        samples: N_s, the number of training examples (rows) used to estimate each layer's
            statistics.
        epsilon: ε for every layer, or None to use each layer's own `epsilon`.
        run_batch: How to run the model on a training batch; the default passes the batch's first
            element (or the whole batch when it is not a tuple or list) to the model.
        seed: Seeds the choice of the example subset.
    """

    def __init__(
        self,
        every_n_updates: int,
        samples: int,
        epsilon: float | None = None,
        run_batch: Callable[[pl.LightningModule, Any], Any] = forward_first_element,
        seed: int = 0,
    ) -> None:
        self.every_n_updates, self.samples, self.epsilon = every_n_updates, samples, epsilon
        self.run_batch, self.seed = run_batch, seed
        self.updates = 0
        self.last_rewhitened_update = -1
        self._global_step_at_batch_start = 0

    @property
    def state_key(self) -> str:
        return self._generate_state_key(every_n_updates=self.every_n_updates, samples=self.samples)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "last_rewhitened_update": self.last_rewhitened_update}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.updates = state_dict["updates"]
        self.last_rewhitened_update = state_dict["last_rewhitened_update"]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._global_step_at_batch_start = trainer.global_step
        # Checked before the batch's update, as in Algorithm 1 (re-whiten when t mod T = 0, then
        # step); the second condition stops a repeat while gradients accumulate or after resuming.
        due = self.updates % self.every_n_updates == 0
        if due and self.last_rewhitened_update != self.updates:
            self.rewhiten(trainer, pl_module, batch)
            self.last_rewhitened_update = self.updates

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        # Counts optimiser updates, not batches: with gradient accumulation they differ.
        if trainer.global_step > self._global_step_at_batch_start:
            self.updates += 1

    def rewhiten(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any) -> None:
        """Estimates new statistics for every `WhitenedLinear` and re-whitens them all.

        Args:
            trainer: The running trainer (its data, strategy and optimisers are used).
            pl_module: The model being trained.
            batch: The current training batch, used only when the training data is not a single
                `DataLoader` and no subset can be drawn.
        """
        layers = [module for module in pl_module.modules() if isinstance(module, WhitenedLinear)]
        inputs = self._collect_inputs(trainer, pl_module, layers, batch)
        statistics = {}
        for index, rows in inputs.items():
            epsilon = self.epsilon if self.epsilon is not None else layers[index].epsilon
            statistics[index] = estimate_whitening(rows, epsilon)
        statistics = trainer.strategy.broadcast(statistics, src=0)
        rewhiten_layers([(layers[index], *statistics[index]) for index in sorted(statistics)])
        parameters = [p for index in statistics for p in (layers[index].weight, layers[index].bias)]
        reset_optimizer_state(trainer.optimizers, parameters)

    def _sample_batches(self, trainer: pl.Trainer, batch: Any) -> Iterable[Any]:
        loader = trainer.train_dataloader
        if not isinstance(loader, DataLoader):
            return [batch]
        dataset = loader.dataset
        if not isinstance(dataset, IterableDataset):
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.updates)
            indices = torch.randperm(len(dataset), generator=generator)[: self.samples]
            dataset = Subset(dataset, indices.tolist())
        # A separate single-process loader: the training loop's own iterator is left untouched.
        return DataLoader(dataset, batch_size=loader.batch_size or 64, collate_fn=loader.collate_fn)

    def _collect_inputs(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule,
        layers: list[WhitenedLinear], batch: Any,
    ) -> dict[int, Tensor]:
        captured: dict[int, list[Tensor]] = {index: [] for index in range(len(layers))}
        counts = [0] * len(layers)

        def capture(index: int) -> Callable[..., None]:
            def hook(module: WhitenedLinear, arguments: tuple[Any, ...], output: Any) -> None:
                rows = arguments[0].detach().reshape(-1, module.in_features)  # (rows, in)
                rows = rows[: self.samples - counts[index]]
                captured[index].append(rows)
                counts[index] += rows.shape[0]
            return hook

        handles = [layer.register_forward_hook(capture(i)) for i, layer in enumerate(layers)]
        modes = {module: module.training for module in pl_module.modules()}
        pl_module.eval()
        try:
            with torch.no_grad():
                for sample_batch in self._sample_batches(trainer, batch):
                    self.run_batch(pl_module, trainer.strategy.batch_to_device(sample_batch))
                    if min(counts, default=self.samples) >= self.samples:
                        break
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes.items():
                module.training = training
        # A layer that saw no input (an unused branch) keeps its current whitening.
        return {index: torch.cat(rows) for index, rows in captured.items() if counts[index] > 0}
