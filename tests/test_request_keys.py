"""Idempotency keys are kept for a retention window, then pruned a bounded batch at a
time; on SQLite and PostgreSQL, in-process (what is checked is the store)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.inprocess import Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.server.janitor import prune_request_keys
from trainforge.server.store import models
from trainforge.server.store.models import utcnow

WS = "keys-ws"
RUNS = f"/workspaces/{WS}/experiments/exp/runs"


def _submit(api: Api, key: str) -> str:
    reply = api.call("POST", RUNS, json={"kind": "interactive"}, headers={"Idempotency-Key": key})
    return reply["run_id"]


def _keys(api: Api) -> set[str]:
    with api.plane.store.session() as db:
        return set(db.scalars(select(models.RequestKey.key)))


def _age(api: Api, keys: list[str], seconds: float) -> None:
    with api.plane.store.session() as db:
        db.execute(
            update(models.RequestKey)
            .where(models.RequestKey.key.in_(keys))
            .values(created=utcnow() - timedelta(seconds=seconds))
        )


def test_keys_older_than_the_retention_window_are_pruned_in_bounded_batches(api: Api) -> None:
    api.workspace(WS)
    retention = api.plane.settings.request_key_retention_s
    assert retention == 24 * 3600  # the documented default
    old = [f"old-{i}" for i in range(5)]
    first = {key: _submit(api, key) for key in [*old, "recent"]}
    _age(api, old, retention + 60)
    _age(api, ["recent"], retention - 60)

    assert prune_request_keys(api.plane.store, retention, batch=2) == 2  # bounded
    assert len(_keys(api) & set(old)) == 3
    api.plane.janitor.tick()  # the server's pass: batches until none is left
    assert _keys(api) == {"recent"}

    # Within the window a retry still gets its run; an expired key is a new request.
    assert _submit(api, "recent") == first["recent"]
    assert _submit(api, old[0]) != first[old[0]]
    with api.plane.store.session() as db:
        runs = db.scalar(select(func.count()).select_from(models.Run))
    assert runs == len(first) + 1
