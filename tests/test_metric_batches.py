"""A metric batch is stored exactly once: its id and its points in one transaction.

The server is killed with SIGKILL while it stores a large batch, again and again; the
client retries the same batch id after each restart and in the end the run holds every
point of the batch exactly once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import wait_until
from trainforge.client import local_server
from trainforge.schemas.server_state import ServerState
from trainforge.server.store import models
from trainforge.server.store.database import Store

POINTS = 20_000
KILLS = 3


def _api(state: ServerState) -> httpx.Client:
    return httpx.Client(
        base_url=f"{state.address}/api/v1",
        headers={"Authorization": f"Bearer {state.token}"},
        timeout=60,
    )


def _batch_row_committed(db: Path, batch_id: str) -> bool:
    """Whether another connection sees the batch id: what a restart would find."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        found = conn.execute(
            "SELECT count(*) FROM metric_batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
    return bool(found[0])


def _post_in_background(state: ServerState, path: str, body: dict) -> threading.Thread:
    def post() -> None:
        with contextlib.suppress(httpx.HTTPError), _api(state) as api:
            api.post(path, json=body)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def own_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server with a home of its own: this test kills it, others must not notice."""
    home = tmp_path / "home"
    yield home
    local_server.stop_all(home)


def test_a_batch_survives_kills_while_it_is_stored_exactly_once(own_server: Path) -> None:
    home = own_server
    state = local_server.ensure_server(home)
    points = [{"name": "loss", "value": i * 0.5, "step": i} for i in range(POINTS)]
    with _api(state) as api:
        assert api.post("/workspaces", json={"name": "kills"}).status_code in (200, 201)
        runs = [
            api.post("/workspaces/kills/experiments/kills/runs", json={"kind": "interactive"})
            for _ in range(2)
        ]
        assert all(run.status_code == 201 for run in runs), runs[0].text
        # How long one whole batch takes here, so that the kills below fall inside it.
        started = time.monotonic()
        warm_up = {"batch_id": uuid.uuid4().hex, "points": points}
        api.post(f"/workspaces/kills/runs/{runs[1].json()['run_id']}/metrics:batch", json=warm_up)
        whole = time.monotonic() - started
    run_id = runs[0].json()["run_id"]
    path = f"/workspaces/kills/runs/{run_id}/metrics:batch"
    batch_id = uuid.uuid4().hex
    body = {"batch_id": batch_id, "points": points}
    db = home / "trainforge.db"
    for kill in range(KILLS):
        sender = _post_in_background(state, path, body)
        # Kill at the moment the batch id becomes visible to another connection (before
        # the fix, its points were still being written then), or late in the request.
        with contextlib.suppress(AssertionError):
            wait_until(
                lambda: _batch_row_committed(db, batch_id),
                timeout=whole * (0.6 + 0.1 * kill),
                interval=0.005,
            )
        psutil.Process(state.pid).kill()
        sender.join(30)
        state = local_server.ensure_server(home)
    with _api(state) as api:
        reply = api.post(path, json=body)
        assert reply.status_code == 200, reply.text
        again = api.post(path, json=body)
        assert again.json()["stored"] is False  # the retry of a stored batch adds nothing
        metrics = api.get(f"/workspaces/kills/runs/{run_id}/metrics").json()
    assert len(metrics["loss"]) == POINTS
    assert metrics["loss"] == [i * 0.5 for i in range(POINTS)]


def test_what_a_savepoint_wrote_is_undone_when_its_transaction_fails(tmp_path: Path) -> None:
    """The root of the lost batches: pysqlite let a SAVEPOINT's RELEASE commit."""
    db = tmp_path / "store.db"
    store = Store(f"sqlite:///{db}")
    try:
        with pytest.raises(RuntimeError), store.session() as session:
            with session.begin_nested():
                session.add(
                    models.Workspace(
                        id="w1", name="w1", subscription_id="s", resource_group="r", location="l"
                    )
                )
            assert not _workspace_committed(db)  # another connection must not see it yet
            raise RuntimeError("the request fails after the savepoint")
        assert not _workspace_committed(db)
    finally:
        store.close()


def _workspace_committed(db: Path) -> bool:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        return bool(conn.execute("SELECT count(*) FROM workspaces").fetchone()[0])
