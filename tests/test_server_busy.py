"""A database too busy to take a write is a 503 the client waits out, never a 500.

Under heavy load (20 runs logging at once on a 2-core machine) SQLite's write lock can stay
taken longer than the server's busy timeout. The request was rolled back, so nothing is
half-written, and it is safe to send again: the server says so (503 ``ServerBusy`` with
``Retry-After``) and the client sends it again, where a 500 used to fail the user's call.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import wait_until
from trainforge.client import local_server
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.server.app import create_app
from trainforge.server.settings import ServerSettings

TOKEN = "admin-token-of-the-tests"


@contextlib.contextmanager
def write_lock(db: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding the database's write lock until the block ends."""
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_busy_database_answers_503_naming_no_path(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    settings = ServerSettings(
        home=tmp_path / "home",
        token=TOKEN,
        signing_key=b"k" * 32,
        endpoint="http://testserver",
        db_busy_timeout_s=0.2,
    )
    app = create_app(settings)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        with write_lock(settings.home / "trainforge.db"):
            busy = client.post("/api/v1/workspaces", json={"name": "busy-ws"})
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "ServerBusy"
        assert int(busy.headers["Retry-After"]) >= 1
        assert str(settings.home) not in busy.text and "INSERT" not in busy.text
        # Nothing was half-written: the same create goes through once the lock is free.
        assert client.post("/api/v1/workspaces", json={"name": "busy-ws"}).status_code < 300
        names = [w["name"] for w in client.get("/api/v1/workspaces").json()]
        assert names.count("busy-ws") == 1
    app.state.plane.close()


@pytest.fixture
def busy_server_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real server whose writes give up waiting for the database's lock after 0.2 s."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRAINFORGE_DB_BUSY_TIMEOUT_S", "0.2")
    monkeypatch.setenv("TRAINFORGE_PORT", "0")
    local_server.ensure_server(home)
    try:
        yield home
    finally:
        local_server.stop_all(home)


def test_a_call_waits_out_a_busy_database(busy_server_home: Path) -> None:
    state = local_server.ensure_server(busy_server_home)
    client = TrainforgeClient(Endpoint(state.address, state.token), retry_s=60)
    outcome: dict[str, object] = {}

    def create() -> None:
        try:
            outcome["created"] = client.post("/workspaces", {"name": "waits-ws"})
        except Exception as exc:  # the test reports it below
            outcome["error"] = exc

    log = busy_server_home / "server.log"
    with write_lock(busy_server_home / "trainforge.db"):
        caller = threading.Thread(target=create)
        caller.start()
        # The server has answered busy at least once while the lock was held.
        wait_until(lambda: "ServerBusy" in log.read_text(), 30, "a busy answer in server.log")
    caller.join(60)
    assert not caller.is_alive()
    assert "error" not in outcome, outcome
    assert client.get("/workspaces/waits-ws")["name"] == "waits-ws"
    client.close()
