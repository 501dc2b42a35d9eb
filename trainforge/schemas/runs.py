"""Runs, their definitions, metrics and files as the REST API sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from trainforge.schemas import limits
from trainforge.schemas.batchai import BatchAILaunch
from trainforge.schemas.datastores import DataReferenceSpec, DatasetInputSpec
from trainforge.schemas.names import RunId


class RunStatus(StrEnum):
    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})


class PythonSection(BaseModel):
    user_managed_dependencies: bool = False
    interpreter_path: str = "python"
    # The interpreter of the process that submitted the run: used whenever the
    # environment asks for nothing the submitting interpreter lacks.
    submitting_interpreter: str | None = None
    pip_packages: list[str] = Field(default_factory=list)
    conda_packages: list[str] = Field(default_factory=list)
    # pip options of the environment (--index-url, --extra-index-url, --find-links, --pre).
    pip_options: list[str] = Field(default_factory=list)
    # The conda specification's python pin; the node builds with its own interpreter.
    python_version: str | None = None


class EnvironmentSpec(BaseModel):
    name: str = "default-environment"
    version: str | None = None
    python: PythonSection = Field(default_factory=PythonSection)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    docker_enabled: bool = False
    docker_base_image: str | None = None


class RunDefinition(BaseModel):
    """The serialized RunConfiguration that a launcher executes."""

    script: str | None = None
    command: list[str] = Field(default_factory=list)
    arguments: list[str] = Field(default_factory=list)
    target: str = "local"
    framework: str = "Python"
    communicator: str = "None"
    node_count: int = Field(default=1, ge=1, le=limits.MAX_CLUSTER_NODES)
    process_count_per_node: int = Field(default=1, ge=1, le=1_024)
    # TensorFlow parameter server (communicator 'ParameterServer'): tasks of each type.
    worker_count: int = Field(default=1, ge=1, le=limits.MAX_CLUSTER_NODES)
    parameter_server_count: int = Field(default=0, ge=0, le=limits.MAX_CLUSTER_NODES)
    priority: limits.Int32 = 0
    # Asked for GPUs (Estimator use_gpu, a GPU base image); without one the run goes on on CPU.
    use_gpu: bool = False
    max_run_duration_seconds: limits.PositiveCount | None = None
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec)
    data_references: dict[str, DataReferenceSpec] = Field(default_factory=dict)
    datasets: dict[str, DatasetInputSpec] = Field(default_factory=dict)
    output_collection: bool = True
    directories_to_watch: list[str] = Field(default_factory=lambda: ["logs"])
    # A Batch AI job (trainforge.batchai): its mounts, variables, preparation and log names.
    batchai: BatchAILaunch | None = None


RunKind = Literal["script", "interactive", "child", "sweep", "pipeline"]


class RunCreate(BaseModel):
    run_id: RunId | None = None
    kind: RunKind = "script"
    run_type: str | None = Field(default=None, max_length=limits.MAX_RUN_TYPE)
    parent_run_id: RunId | None = None
    display_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)
    description: str | None = None
    definition: RunDefinition | None = None
    snapshot_id: str | None = Field(default=None, max_length=limits.MAX_HASH)
    tags: dict[str, str | None] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    submitted_by: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)


class ParentRunCreate(BaseModel):
    """What a run that drives child runs of one definition is created with (a HyperDrive
    sweep, an AutoML run): the children's definition and snapshot, and the parent's own
    id, tags, properties and names."""

    run_id: RunId | None = None
    definition: RunDefinition
    snapshot_id: str = Field(max_length=limits.MAX_HASH)
    tags: dict[str, str | None] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    display_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)
    description: str | None = None
    submitted_by: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)


class ChildrenCreate(BaseModel):
    count: int | None = Field(default=None, ge=1, le=100)
    tag_key: str | None = None
    tag_values: list[str] | None = Field(default=None, max_length=100)


class ErrorDetail(BaseModel):
    code: str = "UserError"
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class RunUpdate(BaseModel):
    status: RunStatus | None = None
    error: ErrorDetail | None = None
    display_name: str | None = Field(default=None, max_length=limits.MAX_DISPLAY_NAME)
    description: str | None = None
    tags: dict[str, str | None] | None = None
    remove_tags: list[str] | None = None
    # A launcher proves which attempt it drives, so that a stale launcher of a
    # requeued run cannot move the new attempt's state.
    attempt: limits.PositiveCount | None = None


class RunInfo(BaseModel):
    run_id: str
    experiment_name: str
    experiment_id: str
    workspace_name: str
    number: int
    kind: RunKind
    run_type: str | None
    status: RunStatus
    parent_run_id: str | None
    display_name: str | None
    description: str | None
    target: str | None
    definition: RunDefinition | None
    snapshot_id: str | None
    tags: dict[str, str | None]
    properties: dict[str, str]
    error: ErrorDetail | None
    warnings: list[str] = Field(default_factory=list)
    attempt: int
    submitted_by: str | None
    created_utc: datetime
    start_time_utc: datetime | None
    end_time_utc: datetime | None


class RunList(BaseModel):
    runs: list[RunInfo]
    next_cursor: str | None = None
    # {run id: {metric: last scalar value}} for the metrics a listing asked for (``metric``):
    # the studio's chosen metric columns, without a request per run.
    metrics: dict[str, dict[str, bool | int | float | str | None]] = Field(default_factory=dict)


MetricKind = Literal["scalar", "list", "row", "table", "image"]
SCALAR_RULE = "a bool, an int of 64 bits, a float or a string"


def _check_scalar(value: Any, where: str) -> None:
    # bool before int: it is an int to Python, but a metric type of its own.
    if isinstance(value, bool | float):
        return
    if isinstance(value, int):
        if not limits.INT64_MIN <= value <= limits.INT64_MAX:
            raise ValueError(f"{where}: {value} does not fit in 64 bits")
        return
    if isinstance(value, str):
        if len(value) > limits.MAX_METRIC_TEXT:
            raise ValueError(
                f"{where}: a string of {len(value)} characters is longer than "
                f"{limits.MAX_METRIC_TEXT}"
            )
        return
    raise ValueError(f"{where}: takes {SCALAR_RULE}, not {type(value).__name__}")


def _check_cells(values: list[Any], where: str) -> None:
    if len(values) > limits.MAX_METRIC_CELLS:
        raise ValueError(f"{where}: {len(values)} values; at most {limits.MAX_METRIC_CELLS}")
    for value in values:
        _check_scalar(value, where)


def _check_columns(value: Any, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"a {kind} takes an object of column -> value, not {type(value).__name__}")
    if len(value) > limits.MAX_METRIC_COLUMNS:
        raise ValueError(f"{len(value)} columns; at most {limits.MAX_METRIC_COLUMNS}")
    for column in value:
        if not 1 <= len(column) <= limits.MAX_METRIC_NAME:
            raise ValueError(f"column names take 1 to {limits.MAX_METRIC_NAME} characters")
    return value


def check_metric_value(kind: str, value: Any) -> None:
    """Raise ValueError saying what is wrong when ``value`` cannot be a metric of ``kind``."""
    if kind in ("scalar", "image"):
        _check_scalar(value, kind)
        if kind == "image" and not isinstance(value, str):
            raise ValueError("image: takes the image's artifact URL")
    elif kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"list: takes a list of scalars, not {type(value).__name__}")
        _check_cells(value, "list")
    elif kind == "row":
        for column, cell in _check_columns(value, kind).items():
            _check_scalar(cell, f"row column {column!r}")
    else:  # table: each column a list of scalars (or one scalar), all of one length
        columns = {
            name: column if isinstance(column, list) else [column]
            for name, column in _check_columns(value, kind).items()
        }
        lengths = {name: len(column) for name, column in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"table: columns must have one length; they have {lengths}")
        _check_cells([cell for column in columns.values() for cell in column], "table")


class MetricPoint(BaseModel):
    """One logged value. The SDK checks each point with this model when ``run.log`` is
    called, so a bad value is the caller's exception and never spoils a batch."""

    name: str = Field(min_length=1, max_length=limits.MAX_METRIC_NAME)
    kind: MetricKind = "scalar"
    value: Any
    step: limits.Int32 | None = None
    description: str = Field(default="", max_length=limits.MAX_METRIC_TEXT)
    time: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("value")
    @classmethod
    def _value_fits_its_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is not None:  # a bad kind is reported on its own field
            check_metric_value(kind, value)
        return value


