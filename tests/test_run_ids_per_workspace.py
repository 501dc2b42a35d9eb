"""Run ids are keys within their workspace: the id a caller picks (a Batch AI job name,
``start_logging(run_id=...)``) in one workspace says nothing of, and takes nothing from,
another workspace, and every row that hangs off a run (metrics, batch ids, children,
assignments, gangs, sweeps) is found through its workspace.

Found as: a Batch AI job named ``quick`` in a second workspace was refused with 409
"Run id 'quick' is already taken", which told it what the first workspace held.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import DATABASES, Api, database_url, error_message
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)

WORKSPACES = ("ws-a", "ws-b")


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = database_url(str(request.param), tmp_path, request)
    control = Api(tmp_path / "home", url)
    try:
        for ws in WORKSPACES:
            control.workspace(ws)
        yield control
    finally:
        control.close()


def _create(api: Api, ws: str, **body: object) -> dict:
    return api.call("POST", f"/workspaces/{ws}/experiments/exp/runs", json=body)


def test_a_run_id_taken_in_one_workspace_is_free_in_another(api: Api) -> None:
    a = _create(api, "ws-a", run_id="quick", kind="interactive")
    b = _create(api, "ws-b", run_id="quick", kind="interactive")
    assert (a["run_id"], b["run_id"]) == ("quick", "quick")
    assert (a["workspace_name"], b["workspace_name"]) == ("ws-a", "ws-b")
    # Within one workspace an id is still taken once.
    again = api.request(
        "POST",
        "/workspaces/ws-a/experiments/exp/runs",
        json={"run_id": "quick", "kind": "interactive"},
    )
    assert "already taken" in error_message(again, 409)

    # The same batch id, sent to each workspace's run, is stored in each.
    for ws, value in (("ws-a", 1.0), ("ws-b", 2.0)):
        batch = {"batch_id": "b1", "points": [{"name": "loss", "value": value}]}
        stored = api.call("POST", f"/workspaces/{ws}/runs/quick/metrics:batch", json=batch)
        assert stored["stored"] is True, stored
    assert api.call("GET", "/workspaces/ws-a/runs/quick/metrics")["loss"] == 1.0
    assert api.call("GET", "/workspaces/ws-b/runs/quick/metrics")["loss"] == 2.0

    # Children, properties and status stay with their own workspace's run.
    api.call("POST", "/workspaces/ws-a/runs/quick/children", json={"count": 2})
    api.call("POST", "/workspaces/ws-a/runs/quick/properties", json={"owner": "a"})
    api.call("PATCH", "/workspaces/ws-a/runs/quick", json={"status": "Completed"})
    page_b = api.call("GET", "/workspaces/ws-b/runs", params={"parent": "quick"})
    assert page_b["runs"] == []
    page_a = api.call("GET", "/workspaces/ws-a/runs", params={"parent": "quick"})
    assert len(page_a["runs"]) == 2
    b = api.call("GET", "/workspaces/ws-b/runs/quick")
    assert b["status"] == "Running"
    assert "owner" not in b["properties"]


def test_script_runs_of_one_id_in_two_workspaces_are_placed_and_end_apart(
    api: Api, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hello')\n")
    for ws in WORKSPACES:
        body = {
            "run_id": "quick",
            "definition": {"script": "train.py"},
            "snapshot_id": api.upload(ws, tmp_path / "src"),
        }
        _create(api, ws, **body)
    api.tick()
    launches = {launch.workspace_name: launch for launch in api.backend.launches}
    assert sorted(launches) == list(WORKSPACES)
    assert {launch.run_id for launch in launches.values()} == {"quick"}

    a, b = launches["ws-a"], launches["ws-b"]
    # An assignment answers only under its own workspace's run.
    wrong = api.request(
        "PATCH",
        f"/workspaces/ws-b/runs/quick/assignments/{a.assignment_id}",
        json={"state": "running"},
    )
    assert wrong.status_code == 404, wrong.text
    for launch in (a, b):
        path = f"/workspaces/{launch.workspace_name}/runs/quick/assignments/{launch.assignment_id}"
        api.call("PATCH", path, json={"state": "running"})
    path = f"/workspaces/ws-a/runs/quick/assignments/{a.assignment_id}"
    api.call("PATCH", path, json={"state": "succeeded", "exit_code": 0})
    api.tick()
    assert api.call("GET", "/workspaces/ws-a/runs/quick")["status"] == "Completed"
    assert api.call("GET", "/workspaces/ws-b/runs/quick")["status"] == "Running"
