"""Scoring services of a workspace: deploy, get, list, logs, delete."""

from __future__ import annotations

import builtins

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.services import (
    RegenerateKey,
    ServiceCreate,
    ServiceInfo,
    ServiceKeys,
    ServiceList,
    ServiceLogs,
    ServiceStats,
    ServiceToken,
    ServiceUpdate,
)


class ServicesApi(WorkspaceResource):
    """``/workspaces/{ws}/services``."""

    def create(self, body: ServiceCreate) -> ServiceInfo:
        return ServiceInfo.model_validate(
            self.client.post(f"{self.base}/services", body.model_dump(mode="json"))
        )

    def get(self, name: str) -> ServiceInfo:
        return ServiceInfo.model_validate(self.client.get(f"{self.base}/services/{name}"))

    def list(self) -> builtins.list[ServiceInfo]:
        return ServiceList.model_validate(self.client.get(f"{self.base}/services")).services

    def logs(self, name: str, num_lines: int = 5000) -> str:
        found = self.client.get(f"{self.base}/services/{name}/logs", num_lines=num_lines)
        return ServiceLogs.model_validate(found).content

    def delete(self, name: str) -> None:
        self.client.delete(f"{self.base}/services/{name}")

    def keys(self, name: str) -> ServiceKeys:
        return ServiceKeys.model_validate(self.client.get(f"{self.base}/services/{name}/keys"))

    def regenerate_key(self, name: str, body: RegenerateKey) -> ServiceKeys:
        return ServiceKeys.model_validate(
            self.client.post(
                f"{self.base}/services/{name}/regenerate-key", body.model_dump(mode="json")
            )
        )

    def stats(self, name: str) -> ServiceStats:
        return ServiceStats.model_validate(self.client.get(f"{self.base}/services/{name}/stats"))

    def update(self, name: str, body: ServiceUpdate) -> ServiceInfo:
        return ServiceInfo.model_validate(
            self.client.patch(
                f"{self.base}/services/{name}", body.model_dump(mode="json", exclude_unset=True)
            )
        )

    def token(self, name: str) -> ServiceToken:
        """A token for an AKS service with token auth (``get_token``)."""
        return ServiceToken.model_validate(
            self.client.post(f"{self.base}/services/{name}/token", {})
        )
