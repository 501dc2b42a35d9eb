"""HyperDrive sweeps as the REST API sees them; the service-side JSON of the SDK."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from trainforge.hyperdrive.policies import PolicyError, check_policy
from trainforge.hyperdrive.space import SpaceError, check_space
from trainforge.schemas import limits
from trainforge.schemas.runs import ParentRunCreate

MAX_TOTAL_RUNS = 1000
MAX_DURATION_MINUTES = 10080
SamplingName = Literal["RANDOM", "GRID", "BayesianOptimization"]
PolicyName = Literal["Bandit", "MedianStopping", "TruncationSelection", "Default", "ASHA"]


class GeneratorConfig(BaseModel):
    """``{"name": "RANDOM"|"GRID"|"BayesianOptimization", "parameter_space": {...}}``."""

    name: SamplingName
    parameter_space: dict[str, list[Any]]
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _space(self) -> GeneratorConfig:
        try:
            check_space(self.name, self.parameter_space)
        except SpaceError as exc:
            raise ValueError(str(exc)) from None
        seed = self.properties.get("rngSeed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"properties.rngSeed: expected an int, got {seed!r}")
        return self


class PolicyConfig(BaseModel):
    """``{"name": "Bandit"|..., "properties": {...}}``; "Default" is NoTerminationPolicy."""

    name: PolicyName = "Default"
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules(self) -> PolicyConfig:
        try:
            check_policy(self.name, self.properties)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        return self


class PrimaryMetricConfig(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    goal: Literal["maximize", "minimize"]


class SweepSettings(BaseModel):
    """What a sweep searches and how: the sampling, the policy, the primary metric and the
    budgets (a HyperDriveConfig without its run configuration)."""

    generator_config: GeneratorConfig
    policy_config: PolicyConfig = Field(default_factory=PolicyConfig)
    primary_metric_config: PrimaryMetricConfig
    max_total_runs: int = Field(ge=1, le=MAX_TOTAL_RUNS)
    max_concurrent_runs: int | None = Field(default=None, ge=1, le=limits.INT32_MAX)
    max_duration_minutes: int = Field(default=MAX_DURATION_MINUTES, ge=1, le=MAX_DURATION_MINUTES)

    @model_validator(mode="after")
    def _bayesian_without_policy(self) -> SweepSettings:
        if (
            self.generator_config.name == "BayesianOptimization"
            and self.policy_config.name != "Default"
        ):
            raise ValueError(
                "policy_config: No early termination policy is currently supported with Bayesian sampling"
            )
        return self


class SweepCreate(SweepSettings, ParentRunCreate):
    """A HyperDrive run: its settings, and its trials' run definition (whose arguments are
    the base arguments, duplicates removed; each trial gets its sampled values)."""

    # Uploaded outputs (data reference names) each trial writes to a place of its own,
    # ``azureml/<trial run id>/<name>``: a HyperDriveStep's outputs.
    trial_outputs: list[str] = Field(default_factory=list)


class TrialInfo(BaseModel):
    index: int
    run_id: str
    parameters: dict[str, Any]
    status: str
    best_primary_metric: float | None = None
    intervals: int = 0
    canceled_by_policy: str | None = None
    start_time_utc: datetime | None = None
    end_time_utc: datetime | None = None


class SweepInfo(BaseModel):
    run_id: str
    status: str
    sweep_state: str
    generator_config: GeneratorConfig
    policy_config: PolicyConfig
    primary_metric_config: PrimaryMetricConfig
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_minutes: int
    seed: int
    best_run_id: str | None = None
    best_primary_metric: float | None = None
    trials: list[TrialInfo] = Field(default_factory=list)
