"""The forgetting protocol of specs/lwta_forgetting.yaml, run end to end at a tiny size: each
phase trains on its own classes, P2 starts from a new output layer, and the evaluate phase after
P2 scores P1 with P1's output layer restored bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nndsl.run import train
from nndsl.run.safe_load import read_state_dict

pytestmark = pytest.mark.slow

SPEC = Path(__file__).resolve().parents[2] / "specs" / "lwta_forgetting.yaml"
SMALL = [
    f"network.layers.{index}={{name: hidden{index + 1}, type: lwta, blocks: 8, block_size: 2}}"
    for index in range(3)
] + [
    "trainer.max_epochs=2",
    "schedule.0.stop.max_epochs=2",
    "schedule.2.stop.max_epochs=2",
    "data.batch_size=64",
]


def _layer(state: dict[str, torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    prefix = f"layers.{layer}."
    return {
        key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)
    }


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forgetting")
    return train(str(SPEC), SMALL, run_dir=str(folder / "run"), progress_bar=False)


def test_the_restored_output_layer_is_the_saved_one_bit_for_bit(protocol):
    directory = protocol.directory
    slot = read_state_dict(directory / "slots" / "p1_out.pt")
    after_p1 = read_state_dict(directory / "checkpoints" / "p1" / "state.pt")
    after_p2 = read_state_dict(directory / "checkpoints" / "p2" / "state.pt")
    final = read_state_dict(directory / "final_weights.pt")
    for key, value in _layer(after_p1, "out").items():
        assert torch.equal(slot[key], value)  # saved at the end of P1
        assert torch.equal(_layer(final, "out")[key], value)  # restored after P2
        assert not torch.equal(_layer(after_p2, "out")[key], value)  # P2 had its own
    # The hidden layers keep what P2 made of them: only the named layer is restored.
    for key, value in _layer(after_p2, "hidden1").items():
        assert torch.equal(_layer(final, "hidden1")[key], value)
        assert not torch.equal(_layer(after_p1, "hidden1")[key], value)


def test_evaluate_phases_score_p1_and_the_final_test_is_theirs(protocol):
    rows = {row["phase"]: row for row in protocol.summary["phases"]}
    assert list(rows) == ["p1", "p1_before", "p2", "p1_after"]
    for name in ("p1_before", "p1_after"):
        assert rows[name]["classes"] == [0, 1, 2, 3, 4] and rows[name]["epochs"] == 0
        assert 0.0 <= rows[name]["test"]["test/accuracy"] <= 1.0
    assert protocol.summary["test"]["test/accuracy"] == rows["p1_after"]["test"]["test/accuracy"]
    # The same network on the same examples: the loss agrees too.
    assert protocol.summary["test"]["test/loss"] == pytest.approx(
        rows["p1_after"]["test"]["test/loss"]
    )
