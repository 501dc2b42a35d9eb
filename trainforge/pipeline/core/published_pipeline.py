"""PublishedPipeline (``azureml.pipeline.core.PublishedPipeline``): a pipeline kept by the
control plane under an id, run again with new parameter values from the SDK
(``submit``) or by a POST on its REST ``endpoint``, with the workspace's bearer header
(``InteractiveLoginAuthentication().get_authentication_header()``) and the body
``{"ExperimentName": ..., "ParameterAssignments": {...}}``, answered with ``{"Id": ...}``."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, cast

from trainforge.client.api import api
from trainforge.client.api.published_pipelines import PublishedPipelinesApi
from trainforge.client.errors import sdk_errors
from trainforge.core.run import get_run
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.graph import parameter_value
from trainforge.schemas.pipelines import DataPathValue, DatasetValue
from trainforge.schemas.published_pipelines import (
    DataPathAssignment,
    DatasetAssignment,
    PipelineRunStarted,
    PublishedPipelineInfo,
    PublishedPipelineRun,
    SavedDatasetReference,
)

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace
    from trainforge.pipeline.core.run import PipelineRun


def run_request(
    experiment_name: str,
    pipeline_parameters: dict[str, Any] | None,
    continue_on_step_failure: bool | None = None,
    pipeline_version: str | None = None,
) -> PublishedPipelineRun:
    """What ``submit`` sends: scalars as ParameterAssignments, DataPaths as
    DataPathAssignments, registered datasets by id as DataSetDefinitionValueAssignments
    (as the REST API takes them)."""
    scalars: dict[str, Any] = {}
    paths: dict[str, DataPathAssignment] = {}
    datasets: dict[str, DatasetAssignment] = {}
    for name, value in (pipeline_parameters or {}).items():
        converted = parameter_value(name, value)
        if isinstance(converted, DataPathValue):
            paths[name] = DataPathAssignment(
                datastore_name=converted.datastore_name,
                relative_path=converted.path_on_datastore,
            )
        elif isinstance(converted, DatasetValue):
            if converted.dataset_id is None:
                raise UserErrorException(
                    f"pipeline_parameters: {name!r}: a published pipeline takes a registered "
                    "dataset (its id); register() this one first"
                )
            datasets[name] = DatasetAssignment(
                saved_dataset_reference=SavedDatasetReference(id=converted.dataset_id)
            )
        else:
            scalars[name] = converted
    return PublishedPipelineRun(
        experiment_name=experiment_name,
        parameter_assignments=scalars,
        data_path_assignments=paths,
        dataset_assignments=datasets,
        run_source="SDK",
        continue_on_step_failure=continue_on_step_failure,
        pipeline_version=pipeline_version,
    )


def started_run(workspace: Workspace, started: PipelineRunStarted) -> PipelineRun:
    """The run a POST started, as the PipelineRun its type registered."""
    return cast("PipelineRun", get_run(workspace, started.Id))


class PublishedPipeline:
    """A published pipeline: ``id``, ``name``, ``description``, ``version``, ``status``
    ('Active' or 'Disabled'), ``endpoint`` (its REST URL), ``graph_id``,
    ``total_run_steps``, ``continue_on_step_failure``."""

    def __init__(self, workspace: Workspace, info: PublishedPipelineInfo, **kwargs: Any) -> None:
        self._workspace = workspace
        self._info = info

    @classmethod
    def _of(cls, workspace: Workspace, info: PublishedPipelineInfo) -> PublishedPipeline:
        return cls(workspace, info)

    def _api(self) -> PublishedPipelinesApi:
        return api(self._workspace, PublishedPipelinesApi)

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def description(self) -> str | None:
        return self._info.description

    @property
    def version(self) -> str | None:
        return self._info.version

    @property
    def status(self) -> str:
        return self._info.status

    @property
    def graph_id(self) -> str:
        return self._info.graph_id

    @property
    def total_run_steps(self) -> int:
        return self._info.total_run_steps

    @property
    def continue_on_step_failure(self) -> bool:
        return self._info.continue_on_step_failure

    @property
    def endpoint(self) -> str:
        """The REST URL a POST runs this pipeline on."""
        return self._api().url(self._info.endpoint_path)

    @staticmethod
    def get(
        workspace: Workspace,
        id: str,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PublishedPipeline:
        """The published pipeline ``id`` of the workspace."""
        with sdk_errors():
            return PublishedPipeline._of(workspace, api(workspace, PublishedPipelinesApi).get(id))

    @staticmethod
    def list(
        workspace: Workspace,
        active_only: bool = True,
        _service_endpoint: Any = None,
    ) -> builtins.list[PublishedPipeline]:
        """The workspace's published pipelines (only the active ones by default)."""
        with sdk_errors():
            found = api(workspace, PublishedPipelinesApi).list(active_only=active_only)
        return [PublishedPipeline._of(workspace, info) for info in found]

    @staticmethod
    def get_all(
        workspace: Workspace,
        active_only: bool = True,
        _service_endpoint: Any = None,
    ) -> builtins.list[PublishedPipeline]:
        """``list`` (the SDK's older name)."""
        return PublishedPipeline.list(workspace, active_only=active_only)

    def _set_status(self, status: str) -> None:
        with sdk_errors():
            self._info = self._api().set_status(self.id, status)  # type: ignore[arg-type]

    def enable(self) -> None:
        """Accept submits again."""
        self._set_status("Active")

    def disable(self) -> None:
        """Refuse submits (and REST posts) until enabled; its schedules do not fire."""
        self._set_status("Disabled")

    def get_step_names(self) -> builtins.list[str]:
        return list(self._info.step_names)

    def submit(
        self,
        workspace: Workspace,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
        parent_run_id: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> PipelineRun:
        """A new run of this pipeline in ``experiment_name`` with ``pipeline_parameters``
        over its defaults; an unknown parameter is refused, nothing is submitted."""
        if parent_run_id is not None:
            raise UserErrorException(
                "parent_run_id: a published pipeline's run is a top-level run here"
            )
        request = run_request(experiment_name, pipeline_parameters, continue_on_step_failure)
        with sdk_errors():
            started = api(workspace, PublishedPipelinesApi).run(self.id, request)
        return started_run(workspace, started)

    def __repr__(self) -> str:
        return (
            f"Pipeline(Name: {self.name},\nId: {self.id},\nStatus: {self.status},\n"
            f"Endpoint: {self.endpoint})"
        )

    __str__ = __repr__
