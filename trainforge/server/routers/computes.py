"""Compute targets, their nodes, the VM size catalog, and the node agents' heartbeat."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response, status
from fastapi.concurrency import run_in_threadpool

from trainforge.compute import vm_sizes
from trainforge.schemas.compute import (
    AssignmentOutcome,
    AssignmentReport,
    ComputeCreate,
    ComputeInfo,
    ComputeUpdate,
    Heartbeat,
    HeartbeatReply,
    NodeInfo,
    VmSize,
)
from trainforge.schemas.limits import Count
from trainforge.schemas.runs import RunStatus
from trainforge.server.errors import Conflict, NotFound
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.routers.files import append_log
from trainforge.server.services import allocation, heartbeats, request_keys
from trainforge.server.store import models
from trainforge.server.store.database import hold

router = APIRouter()
HEARTBEAT_WAIT_S = 1.0


@router.get("/vm-sizes", response_model=list[VmSize])
def list_vm_sizes() -> list[VmSize]:
    return vm_sizes.catalog()


@router.post("/workspaces/{ws}/computes", response_model=ComputeInfo, status_code=201)
def create_compute(
    ws: str,
    body: ComputeCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> ComputeInfo:
    """Create a cluster; sent again with the same Idempotency-Key (a retry after a lost
    answer), the first answer comes back and no 409 for the cluster it made."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            "computes",
            ComputeInfo,
            lambda: cp.computes.info(db, cp.computes.create(db, row, body)),
        )
    cp.scheduler.wake()
    return info


@router.get("/workspaces/{ws}/computes", response_model=list[ComputeInfo])
def list_computes(ws: str, cp: ControlPlane = Depends(plane)) -> list[ComputeInfo]:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return [cp.computes.info(db, compute) for compute in cp.computes.list(db, row)]


@router.get("/workspaces/{ws}/computes/{name}", response_model=ComputeInfo)
def get_compute(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> ComputeInfo:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return cp.computes.info(db, cp.computes.row(db, row, name))


@router.patch("/workspaces/{ws}/computes/{name}", response_model=ComputeInfo)
def update_compute(
    ws: str, name: str, body: ComputeUpdate, cp: ControlPlane = Depends(plane)
) -> ComputeInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = cp.computes.info(db, cp.computes.update(db, row, name, body))
    cp.scheduler.wake()
    return info


@router.delete("/workspaces/{ws}/computes/{name}", response_model=ComputeInfo, status_code=202)
def delete_compute(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> ComputeInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = cp.computes.info(db, cp.computes.delete(db, row, name))
    cp.scheduler.wake()
    return info


@router.get("/workspaces/{ws}/computes/{name}/nodes", response_model=list[NodeInfo])
def list_nodes(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> list[NodeInfo]:
    with cp.store.reading() as db:
        return cp.computes.nodes(db, cp.workspaces.get_row(db, ws), name)


@router.post("/workspaces/{ws}/computes/{name}/nodes/{node_id}/preempt", response_model=NodeInfo)
def preempt_node(ws: str, name: str, node_id: str, cp: ControlPlane = Depends(plane)) -> NodeInfo:
    with cp.store.session() as db:
        info = cp.computes.preempt(db, cp.workspaces.get_row(db, ws), name, node_id)
    cp.scheduler.wake()
    return info


@router.patch("/workspaces/{ws}/runs/{run_id}/assignments/{assignment_id}", status_code=204)
def report_assignment(
    ws: str,
    run_id: str,
    assignment_id: Count,
    body: AssignmentReport,
    cp: ControlPlane = Depends(plane),
) -> Response:
    """A launcher reports its part of a run: running, or how it ended."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        assignment = db.get(models.Assignment, assignment_id)
        if assignment is None or (assignment.workspace_id, assignment.run_id) != (
            run.workspace_id,
            run.id,
        ):
            raise NotFound(f"Assignment {assignment_id} of run {run_id} not found")
        # The scheduler may end this assignment meanwhile (its process looked gone).
        hold(db, run, assignment)
        if assignment.attempt != run.attempt:
            raise Conflict(
                f"Assignment {assignment_id} belongs to attempt {assignment.attempt}; the run is on attempt {run.attempt}"
            )
        if body.logs and not RunStatus(run.status).is_terminal:
            # Before the run's end is committed: whoever sees it ended sees its logs whole.
            # (A retried report finds the run ended: its first try wrote them.)
            store = cp.run_files(ws, run_id, run.attempt).of_attempt(assignment.attempt)
            for chunk in body.logs:
                append_log(store, chunk.name, chunk.offset, chunk.data, cp.settings.max_file_bytes)
        allocation.report(db, run, assignment, body)
    if body.state is not AssignmentOutcome.RUNNING:
        cp.scheduler.wake()  # the node is free: its next run can start now
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _heartbeat(
    cp: ControlPlane, ws: str, node_id: str, body: Heartbeat | None
) -> HeartbeatReply | None:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        return heartbeats.beat(db, row, node_id, body, cp.settings.signing_key, cp.scheduler.wake)


@router.post("/workspaces/{ws}/agents/{node_id}/heartbeat", response_model=HeartbeatReply)
async def heartbeat(
    ws: str, node_id: str, body: Heartbeat, cp: ControlPlane = Depends(plane)
) -> HeartbeatReply:
    """A node agent's heartbeat; it waits up to a second for work, so dispatch is immediate.

    Every change to the node wakes the wait, and not each brings work: the launcher's end
    report frees the node a moment before the scheduler gives it its next run. The wait
    goes on until there is something to say, or the second is over, so the next run is
    in this answer instead of one an idle agent asks for later."""
    reply = await run_in_threadpool(_heartbeat, cp, ws, node_id, body)
    deadline = time.monotonic() + HEARTBEAT_WAIT_S
    while reply is None and (left := deadline - time.monotonic()) > 0:
        await cp.events.wait(allocation.node_key(node_id), left)
        reply = await run_in_threadpool(_heartbeat, cp, ws, node_id, None)
    return reply or HeartbeatReply()
