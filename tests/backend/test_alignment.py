"""DTW alignment and the LPNN loss against brute force; the predictor bank against plain MLPs."""

from __future__ import annotations

import itertools

import pytest
import torch

from nndsl.backend.alignment import dtw_paths, dtw_prediction_loss
from nndsl.backend.modules.predictors import PredictorBank


def _brute_force_path(distances: torch.Tensor) -> tuple[float, list[int]]:
    """The cheapest path by enumerating every stay/advance sequence from state 0 to the last."""
    steps, states = distances.shape
    best = (float("inf"), [])
    for moves in itertools.product((0, 1), repeat=steps - 1):
        if sum(moves) != states - 1:
            continue
        path = [0]
        for move in moves:
            path.append(path[-1] + move)
        cost = sum(float(distances[step, state]) for step, state in enumerate(path))
        best = min(best, (cost, path))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_paths_are_the_cheapest_monotonic_paths(seed):
    torch.manual_seed(seed)
    distances = torch.rand(2, 7, 3, dtype=torch.float64)
    lengths, counts = torch.tensor([7, 5]), torch.tensor([3, 2])
    paths = dtw_paths(distances, lengths, counts)
    for row in range(2):
        length, count = int(lengths[row]), int(counts[row])
        cost, expected = _brute_force_path(distances[row, :length, :count])
        assert paths[row, :length].tolist() == expected
        assert (paths[row, length:] == -1).all()


def test_an_utterance_shorter_than_its_states_has_no_path():
    paths = dtw_paths(torch.rand(1, 4, 5), torch.tensor([4]), torch.tensor([5]))
    assert (paths == -1).all()


def test_error_flows_only_into_the_predictor_owning_each_path_point():
    torch.manual_seed(0)
    predictions = torch.randn(1, 6, 8, 2, requires_grad=True)  # 4 labels x 2 states
    frames = torch.randn(1, 6, 2)
    labels, label_lengths = torch.tensor([[3, 1]]), torch.tensor([2])
    loss = dtw_prediction_loss(predictions, frames, torch.tensor([6]), labels, label_lengths, 2,
                               "sum")
    loss.backward()
    owners = [6, 7, 2, 3]  # label 3's states, then label 1's
    distances = (predictions.detach()[0][:, owners] - frames[0][:, None]).norm(dim=-1)
    _, path = _brute_force_path(distances)
    expected = torch.zeros_like(predictions)
    for step, state in enumerate(path):
        expected[0, step, owners[state]] = predictions[0, step, owners[state]] - frames[0, step]
    assert torch.allclose(predictions.grad, expected)
    assert loss.item() == pytest.approx(0.5 * sum(float(distances[step, state]) ** 2
                                                  for step, state in enumerate(path)))


def test_separate_predictors_are_independent_mlps_of_the_previous_frames():
    torch.manual_seed(1)
    bank = PredictorBank(features=3, predictors=4, context=2, hidden=5, networks=4)
    frames = torch.randn(2, 6, 3)
    output = bank(frames)
    assert output.shape == (2, 6, 4, 3)
    step, predictor = 4, 2
    window = torch.cat([frames[:, step - 2], frames[:, step - 1]], dim=-1)
    hidden = torch.tanh(window @ bank.input_weights[predictor] + bank.input_bias[predictor])
    expected = hidden @ bank.output_weights[predictor] + bank.output_bias[predictor]
    assert torch.allclose(output[:, step, predictor], expected, atol=1e-6)
    first = (
        torch.tanh(bank.input_bias[predictor]) @ bank.output_weights[predictor]
        + bank.output_bias[predictor]
    )
    # zeros before t=0
    assert torch.allclose(output[:, 0, predictor], first.expand(2, -1), atol=1e-6)


def test_hidden_control_is_one_mlp_with_one_hot_state_inputs():
    torch.manual_seed(2)
    # 3 states per net
    bank = PredictorBank(features=3, predictors=6, context=1, hidden=4, networks=2)
    frames = torch.randn(1, 5, 3)
    output = bank(frames)
    network = 1
    for predictor in (3, 4, 5):
        one_hot = torch.nn.functional.one_hot(torch.tensor(predictor - 3), 3).float()
        # the control weights of the net's 3 predictors play the one-hot inputs' weight rows
        weights = torch.cat([bank.input_weights[network], bank.control[3:6]])
        inputs = torch.cat([frames[0, 1], one_hot])
        hidden = torch.tanh(inputs @ weights + bank.input_bias[network])
        expected = hidden @ bank.output_weights[network] + bank.output_bias[network]
        assert torch.allclose(output[0, 2, predictor], expected, atol=1e-6)
