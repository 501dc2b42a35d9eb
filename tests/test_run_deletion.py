"""A run that has ended can be deleted (Batch AI's ``jobs.delete``): its rows, the runs below
it and its files go, and its id may be used again from scratch. A run still going, or whose
launchers are still stopping, is refused with 409 and nothing goes; a run token deletes
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import DATABASES, Api, database_url, error_message
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.server.auth import run_token

WS = "ws-del"


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = database_url(str(request.param), tmp_path, request)
    control = Api(tmp_path / "home", url)
    try:
        control.workspace(WS)
        yield control
    finally:
        control.close()


def _interactive(api: Api, run_id: str, **body: object) -> dict:
    return api.call(
        "POST",
        f"/workspaces/{WS}/experiments/exp/runs",
        json={"run_id": run_id, "kind": "interactive", **body},
    )


def _fill(api: Api, run_id: str) -> None:
    """Metrics and a file, as a job leaves them."""
    batch = {"batch_id": "b1", "points": [{"name": "loss", "value": 0.5}]}
    api.call("POST", f"/workspaces/{WS}/runs/{run_id}/metrics:batch", json=batch)
    api.call("PUT", f"/workspaces/{WS}/runs/{run_id}/files/outputs/model.txt", content=b"weights")


def test_an_ended_run_is_deleted_and_its_id_starts_again_from_scratch(api: Api) -> None:
    _interactive(api, "job-1")
    _fill(api, "job-1")
    _interactive(api, "job-1-child", parent_run_id="job-1")
    running = api.request("DELETE", f"/workspaces/{WS}/runs/job-1")
    assert "cancel it first" in error_message(running, 409)
    assert api.call("GET", f"/workspaces/{WS}/runs/job-1")["status"] == "Running"

    for run_id in ("job-1-child", "job-1"):
        api.call("PATCH", f"/workspaces/{WS}/runs/{run_id}", json={"status": "Completed"})
    assert api.request("DELETE", f"/workspaces/{WS}/runs/job-1").status_code == 204
    for run_id in ("job-1", "job-1-child"):
        gone = api.request("GET", f"/workspaces/{WS}/runs/{run_id}")
        assert gone.status_code == 404, gone.text
    assert api.request("DELETE", f"/workspaces/{WS}/runs/job-1").status_code == 404

    again = _interactive(api, "job-1")
    assert again["status"] == "Running"
    assert api.call("GET", f"/workspaces/{WS}/runs/job-1/metrics") == {}
    files = api.request("GET", f"/workspaces/{WS}/runs/job-1/files/outputs/model.txt")
    assert files.status_code == 404, files.text
    # The same batch id is new to the new run.
    batch = {"batch_id": "b1", "points": [{"name": "loss", "value": 0.25}]}
    stored = api.call("POST", f"/workspaces/{WS}/runs/job-1/metrics:batch", json=batch)
    assert stored["stored"] is True


def test_a_run_whose_launcher_is_still_stopping_is_not_deleted(api: Api, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hello')\n")
    body = {"run_id": "job-2", "definition": {"script": "train.py"}}
    body["snapshot_id"] = api.upload(WS, tmp_path / "src")
    api.call("POST", f"/workspaces/{WS}/experiments/exp/runs", json=body)
    api.tick()
    (launch,) = api.backend.launches
    api.call(
        "PATCH",
        f"/workspaces/{WS}/runs/job-2/assignments/{launch.assignment_id}",
        json={"state": "running"},
    )
    # The script says it failed (``run.fail()``) while its launcher still winds down and
    # may still ship its last logs.
    api.call("PATCH", f"/workspaces/{WS}/runs/job-2", json={"status": "Failed"})
    stopping = api.request("DELETE", f"/workspaces/{WS}/runs/job-2")
    assert "still stopping" in error_message(stopping, 409)
    api.call(
        "PATCH",
        f"/workspaces/{WS}/runs/job-2/assignments/{launch.assignment_id}",
        json={"state": "failed", "exit_code": 1},
    )
    api.tick()
    assert api.call("GET", f"/workspaces/{WS}/runs/job-2")["status"] == "Failed"
    assert api.request("DELETE", f"/workspaces/{WS}/runs/job-2").status_code == 204


def test_a_run_token_deletes_nothing(api: Api) -> None:
    _interactive(api, "job-3")
    api.call("PATCH", f"/workspaces/{WS}/runs/job-3", json={"status": "Completed"})
    token = run_token(b"k" * 32, WS, "job-3")
    refused = api.request(
        "DELETE", f"/workspaces/{WS}/runs/job-3", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403, refused.text
    assert api.call("GET", f"/workspaces/{WS}/runs/job-3")["status"] == "Completed"


def test_an_experiment_is_deleted_with_its_runs_once_they_have_ended(api: Api) -> None:
    for run_id in ("exp-a", "exp-b"):
        _interactive(api, run_id)
        _fill(api, run_id)
    api.call("PATCH", f"/workspaces/{WS}/runs/exp-a", json={"status": "Completed"})
    going = api.request("DELETE", f"/workspaces/{WS}/experiments/exp")
    assert "exp-b is Running" in error_message(going, 409)
    assert api.call("GET", f"/workspaces/{WS}/runs/exp-a")["status"] == "Completed"
    file = api.request("GET", f"/workspaces/{WS}/runs/exp-a/files/outputs/model.txt")
    assert file.content == b"weights"  # nothing went with the refused delete

    api.call("PATCH", f"/workspaces/{WS}/runs/exp-b", json={"status": "Failed"})
    assert api.request("DELETE", f"/workspaces/{WS}/experiments/exp").status_code == 204
    assert [e["name"] for e in api.call("GET", f"/workspaces/{WS}/experiments")] == []
    assert api.request("GET", f"/workspaces/{WS}/runs/exp-a").status_code == 404
    missing = api.request("DELETE", f"/workspaces/{WS}/experiments/exp")
    assert "not found" in error_message(missing, 404)
