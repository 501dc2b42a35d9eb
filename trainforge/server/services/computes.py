"""Compute targets: AmlCompute clusters, their nodes and their status as the SDK reports it."""

from __future__ import annotations

import builtins
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.compute import registry, vm_sizes
from trainforge.compute.backend import BackendConflict, ComputeBackend
from trainforge.schemas.compute import (
    ComputeCreate,
    ComputeInfo,
    ComputeStatus,
    ComputeUpdate,
    NodeInfo,
    NodeState,
    NodeStateCounts,
    Resources,
)
from trainforge.schemas.compute_settings import ComputeSettingsInfo, ScaleSettings, backend_named
from trainforge.schemas.problems import rest_problems
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server.errors import BadRequest, Conflict, NotFound, Unprocessable
from trainforge.server.services import allocation
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow

# Nodes in these states are counted in the cluster's size; leaving ones are on their way out.
LIVE_NODE_STATES = (NodeState.PREPARING, NodeState.IDLE, NodeState.RUNNING)


def not_found(name: str) -> NotFound:
    return NotFound(
        f"ComputeTargetNotFound: Compute Target with name {name} not found in provided workspace"
    )


def new_node_id(compute: models.Compute, name: str) -> str:
    """A node's server-wide key: its name (``<cluster>-n001``, what users see) made unique
    by its cluster's id, as two workspaces may each have a cluster of that name."""
    return f"{name}.{compute.id}"


def nodes_of(db: Session, compute: models.Compute) -> list[models.Node]:
    query = (
        select(models.Node)
        .where(models.Node.compute_id == compute.id)
        .order_by(models.Node.created)
    )
    return list(db.scalars(query))


def status_of(compute: models.Compute, nodes: list[models.Node]) -> ComputeStatus:
    counts = NodeStateCounts(**Counter(node.state for node in nodes))
    current = len(nodes)
    steady = current == compute.target_node_count and counts.preparing == 0 and counts.leaving == 0
    return ComputeStatus(
        current_node_count=current,
        target_node_count=compute.target_node_count,
        node_state_counts=counts,
        allocation_state="Steady" if steady else "Resizing",
        allocation_state_transition_time=compute.allocation_changed,
        errors=compute.provisioning_errors or None,
    )


def to_info(
    compute: models.Compute, nodes: list[models.Node], backend: ComputeBackend | None = None
) -> ComputeInfo:
    return ComputeInfo(
        name=compute.name,
        compute_type=compute.compute_type,
        backend=compute.backend,
        vm_size=compute.vm_size,
        vm_priority=compute.vm_priority,
        scale_settings=ScaleSettings(
            min_nodes=compute.min_nodes,
            max_nodes=compute.max_nodes,
            idle_seconds_before_scaledown=compute.idle_seconds_before_scaledown,
            node_deallocation_option=compute.node_deallocation_option,
        ),
        tags=compute.tags,
        description=compute.description,
        settings=ComputeSettingsInfo.model_validate(compute.settings),
        provisioning_state=compute.provisioning_state,
        provisioning_errors=compute.provisioning_errors or None,
        # What a node reserves on its host, as its backend says (local nodes share, and are
        # capped to, this host).
        node_resources=(
            backend.node_resources(compute.vm_size)
            if backend is not None
            else vm_sizes.node_resources(compute.vm_size)
        ),
        created=compute.created,
        modified=compute.modified,
        status=status_of(compute, nodes),
    )


def node_info(node: models.Node) -> NodeInfo:
    return NodeInfo(
        node_id=node.name,
        state=NodeState(node.state),
        run_id=node.run_id,
        private_ip_address=node.address or "127.0.0.1",
        pid=node.pid,
        last_heartbeat=node.last_heartbeat,
        resources=Resources.model_validate(node.resources),
        host_id=node.host_id,
        host_state=node.host_state,
    )


def first_cluster_settings(store: Store, backend: str) -> dict[str, Any] | None:
    """The settings of the oldest cluster on ``backend`` (the Ray cluster the server's
    Ray-backed clusters use, which one driver shares). A read of its own: the backend is
    made on first use, inside a scheduler pass that holds the write lock."""
    with store.reading() as db:
        compute = db.scalar(
            select(models.Compute)
            .where(models.Compute.backend == backend)
            .order_by(models.Compute.created)
        )
        return dict(compute.settings) if compute is not None else None


