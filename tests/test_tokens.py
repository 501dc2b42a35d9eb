"""Tokens by role, tried as an attacker would: a real run's token reaches its own run only,
node agents' tokens their own heartbeat only.

A script inside a run reads its token from its environment, as ``Run.get_context()`` does,
hands it over through its outputs, and holds the run open until the test tags it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import HOME_PROBE, run_file_bytes, wait_until
from trainforge.core import Experiment, Run, ScriptRunConfig
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.node.work_root import names_path_in
from trainforge.schemas.server_state import read_state

HOLD = (
    """
import json, os, sys, time
from trainforge.core import Run

run = Run.get_context()
seen = {
    "token": os.environ["AZUREML_RUN_TOKEN"],
    "endpoint": os.environ["AZUREML_SERVICE_ENDPOINT"],
    "run_id": run.id,
    "environ": dict(os.environ),
    "cwd": os.getcwd(),
    "executable": sys.executable,
}
"""
    + HOME_PROBE
    + """
deadline = time.time() + 240
while "release" not in run.get_tags() and time.time() < deadline:
    time.sleep(0.1)
"""
)


class Held:
    """A run held open by its script, with what the script saw."""

    def __init__(self, run: Run, seen: dict[str, Any]) -> None:
        self.run = run
        self.seen = seen
        self.token: str = seen["token"]
        self.api = f"{seen['endpoint']}/api/v1/workspaces/{run.experiment.workspace.name}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)

    def release(self) -> None:
        self.run.tag("release", "1")
        self.run.wait_for_completion(show_output=False)


def _seen(run: Run) -> dict[str, Any] | None:
    if "outputs/seen.json" not in run.get_file_names():
        assert run.get_status() not in ("Failed", "Canceled"), run.get_details()
        return None
    return json.loads(run_file_bytes(run, "outputs/seen.json"))


def hold(experiment: Experiment, project: Path, home: Path, target: str = "local") -> Held:
    (project / "hold.py").write_text(HOLD)
    config = ScriptRunConfig(
        source_directory=str(project),
        script="hold.py",
        arguments=[str(home)],
        compute_target=target,
    )
    run = experiment.submit(config)
    return Held(run, wait_until(lambda: _seen(run), 120, "the run to hand over its token"))


@pytest.fixture
def held(experiment: Experiment, project: Path, tf_home: Path) -> Iterator[Held]:
    found = hold(experiment, project, tf_home)
    yield found
    if found.run.get_status() not in ("Completed", "Failed", "Canceled"):
        found.release()


def test_a_run_token_writes_only_its_own_run(held: Held, experiment: Experiment, ws) -> None:  # type: ignore[no-untyped-def]
    victim = experiment.start_logging()
    victim.log("loss", 1.0)
    ws.set_default_datastore("workspaceblobstore")
    ws.get_default_keyvault().set_secret("db-password", "s3cret")
    points = {"batch_id": uuid.uuid4().hex, "points": [{"name": "loss", "value": 666.0}]}
    refused = {
        "other run's metrics": held.call("POST", f"/runs/{victim.id}/metrics:batch", json=points),
        "other run's files": held.call(
            "PUT", f"/runs/{victim.id}/files/outputs/x.txt", content=b"x"
        ),
        "other run's log": held.call(
            "POST", f"/runs/{victim.id}/files/azureml-logs/70_driver_log.txt?offset=0", content=b"x"
        ),
        "other run's status": held.call("PATCH", f"/runs/{victim.id}", json={"status": "Failed"}),
        "cancel other run": held.call("POST", f"/runs/{victim.id}/cancel"),
        "other run's children": held.call("POST", f"/runs/{victim.id}/children", json={"count": 1}),
        "child of other run": held.call(
            "POST",
            f"/experiments/{experiment.name}/runs",
            json={"kind": "child", "parent_run_id": victim.id},
        ),
        "submit a run": held.call("POST", f"/experiments/{experiment.name}/runs", json={}),
        "write a secret": held.call("PUT", "/secrets/db-password", json={"value": "mine"}),
        "delete a secret": held.call("DELETE", "/secrets/db-password"),
        "register a datastore": held.call(
            "POST",
            "/datastores",
            json={"name": "root", "datastore_type": "LocalFolder", "path": "/"},
        ),
        "make a datastore default": held.call("PUT", "/datastores/workspacefilestore/default"),
        "unregister a datastore": held.call("DELETE", "/datastores/workspacefilestore"),
        "create a compute": held.call("POST", "/computes", json={"name": "evil"}),
        "update a compute": held.call(
            "PATCH", "/computes/any", json={"scale_settings": {"max_nodes": 100}}
        ),
        "delete a compute": held.call("DELETE", "/computes/any"),
        "delete the workspace": held.call("DELETE", ""),
        "other workspace": httpx.get(
            f"{held.seen['endpoint']}/api/v1/workspaces",
            headers={"Authorization": f"Bearer {held.token}"},
        ),
    }
    assert {what: r.status_code for what, r in refused.items()} == {what: 403 for what in refused}
    assert "own run" in refused["other run's metrics"].json()["error"]["message"]

    own = held.run.id
    mine = {"batch_id": uuid.uuid4().hex, "points": [{"name": "acc", "value": 0.5}]}
    assert held.call("POST", f"/runs/{own}/metrics:batch", json=mine).status_code == 200
    assert held.call("PUT", f"/runs/{own}/files/outputs/mine.txt", content=b"ok").status_code == 200
    [child] = held.call("POST", f"/runs/{own}/children", json={"count": 1}).json()
    grand = held.call(
        "POST",
        f"/experiments/{experiment.name}/runs",
        json={"kind": "child", "parent_run_id": child["run_id"]},
    )
    assert grand.status_code == 201
    assert held.call("POST", f"/runs/{child['run_id']}/metrics:batch", json=mine).status_code == 200
    assert held.call("GET", "/secrets/db-password").json()["value"] == "s3cret"
    assert held.call("POST", "/datastores/workspaceblobstore/access").status_code == 200
    assert held.call("GET", f"/runs/{victim.id}").status_code == 200  # reads stay open

    held.release()
    assert held.run.get_status() == "Completed"
    assert held.run.get_metrics()["acc"] == 0.5
    assert victim.get_metrics()["loss"] == 1.0
    assert victim.get_status() == "Running"
    assert ws.get_default_keyvault().get_secret("db-password") == "s3cret"
    assert ws.get_default_datastore().name == "workspaceblobstore"
    victim.complete()


# -- node tokens ------------------------------------------------------------------------
@contextlib.contextmanager
def cluster(ws) -> Iterator[AmlCompute]:  # type: ignore[no-untyped-def]
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=1, idle_seconds_before_scaledown="600"
    )
    made = ComputeTarget.create(ws, f"c{uuid.uuid4().hex[:8]}", config)
    try:
        yield made
    finally:
        made.delete()
        wait_until(lambda: not _nodes(made), 60, f"cluster {made.name} deleted")


def _nodes(compute: AmlCompute) -> list[dict[str, Any]]:
    """The cluster's nodes as the API lists them (with their agents' pids)."""
    client = compute.workspace.service_context.client
    try:
        return client.get(f"/workspaces/{compute.workspace.name}/computes/{compute.name}/nodes")
    except Exception:
        return []


def _agent_token(pid: int) -> str:
    """What an attacker on the machine reads: the agent's environment."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return found["TRAINFORGE_AGENT_TOKEN"]


