"""Tests for the ensemble backend: vectorised paths agree with a loop, fallback, state, trunk."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from nndsl.backend.ensemble.losses import oracle_loss, per_member_cross_entropy
from nndsl.backend.ensemble.members import Ensemble

MEMBERS = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def mlp_member(index: int) -> nn.Module:
    torch.manual_seed(100 + index)
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
    )


def conv_member(index: int) -> nn.Module:
    torch.manual_seed(200 + index)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(),
        nn.Linear(4 * 5 * 5, 3),
    )


def grouped_conv_member(index: int) -> nn.Module:
    """Convolutions (one grouped, one strided), pooling, then a small Linear head."""
    torch.manual_seed(300 + index)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1, groups=2),
        nn.Tanh(), nn.Conv2d(6, 6, 2, stride=1, bias=False), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(6 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3),
    )


# (factory, example input shape, constructor options, expected path)
CASES = {
    "batched-matmul": (mlp_member, (9, 6), {}, "batched-matmul"),
    "vmap-linear": (mlp_member, (9, 6), {"batched_matmul": False}, "vmap"),
    "vmap-conv": (conv_member, (9, 1, 5, 5), {}, "vmap"),
    "grouped-conv": (grouped_conv_member, (9, 1, 5, 5), {}, "grouped-conv"),
    "vmap-grouped-conv": (grouped_conv_member, (9, 1, 5, 5), {"batched_matmul": False}, "vmap"),
}


def stacked_gradients(ensemble: Ensemble) -> dict[str, torch.Tensor]:
    """Member-local parameter name -> gradients of all members stacked [M, ...]."""
    gradients = {}
    for name, parameters in ensemble.parameters_by_member_name().items():
        if len(parameters) == 1:
            gradients[name] = parameters[0].grad
        else:
            gradients[name] = torch.stack([parameter.grad for parameter in parameters])
    return gradients


@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_vectorised_outputs_and_gradients_equal_a_loop(case: str, per_member: bool) -> None:
    factory, input_shape, options, path = CASES[case]
    vectorised = Ensemble(factory, MEMBERS, **options)
    looped = Ensemble(factory, MEMBERS, vectorise=False)
    assert vectorised.vectorised and vectorised.path == path and vectorised.fallback_reason is None
    assert looped.path == "loop"
    shape = (MEMBERS, *input_shape) if per_member else input_shape
    inputs = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 3, (input_shape[0],))
    for ensemble in (vectorised, looped):
        outputs = ensemble(inputs, per_member=per_member)
        loss, _ = oracle_loss(per_member_cross_entropy(outputs, targets), k=2)
        loss.backward()
    torch.testing.assert_close(
        vectorised(inputs, per_member=per_member), looped(inputs, per_member=per_member),
        rtol=0, atol=1e-6,
    )
    expected = stacked_gradients(looped)
    actual = stacked_gradients(vectorised)
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize("batched_matmul", [True, False])
def test_dropout_masks_differ_across_members_when_vectorised(batched_matmul: bool) -> None:
    def identical_member(index: int) -> nn.Module:
        torch.manual_seed(0)  # every member identical, so only dropout can tell them apart
        return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.5))

    ensemble = Ensemble(identical_member, MEMBERS, batched_matmul=batched_matmul)
    assert ensemble.vectorised
    inputs = torch.randn(16, 8)
    ensemble.eval()
    evaluated = ensemble(inputs)  # [M, B, 64]
    assert all(torch.equal(evaluated[0], evaluated[index]) for index in range(1, MEMBERS))
    ensemble.train()
    dropped = ensemble(inputs) == 0  # [M, B, 64]
    for index in range(1, MEMBERS):
        assert not torch.equal(dropped[0], dropped[index])


def test_non_winning_members_receive_zero_gradient_through_the_ensemble() -> None:
    ensemble = Ensemble(mlp_member, MEMBERS)
    inputs = torch.randn(1, 6)  # one example: exactly one winner
    targets = torch.tensor([2])
    loss, assignment = oracle_loss(per_member_cross_entropy(ensemble(inputs), targets), k=1)
    loss.backward()
    winner = int(assignment[0])
    for name, gradient in stacked_gradients(ensemble).items():
        for member in range(MEMBERS):
            assert bool((gradient[member] == 0).all()) is (member != winner), name


def test_members_of_different_shapes_fall_back_to_a_loop_with_a_reason() -> None:
    ensemble = Ensemble(lambda index: nn.Linear(5, 3 + index), 2)  # outputs cannot be stacked,
    assert not ensemble.vectorised and ensemble.path == "loop"  # but members still build
    assert "different parameter or buffer shapes" in ensemble.fallback_reason
    assert ensemble.member(1).out_features == 4


def test_other_fallback_reasons() -> None:
    recurrent = Ensemble(lambda index: nn.GRU(3, 4, batch_first=True), 2)
    assert not recurrent.vectorised and "GRU" in recurrent.fallback_reason
    activations = [nn.ReLU(), nn.Tanh()]
    mixed = Ensemble(lambda index: nn.Sequential(nn.Linear(3, 3), activations[index]), 2)
    assert "different module structure" in mixed.fallback_reason
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    shared_weights = Ensemble(lambda index: copy.deepcopy(tied), 2)
    assert "shared weights" in shared_weights.fallback_reason
    disabled = Ensemble(mlp_member, 2, vectorise=False)
    assert "disabled" in disabled.fallback_reason

    class ReadsAScalar(nn.Module):  # .item() has no vmap support: only a trial run can tell
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            outputs = self.linear(inputs)
            return outputs / outputs.abs().max().item()

    trial = Ensemble(lambda index: ReadsAScalar(), 2, example_inputs=torch.randn(2, 3))
    assert not trial.vectorised and trial.fallback_reason.startswith("vectorised trial run failed")
    assert trial(torch.randn(5, 3)).shape == (2, 5, 3)


@pytest.mark.parametrize("case", list(CASES))
def test_stacked_parameters_survive_state_dict_save_and_load_exactly(case: str) -> None:
    factory, input_shape, options, _ = CASES[case]
    trained = Ensemble(factory, MEMBERS, **options)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1)
    inputs = torch.randn(input_shape)
    for _ in range(2):  # changes the parameters and, for BatchNorm, the running statistics
        optimizer.zero_grad()
        trained(inputs).square().mean().backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    restored = Ensemble(lambda index: factory(index + 50), MEMBERS, **options)
    restored.load_state_dict(torch.load(buffer))
    assert trained.state_dict().keys() == restored.state_dict().keys()
    for name, value in trained.state_dict().items():
        assert torch.equal(value, restored.state_dict()[name]), name
    trained.eval(), restored.eval()
    assert torch.equal(trained(inputs), restored(inputs))


@pytest.mark.parametrize("case", list(CASES))
def test_members_come_back_as_plain_modules(case: str) -> None:
    factory, input_shape, options, _ = CASES[case]
    ensemble = Ensemble(factory, MEMBERS, **options).eval()
    inputs = torch.randn(input_shape)
    outputs = ensemble(inputs)
    for index in range(MEMBERS):
        plain = factory(index).eval()
        state = ensemble.member_state_dict(index)
        assert state.keys() == plain.state_dict().keys()
        for name, value in plain.state_dict().items():
            assert torch.equal(state[name], value), name
        torch.testing.assert_close(ensemble.member(index)(inputs), outputs[index])


def test_optimiser_sees_one_stacked_parameter_per_member_parameter() -> None:
    ensemble = Ensemble(mlp_member, MEMBERS)
    stacked = list(ensemble.parameters())
    assert [tuple(parameter.shape) for parameter in stacked] == [
        (MEMBERS, *parameter.shape) for parameter in mlp_member(0).parameters()
    ]
    before = [parameter.detach().clone() for parameter in stacked]
    optimizer = torch.optim.SGD(ensemble.parameters(), lr=0.1)
    ensemble(torch.randn(4, 6)).sum().backward()
    optimizer.step()
    assert all(not torch.equal(old, new) for old, new in zip(before, stacked))


@pytest.mark.parametrize("vectorise", [True, False])
def test_shared_trunk_runs_once_and_feeds_every_member(vectorise: bool) -> None:
    torch.manual_seed(3)
    trunk = nn.Sequential(nn.Linear(10, 6), nn.ReLU())
    calls = []
    trunk.register_forward_hook(lambda module, inputs, output: calls.append(output.shape))
    ensemble = Ensemble(mlp_member, MEMBERS, shared=trunk, vectorise=vectorise)
    inputs = torch.randn(7, 10)
    outputs = ensemble(inputs)
    assert calls == [(7, 6)]
    features = trunk(inputs)
    for index in range(MEMBERS):
        torch.testing.assert_close(outputs[index], mlp_member(index)(features))
    per_member_inputs = torch.randn(MEMBERS, 7, 10)
    outputs = ensemble(per_member_inputs, per_member=True)
    assert calls[-1] == (MEMBERS * 7, 6)  # still one trunk call, over every member's examples
    for index in range(MEMBERS):
        expected = mlp_member(index)(trunk(per_member_inputs[index]))
        torch.testing.assert_close(outputs[index], expected)
    outputs.sum().backward()
    assert all(parameter.grad is not None for parameter in trunk.parameters())


@pytest.mark.parametrize("case", list(CASES))
def test_deepcopy_and_dtype_conversion_keep_working(case: str) -> None:
    factory, input_shape, options, _ = CASES[case]
    ensemble = Ensemble(factory, MEMBERS, **options).eval()
    inputs = torch.randn(input_shape)
    copied = copy.deepcopy(ensemble)
    assert torch.equal(copied(inputs), ensemble(inputs))
    doubled = copied.double()
    assert doubled(inputs.double()).dtype == torch.float64
    member_state = doubled.member(1).state_dict().values()
    floating = [value for value in member_state if value.is_floating_point()]
    assert floating and all(value.dtype == torch.float64 for value in floating)
    torch.testing.assert_close(doubled(inputs.double()).float(), ensemble(inputs))
