"""Spec stage, output type: `Spec`, the typed, validated, frozen form of a spec file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from nndsl.spec.base import SimpleName, SpecModel, spec_error
from nndsl.spec.data import DataSpec
from nndsl.spec.extras import EnsembleSpec, MemorySpec
from nndsl.spec.init_from import InitFrom, path_or_mapping
from nndsl.spec.network import NetworkSpec
from nndsl.spec.schedule import CutSpec, JointPhase, PhaseSpec
from nndsl.spec.tempering import TemperingSpec
from nndsl.spec.training import LossSpec, MetricName, OptimizerSpec, TrainerSpec

LANGUAGE_VERSION = 1


class Spec(SpecModel):
    """A whole experiment: data, network, loss, optimiser, cuts, schedule, tempering, ensemble,
    memory budget and trainer options."""

    nndsl: int = Field(description="language version; this nndsl reads version 1")
    name: SimpleName = Field(description="experiment name (names the run directory): letters, "
                             "digits, . _ -, at most 100 characters")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed for initialisation, shuffling and "
                                                         "noise")
    use: tuple[str, ...] = Field((), description="fragments: `std:blocks/...`, `std:presets/...` "
                                                 "or paths")
    data: DataSpec = Field(description="the data source and its batching")
    network: NetworkSpec = Field(description="the network")
    loss: LossSpec = Field(description="the training loss")
    metrics: tuple[MetricName, ...] = Field((),
                                            description="metrics logged for validation and test")
    optimizer: OptimizerSpec = Field(description="the optimiser (torch.optim, or delta_bar_delta)")
    cuts: Literal["units"] | dict[SimpleName, CutSpec] | None = Field(
        None, description="`units` (a cut after each top-level unit) or named cuts")
    schedule: tuple[PhaseSpec, ...] = Field(
        default_factory=lambda: (JointPhase(phase="joint"),), description="phases, run in order")
    tempering: TemperingSpec = Field(default_factory=TemperingSpec, description="per-layer rates")
    ensemble: EnsembleSpec | None = Field(None, description="train M members together")
    memory: MemorySpec | None = Field(None, description="activation-memory budget")
    trainer: TrainerSpec = Field(default_factory=TrainerSpec,
                                 description="Lightning Trainer options")
    init_from: InitFrom | None = Field(None, description="weights loaded before the first phase",
                                       json_schema_extra=path_or_mapping)

    @field_validator("nndsl")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != LANGUAGE_VERSION:
            raise spec_error("version", "this nndsl reads language version {expected}, not {value}",
                             expected=LANGUAGE_VERSION, value=value)
        return value

    @field_validator("use", mode="before")
    @classmethod
    def _use_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value
