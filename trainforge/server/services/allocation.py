"""Assignments of runs to nodes, and how their outcomes decide a run's state.

A run attempt is a gang of assignments, one per node. Launchers report each
assignment's outcome; ``settle`` turns the gang's outcomes into the run's state, and
a lost node sends its run back to the queue (once, or always when preempted).
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.compute import (
    AssignmentOutcome,
    AssignmentReport,
    AssignmentState,
    NodeState,
)
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server.errors import Conflict
from trainforge.server.services import datasets, run_states
from trainforge.server.store import models
from trainforge.server.store.database import hold, mark_changed
from trainforge.server.store.models import as_utc, utcnow

N, A, Out = NodeState, AssignmentState, AssignmentOutcome
# Plain values: they go into SQL.
OPEN_ASSIGNMENT = tuple(state.value for state in (A.PENDING, A.ACTIVE, A.STOPPING))
FINAL_OUTCOMES = (Out.SUCCEEDED, Out.FAILED, Out.CANCELED)
# The launcher has not said how its part ended (yet).
UNFINISHED_OUTCOMES = (None, Out.RUNNING, Out.SERVING)


def node_key(node_id: str) -> str:
    """The change key a node agent's heartbeat waits on."""
    return f"node:{node_id}"


# Node lifecycle: preparing -> idle <-> running -> leaving -> (gone); unusable on missed
# heartbeats and preempted on eviction, both also ending in (gone).
NODE_MOVES: dict[NodeState, frozenset[NodeState]] = {
    N.PREPARING: frozenset({N.IDLE, N.LEAVING, N.UNUSABLE, N.PREEMPTED}),
    N.IDLE: frozenset({N.RUNNING, N.LEAVING, N.UNUSABLE, N.PREEMPTED}),
    N.RUNNING: frozenset({N.IDLE, N.UNUSABLE, N.PREEMPTED}),
    N.LEAVING: frozenset({N.UNUSABLE}),
    N.UNUSABLE: frozenset(),
    N.PREEMPTED: frozenset(),
}
# Assignment lifecycle: pending (made, not yet sent to the agent) -> active (sent) ->
# stopping (the agent is asked to stop it) -> ended (its processes are gone); one that was
# never sent ends at once.
ASSIGNMENT_MOVES: dict[AssignmentState, frozenset[AssignmentState]] = {
    A.PENDING: frozenset({A.ACTIVE, A.ENDED}),
    A.ACTIVE: frozenset({A.STOPPING, A.ENDED}),
    A.STOPPING: frozenset({A.ENDED}),
    A.ENDED: frozenset(),
}


def _is_move(
    moves: dict[Any, frozenset[Any]], current: StrEnum, target: StrEnum, what: str
) -> bool:
    """Whether ``current`` -> ``target`` is a move (staying put is none); Conflict when
    ``moves`` does not allow it."""
    if current is target:
        return False
    if target not in moves[current]:
        raise Conflict(f"{what} cannot move from {current} to {target}")
    return True


def set_node_state(db: Session, node: models.Node, state: NodeState | str) -> None:
    """The one place a node changes state; a move the lifecycle does not allow is refused."""
    target = NodeState(state)
    if _is_move(NODE_MOVES, NodeState(node.state), target, f"Node {node.name}"):
        node.state = target.value
        node.state_changed = utcnow()
    mark_changed(db, node_key(node.id))


def move_assignment(assignment: models.Assignment, state: AssignmentState | str) -> None:
    """The one place an assignment changes state; a move its lifecycle does not allow is
    refused (staying where it is, e.g. ending an ended one, is no move)."""
    target = AssignmentState(state)
    current = AssignmentState(assignment.state)
    if _is_move(ASSIGNMENT_MOVES, current, target, f"Assignment {assignment.id}"):
        assignment.state = target.value


def assignments_of(
    db: Session, run: models.Run, attempt: int | None = None
) -> list[models.Assignment]:
    query = select(models.Assignment).where(*models.of_run(models.Assignment, run))
    if attempt is not None:
        query = query.where(models.Assignment.attempt == attempt)
    return list(db.scalars(query.order_by(models.Assignment.node_rank)))


def stop_assignments(db: Session, run: models.Run) -> None:
    """Ask every open assignment of the run to stop; those never started just end."""
    for assignment in assignments_of(db, run):
        if assignment.state == A.PENDING:
            end_assignment(db, assignment)
        elif assignment.state == A.ACTIVE:
            move_assignment(assignment, A.STOPPING)
            assignment.stop_requested = time.time()
            if assignment.node_id:
                mark_changed(db, node_key(assignment.node_id))


def end_assignment(db: Session, assignment: models.Assignment) -> None:
    """The assignment's processes are gone: free its node."""
    move_assignment(assignment, A.ENDED)
    if assignment.node_id is None:
        return
    node = db.get(models.Node, assignment.node_id)
    if node is not None and node.run_id == assignment.run_id and node.state == N.RUNNING:
        node.run_id = None
        set_node_state(db, node, N.IDLE)


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


