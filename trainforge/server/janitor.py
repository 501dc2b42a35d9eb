"""Housekeeping of the control plane: forgets what it only had to keep for a while.

Idempotency keys (``request_keys``) are kept so that a client's retry of a create whose
answer was lost gets what the first try made. A retry comes within seconds or minutes
(SDK and CLI give up after ``TRAINFORGE_CLIENT_RETRY_S``; a run's own process retries
across an outage), so a key is kept ``request_key_retention_s`` (24 h by default) and then
deleted, a bounded batch per statement, so the table does not grow with every submit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, tuple_

from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.wake_loop import WakeLoop

# Rows one statement deletes, and statements one pass makes: a pass stays short however
# many keys expired (the rest go on the next pass).
PRUNE_BATCH = 500
PRUNE_BATCHES_PER_PASS = 20
INTERVAL_S = 60.0


def prune_request_keys(store: Store, retention_s: float, batch: int = PRUNE_BATCH) -> int:
    """Delete at most ``batch`` idempotency keys older than ``retention_s``; how many went."""
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_s)
    with store.session() as db:
        expired = db.execute(
            select(models.RequestKey.workspace_id, models.RequestKey.key)
            .where(models.RequestKey.created < cutoff)
            .order_by(models.RequestKey.created)
            .limit(batch)
        ).all()
        if expired:
            db.execute(
                delete(models.RequestKey).where(
                    tuple_(models.RequestKey.workspace_id, models.RequestKey.key).in_(
                        [tuple(row) for row in expired]
                    )
                )
            )
    return len(expired)


class Janitor(WakeLoop):
    """The housekeeping loop: a pass a minute."""

    thread_name = "trainforge-janitor"

    def __init__(self, store: Store, request_key_retention_s: float) -> None:
        super().__init__(INTERVAL_S)
        self.store = store
        self.request_key_retention_s = request_key_retention_s

    def start(self) -> None:
        self.start_loop()

    def tick(self) -> None:
        for _ in range(PRUNE_BATCHES_PER_PASS):
            if prune_request_keys(self.store, self.request_key_retention_s) < PRUNE_BATCH:
                return
