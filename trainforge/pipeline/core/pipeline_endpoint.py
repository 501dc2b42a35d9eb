"""PipelineEndpoint (``azureml.pipeline.core.PipelineEndpoint``): a named REST endpoint
over versions of published pipelines (0, 1, ...), one of them the default that a POST
without ``PipelineVersion`` runs."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.published_pipelines import PublishedPipelinesApi
from trainforge.client.errors import sdk_errors
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core.published_pipeline import (
    PublishedPipeline,
    run_request,
    started_run,
)
from trainforge.pipeline.core.run import PipelineRun
from trainforge.schemas.published_pipelines import (
    PipelineEndpointAdd,
    PipelineEndpointCreate,
    PipelineEndpointInfo,
    PipelineEndpointUpdate,
)

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


def _published(pipeline: Any, name: str | None = None) -> PublishedPipeline:
    """A PublishedPipeline as given, or a Pipeline published under ``name``."""
    from trainforge.pipeline.core.pipeline import Pipeline

    if isinstance(pipeline, PublishedPipeline):
        return pipeline
    if isinstance(pipeline, Pipeline):
        return pipeline.publish(name=name)
    raise UserErrorException(
        f"pipeline: expected a PublishedPipeline or a Pipeline, not {type(pipeline).__name__}"
    )


class PipelineEndpoint:
    """``id``, ``name``, ``description``, ``status``, ``default_version``, ``endpoint``
    and ``pipeline_version_list`` ([(version, pipeline id)])."""

    def __init__(self, workspace: Workspace, info: PipelineEndpointInfo, **kwargs: Any) -> None:
        self._workspace = workspace
        self._info = info

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
    def status(self) -> str:
        return self._info.status

    @property
    def default_version(self) -> str:
        return self._info.default_version

    @property
    def endpoint(self) -> str:
        return self._api().url(self._info.endpoint_path)

    @property
    def pipeline_version_list(self) -> builtins.list[tuple[str, str]]:
        return [(v.version, v.pipeline_id) for v in self._info.versions]

    @staticmethod
    def publish(
        workspace: Workspace,
        name: str,
        description: str | None,
        pipeline: Any,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PipelineEndpoint:
        """A new endpoint named ``name`` whose version 0 (the default) is ``pipeline``."""
        published = _published(pipeline, name)
        with sdk_errors():
            info = api(workspace, PublishedPipelinesApi).create_endpoint(
                PipelineEndpointCreate(name=name, description=description, pipeline_id=published.id)
            )
        return PipelineEndpoint(workspace, info)

    @staticmethod
    def get(
        workspace: Workspace,
        id: str | None = None,
        name: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> PipelineEndpoint:
        """The endpoint by ``id`` or by ``name``."""
        key = id or name
        if key is None:
            raise UserErrorException("PipelineEndpoint.get: give id or name")
        with sdk_errors():
            return PipelineEndpoint(
                workspace, api(workspace, PublishedPipelinesApi).get_endpoint(key)
            )

    @staticmethod
    def list(
        workspace: Workspace, active_only: bool = True, _service_endpoint: Any = None
    ) -> builtins.list[PipelineEndpoint]:
        with sdk_errors():
            found = api(workspace, PublishedPipelinesApi).list_endpoints(active_only=active_only)
        return [PipelineEndpoint(workspace, info) for info in found]

    def _add(self, pipeline: Any, set_default: bool) -> None:
        published = _published(pipeline, self.name)
        with sdk_errors():
            self._info = self._api().add_version(
                self.id, PipelineEndpointAdd(pipeline_id=published.id, set_default=set_default)
            )

    def add(self, pipeline: Any) -> None:
        """A new version running ``pipeline``; the default stays."""
        self._add(pipeline, set_default=False)

    def add_default(self, pipeline: Any) -> None:
        """A new version running ``pipeline``, made the default."""
        self._add(pipeline, set_default=True)

    def _update(self, **fields: Any) -> None:
        with sdk_errors():
            self._info = self._api().update_endpoint(self.id, PipelineEndpointUpdate(**fields))

    def set_default_version(self, version: str | int) -> None:
        self._update(default_version=str(version))

    def set_default(self, pipeline: Any) -> None:
        """Make the version running ``pipeline`` the default (adding it if it has none)."""
        published = _published(pipeline, self.name)
        for version, pipeline_id in self.pipeline_version_list:
            if pipeline_id == published.id:
                self.set_default_version(version)
                return
        self.add_default(published)

    def get_default_version(self) -> str:
        return self.default_version

    def set_name(self, name: str) -> None:
        self._update(name=name)

    def enable(self) -> None:
        self._update(status="Active")

    def disable(self) -> None:
        self._update(status="Disabled")

    def get_pipeline(self, version: str | int | None = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (the default when None)."""
        wanted = self.default_version if version is None else str(version)
        for number, pipeline_id in self.pipeline_version_list:
            if number == wanted:
                return PublishedPipeline.get(self._workspace, pipeline_id)
        raise UserErrorException(
            f"version: endpoint {self.name!r} has no version {wanted!r}; its versions are "
            + ", ".join(v for v, _ in self.pipeline_version_list)
        )

    def get_all_versions(self) -> builtins.list[tuple[str, str]]:
        return self.pipeline_version_list

    def get_all_pipelines(self, active_only: bool = True) -> builtins.list[PublishedPipeline]:
        found = [PublishedPipeline.get(self._workspace, p) for _, p in self.pipeline_version_list]
        return [p for p in found if p.status == "Active" or not active_only]

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        pipeline_version: str | int | None = None,
    ) -> PipelineRun:
        """A run of the default version (or ``pipeline_version``)."""
        request = run_request(
            experiment_name,
            pipeline_parameters,
            pipeline_version=None if pipeline_version is None else str(pipeline_version),
        )
        with sdk_errors():
            started = self._api().run_endpoint(self.id, request)
        return started_run(self._workspace, started)

    def __repr__(self) -> str:
        return (
            f"PipelineEndpoint(Name: {self.name},\nId: {self.id},\nStatus: {self.status},\n"
            f"Default version: {self.default_version},\nEndpoint: {self.endpoint})"
        )

    __str__ = __repr__
