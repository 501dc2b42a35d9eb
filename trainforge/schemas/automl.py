"""Automated ML runs as the REST API sees them: what a submit carries and what a read returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from trainforge.automl.names import MODELS, PRIMARY_METRICS
from trainforge.schemas import limits
from trainforge.schemas.names import RunId
from trainforge.schemas.runs import ParentRunCreate

MAX_ITERATIONS = 1000
# The SDK's experiment_timeout_hours tops out at 7 days as HyperDrive's duration does.
MAX_TIMEOUT_MINUTES = 10080.0
AUTOML_LOG = "azureml-logs/automl.txt"


class Guardrail(BaseModel):
    """A check of the training data: class balance, missing values, high cardinality."""

    type: str = Field(max_length=255)
    status: Literal["passed", "done", "alerted"]
    description: str = Field(max_length=limits.MAX_METRIC_TEXT)
    details: dict[str, Any] = Field(default_factory=dict)


class AutoMLSettings(BaseModel):
    """What an AutoML run searches and how: the task and metric, the learners FLAML may
    propose, the data's shape (for FLAML's search space), the budgets and the data's
    guardrails (an AutoMLConfig without its snapshot; an AutoMLStep carries these)."""

    task: Literal["classification", "regression", "forecasting"]
    primary_metric: str = Field(min_length=1, max_length=255)
    learners: list[str] = Field(min_length=1)
    # The data's shape; None in an AutoMLStep whose training data is an upstream step's
    # output (``training_input``): the control plane reads it when the step starts.
    rows: int | None = Field(default=None, ge=1, le=limits.INT64_MAX)
    columns: int | None = Field(default=None, ge=1, le=limits.INT32_MAX)
    label_column_name: str | None = Field(default=None, max_length=255)
    training_input: str | None = Field(default=None, max_length=255)
    # Its validation data, when that is an upstream output too (read by each iteration).
    validation_input: str | None = Field(default=None, max_length=255)
    # Test data is in the snapshot: the best model's test run starts when the search ends.
    test_run: bool = False
    iterations: int = Field(default=100, ge=1, le=MAX_ITERATIONS)
    max_concurrent_iterations: int = Field(default=1, ge=1, le=limits.INT32_MAX)
    experiment_timeout_minutes: float | None = Field(
        default=None, gt=0, le=MAX_TIMEOUT_MINUTES, allow_inf_nan=False
    )
    iteration_timeout_minutes: float | None = Field(
        default=None, gt=0, le=MAX_TIMEOUT_MINUTES, allow_inf_nan=False
    )
    experiment_exit_score: float | None = Field(default=None, allow_inf_nan=False)
    enable_early_stopping: bool = True
    # The last iteration (of at least 3) is the SDK's VotingEnsemble of the best ones.
    enable_voting_ensemble: bool = True
    # Then (of at least 5) the SDK's StackEnsemble of the best ones.
    enable_stack_ensemble: bool = False
    seed: int | None = Field(default=None, ge=0, le=limits.INT32_MAX)
    # The data guardrails, checked where the data is read (``trainforge.automl.guardrails``).
    guardrails: list[Guardrail] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _names(self) -> AutoMLSettings:
        metrics = PRIMARY_METRICS[self.task]
        if self.primary_metric not in metrics:
            raise ValueError(
                f"primary_metric: {self.primary_metric!r} is not a metric of task "
                f"{self.task!r}; supported: {list(metrics)}"
            )
        known = list(MODELS[self.task].values())
        unknown = [name for name in self.learners if name not in known]
        if unknown:
            raise ValueError(f"learners: unknown {unknown}; supported: {known}")
        if len(set(self.learners)) != len(self.learners):
            raise ValueError("learners: each learner once")
        return self


class AutoMLCreate(AutoMLSettings, ParentRunCreate):
    """An AutoML run: its settings and the iterations' run definition (the iteration script
    of the snapshot; each child gets its learner and config as arguments)."""

    # Set by the control plane for a continued AutoML run (``POST .../automl/{id}/continue``),
    # refused in a submit: the run it continues, and the number of its first own iteration
    # (the iterations before it are the continued run's, seeded into its search).
    continued_from: RunId | None = None
    first_iteration: int = Field(default=0, ge=0, le=MAX_ITERATIONS)

    @model_validator(mode="after")
    def _shape_known(self) -> AutoMLCreate:
        for name in ("rows", "columns"):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required (the training data's shape)")
        return self


class AutoMLContinue(BaseModel):
    """``AutoMLRun.continue_experiment``: more iterations of an AutoML run that has ended,
    as a new AutoML run in its experiment with its settings and its iterations seeded into
    the search. Budgets not given are the continued run's; new training data comes as a
    new snapshot (the continued run's with the data replaced) and the data's shape."""

    iterations: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    experiment_timeout_minutes: float | None = Field(
        default=None, gt=0, le=MAX_TIMEOUT_MINUTES, allow_inf_nan=False
    )
    experiment_exit_score: float | None = Field(default=None, allow_inf_nan=False)
    snapshot_id: str | None = Field(default=None, max_length=limits.MAX_HASH)
    rows: int | None = Field(default=None, ge=1, le=limits.INT64_MAX)
    columns: int | None = Field(default=None, ge=1, le=limits.INT32_MAX)
    guardrails: list[Guardrail] | None = Field(default=None, max_length=100)
    run_id: RunId | None = None
    tags: dict[str, str | None] = Field(default_factory=dict)
    submitted_by: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)

    @model_validator(mode="after")
    def _data_whole(self) -> AutoMLContinue:
        given = [self.snapshot_id is not None, self.rows is not None, self.columns is not None]
        if any(given) and not all(given):
            raise ValueError("snapshot_id: new training data needs its snapshot, rows and columns")
        return self


class IterationInfo(BaseModel):
    """A child run of an AutoML run: the pipeline it fitted and how it scored."""

    iteration: int
    run_id: str
    learner: str
    run_algorithm: str
    config: dict[str, Any]
    status: str
    score: float | None = None
    start_time_utc: datetime | None = None
    end_time_utc: datetime | None = None


class AutoMLInfo(BaseModel):
    run_id: str
    status: str
    automl_state: str
    task: str
    primary_metric: str
    goal: Literal["maximize", "minimize"]
    iterations: int
    max_concurrent_iterations: int
    best_run_id: str | None = None
    best_score: float | None = None
    stop_reason: str | None = None
    # The AutoML run this one continues (``continue_experiment``); its iterations come first.
    continued_from: str | None = None
    first_iteration: int = 0
    guardrails: list[Guardrail] = Field(default_factory=list)
    children: list[IterationInfo] = Field(default_factory=list)
