"""The protocol every compute backend implements.

The scheduler decides what runs where; a backend only provisions and releases nodes,
starts a launcher for an assignment, tells whether a node or launcher is alive, and
stops things.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

from trainforge.node.launch import LaunchRequest
from trainforge.schemas.compute import Resources


class NodeRequest(BaseModel):
    """A node to bring up for a cluster."""

    workspace_name: str
    compute_name: str
    node_id: str
    endpoint: str
    agent_token: str
    home: Path
    node_dir: Path
    resources: Resources
    # Nodes provisioned together for one gang: one placement group of group_size bundles,
    # spread over distinct hosts; this node takes bundle bundle_index.
    group: str
    group_size: int = 1
    bundle_index: int = 0


class NodePlacement(BaseModel):
    """Where a node was asked to go: its placement group and bundle."""

    node_id: str
    group: str | None = None
    bundle_index: int = 0


class Infeasible(BaseModel):
    """The cluster manager reports a node's reservation as one no host of it can hold."""

    since: float  # a Unix time: when the backend first saw it so
    largest_host: str  # the largest host there is, in words (id, address, resources)


class HostView(BaseModel):
    """What the backend's own cluster manager says of the host a node was placed on."""

    state: Literal["pending", "alive", "dead"]
    host_id: str | None = None
    address: str | None = None
    # Set while the node waits for a host that no host of the cluster could be.
    infeasible: Infeasible | None = None


class BackendUnavailable(RuntimeError):
    """The backend's cluster manager cannot be reached (a Ray address that does not answer)
    and has not been since ``since`` (a Unix time)."""

    def __init__(self, message: str, since: float) -> None:
        super().__init__(message)
        self.since = since


class ProcessHandle(BaseModel):
    """A process the backend started (a node agent or a launcher), by pid and start time."""

    backend: str
    node_id: str | None = None
    pid: int
    pid_create_time: float


class ComputeBackend(Protocol):
    name: str
    # Whether hosts hold several nodes: then a gang only uses nodes of one placement group.
    spreads_gangs: bool

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

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle | None:
        """Start the launcher of one assignment; None when the node's agent starts it."""
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
