"""The sweeper loop: drives every running HyperDrive sweep of the control plane.

It wakes whenever runs change (a child starts, ends or is canceled) and on a short timer
(new metric values, max_duration_minutes). Each sweep steps in its own transaction; the
sweep's log lines are appended to the HyperDrive run's ``azureml-logs/hyperdrive.txt``
after the step commits, and the scheduler is woken when children were queued or canceled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from trainforge.server.services import sweep_progress
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.store.sweeps import Sweep
from trainforge.server.wake_loop import WakeLoop
from trainforge.storage.artifacts import ArtifactStore

log = logging.getLogger("trainforge.sweeper")
SWEEP_LOG = "azureml-logs/hyperdrive.txt"
INTERVAL_S = 0.25


class Sweeper(WakeLoop):
    """Moves every running sweep on: samples, starts, judges and ends its child runs."""

    thread_name = "trainforge-sweeper"

    def __init__(
        self,
        store: Store,
        runs: RunService,
        artifacts: Callable[[str, str], ArtifactStore],
        notify: Callable[[list[str]], None],
        wake_scheduler: Callable[[], None],
        interval_s: float = INTERVAL_S,
    ) -> None:
        super().__init__(interval_s)
        self.store = store
        self.runs = runs
        self.artifacts = artifacts
        self.notify = notify
        self.wake_scheduler = wake_scheduler

    def start(self) -> None:
        self.start_loop()

    def tick(self) -> None:
        with self.store.session() as db:
            running = list(
                db.execute(select(Sweep.workspace_id, Sweep.run_id).where(Sweep.state == "running"))
            )
        for workspace_id, run_id in running:
            try:
                self.step(workspace_id, run_id)
            except Exception:
                log.exception("sweep %s: step failed", run_id)

    def step(self, workspace_id: str, run_id: str) -> None:
        with self.store.session() as db:
            sweep = db.get(Sweep, (workspace_id, run_id))
            if sweep is None or sweep.state != "running":
                return
            ws = db.get(models.Workspace, sweep.workspace_id)
            ws_name = ws.name if ws is not None else None
            outcome = sweep_progress.advance(db, self.runs, sweep, utcnow())
            # Written before the commit: whoever sees the run end finds its last lines there.
            if outcome.lines and ws_name is not None:
                self.write_log(ws_name, run_id, models.run_key(workspace_id, run_id), outcome.lines)
        if outcome.runs_changed:
            self.wake_scheduler()

    def write_log(self, workspace_name: str, run_id: str, key: str, lines: list[str]) -> None:
        """Append ``lines`` to the HyperDrive run's log and wake its followers (``key``)."""
        stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        data = "".join(f"[{stamp}] {line}\n" for line in lines).encode()
        store = self.artifacts(workspace_name, run_id)
        store.append(SWEEP_LOG, store.size(SWEEP_LOG), data)
        self.notify([key])
