"""The messages of the compute backend protocol (``trainforge.compute.backend``).

They live here, in the bottom layer, because both sides of the protocol read them: the
backends (compute) write a ``LaunchRequest`` and the launcher (node) reads it, and the
node layer must not import compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from trainforge.schemas.runs import RunInfo
from trainforge.schemas.workspaces import WorkspaceInfo

__all__ = [
    "HostView",
    "Infeasible",
    "LaunchContext",
    "LaunchRequest",
    "NodePlacement",
    "NodeRequest",
    "ProcessHandle",
    "Resources",
]

# The one variable a launcher is started with: its LaunchRequest as JSON (the launcher's
# settings read it as their launch_request).
LAUNCH_REQUEST_VARIABLE = "TRAINFORGE_LAUNCH_REQUEST"


class Resources(BaseModel):
    """What a node reserves on its host (here so that a launcher, which reads it, need not
    load the compute schemas; ``trainforge.schemas.compute`` re-exports it)."""

    vcpus: int
    memory_gb: float
    gpus: int


class LaunchContext(BaseModel):
    """The run and its workspace as the control plane saw them when it handed out the
    assignment: the launcher starts from these instead of asking for them again (two
    requests less on every run's start; its fence checks still read the run)."""

    run: RunInfo
    workspace: WorkspaceInfo


class LaunchRequest(BaseModel):
    """One launcher: a run attempt's part on one node."""

    run_id: str
    workspace_name: str
    attempt: int
    assignment_id: int
    node_rank: int = 0
    node_count: int = 1
    node_id: str | None = None
    master_addr: str = "127.0.0.1"
    master_port: int | None = None
    endpoint: str
    run_token: str
    home: Path
    node_dir: Path
    # The node's address as the other nodes of the gang reach it.
    node_addr: str = "127.0.0.1"
    # What the node reserves on its host; None: the host's own (the 'local' target).
    resources: Resources | None = None
    # The node agent that forked the launcher: when it dies, the node is lost.
    agent_pid: int | None = None
    # None: the launcher reads the run and the workspace itself.
    context: LaunchContext | None = None


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


class ProcessHandle(BaseModel):
    """A process the backend started (a node agent or a launcher), by pid and start time."""

    backend: str
    node_id: str | None = None
    pid: int
    pid_create_time: float
