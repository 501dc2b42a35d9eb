"""What the launchers of one run attempt tell each other through the control plane:
where each task listens (TensorFlow parameter server) and the daemon commands that
``mpirun`` on the first node asks the other nodes to run (MPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TaskEndpoint(BaseModel):
    """One task of a gang and the address it listens on (``host:port``)."""

    task_type: str = Field(min_length=1, max_length=16, pattern=r"^[a-z_]+$")
    task_index: int = Field(ge=0)
    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)


class EndpointsPublish(BaseModel):
    """A node's tasks, published by its launcher once it has picked their ports."""

    endpoints: list[TaskEndpoint] = Field(max_length=1024)


class NodeEndpoints(BaseModel):
    node_rank: int
    endpoints: list[TaskEndpoint]


class GangEndpoints(BaseModel):
    """What the nodes of an attempt published so far; ``complete`` once every node has."""

    node_count: int
    complete: bool
    nodes: list[NodeEndpoints]


NodeCommandState = Literal["posted", "running", "ended"]


class NodeCommandCreate(BaseModel):
    """A command for another node of the gang to run (an MPI daemon), as a shell line."""

    command: str = Field(min_length=1, max_length=65536)


class NodeCommandUpdate(BaseModel):
    state: Literal["running", "ended"]
    exit_code: int | None = None


class NodeCommand(BaseModel):
    id: int
    node_rank: int
    command: str
    state: NodeCommandState
    exit_code: int | None = None
