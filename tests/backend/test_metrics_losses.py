"""The compiled loss and the metrics against direct torch computations.

Losses: cross-entropy (classes and next tokens [B, T, V]), NLL, MSE, binary cross-entropy with a
zero-error radius, CTC with the lengths a pooling network leaves, and the KL / N term variational
dropout adds. Metrics: accuracy, CER / WER by greedy CTC decoding, perplexity = exp(mean CE).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.losses import CompiledLoss
from nndsl.backend.metrics import build_metrics, greedy_decode, label_string, update_metrics
from nndsl.spec.training import LossSpec


def _loss(kind: str, target_kind: str, examples: int = 100, **options) -> CompiledLoss:
    return CompiledLoss(LossSpec(type=kind, **options), target_kind, examples)


def _data(loss: CompiledLoss, output, batch, lengths=None) -> torch.Tensor:
    total, data = loss(torch.nn.Identity(), output, lengths, batch)
    assert torch.equal(total, data)  # no KL term without noisy layers
    return total


# ---------------------------------------------------------------------------------------- losses


def test_cross_entropy_on_classes_with_and_without_label_smoothing():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=generator)
    targets = torch.tensor([0, 3, 1, 1, 2, 0])
    expected = -functional.log_softmax(logits, -1)[torch.arange(6), targets].mean()
    assert _data(_loss("cross_entropy", "class"), logits, {"targets": targets}) == pytest.approx(
        expected.item()
    )
    smoothing = 0.1
    log_probabilities = functional.log_softmax(logits, -1)
    smoothed = ((1 - smoothing) * -log_probabilities[torch.arange(6), targets]
                - smoothing * log_probabilities.mean(-1))
    loss = _loss("cross_entropy", "class", label_smoothing=smoothing)
    assert _data(loss, logits, {"targets": targets}) == pytest.approx(
        smoothed.mean().item(), rel=1e-5
    )


def test_cross_entropy_on_next_tokens_averages_over_every_position():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 7, generator=generator)  # [B, T, V]
    targets = torch.randint(0, 7, (2, 5), generator=generator)
    log_probabilities = functional.log_softmax(logits, -1)
    expected = -sum(log_probabilities[b, t, targets[b, t]] for b in range(2) for t in range(5)) / 10
    assert _data(
        _loss("cross_entropy", "next_token"), logits, {"targets": targets}
    ) == pytest.approx(expected.item())
    summed = _data(_loss("cross_entropy", "next_token", reduction="sum"), logits,
                   {"targets": targets})
    assert summed == pytest.approx(10 * expected.item(), rel=1e-5)


def test_nll_takes_log_probabilities():
    generator = torch.Generator().manual_seed(2)
    log_probabilities = functional.log_softmax(torch.randn(5, 3, generator=generator), -1)
    targets = torch.tensor([2, 0, 1, 2, 2])
    expected = -log_probabilities[torch.arange(5), targets].mean()
    assert _data(_loss("nll", "class"), log_probabilities, {"targets": targets}) == pytest.approx(
        expected.item()
    )


def test_mse_is_the_mean_squared_difference():
    output = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    targets = torch.tensor([[1.0, -1.0], [0.0, 3.0]])
    expected = (0.25 + 0 + 4 + 9) / 4
    assert _data(_loss("mse", "regression"), output, {"targets": targets}) == pytest.approx(
        expected
    )
    assert _data(_loss("mse", "regression", reduction="sum"), output,
                 {"targets": targets}) == pytest.approx(13.25)


def _bce(probability: float, target: float) -> float:
    return -(target * math.log(probability) + (1 - target) * math.log(1 - probability))


def test_binary_cross_entropy_with_zero_error_radius():
    radius = 0.2
    loss = _loss("binary_cross_entropy", "multilabel", zero_error_radius=radius)
    # At or beyond the moved targets 0.8 / 0.2: exactly zero error, and no gradient.
    beyond = torch.tensor([[0.8, 0.95, 0.2, 0.01]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    value = _data(loss, beyond, {"targets": targets})
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(beyond.grad, torch.zeros_like(beyond))
    # Inside the radius: cross-entropy to the moved target, relative to its minimum.
    inside = torch.tensor([[0.5, 0.79, 0.3, 0.6]], requires_grad=True)
    expected = [_bce(0.5, 0.8) - _bce(0.8, 0.8), _bce(0.79, 0.8) - _bce(0.8, 0.8),
                _bce(0.3, 0.2) - _bce(0.2, 0.2), _bce(0.6, 0.2) - _bce(0.2, 0.2)]
    value = _data(loss, inside, {"targets": targets})
    assert value.item() == pytest.approx(sum(expected) / 4, rel=1e-5)
    value.backward()
    # towards the moved targets
    assert (inside.grad[0, :2] < 0).all() and (inside.grad[0, 2:] > 0).all()
    # Radius 0 is the plain binary cross-entropy.
    plain = _data(_loss("binary_cross_entropy", "multilabel"), inside.detach(),
                  {"targets": targets})
    assert plain.item() == pytest.approx(
        sum(_bce(p, t) for p, t in zip([0.5, 0.79, 0.3, 0.6], [1, 1, 0, 0])) / 4, rel=1e-5
    )


POOLED_CTC_SPEC = """
nndsl: 1
name: pooled-ctc
seed: 3
data: {source: synthetic_speech, examples: 20, batch_size: 4, symbols: 5, feature_dim: 8}
network:
  layers:
    - {name: image, type: add_channel}
    - {name: pool, type: maxpool, kernel: [2, 1]}
    - {name: frames, type: to_sequence}
    - {name: out, type: linear, units: 6}
