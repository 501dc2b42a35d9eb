"""A control-plane loop that drives parent runs whose children it creates: HyperDrive
sweeps (``sweeper.py``) and pipeline runs (``pipeliner.py``).

Each pass takes the parent runs still going from the store and moves each one on in a
transaction of its own (``advance``), so one parent's failing pass never stops another's
and a restarted control plane goes on from what was committed. Log lines of a pass are
appended to the parent's log (and to children's, where it says so) before its commit, so
whoever sees a run end finds its last lines there; the scheduler is woken when children
were created or canceled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from trainforge.server.services.child_runs import Outcome
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.wake_loop import WakeLoop
from trainforge.storage.artifacts import ArtifactStore

log = logging.getLogger("trainforge.server")


class ParentRunLoop(WakeLoop):
    """Moves every active parent run of one kind on; subclasses say which are active and
    what one pass over one of them does."""

    # The parent run's log that a pass's lines go to.
    log_name = "azureml-logs/parent.txt"

    def __init__(
        self,
        store: Store,
        runs: RunService,
        artifacts: Callable[[str, str], ArtifactStore],
        notify: Callable[[list[str]], None],
        wake_scheduler: Callable[[], None],
        interval_s: float,
    ) -> None:
        super().__init__(interval_s)
        self.store = store
        self.runs = runs
        self.artifacts = artifacts
        self.notify = notify
        self.wake_scheduler = wake_scheduler
        # A pass may also run in a request's thread (a sweep judges a new value while its
        # trial waits for the answer): one pass at a time, so no two launch the same child.
        self._step_lock = threading.Lock()
        # Whether the last pass found parent runs going (True until a pass says otherwise).
        self._busy = True

    def start(self) -> None:
        self.start_loop()

    def runs_changed(self) -> None:
        """Runs changed: pass now when a parent run of this kind is going, since one of
        its children may have started or ended. With none going, every run's change
        would cost a pass for nothing; a new parent is found by the wake of the request
        that made it, or else by the next timed pass."""
        if self._busy:
            self.wake()

    def active(self, db: Session) -> list[tuple[str, str]]:
        """(workspace id, run id) of every parent run to move on."""
        raise NotImplementedError

    def advance(self, db: Session, workspace_id: str, run_id: str) -> Outcome | None:
        """One pass over one parent run, in ``db``'s transaction; None: nothing to do."""
        raise NotImplementedError

    def tick(self) -> None:
        with self.store.reading() as db:
            parents = self.active(db)
        self._busy = bool(parents)
        for workspace_id, run_id in parents:
            try:
                self.step(workspace_id, run_id)
            except Exception:
                log.exception("%s: run %s: a pass failed", self.thread_name, run_id)

    def step(self, workspace_id: str, run_id: str) -> None:
        """One pass over one parent run, committed; its log lines written."""
        with self._step_lock:
            self._step(workspace_id, run_id)

    def _step(self, workspace_id: str, run_id: str) -> None:
        with self.store.session() as db:
            ws = db.get(models.Workspace, workspace_id)
            outcome = self.advance(db, workspace_id, run_id)
            if outcome is None:
                return
            # Written before the commit: whoever sees the run end finds its last lines there.
            if ws is not None:
                if outcome.lines:
                    self.write_log(ws.name, run_id, workspace_id, outcome.lines, self.log_name)
                for (other, name), lines in outcome.other_logs.items():
                    self.write_log(ws.name, other, workspace_id, lines, name)
        if outcome.runs_changed:
            self.wake_scheduler()

    def write_log(
        self, workspace_name: str, run_id: str, workspace_id: str, lines: list[str], name: str
    ) -> None:
        """Append ``lines`` to the run's log ``name`` and wake its followers."""
        stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        data = "".join(f"[{stamp}] {line}\n" for line in lines).encode()
        store = self.artifacts(workspace_name, run_id)
        store.append(name, store.size(name), data)
        self.notify([models.run_key(workspace_id, run_id)])
