"""Assignments of runs to nodes, and how their outcomes decide a run's state.

A run attempt is a gang of assignments, one per node. Launchers report each
assignment's outcome; ``settle`` turns the gang's outcomes into the run's state, and
a lost node sends its run back to the queue (once, or always when preempted).
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.compute import AssignmentReport
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server.errors import Conflict
from trainforge.server.services import run_states
from trainforge.server.store import models
from trainforge.server.store.database import mark_changed
from trainforge.server.store.models import utcnow

OPEN_ASSIGNMENT = ("pending", "active", "stopping")
FINAL_OUTCOMES = ("succeeded", "failed", "canceled")


def node_key(node_id: str) -> str:
    """The change key a node agent's heartbeat waits on."""
    return f"node:{node_id}"


# Node lifecycle: preparing -> idle <-> running -> leaving -> (gone); unusable on missed
# heartbeats and preempted on eviction, both also ending in (gone).
NODE_MOVES: dict[str, frozenset[str]] = {
    "preparing": frozenset({"idle", "leaving", "unusable", "preempted"}),
    "idle": frozenset({"running", "leaving", "unusable", "preempted"}),
    "running": frozenset({"idle", "unusable", "preempted"}),
    "leaving": frozenset({"unusable"}),
    "unusable": frozenset(),
    "preempted": frozenset(),
}


def set_node_state(db: Session, node: models.Node, state: str) -> None:
    """The one place a node changes state; a move the lifecycle does not allow is refused."""
    if node.state != state:
        if state not in NODE_MOVES[node.state]:
            raise Conflict(f"Node {node.name} cannot move from {node.state} to {state}")
        node.state = state
        node.state_changed = utcnow()
    mark_changed(db, node_key(node.id))


def assignments_of(
    db: Session, run: models.Run, attempt: int | None = None
) -> list[models.Assignment]:
    query = select(models.Assignment).where(models.Assignment.run_id == run.id)
    if attempt is not None:
        query = query.where(models.Assignment.attempt == attempt)
    return list(db.scalars(query.order_by(models.Assignment.node_rank)))


def stop_assignments(db: Session, run: models.Run) -> None:
    """Ask every open assignment of the run to stop; those never started just end."""
    for assignment in assignments_of(db, run):
        if assignment.state == "pending":
            end_assignment(db, assignment)
        elif assignment.state == "active":
            assignment.state = "stopping"
            assignment.stop_requested = time.time()
            if assignment.node_id:
                mark_changed(db, node_key(assignment.node_id))


def end_assignment(db: Session, assignment: models.Assignment) -> None:
    """The assignment's processes are gone: free its node."""
    assignment.state = "ended"
    if assignment.node_id is None:
        return
    node = db.get(models.Node, assignment.node_id)
    if node is not None and node.run_id == assignment.run_id and node.state == "running":
        node.run_id = None
        set_node_state(db, node, "idle")


def fail_run(db: Session, run: models.Run, error: ErrorDetail) -> None:
    if RunStatus(run.status).is_terminal:
        return
    if run.error is None:
        run.error = error.model_dump(mode="json")
    stop_assignments(db, run)
    run_states.transition(run, RunStatus.FAILED)


def requeue_run(db: Session, run: models.Run, warning: str) -> None:
    stop_assignments(db, run)
    run.warnings = [*run.warnings, warning]
    run_states.transition(run, RunStatus.QUEUED)


def lose_node(db: Session, node: models.Node, state: str, reason: str) -> None:
    """The node is gone (preempted or unusable): its processes die with it."""
    set_node_state(db, node, state)
    run = db.get(models.Run, node.run_id) if node.run_id else None
    node.run_id = None
    for assignment in db.scalars(
        select(models.Assignment).where(
            models.Assignment.node_id == node.id, models.Assignment.state.in_(OPEN_ASSIGNMENT)
        )
    ):
        assignment.state = "ended"
        assignment.outcome = assignment.outcome or "failed"
    if run is None or RunStatus(run.status).is_terminal:
        return
    if run.status == RunStatus.CANCEL_REQUESTED:
        stop_assignments(db, run)
        settle(db, run)
    elif state == "preempted":
        requeue_run(
            db, run, f"{reason}; the run went back to the queue (attempt {run.attempt + 1})"
        )
    elif run.attempt < 2:
        requeue_run(db, run, f"{reason}; the run is retried once on another node")
    else:
        fail_run(
            db,
            run,
            ErrorDetail(
                code="NodeLost", message=f"{reason}; the run had already been retried once"
            ),
        )


