"""Fencing: writes of a superseded attempt, and writes to a run that has ended, are refused.

A run's launchers, scripts and node agents name the attempt they belong to on every write
(metrics, files, logs). Once the control plane has moved the run on (a lost node's run is
requeued as attempt n + 1) or the run has ended, such a write would land on top of the
newer attempt's results, so it is answered 409 and the writer stops.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.compute import AssignmentState
from trainforge.schemas.runs import RunStatus
from trainforge.server.errors import Conflict
from trainforge.server.store import models


class Superseded(Conflict):
    code = "AttemptSuperseded"


class RunEnded(Conflict):
    code = "RunEnded"


def _winding_down(db: Session, run: models.Run) -> bool:
    """Launchers of the run's last attempt are still stopping: their last logs still count."""
    open_assignment = db.scalar(
        select(models.Assignment.id).where(
            *models.of_run(models.Assignment, run),
            models.Assignment.attempt == run.attempt,
            models.Assignment.state != AssignmentState.ENDED.value,
        )
    )
    return open_assignment is not None


def check_write(db: Session, run: models.Run, attempt: int | None, what: str) -> None:
    """Refuse ``what`` (metrics, a file, a log) unless ``attempt`` is the run's own and the
    run still takes writes; raises Superseded or RunEnded (409)."""
    if attempt is not None and attempt != run.attempt:
        raise Superseded(
            f"attempt: {what} of attempt {attempt} refused; run {run.id} is on attempt "
            f"{run.attempt} (the earlier attempt was given up on)"
        )
    if RunStatus(run.status).is_terminal and not (attempt is not None and _winding_down(db, run)):
        raise RunEnded(f"Run {run.id} is {run.status}; it takes no more {what}")