def _assignment_of(home: Path, run_id: str) -> int:
    with contextlib.closing(sqlite3.connect(home / "trainforge.db")) as db:
        (found,) = db.execute("SELECT id FROM assignments WHERE run_id = ?", (run_id,)).fetchone()
    return int(found)


def test_heartbeats_need_the_token_of_their_own_node(
    ws,
    experiment: Experiment,
    project: Path,
    tf_home: Path,  # type: ignore[no-untyped-def]
) -> None:
    from trainforge.core import Workspace

    other_ws = Workspace.create("tokens-other-ws", exist_ok=True, show_output=False)
    server = read_state(tf_home)
    assert server is not None
    with cluster(ws) as mine, cluster(other_ws) as theirs:
        node = wait_until(lambda: [n for n in _nodes(mine) if n["state"] == "idle"], 60)[0]
        other = wait_until(lambda: [n for n in _nodes(theirs) if n["state"] == "idle"], 60)[0]
        held = hold(experiment, project, tf_home, target=mine.name)
        assignment = _assignment_of(tf_home, held.run.id)
        other_token = _agent_token(other["pid"])

        def beat(token: str, workspace: str, node_id: str, body: dict[str, Any]) -> int:
            url = f"{server.address}/api/v1/workspaces/{workspace}/agents/{node_id}/heartbeat"
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.post(url, json=body, headers=headers, timeout=30).status_code

        ended = {"launchers": [{"assignment_id": assignment, "alive": False, "exit_code": 1}]}
        assert {
            "run token sets an address": beat(
                held.token, ws.name, node["node_id"], {"address": "10.6.6.6"}
            ),
            "run token ends its assignment": beat(held.token, ws.name, node["node_id"], ended),
            "other node, its own path": beat(other_token, other_ws.name, other["node_id"], ended),
            "other node, this node's path": beat(
                other_token, other_ws.name, node["node_id"], ended
            ),
            "other node, this workspace": beat(other_token, ws.name, node["node_id"], ended),
        } == dict.fromkeys(
            [
                "run token sets an address",
                "run token ends its assignment",
                "other node, its own path",
                "other node, this node's path",
                "other node, this workspace",
            ],
            403,
        )
        assert held.run.get_status() == "Running"
        assert all(n["private_ip_address"] != "10.6.6.6" for n in _nodes(mine))
        held.release()
        assert held.run.get_status() == "Completed"


