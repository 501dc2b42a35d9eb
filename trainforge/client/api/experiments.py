"""Experiments of a workspace: get or create one, list them."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.workspaces import ExperimentInfo


class ExperimentsApi(WorkspaceResource):
    def ensure(self, name: str) -> ExperimentInfo:
        """The experiment ``name``, created if it is new (a PUT: safe to send again)."""
        return ExperimentInfo.model_validate(self.client.put(f"{self.base}/experiments/{name}"))

    def delete(self, name: str) -> None:
        """Delete the experiment with all its runs, once they have ended (409 before)."""
        self.client.delete(f"{self.base}/experiments/{name}")

    def list(self) -> list[ExperimentInfo]:
        return [
            ExperimentInfo.model_validate(item)
            for item in self.client.get(f"{self.base}/experiments")
        ]
