"""The protocol every compute backend implements.

The scheduler decides what runs where; a backend only provisions and releases nodes,
starts a launcher for an assignment, tells whether a node or launcher is alive, and
stops things.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

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


class ProcessHandle(BaseModel):
    """A process the backend started (a node agent or a launcher), by pid and start time."""

    backend: str
    node_id: str | None = None
    pid: int
    pid_create_time: float


class ComputeBackend(Protocol):
    name: str

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        """Bring up a node; it registers itself with its first heartbeat."""
        ...

    def release_node(self, handle: ProcessHandle, force: bool = False) -> None:
        """Let a node go: ask it to leave, or (``force``) take it away with all it runs."""
        ...

    def rendezvous_port(self) -> int:
        """A port where a gang's rank 0 can listen (MASTER_PORT)."""
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
