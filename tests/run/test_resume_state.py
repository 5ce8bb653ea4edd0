"""The pieces of an exact resume, without training: random states, Ctrl-C deferral, log history.

Real runs interrupted in mid-epoch: tests/run/test_mid_epoch_resume.py.
"""

from __future__ import annotations

import io
import random
import signal

import numpy
import pytest
import torch
from torch import nn

from nndsl.backend.callbacks.random_state import RandomState, _native, _portable
from nndsl.run.metrics_log import HistoryCSVLogger
from nndsl.run.session import _CheckpointOnInterrupt


def _draws() -> tuple:
    return (torch.rand(3).tolist(), numpy.random.rand(3).tolist(),
            [random.random() for _ in range(3)])


def test_random_states_survive_a_weights_only_checkpoint():
    from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

    torch.manual_seed(1), numpy.random.seed(2), random.seed(3)
    numpy.random.randn()  # leaves a cached Gaussian in NumPy's state
    saved = io.BytesIO()
    torch.save(_portable(_collect_rng_states()), saved)
    expected = _draws()
    torch.manual_seed(9), numpy.random.seed(9), random.seed(9)
    saved.seek(0)
    _set_rng_states(_native(torch.load(saved, weights_only=True)))
    assert _draws() == expected


def test_the_callback_state_restores_every_generator_at_train_start():
    callback = RandomState()
    torch.manual_seed(4), numpy.random.seed(5), random.seed(6)
    state = callback.state_dict()  # no trainer yet: random states only
    expected = _draws()
    assert state["shuffle"] is None and state["epoch_sums"] == {} and state["mid_epoch"] is False
    restored = RandomState()
    restored.load_state_dict(state)
    restored.on_train_start(trainer=None, module=None)
    assert _draws() == expected


def test_ctrl_c_is_deferred_and_a_second_one_is_not(tmp_path):
    interrupt = _CheckpointOnInterrupt(tmp_path / "last.ckpt")
    interrupt.request(signal.SIGINT, None)
    assert interrupt.pending and not interrupt.raised
    with pytest.raises(KeyboardInterrupt):
        interrupt.request(signal.SIGINT, None)


class _Trainer:
    accumulate_grad_batches, num_training_batches, world_size = 2, 6, 1


@pytest.mark.parametrize("batch_index,raised", [(0, False), (1, True), (3, True), (5, False)])
def test_ctrl_c_stops_only_after_an_optimiser_step_inside_the_epoch(tmp_path, batch_index, raised):
    interrupt = _CheckpointOnInterrupt(tmp_path / "last.ckpt")
    interrupt.pending = True
    if raised:
        with pytest.raises(KeyboardInterrupt):
            interrupt.on_train_batch_end(_Trainer(), None, None, None, batch_index)
    else:  # mid-accumulation, or the epoch's last batch: wait for the next boundary
        interrupt.on_train_batch_end(_Trainer(), None, None, None, batch_index)
    assert interrupt.raised is raised


def _log(directory, rows: list[tuple[int, int, str, float]], resume_at: int | None = None) -> str:
    logger = HistoryCSVLogger(directory, name="joint")
    if resume_at is not None:
        logger.experiment.resume_at(resume_at)
    for epoch, step, name, value in rows:
        logger.log_metrics({name: value, "epoch": epoch}, step=step)
    logger.finalize("success")
    return (directory / "joint/metrics.csv").read_text()


def test_metrics_csv_reads_as_one_run_across_a_resume(tmp_path):
    uninterrupted = [(0, 5, "valid/loss", 0.9), (0, 5, "train/loss", 1.0),
                     (1, 11, "valid/loss", 0.8), (1, 11, "train/loss", 0.85),
                     (2, 17, "valid/loss", 0.7), (2, 17, "train/loss", 0.75)]
    expected = _log(tmp_path / "reference", uninterrupted)
    # Interrupted at step 14 (in epoch 2): the resumed run continues from step 14.
    _log(tmp_path / "run", uninterrupted[:4])
    resumed = _log(tmp_path / "run", uninterrupted[4:], resume_at=14)
    assert resumed == expected
    # A row logged after the checkpoint (step 17 >= 14) is dropped: the resumed run logs it again.
    _log(tmp_path / "again", uninterrupted[:5])
    assert _log(tmp_path / "again", uninterrupted[4:], resume_at=14) == expected
    # A row the resumed run logs again at the same epoch and step replaces the earlier one.
    _log(tmp_path / "twice", uninterrupted[:4])
    assert _log(tmp_path / "twice", uninterrupted[3:], resume_at=12) == expected


def test_vectorised_members_follow_a_training_mode_set_without_train():
    from nndsl.backend.ensemble.members import Ensemble

    ensemble = Ensemble(
        lambda index: nn.Sequential(nn.Conv1d(1, 2, 3), nn.Dropout(0.5), nn.Flatten()), 2)
    assert ensemble.path == "vmap"
    inputs = torch.ones(4, 1, 5)
    # Lightning restores modes after validation by assigning `training` on registered modules.
    ensemble.eval()
    for module in ensemble.modules():
        module.training = True
    torch.manual_seed(0)
    assert (ensemble(inputs) == 0).any()  # dropout is active again
