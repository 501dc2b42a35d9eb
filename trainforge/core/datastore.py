"""Datastores: named storage of a workspace (``workspaceblobstore`` by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainforge.exceptions import UserErrorException

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


class Datastore:
    """A datastore registered in a workspace: ``Datastore(ws, name)`` or ``Datastore.get``."""

    def __init__(
        self, workspace: Workspace, name: str | None = None, _info: dict[str, Any] | None = None
    ) -> None:
        if _info is None:
            stores = {
                info["name"]: info
                for info in workspace._client.get(f"/workspaces/{workspace.name}/datastores")
            }
            wanted = name or next((n for n, info in stores.items() if info["is_default"]), None)
            if wanted not in stores:
                raise UserErrorException(
                    f"Datastore {name!r} is not registered in workspace {workspace.name!r}"
                )
            _info = stores[wanted]
        self.workspace = workspace
        self.name: str = _info["name"]
        self.datastore_type: str = _info["datastore_type"]
        self.account_name: str | None = _info.get("account_name")
        self.container_name: str | None = _info.get("container_name")
        self.is_default: bool = bool(_info.get("is_default"))

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return Datastore(workspace)

    def __repr__(self) -> str:
        return f'{{\n  "name": "{self.name}",\n  "container_name": "{self.container_name}",\n  "account_name": "{self.account_name}"\n}}'
