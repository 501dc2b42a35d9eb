"""Bad input is a 4xx naming the field, never a 500; a 500 never shows paths or SQL.

The control plane runs in-process (FastAPI's TestClient): what is checked is how each
request is answered, and no real process is needed for that.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from trainforge.server.app import create_app
from trainforge.server.settings import ServerSettings

TOKEN = "test-token"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def api(home: Path, tmp_path: Path) -> Iterator[TestClient]:
    home.mkdir()
    settings = ServerSettings(
        home=home,
        token=TOKEN,
        signing_key=b"k" * 32,
        endpoint="http://127.0.0.1:1",
        local_datastore_roots=[tmp_path / "data"],
        max_file_bytes=1_000,
    )
    app = create_app(settings)
    client = TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert client.post("/api/v1/workspaces", json={"name": "bad-input"}).status_code == 201
    try:
        yield client
    finally:
        app.state.plane.close()


@pytest.fixture
def run_path(api: TestClient) -> str:
    reply = api.post(
        "/api/v1/workspaces/bad-input/experiments/exp/runs", json={"kind": "interactive"}
    )
    assert reply.status_code == 201, reply.text
    return f"/api/v1/workspaces/bad-input/runs/{reply.json()['run_id']}"


def _refused(reply, status: int, field: str) -> str:  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]["message"]
    assert field in message, message
    return message


def test_an_unexpected_error_answers_an_id_and_no_paths_or_sql(
    api: TestClient, run_path: str, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with api.app.state.plane.store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DROP TABLE metrics"))  # the store breaks under the server
    with caplog.at_level(logging.ERROR, logger="trainforge.server"):
        reply = api.get(f"{run_path}/metrics")
    assert reply.status_code == 500
    error = reply.json()["error"]
    assert error["code"] == "InternalError"
    body = reply.text
    for leak in ("SELECT", "metrics.run_id", "sqlite", str(home), "Traceback"):
        assert leak not in body, leak
    logged = [record for record in caplog.records if error["id"] in record.getMessage()]
    assert logged and logged[0].exc_info is not None  # the log has the id and the traceback
    assert "no such table: metrics" in caplog.text


def test_metric_points_out_of_bounds_are_422s_naming_the_field(
    api: TestClient, run_path: str
) -> None:
    path = f"{run_path}/metrics:batch"

    def batch(**point: object) -> dict:
        return {"batch_id": "b1", "points": [{"name": "m", "value": 1.0, **point}]}

    _refused(api.post(path, json=batch(value=None)), 422, "points.0.value")
    _refused(api.post(path, json=batch(step=2**63)), 422, "points.0.step")
    _refused(api.post(path, json=batch(value=2**64)), 422, "points.0.value")
    _refused(api.post(path, json=batch(name="n" * 256)), 422, "points.0.name")
    _refused(api.post(path, json=batch(value="x" * 70_000)), 422, "points.0.value")
    _refused(api.post(path, json={**batch(), "attempt": 2**63}), 422, "attempt")
    answer = api.post(path, json=batch()).json()
    assert answer == {"stored": True, "count": 1, "judged_metric": None, "verdict": None}


def test_integers_beyond_their_columns_are_422s(api: TestClient, run_path: str) -> None:
    _refused(api.patch(run_path, json={"attempt": 2**63}), 422, "attempt")
    _refused(
        api.get(f"{run_path}/attempts/{2**63}/commands/1"),
        422,
        "attempt",
    )
    _refused(
        api.patch(f"{run_path}/assignments/{2**63}", json={"state": "running"}),
        422,
        "assignment_id",
    )
    compute = {"name": "cpu", "scale_settings": {"min_nodes": 0, "max_nodes": 2**63}}
    _refused(api.post("/api/v1/workspaces/bad-input/computes", json=compute), 422, "max_nodes")
    compute["scale_settings"]["max_nodes"] = 1_001  # no cluster of unbounded agents
    _refused(api.post("/api/v1/workspaces/bad-input/computes", json=compute), 422, "max_nodes")


def test_long_polls_take_finite_bounded_waits(api: TestClient, run_path: str) -> None:
    _refused(api.get(f"{run_path}/wait", params={"timeout": "nan"}), 422, "timeout")
    _refused(api.get(f"{run_path}/wait", params={"timeout": "inf"}), 422, "timeout")
    _refused(api.get(f"{run_path}/wait", params={"timeout": -1}), 422, "timeout")
    log = f"{run_path}/files/azureml-logs/x.txt"
    _refused(api.get(log, params={"offset": 0, "wait": "nan"}), 422, "wait")
    _refused(api.get(log, params={"offset": 0, "wait": 31}), 422, "wait")


def test_run_file_names_and_offsets_are_checked(api: TestClient, run_path: str) -> None:
    files = f"{run_path}/files"
    _refused(api.get(f"{files}/a.txt", params={"offset": -1}), 422, "offset")
    _refused(api.post(f"{files}/a.txt", params={"offset": -1}, content=b"x"), 422, "offset")
    _refused(api.put(f"{files}/a%00b.txt", content=b"x"), 400, "NUL")
    _refused(api.get(f"{run_path}/metrics", params={"name": "a\x00b"}), 400, "NUL")
    _refused(api.get("/api/v1/workspaces/bad%00input"), 400, "NUL")
    _refused(api.put(f"{files}/{'n' * 256}.txt", content=b"x"), 400, "at most 255")
    _refused(api.put(f"{files}/{'d/' * 2100}f.txt", content=b"x"), 400, "at most 4096")
    assert api.put(f"{files}/{'n' * 255}", content=b"x").status_code == 200  # the longest

    assert api.put(f"{files}/outputs/model.pkl", content=b"model").status_code == 200
    _refused(api.put(f"{files}/outputs/model.pkl/more.txt", content=b"x"), 409, "is a file")
    _refused(
        api.post(f"{files}/outputs/model.pkl/log", params={"offset": 0}, content=b"x"),
        409,
        "is a file",
    )
    _refused(api.put(f"{files}/outputs", content=b"x"), 409, "is a folder")
    listed = [f["name"] for f in api.get(files).json()]
    assert listed == [f"{'n' * 255}", "outputs/model.pkl"]  # nothing hidden was stored
    assert api.get(f"{files}/outputs/model.pkl").content == b"model"


def test_run_files_have_a_size_limit(api: TestClient, run_path: str) -> None:
    files = f"{run_path}/files"
    _refused(api.put(f"{files}/big.bin", content=b"x" * 1_001), 413, "at most 1000 bytes")
    _refused(api.post(f"{files}/log.txt", params={"offset": 0}, content=b"x" * 1_001), 413, "1000")
    assert api.put(f"{files}/ok.bin", content=b"x" * 1_000).status_code == 200
    assert [f["name"] for f in api.get(files).json()] == ["ok.bin"]


def test_datastore_names_and_local_folders_are_checked(
    api: TestClient, tmp_path: Path, home: Path
) -> None:
    url = "/api/v1/workspaces/bad-input/datastores"

    def local(name: str, path: Path | str) -> dict:
        return {
            "name": name,
            "datastore_type": "LocalFolder",
            "path": str(path),
            "create_if_not_exists": True,
        }

    _refused(
        api.post(url, json=local("trailing\n", tmp_path / "data" / "a")), 422, "datastore_name"
    )
    _refused(api.post(url, json=local("root", "/")), 400, "path")
    outside = Path(tempfile.gettempdir()) / "trainforge-outside-the-roots"
    _refused(api.post(url, json=local("outside", outside)), 400, "outside the folders")
    assert not outside.exists()  # create_if_not_exists created nothing out there
    _refused(api.post(url, json=local("climbs", tmp_path / "data" / ".." / "x")), 400, "path")
    _refused(api.post(url, json=local("home", home / "workspaces")), 400, "path")
    inside = tmp_path / "data" / "store"
    assert api.post(url, json=local("inside", inside)).status_code == 201
    assert inside.is_dir()


async def _poll_and_leave(app, path: str, query: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Call the app as a server would for a client that sends its request and hangs up."""
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {TOKEN}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    # Each asks to wait 30 s; one that kept polling for its gone client would take them all.
    await asyncio.wait_for(app(scope, receive, send), timeout=20)
    return sent


def test_a_long_poll_ends_when_its_client_leaves(api: TestClient, run_path: str) -> None:
    for path, query in (
        (f"{run_path}/wait", "timeout=30"),
        (f"{run_path}/files/azureml-logs/70_driver_log.txt", "offset=0&wait=30"),
    ):
        asyncio.run(_poll_and_leave(api.app, path, query))


def test_a_compute_update_that_would_put_max_below_min_is_a_4xx(api: TestClient) -> None:
    computes = "/api/v1/workspaces/bad-input/computes"
    cluster = {"name": "cpu", "scale_settings": {"min_nodes": 0, "max_nodes": 1}}
    assert api.post(computes, json=cluster).status_code == 201
    # Each field is valid alone; merged with what the cluster has, min exceeds max.
    _refused(api.patch(f"{computes}/cpu", json={"min_nodes": 2}), 400, "max_nodes")
    assert api.get(f"{computes}/cpu").json()["scale_settings"]["min_nodes"] == 0
