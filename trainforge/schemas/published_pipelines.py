"""Published pipelines and pipeline endpoints as the REST API sees them.

A published pipeline is a pipeline's graph kept under an id (``pipeline.publish(...)``,
``pipeline_run.publish_pipeline(...)``), run again by id with new parameter values: from
the SDK (``published_pipeline.submit``) or by a plain ``POST`` to its endpoint with the
body the Azure ML REST API takes (``{"ExperimentName": ..., "ParameterAssignments":
{...}}``), answered with ``{"Id": <pipeline run id>, ...}``. A pipeline endpoint is a
named, versioned pointer to published pipelines with a default version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainforge.schemas.names import ExperimentName, RunId
from trainforge.schemas.pipelines import (
    DataPathValue,
    ParameterValue,
    PipelineGraph,
    PipelineParameterSpec,
    Scalar,
)

Status = Literal["Active", "Disabled"]
PIPELINE_ID_PROPERTY = "azureml.pipelineid"
PIPELINE_ENDPOINT_PROPERTY = "azureml.pipelineendpointid"


class PublishedPipelineCreate(BaseModel):
    """``pipeline.publish(name, description, version, continue_on_step_failure)`` (with the
    graph) or ``pipeline_run.publish_pipeline(...)`` (with the run whose graph it keeps)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    version: str | None = Field(default=None, max_length=64)
    continue_on_step_failure: bool = False
    graph: PipelineGraph | None = None
    source_run_id: RunId | None = None
    created_by: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _one_source(self) -> PublishedPipelineCreate:
        if (self.graph is None) == (self.source_run_id is None):
            raise ValueError("give either graph (a pipeline) or source_run_id (a pipeline run)")
        return self


class PublishedPipelineInfo(BaseModel):
    """A published pipeline: ``PublishedPipeline``'s attributes. ``endpoint_path`` is the
    path (under the API) that a POST runs it on."""

    id: str
    name: str
    description: str | None
    version: str | None
    status: Status
    continue_on_step_failure: bool
    graph_id: str
    total_run_steps: int
    step_names: list[str]
    parameters: list[PipelineParameterSpec]
    source_run_id: str | None
    created_by: str | None
    created: datetime
    endpoint_path: str


class StatusUpdate(BaseModel):
    """``enable()`` / ``disable()``."""

    model_config = ConfigDict(extra="forbid")

    status: Status


class DataPathAssignment(BaseModel):
    """A DataPath in a REST trigger's ``DataPathAssignments``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    datastore_name: str = Field(alias="DataStoreName", min_length=1, max_length=255)
    relative_path: str | None = Field(default=None, alias="RelativePath")


class SavedDatasetReference(BaseModel):
    """``{"Id": <dataset id>}``: a registered dataset, by the id ``dataset.id`` gives."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(alias="Id", min_length=1, max_length=64)


class DatasetAssignment(BaseModel):
    """A dataset in a REST trigger's ``DataSetDefinitionValueAssignments``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    saved_dataset_reference: SavedDatasetReference = Field(alias="SavedDataSetReference")


class PublishedPipelineRun(BaseModel):
    """The body of a POST to a published pipeline's (or a pipeline endpoint's) endpoint,
    in the Azure ML REST API's words; the SDK's ``submit`` sends the same."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    experiment_name: ExperimentName = Field(alias="ExperimentName")
    parameter_assignments: dict[str, Scalar] = Field(
        default_factory=dict, alias="ParameterAssignments"
    )
    data_path_assignments: dict[str, DataPathAssignment] = Field(
        default_factory=dict, alias="DataPathAssignments"
    )
    # Datasets by id: the server reads each one's definition (``dataset_values``).
    dataset_assignments: dict[str, DatasetAssignment] = Field(
        default_factory=dict, alias="DataSetDefinitionValueAssignments"
    )
    run_source: str | None = Field(default=None, alias="RunSource", max_length=64)
    description: str | None = Field(default=None, alias="Description", max_length=4096)
    display_name: str | None = Field(default=None, alias="DisplayName", max_length=256)
    continue_on_step_failure: bool | None = Field(default=None, alias="ContinueOnStepFailure")
    # A pipeline endpoint's version to run (its default when None).
    pipeline_version: str | None = Field(default=None, alias="PipelineVersion", max_length=64)

    def values(self) -> dict[str, ParameterValue]:
        """Every assignment but the datasets' as the pipeline's parameter values."""
        found: dict[str, ParameterValue] = dict(self.parameter_assignments)
        for name, where in self.data_path_assignments.items():
            found[name] = DataPathValue(
                datastore_name=where.datastore_name, path_on_datastore=where.relative_path
            )
        return found


class PipelineRunStarted(BaseModel):
    """The answer to a POST on an endpoint, as the Azure ML REST API gives it."""

    Id: str
    ExperimentName: str
    PipelineId: str
    Status: str
    RunNumber: int
    RunSource: str


class PipelineEndpointCreate(BaseModel):
    """``PipelineEndpoint.publish(workspace, name, description, pipeline)``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    pipeline_id: str = Field(min_length=1, max_length=64)


class PipelineEndpointVersion(BaseModel):
    version: str
    pipeline_id: str


class PipelineEndpointInfo(BaseModel):
    id: str
    name: str
    description: str | None
    status: Status
    default_version: str
    versions: list[PipelineEndpointVersion]
    created: datetime
    endpoint_path: str


class PipelineEndpointAdd(BaseModel):
    """``add(pipeline)`` / ``add_default(pipeline)``: a new version."""

    model_config = ConfigDict(extra="forbid")

    pipeline_id: str = Field(min_length=1, max_length=64)
    set_default: bool = False


class PipelineEndpointUpdate(BaseModel):
    """``set_default_version(version)``, ``enable()``/``disable()``, ``set_name``."""

    model_config = ConfigDict(extra="forbid")

    default_version: str | None = Field(default=None, max_length=64)
    status: Status | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4096)
