"""Several nodes, simulated on one machine: two `nndsl train` processes, one per "node", joined
over the loopback interface (gloo) the way Lightning's launch conventions say — by hand with
MASTER_ADDR / MASTER_PORT / NODE_RANK / WORLD_SIZE, and through torchrun — train to the metrics
of one process on the whole data; launches that contradict `trainer.num_nodes` are refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.run.launch import LaunchError, check_launch
from nndsl.run.rundir import RUN_DIRECTORY_VARIABLE
from nndsl.spec.training import TrainerSpec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "wine_standardized.yaml"
# The wine spec's training split has 106 rows. One process takes them as one batch of 106; two
# nodes take 53 each, and DDP averages their gradients: the same full-batch step, so the same
# training up to the order of floating-point sums.
COMMON = ["--set", "schedule.0.stop.max_epochs=12", "--set", "trainer.accelerator=cpu"]
TWO_NODES = ["--set", "data.batch_size=53", "--set", "trainer.strategy=ddp",
             "--set", "trainer.devices=1", "--set", "trainer.num_nodes=2"]
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "WORLD_SIZE",
                    "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
                    RUN_DIRECTORY_VARIABLE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(**variables: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in LAUNCH_VARIABLES and not key.startswith("SLURM_")}
    environment.update(variables, COLUMNS="200", OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    return environment


def _finished(processes: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=400)
        assert process.returncode == 0, (stdout + stderr)[-3000:]
        assert "Traceback" not in stderr
        outputs.append(stdout + stderr)
    return outputs


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    run = tmp_path_factory.mktemp("single") / "run"
    script = Path(sys.executable).with_name("nndsl")
    process = subprocess.Popen([str(script), "train", str(SPEC), "--run-dir", str(run), *COMMON,
                                "--set", "data.batch_size=106"], env=_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _finished([process])
    return _summary(run)


def _same_training(two: dict, one: dict) -> None:
    assert two["phases"][0]["epochs"] == one["phases"][0]["epochs"]
    assert two["phases"][0]["best"] == pytest.approx(one["phases"][0]["best"], rel=1e-4)
    assert two["test"]["test/loss"] == pytest.approx(one["test"]["test/loss"], rel=1e-4)
    assert two["test"]["test/accuracy"] == pytest.approx(one["test"]["test/accuracy"], abs=1e-6)


@pytest.mark.slow
def test_two_nodes_by_hand_train_like_one_process(one_process, tmp_path):
    run, port = tmp_path / "run", str(_free_port())
    script = Path(sys.executable).with_name("nndsl")
    processes = [subprocess.Popen(
        [str(script), "train", str(SPEC), "--run-dir", str(run), *COMMON, *TWO_NODES],
        env=_environment(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, NODE_RANK=str(node),
                         WORLD_SIZE="2"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in (0, 1)]
    outputs = _finished(processes)
    assert "MEMBER: 2/2" in outputs[1] or "MEMBER: 2/2" in outputs[0]  # one process group of 2
    assert outputs[0].count("test: test/loss") == 1 and "test: test/loss" not in outputs[1]
    _same_training(_summary(run), one_process)


@pytest.mark.slow
def test_two_nodes_under_torchrun_train_like_one_process(one_process, tmp_path):
    run, port = tmp_path / "run", str(_free_port())
    script = Path(sys.executable).with_name("nndsl")
    processes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
         f"--node-rank={node}", "--master-addr=127.0.0.1", f"--master-port={port}",
         str(script), "train", str(SPEC), "--run-dir", str(run), *COMMON, *TWO_NODES],
        env=_environment(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for node in (0, 1)]
    outputs = _finished(processes)
    assert "MEMBER: 2/2" in outputs[1] or "MEMBER: 2/2" in outputs[0]
    _same_training(_summary(run), one_process)


def test_launches_that_contradict_the_trainer_are_refused(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    two = TrainerSpec(num_nodes=2, devices=1, strategy="ddp")
    check_launch(two)  # nothing set: Lightning starts the processes itself
    monkeypatch.setenv("NODE_RANK", "2")
    with pytest.raises(LaunchError, match="NODE_RANK is 2, but trainer.num_nodes is 2"):
        check_launch(two)
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(LaunchError, match=r"WORLD_SIZE is 4.* 2 × 1 = 2"):
        check_launch(two)
    monkeypatch.setenv("WORLD_SIZE", "2")
    check_launch(two)
    # torchrun's variables: 2 nodes × 1 process each, against a one-node spec.
    monkeypatch.delenv("NODE_RANK")
    for name, value in (("TORCHELASTIC_RUN_ID", "x"), ("RANK", "1"), ("LOCAL_RANK", "0"),
                        ("GROUP_RANK", "1"), ("LOCAL_WORLD_SIZE", "1")):
        monkeypatch.setenv(name, value)
    check_launch(two)
    with pytest.raises(LaunchError, match="torchrun: .*does not match the world size"):
        check_launch(TrainerSpec(devices=1))
    with pytest.raises(LaunchError, match="torchrun started processes on 2 node"):
        check_launch(TrainerSpec())  # devices auto: the node count is still checked


def test_slurm_tasks_are_checked_and_ranked(monkeypatch):
    from nndsl.run.rundir import is_primary_process

    for name in [*LAUNCH_VARIABLES, *(key for key in os.environ if key.startswith("SLURM_"))]:
        monkeypatch.delenv(name, raising=False)
    # What `srun` sets in the second task of `sbatch --nodes=2 --ntasks-per-node=1`.
    for name, value in (("SLURM_NTASKS", "2"), ("SLURM_JOB_NAME", "train"), ("SLURM_NNODES", "2"),
                        ("SLURM_NTASKS_PER_NODE", "1"), ("SLURM_PROCID", "1"),
                        ("SLURM_LOCALID", "0"), ("SLURM_NODEID", "1")):
        monkeypatch.setenv(name, value)
    assert not is_primary_process()  # the second task writes nothing into the run directory
    check_launch(TrainerSpec(num_nodes=2, devices=1, strategy="ddp"))
    with pytest.raises(LaunchError, match="SLURM: .*num_nodes"):
        check_launch(TrainerSpec(num_nodes=1, devices=1))
    with pytest.raises(LaunchError, match="SLURM started processes on 2 node"):
        check_launch(TrainerSpec())


def test_a_mismatched_launch_is_a_one_line_error_before_any_run_directory(tmp_path, capsys,
                                                                         monkeypatch):
    from nndsl.cli import main

    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NODE_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert main(["train", str(SPEC), "--run-dir", str(tmp_path / "run"), *COMMON,
                 *TWO_NODES]) == 2
    error = capsys.readouterr().err
    assert "WORLD_SIZE is 3" in error and "Traceback" not in error
    assert not (tmp_path / "run").exists()
