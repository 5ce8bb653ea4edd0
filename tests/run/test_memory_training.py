"""Memory budgets compiled into the network: planned recurrent layers run under the recompute
executor, with the same outputs and gradients as plain backpropagation through time."""

from __future__ import annotations

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule

SPEC = """
nndsl: 1
name: memory
data: {{source: synthetic_speech, examples: 20, batch_size: 4}}
network:
  layers:
    - {{name: rnn1, type: {cell}, hidden: 8}}
    - {{name: out, type: linear, units: 21}}
loss: {{type: ctc}}
optimizer: {{type: adam, lr: 0.001}}
memory: {{budget: "{budget}", policy: {policy}, sequence_length: 12}}
"""


def compiled(tmp_path, cell="blstm", budget="20%", policy="optimal"):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(cell=cell, budget=budget, policy=policy))
    return compile_spec(path)


@pytest.mark.parametrize(("cell", "policy"), [
    ("lstm", "optimal"), ("blstm", "optimal"), ("gru", "optimal"), ("rnn", "optimal"),
    ("blstm", "hidden"), ("lstm", "internal"), ("gru", "sqrt")])
def test_budgeted_network_matches_plain_gradients(tmp_path, cell, policy):
    result = compiled(tmp_path, cell, "60%", policy)
    assert result.diagnostics == (), result.diagnostics
    torch.manual_seed(0)
    budgeted = GraphModule(result.graph, memory=result.plan.memory)
    plain = GraphModule(result.graph)
    recurrent = budgeted.layer("rnn1").recurrent
    for direction, cell_module in enumerate(recurrent.cells):
        suffix = "_reverse" if direction else ""
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell_module, name).copy_(getattr(plain.layer("rnn1").recurrent,
                                                         f"{name}_l0{suffix}"))
    budgeted.layer("out").load_state_dict(plain.layer("out").state_dict())
    inputs = torch.randn(3, 12, 40)
    lengths = torch.tensor([12, 9, 5])
    outputs = []
    for network in (budgeted, plain):
        network.zero_grad()
        output, _ = network(inputs, lengths)
        (output * torch.linspace(-1, 1, output.numel()).reshape(output.shape)).sum().backward()
        outputs.append(output)
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-4)
    plain_recurrent = plain.layer("rnn1").recurrent
    torch.testing.assert_close(recurrent.cells[0].weight_hh.grad, plain_recurrent.weight_hh_l0.grad,
                               atol=1e-5, rtol=1e-4)
    assert recurrent.statistics.forward_steps > 0


def test_plan_predicts_fewer_bytes_more_steps_and_rejects_infeasible_budgets(tmp_path):
    plan = compiled(tmp_path, "lstm", "10%").plan.memory.recurrent[0]
    assert plan.predicted_peak_bytes <= 0.1 * plan.plain_peak_bytes
    assert plan.plain_forward_steps < plan.predicted_forward_steps
    bad = compiled(tmp_path, "lstm", "0.5%")
    codes = {item.code: item for item in bad.diagnostics}
    assert "E602" in codes and "smallest feasible budget" in codes["E602"].hint


@pytest.mark.slow
def test_checkpointed_chain_trains_to_the_same_metrics_as_plain_backprop(tmp_path):
    """The shipped checkpointing spec through Lightning: recomputation replays dropout's random
    state and leaves the global stream alone, so the run equals one without checkpoints."""
    from pathlib import Path

    from nndsl.run import train

    spec = Path(__file__).resolve().parents[2] / "specs" / "memory_mlp_digits.yaml"
    short = ["trainer.max_epochs=2"]
    budgeted = train(str(spec), short, run_dir=str(tmp_path / "budgeted"), progress_bar=False)
    plain = train(str(spec), short + ["memory.budget=100%", "memory.policy=none"],
                  run_dir=str(tmp_path / "plain"), progress_bar=False)
    assert budgeted.summary["test"] and budgeted.summary["test"] == plain.summary["test"]
    plan = (tmp_path / "budgeted" / "plan.json").read_text()
    assert '"checkpointed": true' in plan
