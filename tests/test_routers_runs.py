"""The runs router in-process (TestClient): submit, read, state moves, metrics, idempotent
creates, workspace isolation and what a run token may reach."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Api, error_message
from trainforge.server.auth import run_token

KEY = b"k" * 32  # the signing key of tests/inprocess.py's server


def _start(api: Api, ws: str = "alpha", experiment: str = "exp") -> dict[str, Any]:
    return api.call(
        "POST", f"/workspaces/{ws}/experiments/{experiment}/runs", json={"kind": "interactive"}
    )


@pytest.fixture
def api(alpha_and_beta: Api) -> Api:
    return alpha_and_beta


def test_an_interactive_run_is_201_running_and_listed(api: Api) -> None:
    response = api.request(
        "POST", "/workspaces/alpha/experiments/exp/runs", json={"kind": "interactive"}
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["status"], run["number"], run["experiment_name"]) == ("Running", 1, "exp")
    assert api.call("GET", f"/workspaces/alpha/runs/{run['run_id']}")["run_id"] == run["run_id"]
    listed = api.call("GET", "/workspaces/alpha/runs", params={"experiment": "exp"})
    assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"kind": "nonsense"}, "kind: Input should be"), ([], "Input should be a valid dictionary")],
)
def test_a_bad_submit_is_a_422_naming_the_field(api: Api, body: object, field: str) -> None:
    response = api.request("POST", "/workspaces/alpha/experiments/exp/runs", json=body)
    assert field in error_message(response, 422)
    assert api.call("GET", "/workspaces/alpha/runs")["runs"] == []


def test_the_same_idempotency_key_makes_one_run(api: Api) -> None:
    path = "/workspaces/alpha/experiments/exp/runs"
    headers = {"Idempotency-Key": "submit-1"}
    first = api.call("POST", path, json={"kind": "interactive"}, headers=headers)
    again = api.call("POST", path, json={"kind": "interactive"}, headers=headers)
    assert first["run_id"] == again["run_id"]
    assert len(api.call("GET", "/workspaces/alpha/runs")["runs"]) == 1
    bad = api.request(
        "POST", path, json={"kind": "interactive"}, headers={"Idempotency-Key": "a b"}
    )
    assert bad.status_code == 422, bad.text


def test_an_illegal_state_move_is_refused_and_the_run_keeps_its_state(api: Api) -> None:
    run = _start(api)
    path = f"/workspaces/alpha/runs/{run['run_id']}"
    assert api.call("PATCH", path, json={"status": "Completed"})["status"] == "Completed"
    response = api.request("PATCH", path, json={"status": "Running"})
    assert 400 <= response.status_code < 500, response.text
    assert api.call("GET", path)["status"] == "Completed"
    assert "status:" in error_message(api.request("PATCH", path, json={"status": "Sleeping"}), 422)


def test_metric_batches_validate_and_store_once(api: Api) -> None:
    run = _start(api)
    path = f"/workspaces/alpha/runs/{run['run_id']}/metrics:batch"
    assert error_message(api.request("POST", path, json={"batch_id": "b1"}), 422).startswith(
        "points:"
    )
    body = {"batch_id": "b1", "points": [{"name": "loss", "value": 0.5, "step": 0}]}
    assert api.call("POST", path, json=body)["stored"] is True
    assert api.call("POST", path, json=body)["stored"] is False  # a retry: nothing twice
    metrics = api.call("GET", f"/workspaces/alpha/runs/{run['run_id']}/metrics")
    assert metrics  # the one point, in whatever shape the route answers
    assert "0.5" in str(metrics)


def test_a_run_is_found_only_in_its_own_workspace(api: Api) -> None:
    run = _start(api, "alpha")
    response = api.request("GET", f"/workspaces/beta/runs/{run['run_id']}")
    assert "not found in workspace 'beta'" in error_message(response, 404)
    cancel = api.request("POST", f"/workspaces/beta/runs/{run['run_id']}/cancel")
    assert cancel.status_code == 404, cancel.text
    assert api.call("GET", f"/workspaces/alpha/runs/{run['run_id']}")["status"] == "Running"
    assert api.call("GET", "/workspaces/beta/runs")["runs"] == []


def test_a_run_token_writes_its_own_run_only(api: Api) -> None:
    mine, other = _start(api), _start(api)
    foreign = _start(api, "beta")
    headers = {"Authorization": f"Bearer {run_token(KEY, 'alpha', mine['run_id'])}"}

    def as_run(method: str, path: str, **kwargs: Any) -> Any:
        return api.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    assert as_run("GET", f"/workspaces/alpha/runs/{mine['run_id']}").status_code == 200
    batch = {"batch_id": "b", "points": [{"name": "m", "value": 1}]}
    assert (
        as_run(
            "POST", f"/workspaces/alpha/runs/{mine['run_id']}/metrics:batch", json=batch
        ).status_code
        == 200
    )
    refused = as_run(
        "PATCH", f"/workspaces/alpha/runs/{other['run_id']}", json={"status": "Failed"}
    )
    assert "writes only its own run" in error_message(refused, 403)
    assert as_run("GET", f"/workspaces/beta/runs/{foreign['run_id']}").status_code == 403
    assert as_run("GET", "/workspaces").status_code == 403
    assert api.call("GET", f"/workspaces/alpha/runs/{other['run_id']}")["status"] == "Running"
