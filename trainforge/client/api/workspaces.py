"""Workspaces themselves: create, list, get, update, delete. (Their contents have modules of their own.)"""

from __future__ import annotations

from trainforge.client.http import TrainforgeClient, new_idempotency_key
from trainforge.schemas.workspaces import WorkspaceCreate, WorkspaceInfo, WorkspaceUpdate


class WorkspacesApi:
    """``/workspaces`` and ``/workspaces/{name}``: the one resource above the workspace,
    so it names the workspace per call."""

    def __init__(self, client: TrainforgeClient) -> None:
        self.client = client

    def create(self, body: WorkspaceCreate) -> tuple[WorkspaceInfo, bool]:
        """The workspace and whether this call made it (False: it existed, ``exist_ok``)."""
        response = self.client.request(
            "POST",
            "/workspaces",
            json=body.model_dump(mode="json", exclude_unset=True),
            headers=new_idempotency_key(),
        )
        return WorkspaceInfo.model_validate(response.json()), response.status_code == 201

    def list(
        self, subscription_id: str | None = None, resource_group: str | None = None
    ) -> list[WorkspaceInfo]:
        found = self.client.get(
            "/workspaces", subscription_id=subscription_id, resource_group=resource_group
        )
        return [WorkspaceInfo.model_validate(item) for item in found]

    def get(self, name: str) -> WorkspaceInfo:
        return WorkspaceInfo.model_validate(self.client.get(f"/workspaces/{name}"))

    def update(self, name: str, body: WorkspaceUpdate) -> WorkspaceInfo:
        found = self.client.patch(f"/workspaces/{name}", body.model_dump(exclude_none=True))
        return WorkspaceInfo.model_validate(found)

    def delete(self, name: str) -> None:
        self.client.delete(f"/workspaces/{name}")
