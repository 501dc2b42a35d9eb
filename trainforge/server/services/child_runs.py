"""What the control plane's parent-run loops share (HyperDrive sweeps, pipeline runs): the
outcome of one pass over a parent run, and canceling a child run saying why."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from trainforge.schemas.runs import RunStatus
from trainforge.server.services.runs import RunService
from trainforge.server.store import models


@dataclass
class Outcome:
    """What a pass did that others must hear about once it is committed: lines for the
    parent's log, lines for other runs' logs ((run id, log name) -> lines), and whether
    runs were created or canceled (the scheduler then has work)."""

    lines: list[str] = field(default_factory=list)
    runs_changed: bool = False
    other_logs: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def cancel_child(
    db: Session, runs: RunService, ws: models.Workspace, run: models.Run, reason: str, code: str
) -> None:
    """Cancel a child run, saying why in its details (error and warnings)."""
    if RunStatus(run.status).is_terminal:
        return
    runs.cancel(db, ws, run.id)
    run.warnings = [*run.warnings, reason]
    if run.error is None:
        run.error = {"code": code, "message": reason, "details": []}
