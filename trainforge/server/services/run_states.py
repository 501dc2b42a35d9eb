"""The one place where a run changes state; every other move is rejected."""

from __future__ import annotations

from sqlalchemy.orm import object_session

from trainforge.schemas.runs import TERMINAL_STATUSES, RunStatus
from trainforge.server.errors import Conflict
from trainforge.server.store import models
from trainforge.server.store.database import mark_changed
from trainforge.server.store.models import utcnow

S = RunStatus
_ACTIVE = {S.QUEUED, S.PREPARING, S.STARTING, S.RUNNING}

ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    S.NOT_STARTED: frozenset(_ACTIVE | {S.CANCEL_REQUESTED, S.CANCELED, S.FAILED}),
    S.QUEUED: frozenset(
        {S.PREPARING, S.STARTING, S.RUNNING, S.CANCEL_REQUESTED, S.CANCELED, S.FAILED}
    ),
    S.PREPARING: frozenset({S.QUEUED, S.STARTING, S.RUNNING, S.CANCEL_REQUESTED, S.FAILED}),
    S.STARTING: frozenset({S.QUEUED, S.RUNNING, S.CANCEL_REQUESTED, S.FAILED}),
    S.RUNNING: frozenset({S.QUEUED, S.FINALIZING, S.COMPLETED, S.FAILED, S.CANCEL_REQUESTED}),
    S.FINALIZING: frozenset({S.COMPLETED, S.FAILED, S.CANCEL_REQUESTED}),
    S.CANCEL_REQUESTED: frozenset({S.CANCELED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}


def resolve(current: RunStatus, requested: RunStatus) -> RunStatus:
    """The state a request really leads to.

    Once cancel is requested, whatever the launcher reports as its end is a cancel:
    the user asked for it, and the run's processes were stopped because of it.
    """
    if current is S.CANCEL_REQUESTED and requested in (TERMINAL_STATUSES | {S.FINALIZING}):
        return S.CANCELED
    return requested


def transition(run: models.Run, requested: RunStatus) -> bool:
    """Move ``run`` to ``requested``; return False when it is already there.

    Raises Conflict for a move the lifecycle does not allow.
    """
    current = RunStatus(run.status)
    target = resolve(current, requested)
    if target is current:
        return False
    if target not in ALLOWED[current]:
        raise Conflict(f"Run {run.id} cannot move from {current} to {target}")
    now = utcnow()
    if target is S.QUEUED and current is not S.NOT_STARTED:
        run.attempt += 1
    if target is S.RUNNING and run.started is None:
        run.started = now
    if target in TERMINAL_STATUSES:
        run.ended = now
    run.status = target.value
    mark_changed(object_session(run), models.run_key(run.workspace_id, run.id))
    return True
