"""`standardize: true` on lazily read data under DDP: the statistics are fitted once, by the
processes together, each reading only its share of the training split, and every process ends
with exactly (bit for bit) the statistics one process fits; `nndsl train` stores them once.
Data loaded whole (`lazy: false`) is in every process anyway, and each fits the same statistics.

The two processes are real: this file run as a script joins a gloo process group over the
loopback interface (as Lightning's DDP processes do) and writes what its data module fitted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SPEC = """
nndsl: 1
name: shared-statistics
seed: 3
data: {{source: npy_dir, path: data, standardize: true, batch_size: 16, valid_fraction: 0.2,
       test_fraction: 0.1}}
network:
  layers:
    - {{name: rnn, type: lstm, hidden: 4}}
    - {{name: pool, type: global_pool}}
    - {{name: out, type: linear, units: 3}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
schedule:
  - {{phase: joint, stop: {{max_epochs: 1}}}}
trainer: {{max_epochs: 1, limit_train_batches: 2, accelerator: cpu{extra}}}
"""
DDP = ", strategy: ddp, devices: 2"
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                    "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK", "TORCHELASTIC_RUN_ID",
                    "NNDSL_RUN_DIR")


def _write_data(folder: Path, examples: int = 1000) -> None:
    """Padded sequences of 3-12 frames of 5 features on very different scales."""
    generator = np.random.default_rng(7)
    lengths = generator.integers(3, 13, size=examples)
    inputs = generator.normal(size=(examples, 12, 5)) * [1e-2, 1, 10, 1e3, 1e5] + 7
    inputs[np.arange(12)[None, :] >= lengths[:, None]] = 0
    folder.mkdir()
    np.save(folder / "inputs.npy", inputs.astype(np.float32))
    np.save(folder / "input_lengths.npy", lengths)
    np.save(folder / "targets.npy", np.arange(examples) % 3)


def _environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in LAUNCH_VARIABLES}
    environment.update(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", COLUMNS="200")
    return environment


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load(spec: Path):
    from nndsl.api import compile_spec
    from nndsl.run.train import load_data

    return load_data(compile_spec(spec).raise_for_errors())


def _one_process_fit(spec: Path):
    """The statistics as one process fits them, outside any process group."""
    from nndsl.data.standardize import fit_statistics, store_batches

    rows = _load(spec).splits.train.indices
    return fit_statistics(store_batches(_load(spec).store, rows, 16)), rows


def _run_pair(tmp_path: Path, failing_row: int) -> list[dict]:
    """Both ranks of a two-process group, each writing `rank<r>.json`: what it fitted on the
    data as it is ("clean"), then with the example at `failing_row` failing to read ("damaged").
    """
    port = str(_free_port())
    processes = [subprocess.Popen([sys.executable, __file__, str(rank), port,
                                   str(tmp_path / "spec.yaml"), str(failing_row),
                                   str(tmp_path / f"rank{rank}.json")],
                                  env=_environment(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for rank in (0, 1)]
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (stdout + stderr)[-3000:]
    return [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.slow
def test_two_processes_fit_the_one_process_statistics_each_reading_its_share(tmp_path):
    _write_data(tmp_path / "data")
    (tmp_path / "spec.yaml").write_text(SPEC.format(extra=""))
    single = _load(tmp_path / "spec.yaml").feature_statistics  # one process: fitted when loaded
    (tmp_path / "spec.yaml").write_text(SPEC.format(extra=DDP))
    expected, rows = _one_process_fit(tmp_path / "spec.yaml")
    assert single == expected
    damaged = int(rows[16 * 3 + 5])  # in batch 3: rank 1's
    ranks = _run_pair(tmp_path, damaged)
    for rank in ranks:  # exactly, not approximately: the same arithmetic in the same order
        assert rank["clean"]["statistics"] == expected.to_dict()
        assert rank["clean"]["dataset"] == expected.to_dict()  # what the loaders apply
        assert rank["whole"]["mean"] == pytest.approx(expected.mean, rel=1e-12, abs=1e-15)
        assert rank["whole"]["std"] == pytest.approx(expected.std, rel=1e-12)
    assert ranks[0]["whole"] == ranks[1]["whole"]
    # Rank r read batches r, r + 2, ... of 16 examples: half the split each, nothing twice.
    batches = [rows[start:start + 16].tolist() for start in range(0, len(rows), 16)]
    assert len(batches) > 2 * 16  # several exchanges of summaries, an odd batch out
    for rank, result in enumerate(ranks):
        assert result["clean"]["read"] == [row for batch in batches[rank::2] for row in batch]
    # A damaged example in rank 1's share: both processes raise its error rather than rank 0
    # waiting forever for rank 1's summaries.
    for result in ranks:
        assert result["damaged"]["error"] == ["E412", f"example {damaged} is damaged"]
    assert all(row != damaged for row in ranks[0]["damaged"]["read"])


@pytest.mark.slow
def test_nndsl_train_under_ddp_stores_the_one_process_statistics(tmp_path):
    _write_data(tmp_path / "data")
    (tmp_path / "spec.yaml").write_text(SPEC.format(extra=DDP))
    script = Path(sys.executable).with_name("nndsl")
    result = subprocess.run([str(script), "train", "spec.yaml", "--run-dir", "run"],
                            cwd=tmp_path, env=_environment(), capture_output=True, text=True,
                            timeout=500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "MEMBER: 2/2" in result.stdout + result.stderr  # two processes trained
    stored = json.loads((tmp_path / "run" / "feature_statistics.json").read_text())
    expected, _ = _one_process_fit(tmp_path / "spec.yaml")
    assert stored == expected.to_dict()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def test_the_fit_waits_for_the_trainer_only_when_it_may_start_several_processes(tmp_path):
    from types import SimpleNamespace

    from nndsl.run.launch import single_process

    _write_data(tmp_path / "data", examples=60)
    (tmp_path / "spec.yaml").write_text(SPEC.format(extra=DDP))
    assert _load(tmp_path / "spec.yaml")._feature_statistics is None  # fitted in setup
    (tmp_path / "spec.yaml").write_text(SPEC.format(extra=""))
    assert _load(tmp_path / "spec.yaml")._feature_statistics is not None  # fitted when loaded
    trainer = SimpleNamespace(num_nodes=1, devices="auto", accelerator="cpu")
    assert single_process(trainer)
    assert not single_process(SimpleNamespace(num_nodes=2, devices=1, accelerator="cpu"))
    assert not single_process(SimpleNamespace(num_nodes=1, devices=4, accelerator="cpu"))


def _fit_in_setup(spec: str, failing_row: int) -> dict:
    """Build the data module, fit in `setup` (as the trainer calls it in every process) and say
    what was fitted and which rows this process read."""
    from nndsl.data.registry import DataSourceError

    module = _load(Path(spec))
    read: list[int] = []
    reader = module.store.examples

    def recording(indices):
        read.extend(int(index) for index in indices)
        if failing_row in read:
            raise DataSourceError(f"example {failing_row} is damaged")
        return reader(indices)

    module.store.examples = recording
    try:
        module.setup("fit")
    except DataSourceError as error:
        return {"read": read, "error": [error.code, error.message]}
    return {"read": read, "statistics": module.feature_statistics.to_dict(),
            "dataset": module._datasets["train"].statistics.to_dict()}


def _rank_main(rank: int, port: str, spec: str, failing_row: int, output: str) -> None:
    """One process of the pair: join a gloo group, fit as the data is, then with a damaged row."""
    import torch.distributed as distributed

    distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                   world_size=2)
    result = {"clean": _fit_in_setup(spec, -1), "damaged": _fit_in_setup(spec, failing_row)}
    # Loaded whole (`lazy: false`): each process holds every example and fits the same pass.
    whole = Path(spec).with_name(f"whole{rank}.yaml")
    whole.write_text(Path(spec).read_text().replace("standardize: true", "standardize: true, "
                                                    "lazy: false"))
    result["whole"] = _load(whole).feature_statistics.to_dict()
    Path(output).write_text(json.dumps(result))
    distributed.destroy_process_group()


if __name__ == "__main__":
    _rank_main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
