"""Run stage: one training run (a phase, or one top-down attempt) on Lightning's Trainer.

In: the run context (network, data, loss, spec) and the run's trainable layers, parameter
groups, optimiser and stopping rule. Out: the best monitored score and the epochs it took; the
network ends with the run's best weights when the phase keeps the best. Ctrl-C finishes the current
batch, saves `last.ckpt` there and stops, so `--resume` continues the same run from that batch.
"""

from __future__ import annotations

import inspect
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import TensorBoardLogger

from nndsl.api import Valid
from nndsl.backend.lightning_module import NndslModule, RunSettings, TrainingModule
from nndsl.backend.losses import CompiledLoss
from nndsl.backend.networks import build_planned_network
from nndsl.ir import Graph
from nndsl.plan import ParameterGroup, PhasePlan, Plan, RunPlan, StopPlan
from nndsl.plan.phases import run_seed
from nndsl.run.metrics_log import HistoryCSVLogger, KeepHistoryUntilResume
from nndsl.run.safe_load import read_lightning_checkpoint
from nndsl.spec import Spec
from nndsl.spec.training import OptimizerSpec, SchedulerSpec

if TYPE_CHECKING:
    from nndsl.backend.networks import DataModule, Network


#: Told each run before it starts: its phase, run label, cut (or None) and top-down attempt
#: (or None). The command line prints it; tests use it to interrupt a schedule at a chosen run.
PhasePrinter = Callable[[PhasePlan, str, str | None, int | None], None]


@dataclass
class RunContext:
    """Everything a run needs that stays the same across phases.

    `compiled` is the checked spec with its graph and plan; `network` the module they describe
    (its weights change as the schedule runs); `printer` announces each run.
    """

    compiled: Valid
    network: Network
    datamodule: DataModule
    loss: CompiledLoss
    directory: Path
    fast_dev_run: bool = False
    extra_callbacks: list[Callback] = field(default_factory=list)
    printer: PhasePrinter | None = None
    progress_bar: bool = True
    adaptation: str | None = None  # an adapt phase's target rule (`nndsl.run.adaptation`)

    @property
    def spec(self) -> Spec:
        return self.compiled.spec

    @property
    def plan(self) -> Plan:
        return self.compiled.plan

    @property
    def graph(self) -> Graph:
        return self.compiled.graph

    @property
    def target_kind(self) -> str:
        return self.compiled.signature.target_kind

    @property
    def num_classes(self) -> int | None:
        return self.compiled.signature.num_classes


@dataclass(frozen=True)
class RunOutcome:
    label: str
    score: float | None
    epochs: int
    interrupted: bool
    interrupt_pending: bool = False  # Ctrl-C after the run's last batch: stop once it is recorded


