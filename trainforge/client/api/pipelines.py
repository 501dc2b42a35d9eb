"""ML pipeline runs of a workspace: submit, and a pipeline run's graph with step states."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.pipelines import PipelineRunGraph, PipelineSubmit
from trainforge.schemas.runs import RunInfo


class PipelinesApi(WorkspaceResource):
    def submit(self, experiment: str, body: PipelineSubmit) -> RunInfo:
        """Submit the pipeline; its pipeline run comes back. A retry creates one run."""
        return RunInfo.model_validate(
            self.client.post(
                f"{self.base}/experiments/{experiment}/pipelineruns", body.model_dump(mode="json")
            )
        )

    def graph(self, run_id: str) -> PipelineRunGraph:
        """Every step of the pipeline run with its state and step run."""
        return PipelineRunGraph.model_validate(self.client.get(f"{self.base}/runs/{run_id}/graph"))
