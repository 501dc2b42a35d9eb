"""The control plane in-process for store-level tests: its FastAPI app on a store at a given
URL (SQLite or PostgreSQL), driven through the REST API with a TestClient, its scheduler and
sweeper stepped by hand, and a recording backend in place of node processes (these tests are
about the store and the services; the real backends have tests of their own)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.helpers import wait_until
from tests.postgres_server import PostgresServer, create_database
from tests.storage_services import free_port
from trainforge import processes
from trainforge.compute import vm_sizes
from trainforge.compute.backend import (
    HostView,
    LaunchRequest,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.schemas.compute import Resources
from trainforge.server.app import create_app
from trainforge.server.plane import ControlPlane
from trainforge.server.settings import ServerSettings
from trainforge.storage import snapshot

DATABASES = ["sqlite", "postgresql"]
TOKEN = "admin-token-of-the-tests"


class RecordingBackend:
    """Provisions nothing: records what the scheduler asks for, and reports every node and
    launcher it was asked for alive until it is released. A VM size in ``broken_sizes``
    makes the backend fail, as a misconfigured cluster would."""

    spreads_gangs = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[NodeRequest] = []
        self.launches: list[LaunchRequest] = []
        self.released: set[str] = set()
        self.broken_sizes: set[str] = set()
        self._me = psutil.Process()

    def _handle(self, node_id: str | None) -> ProcessHandle:
        return ProcessHandle(
            backend=self.name,
            node_id=node_id,
            pid=os.getpid(),
            pid_create_time=processes.started(self._me),
        )

    def node_resources(self, vm_size: str) -> Resources:
        if vm_size in self.broken_sizes:
            raise RuntimeError(f"the backend cannot make nodes of size {vm_size}")
        return vm_sizes.node_resources(vm_size)

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        return {}

    def release_group(self, group: str) -> None:
        return None

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        self.nodes.append(request)
        return self._handle(request.node_id)

    def release_node(self, handle: ProcessHandle, force: bool = False) -> None:
        self.released.add(str(handle.node_id))

    def rendezvous_port(self, node_id: str | None = None) -> int:
        return 29500

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle:
        self.launches.append(request)
        return self._handle(None)

    def is_alive(self, handle: ProcessHandle) -> bool:
        return handle.node_id not in self.released

    def terminate(self, handle: ProcessHandle) -> None:
        return None

    def kill(self, handle: ProcessHandle) -> None:
        return None

    def disconnect(self) -> None:
        return None


class Api:
    """One in-process control plane; ``call`` answers the JSON of a 2xx, or fails the test."""

    def __init__(self, home: Path, url: str, **settings_: Any) -> None:
        settings = ServerSettings(
            home=home,
            database_url=url,
            token=TOKEN,
            signing_key=b"k" * 32,
            endpoint="http://testserver",
            **{"heartbeat_timeout_s": 600, **settings_},
        )
        self.app = create_app(settings)
        self.plane: ControlPlane = self.app.state.plane
        self.backend = RecordingBackend("local")
        self.plane.scheduler.backends = {"local": self.backend}
        self.plane.scheduler.endpoint = settings.endpoint
        self.client = TestClient(self.app, headers={"Authorization": f"Bearer {TOKEN}"})

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, f"/api/v1{path}", **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def workspace(self, name: str) -> str:
        self.call("POST", "/workspaces", json={"name": name})
        return name

    def tick(self) -> None:
        """One scheduler pass and one sweeper pass, as the server's loops make them."""
        self.plane.scheduler.tick()
        self.plane.sweeper.tick()

    def upload(self, ws: str, source: Path) -> str:
        """What ``experiment.submit`` does with a source folder: HEAD, then PUT if missing."""
        snap = snapshot.take(source)
        try:
            path = f"/workspaces/{ws}/snapshots/{snap.id}"
            if self.request("HEAD", path).status_code == 404:
                self.call("PUT", path, content=snap.zip_path.read_bytes())
        finally:
            snap.zip_path.unlink(missing_ok=True)
        return snap.id

    def launched(self, ws: str, folder: Path) -> tuple[str, str]:
        """A run of a one-line script submitted and placed, its launcher started: the run's
        id and the path its launcher reports its assignment to."""
        folder.mkdir(exist_ok=True)
        (folder / "train.py").write_text("print('hello')\n")
        body = {"definition": {"script": "train.py"}, "snapshot_id": self.upload(ws, folder)}
        run_id = self.call("POST", f"/workspaces/{ws}/experiments/exp/runs", json=body)["run_id"]
        self.tick()
        (launch,) = [it for it in self.backend.launches if it.run_id == run_id]
        return run_id, f"/workspaces/{ws}/runs/{run_id}/assignments/{launch.assignment_id}"

    def heartbeat(self, node: NodeRequest, **body: Any) -> dict[str, Any]:
        """A beat from the agent the backend was asked to start for ``node``."""
        return self.call(
            "POST", f"/workspaces/{node.workspace_name}/agents/{node.node_id}/heartbeat", json=body
        )

    def close(self) -> None:
        self.client.close()
        self.plane.close()


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport onto an in-process control plane, for a TrainforgeClient
    (``transport=``): each request goes to ``api``; ``statuses`` and ``keys`` (the
    Idempotency-Key of each POST) record what went by. With ``lose_first_posts`` the
    answer of a POST's first try is lost after the server acted, as when a connection
    breaks."""

    def __init__(self, api: Api, lose_first_posts: bool = False) -> None:
        self.api = api
        self.lose_first_posts = lose_first_posts
        self.statuses: list[int] = []
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        answer = self.api.client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers=dict(request.headers),
        )
        self.statuses.append(answer.status_code)
        if request.method == "POST":
            key = request.headers.get("Idempotency-Key")
            self.keys.append(key)
            if self.lose_first_posts and self.keys.count(key) == 1:
                raise httpx.ReadError("the connection broke before the answer", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def error_message(response: httpx.Response, status: int) -> str:
    """The message of an error answer (``{"error": {"message": ...}}``), once its status is
    ``status``; otherwise the test fails showing the answer."""
    assert response.status_code == status, response.text
    return str(response.json()["error"]["message"])


def database_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of ``kind``: a SQLite file, or a new PostgreSQL database on
    the session's server."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'trainforge.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return create_database(server, f"tf_{uuid.uuid4().hex[:12]}")


@pytest.fixture(name="api", params=DATABASES)
def api_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The control plane in-process, on SQLite and on PostgreSQL."""
    control = Api(tmp_path / "home", database_url(str(request.param), tmp_path, request))
    try:
        yield control
    finally:
        control.close()


@contextmanager
def served(api: Api) -> Iterator[str]:
    """``api``'s app on a loopback port, served by uvicorn in a thread of this process (its
    loops stay stopped, as under the TestClient); yields the address. For code that opens
    its own HTTP client, such as the CLI under Typer's CliRunner."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="in-process server", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30, "the in-process server to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
