"""The pipeline loop: drives every running pipeline run of the control plane.

It wakes whenever runs change (a step run starts or ends) and on a short timer. Each
pipeline run moves on in its own transaction (``pipeline_progress.advance``): ended steps
are noted, the steps whose inputs are ready are submitted on their computes (or reuse an
earlier execution), and the pipeline run ends when every step is settled. Its lines go to
the pipeline run's ``azureml-logs/pipeline.txt`` (``parent_loop.ParentRunLoop``, which the
sweeper shares).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.pipelines import PIPELINE_LOG
from trainforge.server.parent_loop import ParentRunLoop
from trainforge.server.services import pipeline_progress
from trainforge.server.services.child_runs import Outcome
from trainforge.server.services.pipelines import ContentDigests
from trainforge.server.services.runs import RunService
from trainforge.server.services.secrets import Vault
from trainforge.server.store.database import Store
from trainforge.server.store.pipelines import PipelineRunRow
from trainforge.storage.artifacts import ArtifactStore

INTERVAL_S = 0.5


class Pipeliner(ParentRunLoop):
    """Moves every running pipeline run on: submits, reuses, skips and ends its steps."""

    thread_name = "trainforge-pipelines"
    log_name = PIPELINE_LOG

    def __init__(
        self,
        store: Store,
        runs: RunService,
        vault: Vault,
        artifacts: Callable[[str, str], ArtifactStore],
        notify: Callable[[list[str]], None],
        wake_scheduler: Callable[[], None],
        interval_s: float = INTERVAL_S,
    ) -> None:
        super().__init__(store, runs, artifacts, notify, wake_scheduler, interval_s)
        self.vault = vault
        self.digests = ContentDigests()

    def active(self, db: Session) -> list[tuple[str, str]]:
        query = select(PipelineRunRow.workspace_id, PipelineRunRow.run_id).where(
            PipelineRunRow.state == "running"
        )
        return [(ws, run) for ws, run in db.execute(query)]

    def advance(self, db: Session, workspace_id: str, run_id: str) -> Outcome | None:
        row = db.get(PipelineRunRow, (workspace_id, run_id))
        if row is None or row.state != "running":
            return None
        return pipeline_progress.advance(
            db, self.runs, self.vault, self.digests, row, self.artifacts
        )
