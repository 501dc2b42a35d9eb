"""Compute targets (AmlCompute clusters), their nodes, and the node-agent protocol."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Base64Bytes,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trainforge.schemas import limits
from trainforge.schemas.backend import LaunchContext
from trainforge.schemas.backend import Resources as Resources  # re-exported
from trainforge.schemas.compute_settings import (
    DEFAULT_VM_PRIORITY,
    DEFAULT_VM_SIZE,
    VM_PRIORITIES,
    BackendName,
    ComputeSettings,
    ComputeSettingsInfo,
    ScaleSettings,
    ScaleUpdate,
    choice,
    without_none,
)

COMPUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,31}$")
COMPUTE_RULE = "2 to 32 characters, starting with a letter, then letters, digits or '-'"


class NodeState(StrEnum):
    """A node's state, as ``list_nodes()`` reports it (the stored values)."""

    IDLE = "idle"
    RUNNING = "running"
    PREPARING = "preparing"
    UNUSABLE = "unusable"
    LEAVING = "leaving"
    PREEMPTED = "preempted"


NODE_STATES = tuple(state.value for state in NodeState)


class AssignmentState(StrEnum):
    """Where a run's assignment to a node is: sent to the agent yet or not, running, being
    stopped, or over (its processes are gone)."""

    PENDING = "pending"
    ACTIVE = "active"
    STOPPING = "stopping"
    ENDED = "ended"


class AssignmentOutcome(StrEnum):
    """A launcher's word on its part of a run attempt.

    serving: the node runs only helper processes (parameter servers, MPI daemons) that the
    run does not wait for; they are stopped once the other nodes have succeeded.
    """

    RUNNING = "running"
    SERVING = "serving"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


def _compute_name(value: str) -> str:
    if not COMPUTE_NAME.fullmatch(value):
        raise ValueError(f"Compute name {value!r} is invalid: {COMPUTE_RULE}")
    return value


ComputeName = Annotated[str, AfterValidator(_compute_name)]


class ComputeSpec(BaseModel):
    """A new cluster's settings, checked, defaults filled (everything but its name)."""

    compute_type: Literal["AmlCompute"] = "AmlCompute"
    # A backend of the server (see BackendName); the rules below are the built-in ones'.
    backend: BackendName = "local"
    # None: STANDARD_NC6 (the SDK's default); on a Ray cluster, sized from its Ray nodes.
    vm_size: str | None = None
    vm_priority: Annotated[str, choice(VM_PRIORITIES)] = DEFAULT_VM_PRIORITY
    scale_settings: ScaleSettings = Field(default_factory=ScaleSettings)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    # Accepted as the SDK takes them; a local cluster has no VNet, SSH or identity.
    settings: ComputeSettings = Field(default_factory=ComputeSettings)

    _defaults_for_none = model_validator(mode="before")(without_none)

    @field_validator("vm_size", mode="before")
    @classmethod
    def _vm_size_name(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(
                f"Invalid vm_size {value!r}: expected a VM size name such as "
                "'STANDARD_D2_V2' (AmlCompute.supported_vmsizes(ws) lists them)"
            )
        return value.upper()

    @model_validator(mode="after")
    def _backend_settings(self) -> ComputeSpec:
        ray = (self.settings.ray_address, self.settings.ray_auth_token_path)
        if self.backend == "ray" and not self.settings.ray_address:
            raise PydanticCustomError(
                "ray_address_required",
                "settings.ray_address: required when backend is 'ray' (host:port)",
                {
                    "sdk": "ray_address is required when backend is 'ray': give the Ray "
                    "cluster's address, such as '10.0.0.4:6379'"
                },
            )
        if self.backend == "local" and any(ray):
            raise ValueError("ray_address and ray_auth_token_path apply only when backend is 'ray'")
        if self.vm_size is None and self.backend == "local":
            self.vm_size = DEFAULT_VM_SIZE
        return self


class ComputeCreate(ComputeSpec):
    """``POST /workspaces/{ws}/computes``: a new cluster named ``name``."""

    name: ComputeName


class ComputeUpdate(ScaleUpdate):
    """``PATCH /workspaces/{ws}/computes/{name}``: new scale settings; None keeps one."""


class NodeStateCounts(BaseModel):
    idle: int = 0
    running: int = 0
    preparing: int = 0
    unusable: int = 0
    leaving: int = 0
    preempted: int = 0


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
    settings: ComputeSettingsInfo
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
    # The run and its workspace, so the launcher need not ask (None from older servers).
    context: LaunchContext | None = None


class HeartbeatReply(BaseModel):
    start: list[AssignmentSpec] = Field(default_factory=list)
    stop: list[int] = Field(default_factory=list)
    leave: bool = False
    acknowledged: bool = False


# What a launcher's last report may carry of its logs; more is shipped before it.
MAX_REPORT_LOG_BYTES = 256 * 1024


class LogChunk(BaseModel):
    """Bytes a log of the run gained at ``offset`` since it was last shipped."""

    name: str = Field(min_length=1, max_length=1024)
    offset: int = Field(ge=0, le=limits.INT64_MAX)
    data: Base64Bytes


class AssignmentReport(BaseModel):
    """A launcher's word on its part of a run attempt. Its last report carries what its
    logs gained since they were last shipped (``logs``), written before the run ends, so
    a small run's end is one request and a log's follower sees it whole."""

    state: AssignmentOutcome
    exit_code: limits.Int32 | None = None
    error: dict[str, object] | None = None
    logs: list[LogChunk] = Field(default_factory=list, max_length=64)
    # An end reported without "running" before it (a run that ended at once): when its
    # processes started.
    started_at: datetime | None = None

    @model_validator(mode="after")
    def _logs_fit(self) -> AssignmentReport:
        if sum(len(chunk.data) for chunk in self.logs) > MAX_REPORT_LOG_BYTES:
            raise ValueError(f"logs: at most {MAX_REPORT_LOG_BYTES} bytes in a report")
        return self
