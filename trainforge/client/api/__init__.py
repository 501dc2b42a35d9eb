"""One typed client per REST resource: each module owns its resource's paths under
``/api/v1`` and takes and returns ``trainforge.schemas`` models.

The SDK facade, the CLI, the node layer and the studio reach the control plane through
these classes only; no REST path is written anywhere else. Each class is built as
``<Resource>Api(client, workspace)``; ``WorkspacesApi(client)`` names the workspace per call.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from trainforge.client.http import TrainforgeClient


class WorkspaceResource:
    """What every resource of a workspace shares: the client and the workspace's path."""

    def __init__(self, client: TrainforgeClient, workspace: str) -> None:
        self.client = client
        self.workspace = workspace
        self.base = f"/workspaces/{workspace}"


class Connection(Protocol):
    client: TrainforgeClient


class HasWorkspace(Protocol):
    """What the facade's Workspace offers: its name and its connection."""

    @property
    def name(self) -> str: ...

    @property
    def service_context(self) -> Connection: ...


A = TypeVar("A", bound=WorkspaceResource)


def api(workspace: HasWorkspace, kind: type[A]) -> A:
    """The typed REST client ``kind`` (``RunsApi``, ``DatastoresApi``, ...) of ``workspace``,
    on its connection: how the facade's objects reach the control plane."""
    return kind(workspace.service_context.client, workspace.name)
