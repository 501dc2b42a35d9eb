"""``ComputesApi``: every ``/workspaces/{ws}/computes`` path, and the VM size catalog."""

from __future__ import annotations

import builtins

from pydantic import TypeAdapter

from trainforge.client.http import ApiError, TrainforgeClient
from trainforge.schemas.compute import ComputeCreate, ComputeInfo, ComputeUpdate, NodeInfo, VmSize

_NODES = TypeAdapter(list[NodeInfo])
_COMPUTES = TypeAdapter(list[ComputeInfo])
_VM_SIZES = TypeAdapter(list[VmSize])


class ComputesApi:
    """The compute targets (AmlCompute clusters) of one workspace and their nodes.

    Each method is one request; a refusal raises ApiError (404 for a target that is not
    there, except in ``find``).
    """

    def __init__(self, client: TrainforgeClient, workspace: str) -> None:
        self.client = client
        self.workspace = workspace

    def _path(self, name: str | None = None) -> str:
        path = f"/workspaces/{self.workspace}/computes"
        return path if name is None else f"{path}/{name}"

    def list(self) -> list[ComputeInfo]:
        return _COMPUTES.validate_python(self.client.get(self._path()))

    def get(self, name: str) -> ComputeInfo:
        return ComputeInfo.model_validate(self.client.get(self._path(name)))

    def find(self, name: str) -> ComputeInfo | None:
        """The target ``name``, or None when the workspace has none of that name."""
        try:
            return self.get(name)
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    def create(self, request: ComputeCreate) -> ComputeInfo:
        body = request.model_dump(mode="json")
        return ComputeInfo.model_validate(self.client.post(self._path(), body))

    def update(self, name: str, request: ComputeUpdate) -> ComputeInfo:
        body = request.model_dump(mode="json", exclude_none=True)
        return ComputeInfo.model_validate(self.client.patch(self._path(name), body))

    def delete(self, name: str) -> ComputeInfo | None:
        """Start deleting ``name``; the target as it is then (Deleting), if the server says."""
        response = self.client.request("DELETE", self._path(name))
        return ComputeInfo.model_validate(response.json()) if response.content else None

    def nodes(self, name: str) -> builtins.list[NodeInfo]:
        return _NODES.validate_python(self.client.get(f"{self._path(name)}/nodes"))

    def preempt(self, name: str, node_id: str) -> NodeInfo:
        found = self.client.post(f"{self._path(name)}/nodes/{node_id}/preempt")
        return NodeInfo.model_validate(found)

    def vm_sizes(self) -> builtins.list[VmSize]:
        """The VM sizes a cluster can use (the same in every workspace and location)."""
        return _VM_SIZES.validate_python(self.client.get("/vm-sizes"))
