"""Runs, their definitions, metrics and files as the REST API sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

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
    node_count: int = Field(default=1, ge=1)
    process_count_per_node: int = Field(default=1, ge=1)
    # TensorFlow parameter server (communicator 'ParameterServer'): tasks of each type.
    worker_count: int = Field(default=1, ge=1)
    parameter_server_count: int = Field(default=0, ge=0)
    priority: int = 0
    # Asked for GPUs (Estimator use_gpu, a GPU base image); without one the run goes on on CPU.
    use_gpu: bool = False
    max_run_duration_seconds: int | None = Field(default=None, ge=1)
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec)
    data_references: dict[str, DataReferenceSpec] = Field(default_factory=dict)
    datasets: dict[str, DatasetInputSpec] = Field(default_factory=dict)
    output_collection: bool = True
    directories_to_watch: list[str] = Field(default_factory=lambda: ["logs"])


RunKind = Literal["script", "interactive", "child", "sweep"]


class RunCreate(BaseModel):
    run_id: RunId | None = None
    kind: RunKind = "script"
    run_type: str | None = None
    parent_run_id: RunId | None = None
    display_name: str | None = None
    description: str | None = None
    definition: RunDefinition | None = None
    snapshot_id: str | None = None
    tags: dict[str, str | None] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)
    submitted_by: str | None = None


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
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str | None] | None = None
    remove_tags: list[str] | None = None
    # A launcher proves which attempt it drives, so that a stale launcher of a
    # requeued run cannot move the new attempt's state.
    attempt: int | None = None


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


MetricKind = Literal["scalar", "list", "row", "table", "image"]


class MetricPoint(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    kind: MetricKind = "scalar"
    value: Any
    step: int | None = None
    description: str = ""
    time: float | None = None


class MetricBatch(BaseModel):
    batch_id: str = Field(min_length=1, max_length=64)
    # The attempt of the process that logged: a superseded attempt's points are refused (409).
    attempt: int | None = None
    points: list[MetricPoint] = Field(max_length=20_000)


class FileInfo(BaseModel):
    name: str
    size: int
