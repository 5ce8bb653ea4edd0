"""The `ica` layer: natural-gradient infomax separation (real and per-bin complex) and eq. (3)."""

from __future__ import annotations

import torch

from nndsl.backend.modules.independent_components import IcaModule, infomax_direction


def _separation_error(global_matrix: torch.Tensor) -> float:
    """Amari-style index of W·A: 0 for a scaled permutation."""
    magnitude = global_matrix.detach().abs()
    rows = (magnitude / magnitude.max(dim=1, keepdim=True).values).sum(dim=1) - 1
    columns = (magnitude / magnitude.max(dim=0, keepdim=True).values).sum(dim=0) - 1
    return float((rows.sum() + columns.sum()) / (2 * magnitude.shape[0]))


def _train(layer: IcaModule, mixtures: torch.Tensor, rate: float, batch: int) -> None:
    optimizer = torch.optim.SGD(layer.parameters(), lr=rate)
    for start in range(0, len(mixtures), batch):
        outputs = layer(mixtures[start:start + batch])
        optimizer.zero_grad()
        # No error from above: pure infomax, the layer's declared term at weight 1.
        ((outputs * 0).sum() + layer.loss_terms()["independence"]).backward()
        optimizer.step()


def test_real_ica_separates_an_instantaneous_mixture():
    torch.manual_seed(0)
    sources = torch.distributions.Laplace(0.0, 1.0).sample((4_000, 2))
    mixing = torch.tensor([[1.0, 0.6], [0.5, 1.0]])
    layer = IcaModule(2, None, gamma=1.0, independence=True)
    before = _separation_error(layer.unmixing()[0] @ mixing)
    _train(layer, sources @ mixing.T, rate=0.02, batch=16)
    after = _separation_error(layer.unmixing()[0] @ mixing)
    assert before > 0.4 and after < 0.1


def test_complex_ica_separates_each_frequency_bin():
    torch.manual_seed(1)
    bins, examples = 3, 4_000
    magnitude = torch.distributions.Laplace(0.0, 1.0).sample((examples, bins, 2)).abs()
    phase = torch.rand(examples, bins, 2) * 2 * torch.pi
    sources = torch.polar(magnitude, phase)
    mixing = torch.complex(torch.tensor([[[1.0, 0.5], [0.4, 1.0]], [[1.0, -0.6], [0.3, 0.9]],
                                         [[0.8, 0.5], [-0.5, 1.0]]]), 0.3 * torch.randn(bins, 2, 2))
    mixtures = torch.einsum("fij,nfj->nfi", mixing, sources)
    layer = IcaModule(2, bins, gamma=1.0, independence=True)
    _train(layer, torch.view_as_real(mixtures), rate=0.02, batch=16)
    unmixing = layer.unmixing().detach()
    for frequency in range(bins):
        assert _separation_error(unmixing[frequency] @ mixing[frequency]) < 0.15, frequency


def test_without_independence_the_gradient_is_gamma_times_the_linear_gradient():
    torch.manual_seed(2)
    layer = IcaModule(3, None, gamma=0.25, independence=False)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(1, 3, 3))
    inputs = torch.randn(5, 3)
    target = torch.randn(5, 3)
    ((layer(inputs) - target) ** 2).sum().backward()
    plain = layer.weight.detach()[0].clone().requires_grad_(True)
    ((inputs @ plain.T - target) ** 2).sum().backward()
    assert torch.allclose(layer.weight.grad[0], 0.25 * plain.grad, atol=1e-5)


def test_with_independence_the_gradient_adds_minus_the_infomax_direction():
    torch.manual_seed(3)
    layer = IcaModule(2, None, gamma=1.0, independence=True)
    inputs = torch.randn(7, 2)
    outputs = layer(inputs)
    (outputs.sum() + layer.loss_terms()["independence"]).backward()  # g = 1 everywhere
    expected = (
        torch.ones(7, 2).T @ inputs - infomax_direction(torch.eye(2)[None], inputs[:, None])[0]
    )
    assert torch.allclose(layer.weight.grad[0], expected, atol=1e-5)