# -- expiry -----------------------------------------------------------------------------
def test_a_run_token_expires_once_its_run_has_ended_and_the_grace_is_over(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from trainforge.server.app import create_app
    from trainforge.server.auth import run_token
    from trainforge.server.settings import ServerSettings

    key = b"k" * 32
    settings = ServerSettings(
        home=tmp_path, token="admin-token", signing_key=key, run_token_grace_s=3600
    )
    with TestClient(create_app(settings)) as client:
        admin = {"Authorization": "Bearer admin-token"}
        assert client.post("/api/v1/workspaces", json={"name": "tokws"}, headers=admin).is_success
        created = client.post(
            "/api/v1/workspaces/tokws/experiments/exp/runs",
            json={"kind": "interactive"},
            headers=admin,
        ).json()
        path = f"/api/v1/workspaces/tokws/runs/{created['run_id']}"
        as_run = {"Authorization": f"Bearer {run_token(key, 'tokws', created['run_id'])}"}
        batch = {"batch_id": uuid.uuid4().hex, "points": [{"name": "m", "value": 1.0}]}
        assert client.post(f"{path}/metrics:batch", json=batch, headers=as_run).status_code == 200
        done = client.patch(path, json={"status": "Completed"}, headers=as_run)
        assert done.json()["status"] == "Completed"
        # Within the grace the token still reads; writes to the ended run are fenced ...
        assert client.get(path, headers=as_run).status_code == 200
        late = client.put(f"{path}/files/outputs/last.txt", content=b"x", headers=as_run)
        assert late.status_code == 409 and late.json()["error"]["code"] == "RunEnded"
        # ... then the token is refused, reads too; the admin's is not.
        settings.run_token_grace_s = 0.5  # the server's setting, as a small one is given
        expired = wait_until(
            lambda: (r := client.get(path, headers=as_run)).status_code == 401 and r, 30, "expiry"
        )
        assert "expired" in expired.json()["error"]["message"]
        assert client.get(path, headers=admin).status_code == 200


def test_a_run_sees_nothing_of_the_server_home(held: Held, tf_home: Path) -> None:
    environ = held.seen["environ"]
    assert "TRAINFORGE_HOME" not in environ
    assert [k for k, v in environ.items() if names_path_in(v, tf_home)] == []
    assert not names_path_in(held.seen["cwd"], tf_home)
    assert not names_path_in(held.seen["executable"], tf_home)
    held.release()
    assert held.run.get_status() == "Completed"