loss: {type: ctc, blank: 0}
metrics: [cer]
optimizer: {type: sgd, lr: 0.1}
"""


def test_ctc_uses_the_lengths_left_after_pooling(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(POOLED_CTC_SPEC)
    compiled = compile_spec(path)
    assert compiled.ok, compiled.diagnostics
    assert compiled.graph.node("frames").output_shape == ("T/2", 8)
    torch.manual_seed(0)
    network = GraphModule(compiled.graph)
    generator = torch.Generator().manual_seed(3)
    input_lengths = torch.tensor([15, 11, 8])
    inputs = torch.randn(3, 15, 8, generator=generator)
    targets = torch.tensor([[1, 2, 2, 0], [3, 1, 0, 0], [5, 0, 0, 0]])
    target_lengths = torch.tensor([3, 2, 1])
    output, output_lengths = network(inputs, input_lengths)
    assert output.shape == (3, 7, 6)
    assert output_lengths.tolist() == [7, 5, 4]  # floor(L / 2)
    batch = {"inputs": inputs, "input_lengths": input_lengths, "targets": targets,
             "target_lengths": target_lengths}
    loss = _data(_loss("ctc", "label_sequence", blank=0), output, batch, output_lengths)
    log_probabilities = functional.log_softmax(output, -1)
    per_example = [functional.ctc_loss(log_probabilities[index, : length].unsqueeze(1),
                                       targets[index, : target_lengths[index]].unsqueeze(0),
                                       torch.tensor([length]), target_lengths[index: index + 1],
                                       blank=0, reduction="sum")
                   for index, length in enumerate([7, 5, 4])]
    # torch's "mean": each example's loss divided by its target length, then averaged.
    expected = sum(value / target_lengths[index] for index, value in enumerate(per_example)) / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    unpooled = _data(_loss("ctc", "label_sequence"), output, batch, torch.tensor([7, 7, 7]))
    assert unpooled.item() != pytest.approx(loss.item(), rel=1e-3)  # the lengths matter


VARIATIONAL_SPEC = """
nndsl: 1
name: variational
seed: 1
data: {source: digits, batch_size: 32, valid_fraction: 0.2}
network:
  layers:
    - {name: noisy_in, type: variational_dropout}
    - {name: hidden, type: variational_dropout, units: 12, variant: B, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: adam, lr: 0.01}