def node_run(db: Session, node: models.Node) -> models.Run | None:
    """The run the node is busy with: a run of the node's cluster's workspace."""
    if node.run_id is None:
        return None
    compute = db.get(models.Compute, node.compute_id)
    return db.get(models.Run, (compute.workspace_id, node.run_id)) if compute else None


def lose_node(db: Session, node: models.Node, state: NodeState, reason: str) -> None:
    """The node is gone (preempted or unusable): its processes die with it."""
    set_node_state(db, node, state)
    run = node_run(db, node)
    node.run_id = None
    for assignment in db.scalars(
        select(models.Assignment).where(
            models.Assignment.node_id == node.id, models.Assignment.state.in_(OPEN_ASSIGNMENT)
        )
    ):
        move_assignment(assignment, A.ENDED)
        assignment.outcome = assignment.outcome or Out.FAILED.value
    if run is None or RunStatus(run.status).is_terminal:
        return
    if run.status == RunStatus.CANCEL_REQUESTED:
        stop_assignments(db, run)
        settle(db, run)
    elif state is N.PREEMPTED:
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
    if body.state in (Out.RUNNING, Out.SERVING):
        if assignment.outcome in (None, Out.RUNNING):
            assignment.outcome = body.state.value
    else:
        if body.started_at is not None and run.started is None and assignment.outcome is None:
            # It ended before it said it ran: it started then (not before the run existed,
            # not after now, whatever the node's clock says).
            run.started = min(max(as_utc(body.started_at), as_utc(run.created)), utcnow())
        assignment.outcome = body.state.value
        assignment.exit_code = body.exit_code
        if body.error is not None:
            assignment.error = body.error
        # The launcher reports its end last: free the node now rather than when its
        # agent next sees the process gone, so the next run can start at once.
        end_assignment(db, assignment)
    settle(db, run)


def process_ended(db: Session, assignment: models.Assignment, exit_code: int | None) -> None:
    """The launcher process is gone; if it never said how it ended, it failed."""
    run = db.get(models.Run, (assignment.workspace_id, assignment.run_id))
    # The launcher's last report may have been committed since the assignment was read:
    # it reports, then exits. Decide on what is there now, not on the older view.
    hold(db, run, assignment)
    if assignment.state == A.ENDED:
        return
    if assignment.outcome in UNFINISHED_OUTCOMES:
        node = db.get(models.Node, assignment.node_id) if assignment.node_id else None
        where = (node.name if node else assignment.node_id) or "the local machine"
        assignment.outcome = Out.FAILED.value
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
    failed = [a for a in gang if a.outcome == Out.FAILED]
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
    serving = [a for a in gang if a.outcome == Out.SERVING and a.state != A.ENDED]
    finished = [a for a in gang if a.outcome in FINAL_OUTCOMES or a.state == A.ENDED]
    if (
        serving
        and len(serving) + len(finished) == len(gang)
        and status is not RunStatus.CANCEL_REQUESTED
        and all(a.outcome == Out.SUCCEEDED for a in finished)
        and finished
    ):
        # Only helpers are left (parameter servers block forever): the work is done.
        if status is not RunStatus.RUNNING:
            run_states.transition(run, RunStatus.RUNNING)
        run_states.transition(run, RunStatus.COMPLETED)
        datasets.register_run_outputs(db, run)
        stop_assignments(db, run)
        return
    if len(finished) == len(gang):
        if status is RunStatus.CANCEL_REQUESTED or any(a.outcome == Out.CANCELED for a in gang):
            run_states.transition(run, RunStatus.CANCELED)
        elif all(a.outcome == Out.SUCCEEDED for a in gang):
            if status is not RunStatus.RUNNING:
                run_states.transition(run, RunStatus.RUNNING)
            run_states.transition(run, RunStatus.COMPLETED)
            datasets.register_run_outputs(db, run)
        return
    if status in (RunStatus.PREPARING, RunStatus.STARTING) and any(a.outcome for a in gang):
        run_states.transition(run, RunStatus.RUNNING)


def master_addr(db: Session, assignment: models.Assignment) -> str:
    """The address of the node of rank 0 of ``assignment``'s gang (its Ray node's IP on Ray)."""
    node_id = db.scalar(
        select(models.Assignment.node_id).where(
            models.Assignment.workspace_id == assignment.workspace_id,
            models.Assignment.run_id == assignment.run_id,
            models.Assignment.attempt == assignment.attempt,
            models.Assignment.node_rank == 0,
        )
    )
    node = db.get(models.Node, node_id) if node_id is not None else None
    return (node.address if node is not None else None) or "127.0.0.1"