class MetricBatch(BaseModel):
    batch_id: str = Field(min_length=1, max_length=64)
    # The attempt of the process that logged: a superseded attempt's points are refused (409).
    attempt: limits.PositiveCount | None = None
    points: list[MetricPoint] = Field(max_length=20_000)


class MetricVerdict(BaseModel):
    """An early termination policy's decision on the run, given in the answer to its
    metrics: the run is canceled, and why (the sender stops the run's process at once)."""

    cancel: bool = True
    reason: str


class BatchResult(BaseModel):
    """The answer to a metrics batch."""

    stored: bool
    count: int
    # The metric a policy judges this run by (a HyperDrive trial's primary metric): the
    # sender posts its values as soon as they are logged, not on its timer.
    judged_metric: str | None = None
    verdict: MetricVerdict | None = None


class FileInfo(BaseModel):
    name: str
    size: int


class FileLinksRequest(BaseModel):
    """Signed links to a run's files under ``prefix``, readable without a token until they
    expire (as an Azure SAS URL is): what Batch AI's ``list_output_files`` hands out."""

    prefix: str = Field(default="", max_length=1024)
    expiry_minutes: int = Field(default=60, ge=5, le=600)


class FileLink(BaseModel):
    name: str
    size: int
    last_modified: datetime
    url: str
