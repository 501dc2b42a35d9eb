"""The workspaces router in-process (TestClient): status codes, validation errors naming the
field, secrets kept per workspace, and who may call it."""

from __future__ import annotations

import pytest

from tests.inprocess import Api, error_message
from trainforge.server.auth import node_token, run_token

KEY = b"k" * 32  # the signing key of tests/inprocess.py's server


def test_create_answers_201_then_409_and_get_finds_it(app_api: Api) -> None:
    created = app_api.request("POST", "/workspaces", json={"name": "alpha"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "alpha"
    assert "already exists" in error_message(
        app_api.request("POST", "/workspaces", json={"name": "alpha"}), 409
    )
    assert app_api.call("GET", "/workspaces/alpha")["name"] == "alpha"
    assert [w["name"] for w in app_api.call("GET", "/workspaces")] == ["alpha"]


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({}, "name: Field required"),
        ({"name": "a"}, "name: Workspace name 'a' is invalid: 3 to 33 characters"),
        ({"name": "-dash-first"}, "starting with a letter or digit"),
        ({"name": 7}, "name:"),
    ],
)
def test_a_bad_workspace_name_is_a_422_naming_the_field(
    app_api: Api, body: dict, wanted: str
) -> None:
    message = error_message(app_api.request("POST", "/workspaces", json=body), 422)
    assert wanted in message, message
    assert app_api.call("GET", "/workspaces") == []  # nothing half-made


def test_an_unknown_workspace_is_a_404_naming_it(app_api: Api) -> None:
    assert error_message(app_api.request("GET", "/workspaces/nowhere"), 404) == (
        "Workspace 'nowhere' not found"
    )
    assert "'nowhere'" in error_message(
        app_api.request("GET", "/workspaces/nowhere/experiments"), 404
    )


def test_delete_answers_204_and_the_workspace_is_gone(app_api: Api) -> None:
    app_api.workspace("short-lived")
    assert app_api.request("DELETE", "/workspaces/short-lived").status_code == 204
    assert app_api.request("GET", "/workspaces/short-lived").status_code == 404


def test_secrets_and_experiments_stay_in_their_workspace(app_api: Api) -> None:
    for ws in ("alpha", "beta"):
        app_api.workspace(ws)
    assert (
        app_api.request("PUT", "/workspaces/alpha/secrets/db-pass", json={"value": "a"}).status_code
        == 204
    )
    app_api.call("PUT", "/workspaces/alpha/experiments/shared-name")
    assert app_api.call("GET", "/workspaces/alpha/secrets/db-pass")["value"] == "a"
    assert app_api.call("GET", "/workspaces/beta/secrets") == []
    assert "workspace 'beta'" in error_message(
        app_api.request("GET", "/workspaces/beta/secrets/db-pass"), 404
    )
    assert app_api.call("GET", "/workspaces/beta/experiments") == []
    assert [e["name"] for e in app_api.call("GET", "/workspaces/alpha/experiments")] == [
        "shared-name"
    ]


def test_a_secret_without_a_value_is_a_422_and_not_stored(app_api: Api) -> None:
    app_api.workspace("alpha")
    message = error_message(app_api.request("PUT", "/workspaces/alpha/secrets/s1", json={}), 422)
    assert message.startswith("value:"), message
    assert app_api.call("GET", "/workspaces/alpha/secrets") == []


def test_calls_without_a_valid_token_are_401(app_api: Api) -> None:
    for header in ({"Authorization": ""}, {"Authorization": "Basic abc"}):
        response = app_api.client.get("/api/v1/workspaces", headers=header)
        assert "bearer token is required" in error_message(response, 401)
    forged = run_token(b"x" * 32, "alpha", "some-run")  # signed with another key
    response = app_api.client.get(
        "/api/v1/workspaces", headers={"Authorization": f"Bearer {forged}"}
    )
    assert "not valid for this server" in error_message(response, 401)


def test_run_and_node_tokens_cannot_manage_workspaces(app_api: Api) -> None:
    app_api.workspace("alpha")
    run = app_api.call("POST", "/workspaces/alpha/experiments/e/runs", json={"kind": "interactive"})
    for token in (run_token(KEY, "alpha", run["run_id"]), node_token(KEY, "alpha", "c1", "n1")):
        headers = {"Authorization": f"Bearer {token}"}
        for method, path in (
            ("GET", "/api/v1/workspaces"),
            ("POST", "/api/v1/workspaces"),
            ("DELETE", "/api/v1/workspaces/alpha"),
        ):
            response = app_api.client.request(method, path, headers=headers, json={"name": "gamma"})
            assert response.status_code == 403, (method, path, response.text)
    assert [w["name"] for w in app_api.call("GET", "/workspaces")] == ["alpha"]
