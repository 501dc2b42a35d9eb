"""The sweeper loop: drives every running HyperDrive sweep of the control plane.

It wakes whenever runs change (a child starts, ends or is canceled) and on a short timer
(new metric values, max_duration_minutes). Each sweep steps in its own transaction; the
sweep's log lines are appended to the HyperDrive run's ``azureml-logs/hyperdrive.txt``
after the step commits, and the scheduler is woken when children were queued or canceled
(``parent_loop.ParentRunLoop``, which the pipeline loop shares).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.runs import MetricVerdict
from trainforge.server.parent_loop import ParentRunLoop
from trainforge.server.services import sweep_progress, sweeps
from trainforge.server.services.child_runs import Outcome
from trainforge.server.services.runs import RunService
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.store.sweeps import Sweep, SweepTrial
from trainforge.storage.artifacts import ArtifactStore

SWEEP_LOG = "azureml-logs/hyperdrive.txt"
INTERVAL_S = 0.25


class Sweeper(ParentRunLoop):
    """Moves every running sweep on: samples, starts, judges and ends its child runs."""

    thread_name = "trainforge-sweeper"
    log_name = SWEEP_LOG

    def __init__(
        self,
        store: Store,
        runs: RunService,
        artifacts: Callable[[str, str], ArtifactStore],
        notify: Callable[[list[str]], None],
        wake_scheduler: Callable[[], None],
        interval_s: float = INTERVAL_S,
    ) -> None:
        super().__init__(store, runs, artifacts, notify, wake_scheduler, interval_s)

    def active(self, db: Session) -> list[tuple[str, str]]:
        query = select(Sweep.workspace_id, Sweep.run_id).where(Sweep.state == "running")
        return [(ws, run) for ws, run in db.execute(query)]

    def advance(self, db: Session, workspace_id: str, run_id: str) -> Outcome | None:
        sweep = db.get(Sweep, (workspace_id, run_id))
        if sweep is None or sweep.state != "running":
            return None
        return sweep_progress.advance(db, self.runs, sweep, utcnow())

    def verdict(self, trial: sweeps.JudgedTrial, logged: set[str]) -> MetricVerdict | None:
        """The policy's verdict on a trial that just logged the metrics named ``logged``,
        judged now, in the caller's thread, when a value of the primary metric arrived."""
        reason = trial.canceled_by_policy
        if reason is None and trial.metric in logged:
            self.step(trial.key[0], trial.key[1])
            with self.store.session() as db:
                judged = db.get(SweepTrial, trial.key)
                reason = judged.canceled_by_policy if judged is not None else None
        return None if reason is None else MetricVerdict(reason=reason)
