"""The meeting point of a run attempt's launchers: task endpoints and node commands.

Each node's launcher publishes the ports it picked on its own address, then waits
(long poll) until every node of the attempt has; ``mpirun`` on the first node posts the
daemon command for each other node, whose launcher runs it as its own process.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trainforge.schemas.gang import (
    EndpointsPublish,
    GangEndpoints,
    NodeCommand,
    NodeCommandCreate,
    NodeCommandUpdate,
    NodeEndpoints,
    TaskEndpoint,
)
from trainforge.schemas.runs import RunStatus
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.store import models
from trainforge.server.store.database import mark_changed


def endpoints_key(run_key: str) -> str:
    """The change key that launchers waiting for a gang's endpoints wait on, from the run's
    ``models.run_key``."""
    return f"endpoints:{run_key}"


def commands_key(run_key: str) -> str:
    return f"commands:{run_key}"


def _node_count(run: models.Run) -> int:
    return int((run.definition or {}).get("node_count", 1))


def _check(run: models.Run, attempt: int, node_rank: int) -> None:
    if attempt != run.attempt:
        raise Conflict(f"Run {run.id} is on attempt {run.attempt}, not {attempt}")
    if RunStatus(run.status).is_terminal:
        raise Conflict(f"Run {run.id} has ended ({run.status})")
    if not 0 <= node_rank < _node_count(run):
        raise BadRequest(
            f"node_rank: {node_rank} is not a node of run {run.id} (0 to {_node_count(run) - 1})"
        )


def publish(
    db: Session, run: models.Run, attempt: int, node_rank: int, body: EndpointsPublish
) -> None:
    """Record (or replace) what one node of the attempt listens on."""
    _check(run, attempt, node_rank)
    db.execute(
        delete(models.TaskEndpoint).where(
            *models.of_run(models.TaskEndpoint, run),
            models.TaskEndpoint.attempt == attempt,
            models.TaskEndpoint.node_rank == node_rank,
        )
    )
    taken = {
        (row.task_type, row.task_index)
        for row in db.scalars(
            select(models.TaskEndpoint).where(
                *models.of_run(models.TaskEndpoint, run), models.TaskEndpoint.attempt == attempt
            )
        )
    }
    for endpoint in body.endpoints:
        key = (endpoint.task_type, endpoint.task_index)
        if key in taken:
            raise Conflict(
                f"endpoints: task {endpoint.task_type}:{endpoint.task_index} of run {run.id} "
                "was already published by another node"
            )
        taken.add(key)
        db.add(
            models.TaskEndpoint(
                workspace_id=run.workspace_id,
                run_id=run.id,
                attempt=attempt,
                node_rank=node_rank,
                **endpoint.model_dump(),
            )
        )
    mark_changed(db, endpoints_key(models.run_key(run.workspace_id, run.id)))


def endpoints(db: Session, run: models.Run, attempt: int) -> GangEndpoints:
    rows = db.scalars(
        select(models.TaskEndpoint)
        .where(*models.of_run(models.TaskEndpoint, run), models.TaskEndpoint.attempt == attempt)
        .order_by(models.TaskEndpoint.node_rank, models.TaskEndpoint.id)
    ).all()
    by_node: dict[int, list[TaskEndpoint]] = {}
    for row in rows:
        by_node.setdefault(row.node_rank, []).append(
            TaskEndpoint(
                task_type=row.task_type, task_index=row.task_index, host=row.host, port=row.port
            )
        )
    count = _node_count(run)
    return GangEndpoints(
        node_count=count,
        complete=len(by_node) == count,
        nodes=[NodeEndpoints(node_rank=rank, endpoints=items) for rank, items in by_node.items()],
    )


def _command_info(row: models.NodeCommand) -> NodeCommand:
    return NodeCommand(
        id=row.id,
        node_rank=row.node_rank,
        command=row.command,
        state=row.state,
        exit_code=row.exit_code,
    )


def post_command(
    db: Session, run: models.Run, attempt: int, node_rank: int, body: NodeCommandCreate
) -> NodeCommand:
    _check(run, attempt, node_rank)
    row = models.NodeCommand(
        workspace_id=run.workspace_id,
        run_id=run.id,
        attempt=attempt,
        node_rank=node_rank,
        command=body.command,
        state="posted",
    )
    db.add(row)
    db.flush()
    mark_changed(db, commands_key(models.run_key(run.workspace_id, run.id)))
    return _command_info(row)


def posted_commands(
    db: Session, run: models.Run, attempt: int, node_rank: int
) -> list[NodeCommand]:
    rows = db.scalars(
        select(models.NodeCommand)
        .where(
            *models.of_run(models.NodeCommand, run),
            models.NodeCommand.attempt == attempt,
            models.NodeCommand.node_rank == node_rank,
            models.NodeCommand.state == "posted",
        )
        .order_by(models.NodeCommand.id)
    ).all()
    return [_command_info(row) for row in rows]


def _command_row(db: Session, run: models.Run, command_id: int) -> models.NodeCommand:
    row = db.get(models.NodeCommand, command_id)
    if row is None or (row.workspace_id, row.run_id) != (run.workspace_id, run.id):
        raise NotFound(f"Command {command_id} of run {run.id} not found")
    return row


def get_command(db: Session, run: models.Run, command_id: int) -> NodeCommand:
    return _command_info(_command_row(db, run, command_id))


def update_command(
    db: Session, run: models.Run, command_id: int, body: NodeCommandUpdate
) -> NodeCommand:
    row = _command_row(db, run, command_id)
    if row.state == "ended":
        raise Conflict(f"Command {command_id} of run {run.id} has already ended")
    row.state = body.state
    row.exit_code = body.exit_code
    mark_changed(db, commands_key(models.run_key(run.workspace_id, run.id)))
    return _command_info(row)
