"""The control plane as a service: tokens, the OpenAPI document, errors and migrations."""

from __future__ import annotations

import http.client
import stat
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from trainforge.schemas.server_state import read_state
from trainforge.server.auth import run_token
from trainforge.server.store.models import Base


@pytest.fixture(scope="module")
def server(tf_home: Path):  # type: ignore[no-untyped-def]
    state = read_state(tf_home)
    assert state is not None
    return state


def test_server_state_file_is_private(tf_home: Path, server) -> None:  # type: ignore[no-untyped-def]
    mode = stat.S_IMODE((tf_home / "server.json").stat().st_mode)
    assert mode == 0o600
    assert server.address.startswith("http://127.0.0.1:")
    assert len(server.token) >= 32


def test_every_request_needs_the_token(server, ws) -> None:  # type: ignore[no-untyped-def]
    url = f"{server.address}/api/v1/workspaces"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "Unauthorized"
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {server.token}"}).status_code == 200


def test_run_tokens_only_reach_their_workspace(tf_home: Path, server, ws, experiment) -> None:  # type: ignore[no-untyped-def]
    from trainforge.core import Workspace

    other = Workspace.create("other-ws", exist_ok=True, show_output=False)
    run = experiment.start_logging()
    token = run_token((tf_home / "signing.key").read_bytes(), ws.name, run.id)
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.get(f"{server.address}/api/v1/workspaces/{ws.name}", headers=headers).status_code
        == 200
    )
    refused = httpx.get(f"{server.address}/api/v1/workspaces/{other.name}", headers=headers)
    assert refused.status_code == 403
    assert httpx.get(f"{server.address}/api/v1/workspaces", headers=headers).status_code == 403
    forged = token[:-4] + "0000"
    unknown = run_token((tf_home / "signing.key").read_bytes(), ws.name, "no-such-run")
    for refused_token in (forged, unknown):
        url = f"{server.address}/api/v1/workspaces/{ws.name}"
        headers = {"Authorization": f"Bearer {refused_token}"}
        assert httpx.get(url, headers=headers).status_code == 401
    run.complete()


def test_openapi_document_describes_the_versioned_api(server) -> None:  # type: ignore[no-untyped-def]
    # Built on first request: seconds on a loaded machine, past httpx's 5 s default.
    spec = httpx.get(f"{server.address}/api/v1/openapi.json", timeout=60).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/workspaces",
        "/api/v1/workspaces/{ws}/experiments/{experiment}/runs",
        "/api/v1/workspaces/{ws}/runs/{run_id}",
        "/api/v1/workspaces/{ws}/runs/{run_id}/metrics:batch",
        "/api/v1/workspaces/{ws}/runs/{run_id}/files/{name}",
        "/api/v1/workspaces/{ws}/secrets/{name}",
    ):
        assert path in paths, path


def test_bad_input_names_the_field(server) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {server.token}"}
    reply = httpx.post(f"{server.address}/api/v1/workspaces", json={"name": "x"}, headers=headers)
    assert reply.status_code == 422
    assert reply.json()["error"]["message"].startswith("name: Workspace name 'x' is invalid")
    reply = httpx.post(f"{server.address}/api/v1/workspaces", json={}, headers=headers)
    assert reply.json()["error"]["message"] == "name: Field required"


def test_unknown_run_is_a_clear_404(server, ws) -> None:  # type: ignore[no-untyped-def]
    from trainforge.exceptions import UserErrorException

    with pytest.raises(
        UserErrorException, match="Run 'no-such-run' not found in workspace 'test-ws'"
    ):
        ws.get_run("no-such-run")
    reply = httpx.get(
        f"{server.address}/api/v1/workspaces/{ws.name}/runs/no-such-run",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert reply.status_code == 404


def test_file_names_cannot_escape_the_run_folder(server, ws, experiment, tf_home: Path) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    headers = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.address}/api/v1/workspaces/{ws.name}/runs/{run.id}/files"
    for name in ("..%2F..%2Fescape.txt", "a/..%2F..%2F..%2Fescape.txt"):
        reply = httpx.put(f"{base}/{name}", content=b"x", headers=headers)
        assert reply.status_code == 400, reply.text
    assert not list(tf_home.rglob("escape.txt"))
    run.complete()


def test_a_log_that_grows_while_it_is_read_comes_as_it_was(server, ws, experiment) -> None:  # type: ignore[no-untyped-def]
    """A launcher appends to a log while a client downloads it: the client gets the bytes
    the log had when asked, and its connection stays usable for the next request."""
    run = experiment.start_logging(snapshot_directory=None)
    headers = {"Authorization": f"Bearer {server.token}"}
    path = f"/api/v1/workspaces/{ws.name}/runs/{run.id}/files/azureml-logs/log.txt"
    before = bytes(range(256)) * (2**18)  # 64 MiB: more than the sockets hold, so the
    # server is still reading the file when it grows
    assert httpx.put(server.address + path, content=before, headers=headers).status_code == 200
    address = httpx.URL(server.address)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        reply = connection.getresponse()
        assert int(reply.headers["content-length"]) == len(before)
        appended = httpx.post(
            server.address + path, params={"offset": len(before)}, content=b"more", headers=headers
        )
        assert appended.json()["size"] == len(before) + 4
        assert reply.read() == before
        connection.request("GET", path, headers=headers)  # the same kept-alive connection
        assert connection.getresponse().read() == before + b"more"
    finally:
        connection.close()
    run.complete()


def test_migrations_match_the_models(tf_home: Path) -> None:
    engine = create_engine(f"sqlite:///{tf_home / 'trainforge.db'}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_studio_page_behind_printed_run_links_is_served(server, experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging(snapshot_directory=None)
    url = run.get_portal_url()
    assert url.startswith(f"{server.address}/studio/workspaces/test-ws/runs/{run.id}")
    assert url in str(run)
    page = httpx.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "trainforge studio" in page.text and server.token not in page.text
    run.complete()
