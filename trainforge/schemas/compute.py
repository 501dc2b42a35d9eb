"""Compute targets (AmlCompute clusters), their nodes, and the node-agent protocol."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from trainforge.schemas import limits

COMPUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,31}$")
COMPUTE_RULE = "2 to 32 characters, starting with a letter, then letters, digits or '-'"
NODE_STATES = ("idle", "running", "preparing", "unusable", "leaving", "preempted")
NodeState = Literal["idle", "running", "preparing", "unusable", "leaving", "preempted"]


def _compute_name(value: str) -> str:
    if not COMPUTE_NAME.fullmatch(value):
        raise ValueError(f"Compute name {value!r} is invalid: {COMPUTE_RULE}")
    return value


ComputeName = Annotated[str, AfterValidator(_compute_name)]


class ScaleSettings(BaseModel):
    min_nodes: int = Field(default=0, ge=0, le=limits.MAX_CLUSTER_NODES)
    max_nodes: int = Field(default=4, ge=0, le=limits.MAX_CLUSTER_NODES)
    idle_seconds_before_scaledown: limits.Count = 1800

    @model_validator(mode="after")
    def _max_at_least_min(self) -> ScaleSettings:
        if self.max_nodes < self.min_nodes:
            raise ValueError(
                f"max_nodes ({self.max_nodes}) must be at least min_nodes ({self.min_nodes})"
            )
        return self


class ComputeCreate(BaseModel):
    name: ComputeName
    compute_type: Literal["AmlCompute"] = "AmlCompute"
    # A backend registered by name (trainforge.compute.registry); the server checks the name
    # and the settings the backend takes.
    backend: str = Field(default="local", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    # None: STANDARD_NC6 (the SDK's default) on the local backend; on a backend that sizes
    # nodes from its hosts (Ray), sized from them.
    vm_size: str | None = None
    vm_priority: Literal["dedicated", "lowpriority"] = "dedicated"
    scale_settings: ScaleSettings = Field(default_factory=ScaleSettings)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    # Accepted as the SDK takes them; a local cluster has no VNet, SSH or identity.
    settings: dict[str, object] = Field(default_factory=dict)

    @field_validator("vm_size")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @model_validator(mode="after")
    def _local_default_size(self) -> ComputeCreate:
        if self.vm_size is None and self.backend == "local":
            self.vm_size = "STANDARD_NC6"
        return self


class ComputeUpdate(BaseModel):
    min_nodes: int | None = Field(default=None, ge=0, le=limits.MAX_CLUSTER_NODES)
    max_nodes: int | None = Field(default=None, ge=0, le=limits.MAX_CLUSTER_NODES)
    idle_seconds_before_scaledown: limits.Count | None = None


class NodeStateCounts(BaseModel):
    idle: int = 0
    running: int = 0
    preparing: int = 0
    unusable: int = 0
    leaving: int = 0
    preempted: int = 0


class Resources(BaseModel):
    vcpus: int
    memory_gb: float
    gpus: int


class ComputeStatus(BaseModel):
    current_node_count: int
    target_node_count: int
    node_state_counts: NodeStateCounts
    allocation_state: Literal["Steady", "Resizing"]
    allocation_state_transition_time: datetime
    errors: list[dict[str, str]] | None = None


class ComputeInfo(BaseModel):
    name: str
    compute_type: str
    backend: str
    vm_size: str
    vm_priority: str
    scale_settings: ScaleSettings
    tags: dict[str, str]
    description: str | None
    settings: dict[str, object]
    provisioning_state: Literal["Creating", "Succeeded", "Failed", "Deleting"]
    provisioning_errors: list[dict[str, str]] | None = None
    node_resources: Resources
    created: datetime
    modified: datetime
    status: ComputeStatus


class NodeInfo(BaseModel):
    node_id: str
    state: NodeState
    run_id: str | None
    private_ip_address: str
    public_ip_address: str | None = None
    port: int | None = None
    pid: int | None
    last_heartbeat: datetime | None
    resources: Resources
    host_id: str | None = None
    host_state: Literal["pending", "alive", "dead"] | None = None


class VmSize(BaseModel):
    name: str
    vCPUs: int
    gpus: int
    memoryGB: float
    maxResourceVolumeMB: int


# -- node agents and launchers ---------------------------------------------------------
class LauncherReport(BaseModel):
    assignment_id: limits.Count
    alive: bool
    exit_code: limits.Int32 | None = None


class Heartbeat(BaseModel):
    launchers: list[LauncherReport] = Field(default_factory=list)
    # The node's address as other nodes reach it (TRAINFORGE_NODE_ADDR of the agent).
    address: str | None = Field(default=None, max_length=255)


class AssignmentSpec(BaseModel):
    """What a node agent needs to start one launcher."""

    assignment_id: int
    run_id: str
    attempt: int
    node_rank: int
    node_count: int
    run_token: str
    master_addr: str = "127.0.0.1"
    master_port: int | None = None


class HeartbeatReply(BaseModel):
    start: list[AssignmentSpec] = Field(default_factory=list)
    stop: list[int] = Field(default_factory=list)
    leave: bool = False
    acknowledged: bool = False


# serving: the node runs only helper processes (parameter servers, MPI daemons) that the
# run does not wait for; they are stopped once the other nodes have succeeded.
AssignmentState = Literal["running", "serving", "succeeded", "failed", "canceled"]


class AssignmentReport(BaseModel):
    """A launcher's word on its part of a run attempt."""

    state: AssignmentState
    exit_code: limits.Int32 | None = None
    error: dict[str, object] | None = None