class ComputeService:
    def row(self, db: Session, ws: models.Workspace, name: str) -> models.Compute:
        compute = db.scalar(
            select(models.Compute).where(
                models.Compute.workspace_id == ws.id, models.Compute.name == name
            )
        )
        if compute is None:
            raise not_found(name)
        return compute

    def __init__(self, backends: Mapping[str, ComputeBackend]) -> None:
        self.backends = backends

    def info(self, db: Session, compute: models.Compute) -> ComputeInfo:
        return to_info(compute, nodes_of(db, compute), self.backends.get(compute.backend))

    def list(self, db: Session, ws: models.Workspace) -> list[models.Compute]:
        query = select(models.Compute).where(models.Compute.workspace_id == ws.id)
        return list(db.scalars(query.order_by(models.Compute.name)))

    def create(self, db: Session, ws: models.Workspace, request: ComputeCreate) -> models.Compute:
        """Create a cluster on a backend of this server, with the settings it takes."""
        # The request's model takes any well-formed name: the backends are this server's.
        try:
            name = backend_named(request.backend, registry.names())
        except ValueError as exc:
            raise Unprocessable(f"backend: {exc}") from None
        request = request.model_copy(update={"backend": name})
        try:
            registry.check_settings(request.backend, request.settings.stored())
        except registry.BackendSettingsError as exc:
            raise BadRequest(str(exc)) from None
        backend = self.backends.get(request.backend)
        if backend is None:
            raise BadRequest(f"backend: {request.backend!r} is not served by this server")
        if request.vm_size is not None and not vm_sizes.is_known(request.vm_size):
            raise BadRequest(
                f"vm_size: {request.vm_size} is not a VM size trainforge knows; "
                "AmlCompute.supported_vmsizes(ws) lists them"
            )
        existing = db.scalar(
            select(models.Compute).where(
                models.Compute.workspace_id == ws.id, models.Compute.name == request.name
            )
        )
        if existing is not None:
            raise Conflict(
                f"Compute target {request.name!r} already exists in workspace {ws.name!r}"
            )
        others = db.scalars(
            select(models.Compute)
            .where(models.Compute.backend == request.backend)
            .order_by(models.Compute.created)
        )
        try:
            backend.check_new_cluster(
                request.settings.stored(), [(other.name, dict(other.settings)) for other in others]
            )
        except BackendConflict as exc:
            raise Conflict(str(exc)) from None
        vm_size = request.vm_size or self._size_from_hosts(backend, request)
        scale = request.scale_settings
        compute = models.Compute(
            id=str(uuid.uuid4()),
            workspace_id=ws.id,
            name=request.name,
            compute_type=request.compute_type,
            backend=request.backend,
            vm_size=vm_size,
            vm_priority=request.vm_priority,
            min_nodes=scale.min_nodes,
            max_nodes=scale.max_nodes,
            idle_seconds_before_scaledown=scale.idle_seconds_before_scaledown,
            node_deallocation_option=scale.node_deallocation_option,
            tags=request.tags,
            description=request.description,
            settings=request.settings.stored(),
            # Creating a local cluster is immediate; its nodes come from the autoscaler.
            provisioning_state="Succeeded",
            target_node_count=scale.min_nodes,
        )
        db.add(compute)
        db.flush()
        return compute

    @staticmethod
    def _size_from_hosts(backend: ComputeBackend, request: ComputeCreate) -> str:
        if not backend.sizes_from_hosts:
            raise BadRequest(f"vm_size: required on backend {request.backend!r}")
        try:
            return backend.vm_size_from_hosts(request.settings.stored())
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def update(
        self, db: Session, ws: models.Workspace, name: str, request: ComputeUpdate
    ) -> models.Compute:
        compute = self.row(db, ws, name)
        current = ScaleSettings(
            min_nodes=compute.min_nodes,
            max_nodes=compute.max_nodes,
            idle_seconds_before_scaledown=compute.idle_seconds_before_scaledown,
            node_deallocation_option=compute.node_deallocation_option,
        )
        try:
            merged = request.merged(current)
        except ValidationError as exc:  # e.g. max_nodes below the cluster's min_nodes
            raise BadRequest(rest_problems(exc.errors())) from None
        compute.min_nodes = merged.min_nodes
        compute.max_nodes = merged.max_nodes
        compute.idle_seconds_before_scaledown = merged.idle_seconds_before_scaledown
        compute.node_deallocation_option = merged.node_deallocation_option
        compute.modified = utcnow()
        return compute

    def delete(self, db: Session, ws: models.Workspace, name: str) -> models.Compute:
        """Start deleting: its runs end, its nodes go; the row goes with the last node."""
        compute = self.row(db, ws, name)
        compute.provisioning_state = "Deleting"
        compute.modified = utcnow()
        runs = db.scalars(
            select(models.Run).where(
                models.Run.workspace_id == ws.id,
                models.Run.target == name,
                models.Run.status.notin_(
                    [s.value for s in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)]
                ),
            )
        )
        error = ErrorDetail(
            code="ComputeTargetDeleted",
            message=f"Compute target {name} was deleted while the run was not finished",
        )
        for run in runs:
            allocation.fail_run(db, run, error)
        return compute

    def nodes(self, db: Session, ws: models.Workspace, name: str) -> builtins.list[NodeInfo]:
        return [node_info(node) for node in nodes_of(db, self.row(db, ws, name))]

    def preempt(self, db: Session, ws: models.Workspace, name: str, node_id: str) -> NodeInfo:
        """Evict a node of a low-priority cluster, as Azure does: its run goes back to the queue."""
        compute = self.row(db, ws, name)
        if compute.vm_priority != "lowpriority":
            raise Conflict(
                f"Only nodes of a lowpriority cluster can be preempted; {name} is {compute.vm_priority}"
            )
        node = db.scalar(
            select(models.Node).where(
                models.Node.compute_id == compute.id, models.Node.name == node_id
            )
        )
        if node is None:
            raise NotFound(f"Node {node_id!r} not found in cluster {name}")
        if node.state not in LIVE_NODE_STATES:
            raise Conflict(f"Node {node_id} is {node.state}; only a live node can be preempted")
        allocation.lose_node(
            db,
            node,
            NodeState.PREEMPTED,
            f"Node {node_id} of low-priority cluster {name} was preempted",
        )
        return node_info(node)
