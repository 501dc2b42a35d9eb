"""The computes router in-process (TestClient): create, read, update, delete, validation
errors naming the field, clusters kept per workspace, and what node and run tokens reach."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Api, error_message
from trainforge.server.auth import node_token, run_token

KEY = b"k" * 32  # the signing key of tests/inprocess.py's server


@pytest.fixture
def api(alpha_and_beta: Api) -> Api:
    return alpha_and_beta


def _create(api: Api, ws: str = "alpha", **body: Any) -> Any:
    return api.request("POST", f"/workspaces/{ws}/computes", json={"name": "gpu-1", **body})


def test_create_is_201_with_the_sdks_defaults_then_409(api: Api) -> None:
    response = _create(api)
    assert response.status_code == 201, response.text
    info = response.json()
    assert (info["vm_size"], info["vm_priority"]) == ("STANDARD_NC6", "dedicated")
    assert info["scale_settings"]["min_nodes"] == 0
    assert "'gpu-1' already exists in workspace 'alpha'" in error_message(_create(api), 409)
    assert [c["name"] for c in api.call("GET", "/workspaces/alpha/computes")] == ["gpu-1"]


@pytest.mark.parametrize(
    ("body", "status", "wanted"),
    [
        ({"name": "x"}, 422, "name: Compute name 'x' is invalid"),
        ({"vm_size": "NOPE"}, 400, "vm_size: NOPE is not a VM size"),
        (
            {"vm_priority": "cheap"},
            422,
            "vm_priority: Invalid vm_priority 'cheap': allowed values are 'dedicated' or 'lowpriority'",
        ),
        ({"scale_settings": {"max_nodes": -1}}, 422, "scale_settings.max_nodes:"),
        (
            {"scale_settings": {"min_nodes": 3, "max_nodes": 1}},
            422,
            "scale_settings: Invalid max_nodes 1: it must be at least min_nodes (3)",
        ),
    ],
)
def test_a_bad_cluster_is_refused_naming_the_field_and_not_made(
    api: Api, body: dict, status: int, wanted: str
) -> None:
    assert wanted in error_message(_create(api, **body), status)
    assert api.call("GET", "/workspaces/alpha/computes") == []


def test_an_update_that_breaks_the_scale_rule_is_a_4xx_and_changes_nothing(api: Api) -> None:
    assert _create(api, scale_settings={"min_nodes": 0, "max_nodes": 2}).status_code == 201
    path = "/workspaces/alpha/computes/gpu-1"
    response = api.request("PATCH", path, json={"min_nodes": 9})
    assert 400 <= response.status_code < 500, response.text
    assert "min_nodes" in response.json()["error"]["message"]
    assert api.call("GET", path)["scale_settings"]["min_nodes"] == 0
    updated = api.call("PATCH", path, json={"max_nodes": 3})
    assert updated["scale_settings"]["max_nodes"] == 3


def test_the_same_cluster_name_lives_apart_in_two_workspaces(api: Api) -> None:
    assert _create(api, "alpha", vm_size="STANDARD_D2_V2").status_code == 201
    assert _create(api, "beta", vm_size="STANDARD_NC6").status_code == 201
    assert api.call("GET", "/workspaces/alpha/computes/gpu-1")["vm_size"] == "STANDARD_D2_V2"
    assert api.request("DELETE", "/workspaces/beta/computes/gpu-1").status_code == 202
    assert api.call("GET", "/workspaces/alpha/computes/gpu-1")["provisioning_state"] == "Succeeded"
    missing = api.request("GET", "/workspaces/alpha/computes/other")
    assert "name other not found" in error_message(missing, 404)


def test_the_vm_size_catalog_is_public_to_every_token(api: Api) -> None:
    sizes = api.call("GET", "/vm-sizes")
    assert "STANDARD_NC6" in {size["name"] for size in sizes}


def test_node_and_run_tokens_cannot_manage_clusters(api: Api) -> None:
    assert _create(api).status_code == 201
    run = api.call("POST", "/workspaces/alpha/experiments/e/runs", json={"kind": "interactive"})
    for token in (node_token(KEY, "alpha", "gpu-1", "n1"), run_token(KEY, "alpha", run["run_id"])):
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in (
            ("POST", "/api/v1/workspaces/alpha/computes", {"name": "mine"}),
            ("PATCH", "/api/v1/workspaces/alpha/computes/gpu-1", {"max_nodes": 9}),
            ("DELETE", "/api/v1/workspaces/alpha/computes/gpu-1", None),
        ):
            response = api.client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (method, path, response.text)
    info = api.call("GET", "/workspaces/alpha/computes/gpu-1")
    assert (info["provisioning_state"], info["scale_settings"]["max_nodes"]) == ("Succeeded", 4)
    assert [c["name"] for c in api.call("GET", "/workspaces/alpha/computes")] == ["gpu-1"]
