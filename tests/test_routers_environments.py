"""The environments router in-process (TestClient): register versions, get the latest or
one version, list them, a 404 naming the environment and version, a 4xx naming the field,
and environments kept per workspace. (Registered environments are not deleted: the SDK has
no call for it, and the API no path.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Api, error_message


@pytest.fixture
def api(alpha_and_beta: Api) -> Api:
    return alpha_and_beta


def _register(api: Api, name: str = "env1", ws: str = "alpha", **definition: Any) -> Any:
    return api.request("POST", f"/workspaces/{ws}/environments/{name}/versions", json=definition)


def _listed(api: Api, ws: str) -> list[tuple[str, str]]:
    found = api.call("GET", f"/workspaces/{ws}/environments")["environments"]
    return [(env["name"], env["version"]) for env in found]


def test_register_versions_get_and_list_them(api: Api) -> None:
    assert _listed(api, "alpha") == []
    first = _register(api, environment_variables={"A": "1"})
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["definition"]["environment_variables"]) == (
        "1",
        {"A": "1"},
    )
    # The same definition again is the same version (200); another is the next one (201).
    same = _register(api, environment_variables={"A": "1"})
    assert (same.status_code, same.json()["version"]) == (200, "1")
    second = _register(api, environment_variables={"A": "2"})
    assert (second.status_code, second.json()["version"]) == (201, "2")

    latest = api.call("GET", "/workspaces/alpha/environments/env1")
    assert latest["version"] == "2" and latest["definition"]["environment_variables"] == {"A": "2"}
    one = api.call("GET", "/workspaces/alpha/environments/env1/versions/1")
    assert one["definition"]["environment_variables"] == {"A": "1"}
    versions = api.call("GET", "/workspaces/alpha/environments/env1/versions")["environments"]
    assert [v["version"] for v in versions] == ["1", "2"]
    assert _register(api, "env2").status_code == 201
    assert sorted(_listed(api, "alpha")) == [("env1", "2"), ("env2", "1")]


def test_a_missing_environment_or_version_is_a_404_naming_it(api: Api) -> None:
    none = api.request("GET", "/workspaces/alpha/environments/ghost")
    assert error_message(none, 404) == "Environment 'ghost' is not registered in workspace 'alpha'"
    no_versions = api.request("GET", "/workspaces/alpha/environments/ghost/versions")
    assert (
        error_message(no_versions, 404)
        == "Environment 'ghost' is not registered in workspace 'alpha'"
    )
    assert _register(api).status_code == 201
    nine = api.request("GET", "/workspaces/alpha/environments/env1/versions/9")
    assert error_message(nine, 404) == (
        "Environment 'env1' has no version '9' in workspace 'alpha'; its versions are 1"
    )
    nowhere = api.request("GET", "/workspaces/nowhere/environments")
    assert error_message(nowhere, 404) == "Workspace 'nowhere' not found"


@pytest.mark.parametrize(
    ("name", "definition", "status", "wanted"),
    [
        ("-bad", {}, 422, "name: Environment name '-bad' is invalid: 1 to 255 characters"),
        ("AzureML-x", {}, 400, "name: environment names starting with 'AzureML' or 'Microsoft'"),
        ("e2", {"environment_variables": {"A": 1}}, 422, "environment_variables.A: Input should"),
        (
            "e2",
            {"python": {"user_managed_dependencies": "maybe"}},
            422,
            "python.user_managed_dependencies: Input should be a valid boolean",
        ),
        ("e2", {"docker": {"arguments": "--rm"}}, 422, "docker.arguments: Input should be"),
    ],
)
def test_a_bad_environment_is_refused_naming_the_field_and_not_registered(
    api: Api, name: str, definition: dict[str, Any], status: int, wanted: str
) -> None:
    assert wanted in error_message(_register(api, name, **definition), status)
    assert _listed(api, "alpha") == []


def test_the_same_environment_name_lives_apart_in_two_workspaces(api: Api) -> None:
    assert _register(api, ws="alpha", environment_variables={"WS": "alpha"}).status_code == 201
    assert _listed(api, "beta") == []
    unseen = api.request("GET", "/workspaces/beta/environments/env1")
    assert error_message(unseen, 404) == "Environment 'env1' is not registered in workspace 'beta'"
    # beta's first version of env1 is its own version 1, alpha's stays as it was.
    made = _register(api, ws="beta", environment_variables={"WS": "beta"})
    assert (made.status_code, made.json()["version"]) == (201, "1")
    alpha = api.call("GET", "/workspaces/alpha/environments/env1")
    assert (alpha["version"], alpha["definition"]["environment_variables"]) == (
        "1",
        {"WS": "alpha"},
    )
    beta = api.call("GET", "/workspaces/beta/environments/env1/versions/1")
    assert beta["definition"]["environment_variables"] == {"WS": "beta"}
