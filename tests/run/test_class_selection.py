"""Per-phase class selection and layer slots in the run stage: the data a phase sees holds only
its classes (renumbered when relabelled), and a restored layer holds exactly what was saved,
from memory or, after a resume, from the run directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndsl.backend.datamodule import ArrayDataModule
from nndsl.data.registry import DataArrays
from nndsl.diagnostics import SpecError
from nndsl.plan import LayerSlot
from nndsl.run.selection import LayerStore, select_arrays, select_classes


def _arrays(count: int = 60) -> DataArrays:
    generator = np.random.default_rng(0)
    return DataArrays(
        inputs=generator.normal(size=(count, 4)).astype(np.float32),
        targets=np.arange(count, dtype=np.int64) % 10,
        class_names=tuple(f"digit{index}" for index in range(10)),
    )


def test_selection_keeps_the_classes_in_order_and_relabels_by_position():
    arrays = _arrays()
    kept = select_arrays(arrays, (7, 5), relabel=False)
    assert set(kept.targets.tolist()) == {5, 7}
    assert len(kept) == 12
    expected_rows = [index for index in range(60) if index % 10 in (5, 7)]
    assert np.array_equal(kept.inputs, arrays.inputs[expected_rows])  # order of the data kept
    renumbered = select_arrays(arrays, (7, 5), relabel=True)
    # 7 comes first in the selection, so it becomes class 0.
    assert renumbered.targets.tolist() == [1 if value == 5 else 0 for value in kept.targets]
    assert renumbered.class_names == ("digit7", "digit5")


def test_selected_data_module_yields_only_its_classes_and_leaves_the_original_alone():
    module = ArrayDataModule(
        _arrays(400), batch_size=32, valid_fraction=0.2, test_fraction=0.2, seed=1
    )
    view = select_classes(module, (0, 1, 2, 3, 4), relabel=False, phase="p1")
    for loader in (view.train_dataloader(), view.val_dataloader(), view.test_dataloader()):
        targets = torch.cat([batch["targets"] for batch in loader])
        assert set(targets.tolist()) == {0, 1, 2, 3, 4}
    seen = torch.cat([batch["targets"] for batch in module.train_dataloader()])
    assert set(seen.tolist()) == set(range(10))  # the original still has every class
    relabelled = select_classes(module, (5, 6, 7, 8, 9), relabel=True, phase="p2")
    targets = torch.cat([batch["targets"] for batch in relabelled.train_dataloader()])
    assert set(targets.tolist()) == {0, 1, 2, 3, 4}
    assert len(targets) == len(module.splits.train) - len(view.splits.train)
    assert relabelled.class_names == ("digit5", "digit6", "digit7", "digit8", "digit9")


def test_a_selection_that_empties_a_split_is_a_diagnostic():
    module = ArrayDataModule(
        _arrays(20), batch_size=4, valid_fraction=0.2, test_fraction=0.0, seed=1
    )
    missing = next(value for value in range(10) if value not in module.splits.valid.targets)
    with pytest.raises(SpecError) as raised:
        select_classes(module, (missing,), relabel=True, phase="p1")
    assert raised.value.diagnostics[0].code == "E471"


class _Network(torch.nn.Module):
    """The part of GraphModule's interface the store uses: layers by name."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleDict(
            {"hidden": torch.nn.Linear(4, 8), "out": torch.nn.Linear(8, 3)}
        )

    def layer(self, name: str) -> torch.nn.Module:
        return self.layers[name]


def test_restored_weights_are_bit_identical_from_memory_and_after_a_resume(tmp_path):
    torch.manual_seed(0)
    network = _Network()
    saved = {key: value.clone() for key, value in network.layer("out").state_dict().items()}
    store = LayerStore(tmp_path)
    store.save(network, (LayerSlot("out", "p1_out"),))
    assert (tmp_path / "slots" / "p1_out.pt").is_file()
    with torch.no_grad():  # training on another task moves the layer, in place
        for parameter in network.layer("out").parameters():
            parameter.add_(torch.randn_like(parameter))
    hidden_before = network.layer("hidden").weight.clone()
    store.restore(network, (LayerSlot("out", "p1_out"),))
    for key, value in network.layer("out").state_dict().items():
        assert torch.equal(value, saved[key]) and value.dtype == saved[key].dtype
    assert torch.equal(network.layer("hidden").weight, hidden_before)  # only the named layer
    # The saved copy is not the live tensor: training after the restore leaves the slot as it was.
    with torch.no_grad():
        network.layer("out").weight.mul_(3.0)
    resumed_network = _Network()
    LayerStore(tmp_path).restore(
        resumed_network, (LayerSlot("out", "p1_out"),)
    )  # read from the file
    for key, value in resumed_network.layer("out").state_dict().items():
        assert torch.equal(value, saved[key])
