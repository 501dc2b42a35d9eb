"""The schedule loop: fires every due schedule of the control plane.

It sleeps until the next schedule is due (at most ``max_sleep_s``, and it is woken when a
schedule is created or changed), then gives each due schedule one pass in a transaction
of its own (``services.schedules.fire_due``), so one schedule's failure never stops
another's. The clock is a parameter, and ``run_due(now)`` can be called by hand: a test of a
one-minute recurrence steps through its slots without waiting for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from trainforge.schemas.schedules import Recurrence
from trainforge.server.errors import ServiceError
from trainforge.server.services import schedules
from trainforge.server.services.recurrence import next_slot
from trainforge.server.services.runs import RunService
from trainforge.server.services.secrets import Vault
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.store.published import ScheduleRow
from trainforge.server.wake_loop import WakeLoop

log = logging.getLogger("trainforge.server")
MAX_SLEEP_S = 30.0
MIN_SLEEP_S = 0.05


class ScheduleLoop(WakeLoop):
    """Submits the pipeline run of each schedule slot that came, once."""

    thread_name = "trainforge-schedules"

    def __init__(
        self,
        store: Store,
        runs: RunService,
        vault: Vault,
        wake_pipeliner: Callable[[], None],
        clock: Callable[[], datetime] = utcnow,
        max_sleep_s: float = MAX_SLEEP_S,
    ) -> None:
        super().__init__(max_sleep_s)
        self.store = store
        self.runs = runs
        self.vault = vault
        self.wake_pipeliner = wake_pipeliner
        self.clock = clock
        self.max_sleep_s = max_sleep_s

    def start(self) -> None:
        self.start_loop()

    def tick(self) -> None:
        self.run_due()

    def run_due(self, now: datetime | None = None) -> list[str]:
        """One pass at ``now`` (the clock's time when None): the pipeline runs submitted."""
        moment = now or self.clock()
        with self.store.reading() as db:
            due = schedules.due(db, moment)
        fired: list[str] = []
        for workspace_id, schedule_id in due:
            try:
                fired += self._fire(workspace_id, schedule_id, moment)
            except ServiceError as exc:
                # The slot cannot run (its compute was deleted, a parameter no longer
                # fits): it is passed over, once, rather than tried on every pass.
                log.warning("schedule %s: its slot was not run: %s", schedule_id, exc.message)
                self._pass_over(workspace_id, schedule_id, moment)
            except Exception:
                log.exception("schedule %s: a pass failed", schedule_id)
        if fired:
            self.wake_pipeliner()
        self._sleep_until_next(now is None)
        return fired

    def _fire(self, workspace_id: str, schedule_id: str, now: datetime) -> list[str]:
        with self.store.session() as db:
            ws = db.get(models.Workspace, workspace_id)
            row = db.get(ScheduleRow, (workspace_id, schedule_id))
            if ws is None or row is None:
                return []
            return schedules.fire_due(db, self.runs, self.vault, ws, row, now)

    def _pass_over(self, workspace_id: str, schedule_id: str, now: datetime) -> None:
        with self.store.session() as db:
            row = db.get(ScheduleRow, (workspace_id, schedule_id))
            if row is None:
                return
            if row.recurrence is not None:
                rec = Recurrence.model_validate(row.recurrence)
                row.next_due = next_slot(rec, row.anchor, now)
            else:
                row.next_due = now + timedelta(minutes=row.polling_interval)

    def _sleep_until_next(self, on_the_clock: bool) -> None:
        with self.store.reading() as db:
            upcoming = schedules.next_due(db)
        if upcoming is None or not on_the_clock:
            self.interval_s = self.max_sleep_s
            return
        wait = (upcoming - self.clock()).total_seconds()
        self.interval_s = min(self.max_sleep_s, max(MIN_SLEEP_S, wait))
