"""Registered environments of a workspace: register a version, get one, list them."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.environments import EnvironmentDefinition, EnvironmentInfo, EnvironmentList


class EnvironmentsApi(WorkspaceResource):
    def register(self, name: str, definition: EnvironmentDefinition) -> EnvironmentInfo:
        """A new version, or the latest one when its definition is the same."""
        return EnvironmentInfo.model_validate(
            self.client.post(
                f"{self.base}/environments/{name}/versions", definition.model_dump(mode="json")
            )
        )

    def get(self, name: str, version: str | None = None) -> EnvironmentInfo:
        path = f"{self.base}/environments/{name}"
        if version is not None:
            path = f"{path}/versions/{version}"
        return EnvironmentInfo.model_validate(self.client.get(path))

    def list(self) -> list[EnvironmentInfo]:
        return EnvironmentList.model_validate(
            self.client.get(f"{self.base}/environments")
        ).environments
