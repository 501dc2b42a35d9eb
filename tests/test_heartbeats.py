"""Node agents' heartbeats, in-process: what a beat may touch is checked against the
workspace it was sent to, and a beat the server cannot place is a 4xx, never a 500."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.inprocess import Api, RecordingBackend
from trainforge.compute.backend import HostView, NodePlacement, NodeRequest, ProcessHandle
from trainforge.server.store import models


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    control = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}")
    try:
        yield control
    finally:
        control.close()


def idle_node(api: Api, ws: str) -> NodeRequest:
    """A one-node cluster 'cpu' of ``ws`` whose agent has beaten once (its node is idle)."""
    body = {"name": "cpu", "vm_size": "STANDARD_D2_V2", "scale_settings": {"min_nodes": 1}}
    api.call("POST", f"/workspaces/{ws}/computes", json=body)
    api.tick()
    (node,) = [n for n in api.backend.nodes if n.workspace_name == ws]
    api.heartbeat(node)
    return node


def test_a_node_is_never_sent_a_run_of_another_workspace(api: Api) -> None:
    mine, theirs = api.workspace("ws-mine"), api.workspace("ws-theirs")
    node = idle_node(api, mine)
    other = api.call(
        "POST", f"/workspaces/{theirs}/experiments/exp/runs", json={"kind": "interactive"}
    )["run_id"]
    # A store that went wrong: an assignment on this node for the other workspace's run.
    with api.plane.store.session() as db:
        theirs_id = db.scalar(select(models.Workspace.id).where(models.Workspace.name == theirs))
        db.add(
            models.Assignment(
                workspace_id=theirs_id,
                run_id=other,
                attempt=1,
                backend="local",
                node_id=node.node_id,
                state="pending",
            )
        )
    path = f"/workspaces/{mine}/agents/{node.node_id}/heartbeat"
    refused = api.request("POST", path, json={})
    assert refused.status_code == 403, refused.text
    assert "ws-mine" in refused.json()["error"]["message"]
    assert "run_token" not in refused.text


def test_a_live_launcher_of_an_unknown_assignment_is_no_server_error(api: Api) -> None:
    ws = api.workspace("ws-one")
    node = idle_node(api, ws)
    reply = api.request(
        "POST",
        f"/workspaces/{ws}/agents/{node.node_id}/heartbeat",
        json={"launchers": [{"assignment_id": 999, "alive": True}]},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["start"] == []


class SlowBackend(RecordingBackend):
    """A backend whose view of its hosts takes ``observe_s`` seconds to come back, as a
    Ray cluster's state API does under load."""

    def __init__(self, name: str, observe_s: float) -> None:
        super().__init__(name)
        self.observe_s = observe_s

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        time.sleep(self.observe_s)  # the backend's own latency, not a wait for state
        return {}


def node_state(api: Api, node: NodeRequest) -> str:
    with api.plane.store.session() as db:
        row = db.get(models.Node, node.node_id)
        assert row is not None
        return row.state


def test_a_slow_backend_does_not_make_a_beating_node_miss_its_heartbeats(
    tmp_path: Path,
) -> None:
    """The scheduler's pass asks the backend where its nodes live before it judges their
    heartbeats: the time that answer takes is the server's, not the node's. A node that beat
    just before the pass stays; one silent past the timeout is still judged, next pass."""
    api = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}", heartbeat_timeout_s=2)
    try:
        api.plane.scheduler.backends = {"local": SlowBackend("local", observe_s=0)}
        api.backend = api.plane.scheduler.backends["local"]  # type: ignore[assignment]
        ws = api.workspace("ws-slow")
        node = idle_node(api, ws)  # beats once; the beat's answer waits up to a second
        api.backend.observe_s = 2.5  # type: ignore[attr-defined]
        api.tick()
        assert node_state(api, node) == "idle"
        api.tick()  # silent since: now past the timeout when the pass begins
        assert node_state(api, node) == "unusable"
    finally:
        api.close()


class LockProbingBackend(RecordingBackend):
    """A backend that, while it answers, tries to write to the store as a heartbeat or a
    metrics batch would then: it records whether the store's write lock was free."""

    def __init__(self, name: str, database: Path) -> None:
        super().__init__(name)
        self.database = database
        self.lock_free: list[bool] = []

    def _probe(self) -> None:
        probe = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            self.lock_free.append(True)
        except sqlite3.OperationalError:  # "database is locked"
            self.lock_free.append(False)
        finally:
            probe.close()

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        self._probe()
        return {}

    def is_alive(self, handle: ProcessHandle) -> bool:
        self._probe()
        return super().is_alive(handle)