"""


def test_kl_term_is_added_as_kl_over_the_training_set_size(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(VARIATIONAL_SPEC)
    compiled = compile_spec(path)
    assert compiled.ok, compiled.diagnostics
    assert len(compiled.plan.loss_terms) == 2  # both noisy layers add a KL term
    torch.manual_seed(0)
    network = GraphModule(compiled.graph)
    for module in network.modules():  # move the rates off the default, where the KL is zero
        if hasattr(module, "log_alpha"):
            with torch.no_grad():
                module.log_alpha.uniform_(-3.0, -0.5)
    loss = CompiledLoss(compiled.spec.loss, "class", 1000, compiled.plan.loss_terms)
    generator = torch.Generator().manual_seed(4)
    batch = {"inputs": torch.randn(8, 64, generator=generator),
             "targets": torch.randint(0, 10, (8,))}
    network.eval()  # deterministic output; the KL does not depend on the mode
    output, _ = network(batch["inputs"])
    total, data = loss(network, output, None, batch)
    assert data.item() == pytest.approx(functional.cross_entropy(output, batch["targets"]).item())
    kl = sum(
        module.kl_divergence() for module in network.modules() if hasattr(module, "kl_divergence")
    )
    assert kl.item() > 0
    assert (total - data).item() == pytest.approx(kl.item() / 1000, rel=1e-5)
    # Without noisy layers the plan has no loss term and nothing is added.
    plain = compile_spec(
        path,
        text=VARIATIONAL_SPEC.replace(
            "    - {name: noisy_in, type: variational_dropout}\n", ""
        ).replace("type: variational_dropout, units: 12, variant: B", "type: linear, units: 12"),
    )
    assert plain.ok and plain.plan.loss_terms == ()


# --------------------------------------------------------------------------------------- metrics


def test_accuracy_on_classes_and_next_tokens():
    metrics = build_metrics(("accuracy",), "class", 3, 0, None)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 5.0, 1.0], [1.0, 0.0, 0.0]])
    update_metrics(metrics, logits, None, {"targets": torch.tensor([0, 2, 0, 1])}, 0, None)
    assert metrics["accuracy"].compute().item() == pytest.approx(0.5)
    tokens = build_metrics(("accuracy",), "next_token", 4, 0, None)
    logits = torch.zeros(2, 3, 4)
    predicted = torch.tensor([[1, 2, 3], [0, 0, 1]])
    logits.scatter_(2, predicted.unsqueeze(-1), 1.0)
    targets = torch.tensor([[1, 2, 0], [0, 3, 1]])
    update_metrics(tokens, logits, None, {"targets": targets}, 0, None)
    assert tokens["accuracy"].compute().item() == pytest.approx(4 / 6)


def _frames(labels: list[list[int]], classes: int = 5) -> torch.Tensor:
    """One-hot-like logits whose per-frame argmax is `labels` (padded with blanks)."""
    longest = max(len(row) for row in labels)
    output = torch.zeros(len(labels), longest, classes)
    for index, row in enumerate(labels):
        for frame, label in enumerate(row):
            output[index, frame, label] = 10.0
        for frame in range(len(row), longest):
            output[index, frame, 0] = 10.0
    return output


def test_greedy_ctc_decoding_merges_repeats_and_drops_blanks():
    # blank = 0: "1 1 0 2 2 0 2 3 3" -> 1 2 2 3 (a blank between the 2s keeps both)
    output = _frames([[1, 1, 0, 2, 2, 0, 2, 3, 3], [0, 4, 4, 4, 0, 0, 1, 2, 2]])
    assert greedy_decode(output, None, blank=0) == [[1, 2, 2, 3], [4, 1, 2]]
    # Lengths cut each example: frames past its length are padding, never decoded.
    assert greedy_decode(output, torch.tensor([4, 7]), blank=0) == [[1, 2], [4, 1]]
    # Another blank index.
    assert greedy_decode(_frames([[4, 4, 1, 4, 0]]), None, blank=4) == [[1, 0]]


def test_cer_and_wer_from_greedy_decoding():
    output = _frames([[1, 1, 0, 2, 2, 0, 2, 3, 3], [0, 4, 4, 4, 0, 0, 1, 2, 2]])
    lengths = torch.tensor([9, 9])
    targets = torch.tensor([[1, 2, 3, 0], [4, 1, 3, 2]])  # hypotheses 1 2 2 3 and 4 1 2
    batch = {"targets": targets, "target_lengths": torch.tensor([3, 4])}
    metrics = build_metrics(("cer", "wer"), "label_sequence", 5, 0, None)
    update_metrics(metrics, output, lengths, batch, 0, None)
    # Edits: one insertion (1 2 [2] 3) and one deletion (4 1 [3] 2) over 3 + 4 reference labels.
    assert metrics["cer"].compute().item() == pytest.approx(2 / 7)
    # no space label: a label is a word
    assert metrics["wer"].compute().item() == pytest.approx(2 / 7)
    # With a space label (4), words are the runs between spaces.
    spaced = build_metrics(("wer",), "label_sequence", 5, 0, 4)
    words_output = _frames([[1, 0, 1, 4, 2, 3, 4, 3]])  # "1 1 _ 2 3 _ 3" -> words [11, 23, 3]
    words_batch = {"targets": torch.tensor([[1, 1, 4, 2, 2, 4, 3]]),
                   "target_lengths": torch.tensor([7])}
    update_metrics(spaced, words_output, None, words_batch, 0, 4)  # reference words [11, 22, 3]
    assert spaced["wer"].compute().item() == pytest.approx(1 / 3)
    assert label_string([1, 4, 2], 4, words=True).split(" ") == [chr(0x4E00 + 1), chr(0x4E00 + 2)]


def test_perplexity_is_the_exponential_of_the_mean_cross_entropy():
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 6, 9, generator=generator)
    targets = torch.randint(0, 9, (3, 6), generator=generator)
    metrics = build_metrics(("perplexity",), "next_token", 9, 0, None)
    # accumulates over batches
    update_metrics(metrics, logits[:2], None, {"targets": targets[:2]}, 0, None)
    update_metrics(metrics, logits[2:], None, {"targets": targets[2:]}, 0, None)
    cross_entropy = functional.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1))
    assert metrics["perplexity"].compute().item() == pytest.approx(
        math.exp(cross_entropy.item()), rel=1e-5
    )
    loss = _data(_loss("cross_entropy", "next_token"), logits, {"targets": targets})
    assert metrics["perplexity"].compute().item() == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_mse_metric_on_regression_outputs():
    # `metrics: [mse]` passes validation for regression targets, so the backend must compute it.
    metrics = build_metrics(("mse",), "regression", None, 0, None)
    output = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    update_metrics(metrics, output, None, {"targets": torch.tensor([[1.0, 0.0], [0.0, 2.0]])}, 0,
                   None)
    assert metrics["mse"].compute().item() == pytest.approx(2.0)
