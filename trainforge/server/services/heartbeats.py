"""Node agents' heartbeats: what a beat records, and the work sent back in its reply.

A beat proves the node alive (a preparing node becomes idle), reports which launchers
still run (an ended one ends its assignment), and is answered with the assignments to
start or stop and whether the node must leave. Every node, assignment and run it touches
must belong to the workspace the beat was sent to: anything else is refused (403/404).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.compute import (
    AssignmentSpec,
    AssignmentState,
    Heartbeat,
    HeartbeatReply,
    NodeState,
)
from trainforge.schemas.runs import RunStatus
from trainforge.server.auth import run_token
from trainforge.server.errors import Forbidden, NotFound
from trainforge.server.services import allocation
from trainforge.server.services.runs import launch_context
from trainforge.server.store import models
from trainforge.server.store.models import utcnow

# A node declared lost that comes back leaves, stopping all it still runs.
NODE_MUST_LEAVE = (NodeState.LEAVING, NodeState.UNUSABLE, NodeState.PREEMPTED)


def node_of(db: Session, ws: models.Workspace, node_id: str) -> models.Node:
    """The node ``node_id`` of a cluster of ``ws``; 404 when it is not (any more) there."""
    node = db.get(models.Node, node_id)
    compute = db.get(models.Compute, node.compute_id) if node is not None else None
    if node is None or compute is None or compute.workspace_id != ws.id:
        raise NotFound(
            f"Node {node_id} is not part of any cluster of workspace {ws.name!r} "
            "(released or deleted)"
        )
    return node


def record(db: Session, node: models.Node, body: Heartbeat, wake: Callable[[], None]) -> list[int]:
    """Record the beat; the ids of launchers still alive whose assignment has ended (an
    attempt given up on while the node was lost meanwhile): the agent must stop them."""
    node.last_heartbeat = utcnow()
    node.address = body.address or node.address
    if node.state == NodeState.PREPARING:
        allocation.set_node_state(db, node, NodeState.IDLE)
        wake()
    fenced: list[int] = []
    for launcher in body.launchers:
        assignment = db.get(models.Assignment, launcher.assignment_id)
        if assignment is None:
            continue
        if assignment.node_id != node.id:
            raise Forbidden(
                f"Assignment {launcher.assignment_id} is not an assignment of node {node.name}"
            )
        ended = assignment.state == AssignmentState.ENDED
        if not launcher.alive and not ended:
            allocation.process_ended(db, assignment, launcher.exit_code)
            wake()
        elif launcher.alive and ended:
            fenced.append(launcher.assignment_id)
    return fenced


def dispatch(
    db: Session,
    ws: models.Workspace,
    node: models.Node,
    reported: set[int] | None,
    reply: HeartbeatReply,
    signing_key: bytes,
) -> None:
    """Add to ``reply`` the node's assignments to start and to stop.

    An active assignment the agent does not report (``reported``: the ids it reported, None
    when it reported nothing) was sent in a reply that never arrived (the server went down
    before answering): it is sent again.
    """
    on_node = db.scalars(
        select(models.Assignment).where(
            models.Assignment.node_id == node.id,
            models.Assignment.state.in_(allocation.OPEN_ASSIGNMENT),
        )
    )
    for assignment in on_node:
        if assignment.state == AssignmentState.STOPPING:
            reply.stop.append(assignment.id)
            continue
        if assignment.state == AssignmentState.ACTIVE and (
            reported is None or assignment.id in reported
        ):
            continue
        run = db.get(models.Run, (assignment.workspace_id, assignment.run_id))
        if run is None or run.workspace_id != ws.id:
            # A run token is minted for the beat's workspace: never for another's run.
            raise Forbidden(
                f"Assignment {assignment.id} of node {node.name} is not a run of "
                f"workspace {ws.name!r}"
            )
        if RunStatus(run.status).is_terminal or run.attempt != assignment.attempt:
            allocation.end_assignment(db, assignment)
            continue
        allocation.move_assignment(assignment, AssignmentState.ACTIVE)
        reply.start.append(
            AssignmentSpec(
                assignment_id=assignment.id,
                run_id=run.id,
                attempt=assignment.attempt,
                node_rank=assignment.node_rank,
                node_count=assignment.node_count,
                run_token=run_token(signing_key, ws.name, run.id),
                master_port=assignment.master_port,
                master_addr=allocation.master_addr(db, assignment),
                context=launch_context(db, ws, run),
            )
        )


def beat(
    db: Session,
    ws: models.Workspace,
    node_id: str,
    body: Heartbeat | None,
    signing_key: bytes,
    wake: Callable[[], None],
) -> HeartbeatReply | None:
    """Record a heartbeat (when ``body`` is given) and say what the agent must do; None:
    nothing to do (the caller then waits for work before asking again with no body)."""
    node = node_of(db, ws, node_id)
    fenced = record(db, node, body, wake) if body is not None else []
    reply = HeartbeatReply(
        leave=node.state in NODE_MUST_LEAVE,
        # Acknowledge ended launchers at once so the agent can forget them.
        acknowledged=body is not None and any(not item.alive for item in body.launchers),
        stop=fenced,
    )
    reported = {item.assignment_id for item in body.launchers} if body is not None else None
    dispatch(db, ws, node, reported, reply, signing_key)
    return reply if reply.start or reply.stop or reply.leave or reply.acknowledged else None
