"""The AutoML loop: drives every running AutoML run of the control plane.

It wakes whenever runs change (an iteration starts or ends) and on a short timer (the
experiment timeout). Each AutoML run moves on in its own transaction
(``automl_progress.advance``): ended iterations go back to FLAML's searcher, budgets are
checked, new iterations are proposed and queued on the run's compute. Its lines go to the
AutoML run's ``azureml-logs/automl.txt`` (``parent_loop.ParentRunLoop``, which the
sweeper and the pipeline loop share).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.automl import AUTOML_LOG
from trainforge.server.parent_loop import ParentRunLoop
from trainforge.server.services import automl_progress
from trainforge.server.services.child_runs import Outcome
from trainforge.server.store.automl import AutoMLSearch
from trainforge.server.store.models import utcnow

INTERVAL_S = 0.5


class AutoMLLoop(ParentRunLoop):
    """Moves every running AutoML run on: reports, proposes, starts and ends iterations."""

    thread_name = "trainforge-automl"
    log_name = AUTOML_LOG

    def active(self, db: Session) -> list[tuple[str, str]]:
        query = select(AutoMLSearch.workspace_id, AutoMLSearch.run_id).where(
            AutoMLSearch.state == "running"
        )
        return [(ws, run) for ws, run in db.execute(query)]

    def advance(self, db: Session, workspace_id: str, run_id: str) -> Outcome | None:
        row = db.get(AutoMLSearch, (workspace_id, run_id))
        if row is None or row.state != "running":
            return None
        return automl_progress.advance(db, self.runs, row, utcnow())