def test_the_store_takes_writes_while_the_backend_answers(tmp_path: Path) -> None:
    """A pass asks the backend about its nodes outside its write transaction: while Ray's
    state API is slow to answer, heartbeats and metrics are still written."""
    database = tmp_path / "trainforge.db"
    api = Api(tmp_path / "home", f"sqlite:///{database}")
    try:
        backend = LockProbingBackend("local", database)
        api.plane.scheduler.backends = {"local": backend}
        api.backend = backend
        idle_node(api, api.workspace("ws-probe"))
        backend.lock_free.clear()
        api.tick()
        assert len(backend.lock_free) >= 2  # observed, and asked whether the node is alive
        assert all(backend.lock_free), backend.lock_free
    finally:
        api.close()


def test_an_assignment_brings_its_run_and_workspace(api: Api, tmp_path: Path) -> None:
    """The launcher starts from what the beat's answer says of the run and its workspace,
    without asking for them again; both are the beat's workspace's."""
    for ws in (api.workspace("ws-a"), api.workspace("ws-b")):
        node = idle_node(api, ws)
        source = tmp_path / ws
        source.mkdir()
        (source / "train.py").write_text("print('hi')\n")
        snapshot_id = api.upload(ws, source)
        body = {
            "kind": "script",
            "snapshot_id": snapshot_id,
            "definition": {"script": "train.py", "target": "cpu", "arguments": ["--lr", "0.1"]},
        }
        run_id = api.call("POST", f"/workspaces/{ws}/experiments/exp/runs", json=body)["run_id"]
        api.tick()
        (start,) = api.heartbeat(node)["start"]
        assert start["run_id"] == run_id
        context = start["context"]
        assert context["run"]["run_id"] == run_id
        assert context["run"]["snapshot_id"] == snapshot_id
        assert context["run"]["definition"]["arguments"] == ["--lr", "0.1"]
        assert context["run"]["experiment_name"] == "exp"
        assert context["workspace"]["name"] == ws
        assert context["workspace"] == api.call("GET", f"/workspaces/{ws}")


def test_a_launch_request_too_big_for_one_variable_leaves_its_context_out(tmp_path: Path) -> None:
    """Linux refuses to start a process with one variable over 128 KiB: a run with a huge
    definition starts a launcher that reads the run itself."""
    from trainforge.node.launch import launcher_environment
    from trainforge.schemas.backend import LAUNCH_REQUEST_VARIABLE, LaunchContext, LaunchRequest
    from trainforge.schemas.runs import RunDefinition, RunInfo, RunStatus
    from trainforge.schemas.workspaces import WorkspaceInfo

    def request(arguments: list[str]) -> LaunchRequest:
        now = datetime.now(UTC)
        run = RunInfo(
            run_id="r1",
            experiment_name="exp",
            experiment_id="e1",
            workspace_name="ws",
            number=1,
            kind="script",
            run_type="azureml.scriptrun",
            status=RunStatus.PREPARING,
            parent_run_id=None,
            display_name=None,
            description=None,
            target="cpu",
            definition=RunDefinition(script="train.py", arguments=arguments),
            snapshot_id=None,
            tags={},
            properties={},
            error=None,
            attempt=1,
            submitted_by=None,
            created_utc=now,
            start_time_utc=None,
            end_time_utc=None,
        )
        workspace = WorkspaceInfo(
            id="/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/ws",
            workspace_id="w1",
            name="ws",
            subscription_id="s",
            resource_group="g",
            location="local",
            friendly_name="ws",
            description="",
            tags={},
            sku="basic",
            created=now,
        )
        return LaunchRequest(
            run_id="r1",
            workspace_name="ws",
            attempt=1,
            assignment_id=1,
            endpoint="http://127.0.0.1:1",
            run_token="t",
            home=tmp_path,
            node_dir=tmp_path / "node",
            context=LaunchContext(run=run, workspace=workspace),
        )

    small = LaunchRequest.model_validate_json(
        launcher_environment(request(["--lr", "0.1"]))[LAUNCH_REQUEST_VARIABLE]
    )
    assert small.context is not None and small.context.run.definition is not None
    assert small.context.run.definition.arguments == ["--lr", "0.1"]
    value = launcher_environment(request(["x" * 1000] * 200))[LAUNCH_REQUEST_VARIABLE]
    assert len(value) < 128 * 1024
    assert LaunchRequest.model_validate_json(value).context is None
