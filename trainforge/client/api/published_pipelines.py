"""Published pipelines and pipeline endpoints of a workspace: publish, read, list,
enable/disable, and run one (the POST its REST endpoint takes)."""

from __future__ import annotations

import builtins

from trainforge.client.api import WorkspaceResource
from trainforge.client.http import API
from trainforge.schemas.published_pipelines import (
    PipelineEndpointAdd,
    PipelineEndpointCreate,
    PipelineEndpointInfo,
    PipelineEndpointUpdate,
    PipelineRunStarted,
    PublishedPipelineCreate,
    PublishedPipelineInfo,
    PublishedPipelineRun,
    Status,
    StatusUpdate,
)


class PublishedPipelinesApi(WorkspaceResource):
    def url(self, endpoint_path: str) -> str:
        """The absolute URL of an endpoint path, as ``requests.post`` takes it."""
        return f"{self.client.endpoint.address}{API}{endpoint_path}"

    def publish(self, body: PublishedPipelineCreate) -> PublishedPipelineInfo:
        return PublishedPipelineInfo.model_validate(
            self.client.post(f"{self.base}/publishedpipelines", body.model_dump(mode="json"))
        )

    def get(self, pipeline_id: str) -> PublishedPipelineInfo:
        return PublishedPipelineInfo.model_validate(
            self.client.get(f"{self.base}/publishedpipelines/{pipeline_id}")
        )

    def list(self, active_only: bool = True) -> builtins.list[PublishedPipelineInfo]:
        found = self.client.get(f"{self.base}/publishedpipelines", active_only=active_only)
        return [PublishedPipelineInfo.model_validate(item) for item in found]

    def set_status(self, pipeline_id: str, status: Status) -> PublishedPipelineInfo:
        return PublishedPipelineInfo.model_validate(
            self.client.patch(
                f"{self.base}/publishedpipelines/{pipeline_id}",
                StatusUpdate(status=status).model_dump(mode="json"),
            )
        )

    def run(self, pipeline_id: str, body: PublishedPipelineRun) -> PipelineRunStarted:
        """A new pipeline run of the published pipeline. A retry creates one run."""
        return PipelineRunStarted.model_validate(
            self.client.post(
                f"{self.base}/publishedpipelines/{pipeline_id}/runs",
                body.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
        )

    def create_endpoint(self, body: PipelineEndpointCreate) -> PipelineEndpointInfo:
        return PipelineEndpointInfo.model_validate(
            self.client.post(f"{self.base}/pipelineendpoints", body.model_dump(mode="json"))
        )

    def get_endpoint(self, key: str) -> PipelineEndpointInfo:
        """An endpoint by id or name."""
        return PipelineEndpointInfo.model_validate(
            self.client.get(f"{self.base}/pipelineendpoints/{key}")
        )

    def list_endpoints(self, active_only: bool = True) -> builtins.list[PipelineEndpointInfo]:
        found = self.client.get(f"{self.base}/pipelineendpoints", active_only=active_only)
        return [PipelineEndpointInfo.model_validate(item) for item in found]

    def add_version(self, key: str, body: PipelineEndpointAdd) -> PipelineEndpointInfo:
        return PipelineEndpointInfo.model_validate(
            self.client.post(
                f"{self.base}/pipelineendpoints/{key}/versions", body.model_dump(mode="json")
            )
        )

    def update_endpoint(self, key: str, body: PipelineEndpointUpdate) -> PipelineEndpointInfo:
        return PipelineEndpointInfo.model_validate(
            self.client.patch(f"{self.base}/pipelineendpoints/{key}", body.model_dump(mode="json"))
        )

    def run_endpoint(self, key: str, body: PublishedPipelineRun) -> PipelineRunStarted:
        return PipelineRunStarted.model_validate(
            self.client.post(
                f"{self.base}/pipelineendpoints/{key}/runs",
                body.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
        )
