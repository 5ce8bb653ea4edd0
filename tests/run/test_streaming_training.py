"""Training on lazily read data: a Kaldi data directory read by ark offsets with length-bucketed
batches and standardised features trains end to end (with a loader worker process, which gets
the store pickled), stores its streaming statistics, and a run interrupted in mid-epoch resumes
to the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from interrupting import assert_same_run, interrupt_at

from nndsl.run import train
from nndsl.run.schedule import Interrupted

SPEC = """
nndsl: 1
name: lazy-kaldi
seed: 3
data: {source: kaldi, feats: data/feats.scp, utt2label: data/utt2spk, lazy: true,
       batch_frames: 120, valid_fraction: 0.2, test_fraction: 0.2, num_workers: 1,
       standardize: true}
network:
  layers:
    - {name: rnn, type: lstm, hidden: 8, output: last}
    - {name: drop, type: dropout, p: 0.2}
    - {name: out, type: linear, units: 3}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: adam, lr: 0.05}
schedule:
  - {phase: joint, stop: {max_epochs: 3}}
trainer: {max_epochs: 3}
"""


def write_speakers(folder: Path) -> None:
    """60 utterances of 4..30 frames from 3 speakers, each with its own mean."""
    generator = np.random.default_rng(11)
    folder.mkdir(parents=True)
    labels = []
    with kaldiio.WriteHelper(f"ark,scp:{folder}/feats.ark,{folder}/feats.scp") as writer:
        for index in range(60):
            speaker = index % 3
            matrix = generator.normal(3.0 * speaker, 1.0, size=(int(generator.integers(4, 31)), 5))
            writer(f"utt{index:02d}", matrix.astype(np.float32))
            labels.append(f"utt{index:02d} s{speaker}\n")
    (folder / "utt2spk").write_text("".join(labels))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("lazy")
    write_speakers(root / "data")
    (root / "spec.yaml").write_text(SPEC)
    train(str(root / "spec.yaml"), run_dir=str(root / "run"), progress_bar=False)
    return root


@pytest.mark.slow
def test_lazy_bucketed_training_runs_and_stores_its_statistics(reference):
    summary = json.loads((reference / "run/summary.json").read_text())
    assert summary["test"]["test/accuracy"] > 0.5  # three separable speakers
    statistics = json.loads((reference / "run/data_statistics.json").read_text())
    assert statistics["examples"] == 36 and sum(statistics["class_counts"]) == 36
    features = json.loads((reference / "run/feature_statistics.json").read_text())
    assert features["shape"] == [5] and features["count"] == statistics["frames"]


@pytest.mark.slow
def test_lazy_run_interrupted_in_mid_epoch_resumes_bit_for_bit(reference, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", 1, 2)
        with pytest.raises(Interrupted):
            train(str(reference / "spec.yaml"), run_dir=str(tmp_path / "run"), progress_bar=False)
    train(None, resume=str(tmp_path / "run"), progress_bar=False)
    assert_same_run(tmp_path / "run", reference / "run")


@pytest.mark.slow
def test_bucketed_batches_are_shared_out_under_ddp(tmp_path):
    """Two CPU processes under Lightning's ddp: each trains its share of the 5 planned batches,
    ceil(5 / 2) = 3 steps per epoch (one process alone takes 5)."""
    import csv
    import os
    import shutil
    import subprocess
    import sys

    specs = Path(__file__).resolve().parents[2] / "specs"
    shutil.copytree(specs / "data" / "speakers_npy", tmp_path / "data" / "speakers_npy")
    text = (specs / "lazy_npy_speakers.yaml").read_text()
    text = text.replace("stop: {monitor: valid/loss, patience: 5}", "stop: {max_epochs: 2}")
    text = text.replace("trainer: {max_epochs: 30}", "trainer: {max_epochs: 2, strategy: ddp, "
                        "accelerator: cpu, devices: 2}")
    (tmp_path / "spec.yaml").write_text(text)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE")}
    script = Path(sys.executable).with_name("nndsl")
    finished = subprocess.run([str(script), "train", "spec.yaml", "--run-dir", "run"],
                              cwd=tmp_path, env=environment, capture_output=True, text=True,
                              timeout=500)
    assert finished.returncode == 0, finished.stderr[-3000:]
    with open(tmp_path / "run/logs/joint/metrics.csv") as handle:
        steps = {int(row["epoch"]): int(row["step"]) for row in csv.DictReader(handle)}
    assert steps == {0: 2, 1: 5}  # the global step after 3 and after 6 batches


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_a_damaged_utterance_outside_the_sample_stops_training_with_its_code(
        tmp_path, monkeypatch, capsys, workers):
    from nndsl.cli import main
    from nndsl.data.lazy_kaldi import KaldiStore

    write_speakers(tmp_path / "data")
    features = dict(kaldiio.load_scp(str(tmp_path / "data/feats.scp")))
    features["utt07"] = features["utt07"].copy()
    features["utt07"][2, 1] = np.nan
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/data/feats.ark,{tmp_path}/data/feats.scp") as w:
        for name, matrix in features.items():
            w(name, matrix)
    monkeypatch.setattr(KaldiStore, "check_sample", lambda self, seed: None)  # not caught early
    text = SPEC.replace("num_workers: 1", f"num_workers: {workers}").replace(
        "valid_fraction: 0.2, test_fraction: 0.2", "valid_fraction: 0, test_fraction: 0")
    text = text.replace("schedule:\n  - {phase: joint, stop: {max_epochs: 3}}",
                        "schedule:\n  - {phase: joint, stop: {monitor: train/loss, max_epochs: 1}}")
    (tmp_path / "spec.yaml").write_text(text)
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 2
    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert "E350" in output and "'utt07'" in output and "frame 2, feature 1" in output
    assert "Traceback" not in output
