"""Launchers of one run attempt meet here: task endpoints and node commands, with long polls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from trainforge.schemas.gang import (
    EndpointsPublish,
    GangEndpoints,
    NodeCommand,
    NodeCommandCreate,
    NodeCommandUpdate,
)
from trainforge.schemas.limits import Count, WaitSeconds
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import gang, request_keys
from trainforge.server.store import models

router = APIRouter(prefix="/workspaces/{ws}/runs/{run_id}/attempts/{attempt}")
MAX_WAIT_S = 30.0
T = TypeVar("T")


def _run(cp: ControlPlane, db, ws: str, run_id: str) -> models.Run:  # type: ignore[no-untyped-def]
    return cp.runs.row(db, cp.workspaces.get_row(db, ws), run_id)


async def _long_poll(
    cp: ControlPlane,
    request: Request,
    ws: str,
    run_id: str,
    changes: Callable[[str], str],
    wait: float,
    read: Callable[[], T],
    done: Callable[[T], bool],
) -> T:
    """``read()`` once ``done`` says so, or as it is after ``wait`` seconds (at most 30);
    at once when the caller has gone. Woken by the run's change key ``changes`` makes."""
    key = changes(await run_in_threadpool(cp.run_key, ws, run_id))
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_S)
    while True:
        value = await run_in_threadpool(read)
        if done(value) or time.monotonic() >= deadline or await request.is_disconnected():
            return value
        await cp.events.wait(key, deadline - time.monotonic())


@router.put("/nodes/{node_rank}/endpoints", status_code=204)
def publish_endpoints(
    ws: str,
    run_id: str,
    attempt: Count,
    node_rank: Count,
    body: EndpointsPublish,
    cp: ControlPlane = Depends(plane),
) -> Response:
    """A node's launcher says where its tasks listen."""
    with cp.store.session() as db:
        gang.publish(db, _run(cp, db, ws, run_id), attempt, node_rank, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/endpoints", response_model=GangEndpoints)
async def gang_endpoints(
    ws: str,
    run_id: str,
    attempt: Count,
    request: Request,
    wait: WaitSeconds = 0.0,
    cp: ControlPlane = Depends(plane),
) -> GangEndpoints:
    """Every node's endpoints; with ``wait``, returns as soon as all nodes have published."""

    def read() -> GangEndpoints:
        with cp.store.reading() as db:
            return gang.endpoints(db, _run(cp, db, ws, run_id), attempt)

    return await _long_poll(
        cp,
        request,
        ws,
        run_id,
        gang.endpoints_key,
        wait,
        read,
        lambda g: g.complete,
    )


@router.post("/nodes/{node_rank}/commands", response_model=NodeCommand, status_code=201)
def post_command(
    ws: str,
    run_id: str,
    attempt: Count,
    node_rank: Count,
    body: NodeCommandCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> NodeCommand:
    with cp.store.session() as db:
        run = _run(cp, db, ws, run_id)
        return request_keys.once(
            db,
            cp.workspaces.get_row(db, ws),
            idempotency_key,
            f"runs/{run_id}/attempts/{attempt}/nodes/{node_rank}/commands",
            NodeCommand,
            lambda: gang.post_command(db, run, attempt, node_rank, body),
        )


@router.get("/nodes/{node_rank}/commands", response_model=list[NodeCommand])
async def posted_commands(
    ws: str,
    run_id: str,
    attempt: Count,
    node_rank: Count,
    request: Request,
    wait: WaitSeconds = 0.0,
    cp: ControlPlane = Depends(plane),
) -> list[NodeCommand]:
    """Commands waiting for this node's launcher; with ``wait``, returns when one arrives."""

    def read() -> list[NodeCommand]:
        with cp.store.reading() as db:
            return gang.posted_commands(db, _run(cp, db, ws, run_id), attempt, node_rank)

    return await _long_poll(
        cp,
        request,
        ws,
        run_id,
        gang.commands_key,
        wait,
        read,
        bool,
    )


@router.get("/commands/{command_id}", response_model=NodeCommand)
async def get_command(
    ws: str,
    run_id: str,
    attempt: Count,
    command_id: Count,
    request: Request,
    wait: WaitSeconds = 0.0,
    cp: ControlPlane = Depends(plane),
) -> NodeCommand:
    """A command; with ``wait``, returns as soon as it has ended."""

    def read() -> NodeCommand:
        with cp.store.reading() as db:
            return gang.get_command(db, _run(cp, db, ws, run_id), command_id)

    return await _long_poll(
        cp,
        request,
        ws,
        run_id,
        gang.commands_key,
        wait,
        read,
        lambda c: c.state == "ended",
    )


@router.patch("/commands/{command_id}", response_model=NodeCommand)
def update_command(
    ws: str,
    run_id: str,
    attempt: Count,
    command_id: Count,
    body: NodeCommandUpdate,
    cp: ControlPlane = Depends(plane),
) -> NodeCommand:
    with cp.store.session() as db:
        return gang.update_command(db, _run(cp, db, ws, run_id), command_id, body)