def report(
    db: Session, run: models.Run, assignment: models.Assignment, body: AssignmentReport
) -> None:
    """A launcher's report on its part of the run."""
    if body.state in ("running", "serving"):
        if assignment.outcome in (None, "running"):
            assignment.outcome = body.state
    else:
        assignment.outcome = body.state
        assignment.exit_code = body.exit_code
        if body.error is not None:
            assignment.error = body.error
        # The launcher reports its end last: free the node now rather than when its
        # agent next sees the process gone, so the next run can start at once.
        end_assignment(db, assignment)
    settle(db, run)


def process_ended(db: Session, assignment: models.Assignment, exit_code: int | None) -> None:
    """The launcher process is gone; if it never said how it ended, it failed."""
    if assignment.outcome in (None, "running", "serving"):
        node = db.get(models.Node, assignment.node_id) if assignment.node_id else None
        where = (node.name if node else assignment.node_id) or "the local machine"
        assignment.outcome = "failed"
        assignment.exit_code = exit_code
        assignment.error = ErrorDetail(
            code="ServiceError",
            message=(
                f"The run's launcher on {where} ended "
                f"(exit code {exit_code}) without reporting how the run ended; see "
                "azureml-logs/70_driver_log.txt"
            ),
        ).model_dump(mode="json")
    end_assignment(db, assignment)
    run = db.get(models.Run, assignment.run_id)
    if run is not None and run.attempt == assignment.attempt:
        settle(db, run)


def settle(db: Session, run: models.Run) -> None:
    """Move the run to the state its current attempt's assignments add up to."""
    status = RunStatus(run.status)
    if status.is_terminal:
        return
    gang = assignments_of(db, run, run.attempt)
    if not gang:
        return
    failed = [a for a in gang if a.outcome == "failed"]
    if failed and status is not RunStatus.CANCEL_REQUESTED:
        first = failed[0]
        fail_run(
            db,
            run,
            ErrorDetail.model_validate(
                first.error or {"message": f"Node rank {first.node_rank} failed"}
            ),
        )
        return
    serving = [a for a in gang if a.outcome == "serving" and a.state != "ended"]
    finished = [a for a in gang if a.outcome in FINAL_OUTCOMES or a.state == "ended"]
    if (
        serving
        and len(serving) + len(finished) == len(gang)
        and status is not RunStatus.CANCEL_REQUESTED
        and all(a.outcome == "succeeded" for a in finished)
        and finished
    ):
        # Only helpers are left (parameter servers block forever): the work is done.
        if status is not RunStatus.RUNNING:
            run_states.transition(run, RunStatus.RUNNING)
        run_states.transition(run, RunStatus.COMPLETED)
        stop_assignments(db, run)
        return
    if len(finished) == len(gang):
        if status is RunStatus.CANCEL_REQUESTED or any(a.outcome == "canceled" for a in gang):
            run_states.transition(run, RunStatus.CANCELED)
        elif all(a.outcome == "succeeded" for a in gang):
            if status is not RunStatus.RUNNING:
                run_states.transition(run, RunStatus.RUNNING)
            run_states.transition(run, RunStatus.COMPLETED)
        return
    if status in (RunStatus.PREPARING, RunStatus.STARTING) and any(a.outcome for a in gang):
        run_states.transition(run, RunStatus.RUNNING)


def master_addr(db: Session, assignment: models.Assignment) -> str:
    """The address of the node of rank 0 of ``assignment``'s gang (its Ray node's IP on Ray)."""
    node_id = db.scalar(
        select(models.Assignment.node_id).where(
            models.Assignment.run_id == assignment.run_id,
            models.Assignment.attempt == assignment.attempt,
            models.Assignment.node_rank == 0,
        )
    )
    node = db.get(models.Node, node_id) if node_id is not None else None
    return (node.address if node is not None else None) or "127.0.0.1"