class _CheckpointOnInterrupt(Callback):
    """Ctrl-C during `fit`: finish the current batch, save `last.ckpt` at that batch boundary, stop.

    While a run trains, SIGINT only records the request (`request`); the interrupt is raised at
    the end of the next training batch that completes an optimiser step and is not its epoch's
    last, so the checkpoint holds one consistent state — weights, optimiser, loop position, loader
    position and random states all after the same batch — from which the run resumes exactly.
    Lightning answers the interrupt by calling `on_exception` (which saves) and exiting. A request
    that comes after the run's last training batch lets the run finish (`pending`). A second
    Ctrl-C, or any other KeyboardInterrupt, stops at once and saves nothing: the run then resumes
    from the last epoch's checkpoint, as after a kill.
    """

    def __init__(self, path: Path):
        self.path = path
        self.interrupted = False
        self.pending = False  # Ctrl-C seen, not yet acted on
        self.raised = False  # the interrupt was raised here, at a batch boundary

    def request(self, signal_number: int, frame: Any) -> None:
        """SIGINT handler while `fit` runs."""
        if self.pending:
            raise KeyboardInterrupt  # the second Ctrl-C: the user wants out now
        self.pending = True

    def on_train_batch_end(self, trainer: Trainer, module: Any, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        stepped = (batch_index + 1) % trainer.accumulate_grad_batches == 0
        # Not at the epoch's last batch: the epoch's end (validation, logging, the epoch's
        # checkpoint) must run in one go, and a resume would skip it.
        inside_epoch = batch_index + 1 < trainer.num_training_batches
        if stepped and inside_epoch and self._agreed(trainer, self.pending):
            self.raised = True
            raise KeyboardInterrupt

    def _agreed(self, trainer: Trainer, pending: bool) -> bool:
        # Under ddp every process stops after the same batch, or the others would wait forever.
        if trainer.world_size > 1:
            return bool(trainer.strategy.reduce_boolean_decision(pending, all=False))
        return pending

    def on_exception(self, trainer: Trainer, module: Any, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.interrupted = True
            if self.raised:
                trainer.save_checkpoint(self.path)


def layer_seed(seed: int, label: str) -> int:
    """A stable seed per run label (the plan's rule), for randomness that repeats exactly on
    resume."""
    return run_seed(seed, label)


def _run_inputs(module: Any, batch: dict[str, torch.Tensor]) -> Any:
    """Run the network on a batch dict (for callbacks that collect layer inputs)."""
    return module(batch["inputs"], batch.get("input_lengths"))


def layer_callbacks(context: RunContext) -> list[Any]:
    """Callbacks the network's layers need: re-whitening for whitened_linear layers (PRONG)."""
    whitened = [node.params for node in context.graph.nodes if node.type == "whitened_linear"]
    callbacks: list[Any] = []
    if context.spec.hardware is not None:
        from nndsl.backend.hardware import HardwareClipping

        callbacks.append(HardwareClipping())
    if not whitened:
        return callbacks
    from nndsl.backend.callbacks.rewhitening import Rewhitening

    # One re-whitening schedule for all layers: the paper re-parametrises every layer together.
    return [*callbacks, Rewhitening(every_n_updates=min(params.every for params in whitened),
                        samples=max(params.samples for params in whitened), run_batch=_run_inputs,
                        seed=context.spec.seed)]


def trainer_for(context: RunContext, label: str, stop: StopPlan, callbacks: list[Any]) -> Trainer:
    spec = context.spec.trainer
    logger: Any
    if spec.logger == "tensorboard":
        logger = TensorBoardLogger(context.directory / "logs", name=label, version="")
    else:
        logger = HistoryCSVLogger(context.directory / "logs", name=label)
        callbacks = [*callbacks, KeepHistoryUntilResume(logger)]
    return Trainer(
        max_epochs=stop.max_epochs,
        min_epochs=min(context.spec.trainer.min_epochs, stop.max_epochs),
        accelerator=spec.accelerator, devices=spec.devices, strategy=spec.strategy,
        num_nodes=spec.num_nodes,
        precision=spec.precision, gradient_clip_val=spec.gradient_clip_val,
        accumulate_grad_batches=spec.accumulate_grad_batches, deterministic=spec.deterministic,
        log_every_n_steps=spec.log_every_n_steps, limit_train_batches=spec.limit_train_batches,
        callbacks=[*callbacks, *context.extra_callbacks,
                   *([RichProgressBar(leave=False)] if context.progress_bar else [])],
        enable_progress_bar=context.progress_bar,
        logger=logger, enable_model_summary=False, num_sanity_val_steps=0,
        fast_dev_run=context.fast_dev_run, default_root_dir=context.directory,
    )


def train_run(context: RunContext, run: RunPlan, phase: PhasePlan) -> RunOutcome:
    """Fit the network with the run's trainable layers learning, by its phase's optimiser and
    stopping rule; resumes from `last.ckpt` if present."""
    label, optimizer, stop = run.label, phase.optimizer, phase.stop
    directory = context.directory / "checkpoints" / label
    checkpoint = ModelCheckpoint(dirpath=directory, filename="best", monitor=stop.monitor,
                                 mode=stop.mode, save_top_k=1, enable_version_counter=False)
    # A second, unmonitored checkpoint keeps the latest epoch: Lightning's save_last only
    # refreshes when the monitored value improves, and resuming must continue from the last epoch.
    latest = ModelCheckpoint(dirpath=directory, filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    interrupt = _CheckpointOnInterrupt(directory / "last.ckpt")
    callbacks: list[Any] = [checkpoint, latest, interrupt, *layer_callbacks(context)]
    if stop.patience is not None or stop.threshold is not None:
        # Without patience, early stopping still ends the run once the threshold is reached.
        callbacks.append(EarlyStopping(monitor=stop.monitor, mode=stop.mode,
                                       patience=stop.patience if stop.patience is not None
                                       else stop.max_epochs + 1, stopping_threshold=stop.threshold,
                                       check_on_train_epoch_end=stop.monitor.startswith("train/")))
    if phase_scheduler(context, optimizer) is not None:
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks.append(LearningRateMonitor())  # the rate per scheduler interval, in metrics.csv
    module = build_module(context, run.trainable, phase.parameter_groups, optimizer,
                          stop.max_epochs)
    trainer = trainer_for(context, label, stop, callbacks)
    last = directory / "last.ckpt"
    if last.exists():
        # a damaged or hostile file is a user error, before Lightning
        read_lightning_checkpoint(last)
    # Lightning loads `last.ckpt` again itself: weights-only too where its `fit` takes the option.
    takes_option = "weights_only" in inspect.signature(trainer.fit).parameters
    safe = {"weights_only": True} if takes_option else {}
    deferring = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt.request) if deferring else None
    try:
        trainer.fit(module, datamodule=context.datamodule,
                    ckpt_path=str(last) if last.exists() else None, **safe)
    except SystemExit:
        if not interrupt.interrupted:
            raise
    finally:
        if deferring:
            # Lightning ignores further Ctrl-C while shutting down; give the user theirs back.
            signal.signal(signal.SIGINT,
                          previous if previous is not None else signal.default_int_handler)
    if interrupt.interrupted or trainer.interrupted:
        return RunOutcome(label, None, trainer.current_epoch, interrupted=True)
    score = checkpoint.best_model_score
    if phase.keep_best and checkpoint.best_model_path and Path(checkpoint.best_model_path).exists():
        module.load_state_dict(read_lightning_checkpoint(checkpoint.best_model_path)["state_dict"])
    return RunOutcome(label, None if score is None else float(score), trainer.current_epoch,
                      interrupted=False, interrupt_pending=interrupt.pending)


def build_network(compiled: Valid, datamodule: DataModule) -> Network:
    """The network the plan describes: one graph module, or an ensemble of them (seeded); a
    bagging ensemble's members then train on their own bootstrap samples of `datamodule`."""
    plan = compiled.plan
    if plan.ensemble is not None and plan.ensemble.method == "bagging":
        datamodule.use_bootstrap_samples(plan.ensemble.members, plan.seed)
    return with_hardware(build_planned_network(compiled.graph, plan), compiled)


def with_hardware(network: Network, compiled: Valid) -> Network:
    """`network` with the spec's `hardware:` limits applied (the check stage admits them for
    single networks of linear layers only), or as it is without them."""
    if compiled.spec.hardware is None:
        return network
    from nndsl.backend.hardware import apply_hardware

    return apply_hardware(network, compiled.spec.hardware, compiled.spec.seed)


def test_report(context: RunContext, module: TrainingModule) -> dict[str, Any]:
    """Extra test-time results: for ensembles, the class -> member assignment counts (sMCL)."""
    assignments = getattr(module, "test_assignments", None)
    ensemble = context.plan.ensemble
    if ensemble is None:
        return {}
    report: dict[str, Any] = {"ensemble": {"members": ensemble.members, "method": ensemble.method,
                                           "seeds": list(ensemble.seeds),
                                           "vectorised": module.network.members.vectorised,
                                           "path": module.network.members.path}}
    if assignments is not None:
        from nndsl.run.ensemble_report import write_assignment_picture

        report["ensemble"]["assignments"] = assignments.tolist()  # [classes, members]
        write_assignment_picture(report["ensemble"]["assignments"],
                                 context.directory / "assignments.png",
                                 f"{context.spec.name}: class → member ({ensemble.method}, M = "
                                 f"{ensemble.members})")
    return report


def phase_scheduler(context: RunContext, optimizer: OptimizerSpec) -> SchedulerSpec | None:
    """The phase's scheduler: its optimiser's own, else `trainer.scheduler` (or None)."""
    return getattr(optimizer, "scheduler", None) or context.spec.trainer.scheduler


def build_module(context: RunContext, trainable: tuple[str, ...],
                 groups: tuple[ParameterGroup, ...], optimizer: OptimizerSpec,
                 max_epochs: int) -> TrainingModule:
    """The Lightning module of one run: the ensemble's or the single network's."""
    hardware = context.spec.hardware
    settings = RunSettings(trainable, groups, optimizer, phase_scheduler(context, optimizer),
                           max_epochs, context.target_kind, context.num_classes,
                           None if hardware is None else hardware.lr_grid)
    if context.plan.ensemble is not None:
        from nndsl.backend.ensemble.module import EnsembleModule

        return EnsembleModule(context.network, context.plan.ensemble, context.plan.loss, settings)
    decoding = None
    if context.adaptation is not None:
        from nndsl.backend.adaptation import AdaptationModule

        return AdaptationModule(context.network, context.loss, settings, context.spec.metrics)
    if "word_accuracy" in context.spec.metrics:  # checked: a dtw_prediction net, a lexicon source
        decoding = {"lexicon": context.datamodule.lexicon, "grammar": context.datamodule.grammar,
                    "states_per_label": context.spec.loss.states_per_label}
    return NndslModule(context.network, context.loss, settings, context.spec.metrics,
                       decoding=decoding)


def evaluation_trainer(context: RunContext) -> Trainer:
    """A one-device Trainer for scoring the current network. Under ddp every process scores the
    whole split itself: a distributed sampler would pad the split with repeated examples so the
    ranks get equal shares, which changes the metrics (Lightning's own advice for testing)."""
    return Trainer(accelerator=context.spec.trainer.accelerator, devices=1, logger=False,
                   enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False)


def validation_score(context: RunContext, monitor: str) -> float | None:
    """The current network's score on `monitor` (validation set), without training; None when
    there is no validation set (a phase monitoring train/loss with keep_best off)."""
    if context.datamodule.splits.valid is None:
        return None
    module = build_module(context, (), (), context.spec.optimizer, 1)
    results = evaluation_trainer(context).validate(module, datamodule=context.datamodule,
                                                   verbose=False)
    value = results[0].get(monitor) if results else None
    return None if value is None else float(value)
