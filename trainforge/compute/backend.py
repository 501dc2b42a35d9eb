"""The protocol every compute backend implements.

The scheduler decides what runs where; a backend only provisions and releases nodes,
starts a launcher for an assignment, tells whether a node or launcher is alive, and
stops things.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

# The protocol's messages are shared with the node layer, which must not import compute:
# they are defined in schemas and are part of this protocol's public names.
from trainforge.schemas.backend import (
    HostView,
    Infeasible,
    LaunchRequest,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.schemas.compute import Resources

__all__ = [
    "BackendConflict",
    "BackendUnavailable",
    "ComputeBackend",
    "HostView",
    "Infeasible",
    "LaunchRequest",
    "NodePlacement",
    "NodeRequest",
    "ProcessHandle",
]


class BackendUnavailable(RuntimeError):
    """The backend's cluster manager cannot be reached (a Ray address that does not answer)
    and has not been since ``since`` (a Unix time)."""

    def __init__(self, message: str, since: float) -> None:
        super().__init__(message)
        self.since = since


class BackendConflict(ValueError):
    """A cluster that cannot be added beside the backend's other clusters; the message
    names the setting."""


class ComputeBackend(Protocol):
    name: str
    # Whether hosts hold several nodes: then a gang only uses nodes of one placement group.
    spreads_gangs: bool
    # The cluster settings this backend takes (beside the SDK's own cluster settings).
    settings_model: ClassVar[type[BaseModel]]
    # Whether a cluster made without vm_size has its nodes sized from the backend's hosts.
    sizes_from_hosts: ClassVar[bool]

    def check_new_cluster(
        self, settings: dict[str, Any], others: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Raise BackendConflict when a cluster with ``settings`` cannot be added beside
        the backend's other clusters (their names and settings, oldest first)."""
        ...

    def vm_size_from_hosts(self, settings: dict[str, Any]) -> str:
        """The VM size of the nodes of a cluster made without one (``sizes_from_hosts``);
        raises ValueError saying why there is none."""
        ...

    def node_resources(self, vm_size: str) -> Resources:
        """What one node of this VM size reserves on its host."""
        ...

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        """The hosts of these nodes as the backend sees them, by node id (empty when the
        backend has no view of its own beyond the node processes)."""
        ...

    def release_group(self, group: str) -> None:
        """No node of this placement group is left: give its reservation back."""
        ...

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        """Bring up a node; it registers itself with its first heartbeat."""
        ...

    def release_node(self, handle: ProcessHandle, force: bool = False) -> None:
        """Let a node go: ask it to leave, or (``force``) take it away with all it runs."""
        ...

    def rendezvous_port(self, node_id: str | None = None) -> int:
        """A port where a gang's rank 0 (on ``node_id``) can listen (MASTER_PORT)."""
        ...

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle:
        """Start the launcher of one assignment on the backend's own host (the 'local'
        target's node), and return its process. A cluster node's launchers are started by
        its node agent, which takes its assignments with its heartbeats."""
        ...

    def is_alive(self, handle: ProcessHandle) -> bool:
        """Health of a node or launcher: whether its process still runs."""
        ...

    def terminate(self, handle: ProcessHandle) -> None:
        """Ask a launcher to stop its processes and report the run part as canceled."""
        ...

    def kill(self, handle: ProcessHandle) -> None:
        """Kill a process and everything it started, at once."""
        ...

    def disconnect(self) -> None:
        """No cluster uses this backend any more: let go of any connection it holds."""
        ...
