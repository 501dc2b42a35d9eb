"""The datastores router in-process (TestClient): register, get, list, set the default and
unregister, a 404 naming the datastore, a 4xx naming the field, credentials never returned,
and datastores kept per workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import Api, error_message

KEY = "c2VjcmV0LWtleQ=="  # an account key (base64), never to be answered back


@pytest.fixture
def api(alpha_and_beta: Api) -> Api:
    return alpha_and_beta


def _names(api: Api, ws: str) -> list[str]:
    return [store["name"] for store in api.call("GET", f"/workspaces/{ws}/datastores")]


def _local(api: Api, folder: Path, ws: str = "alpha", **body: Any) -> Any:
    folder.mkdir(exist_ok=True)
    return api.request(
        "POST",
        f"/workspaces/{ws}/datastores",
        json={"name": "mine", "datastore_type": "LocalFolder", "path": str(folder), **body},
    )


def test_register_get_list_and_unregister_a_local_datastore(api: Api, tmp_path: Path) -> None:
    # A new workspace has its two default datastores, the blob store the default.
    assert _names(api, "alpha") == ["workspaceblobstore", "workspacefilestore"]
    made = _local(api, tmp_path / "data")
    assert made.status_code == 201, made.text
    info = made.json()
    assert (info["name"], info["datastore_type"], info["path"]) == (
        "mine",
        "LocalFolder",
        str(tmp_path / "data"),
    )
    assert info["is_default"] is False
    assert api.call("GET", "/workspaces/alpha/datastores/mine") == info
    assert "mine" in _names(api, "alpha")

    again = _local(api, tmp_path / "data")
    assert "Datastore 'mine' is already registered in workspace 'alpha'" in error_message(
        again, 409
    )
    replaced = _local(api, tmp_path / "other", overwrite=True)
    assert replaced.status_code == 201, replaced.text
    assert api.call("GET", "/workspaces/alpha/datastores/mine")["path"] == str(tmp_path / "other")

    assert api.request("DELETE", "/workspaces/alpha/datastores/mine").status_code == 204
    assert "mine" not in _names(api, "alpha")
    gone = api.request("GET", "/workspaces/alpha/datastores/mine")
    assert error_message(gone, 404) == "Datastore 'mine' is not registered in workspace 'alpha'"
    twice = api.request("DELETE", "/workspaces/alpha/datastores/mine")
    assert error_message(twice, 404) == "Datastore 'mine' is not registered in workspace 'alpha'"


@pytest.mark.parametrize(
    ("body", "status", "wanted"),
    [
        (
            {"name": "bad name!", "datastore_type": "LocalFolder", "path": "/tmp"},
            422,
            "name: datastore_name: 'bad name!' is not allowed",
        ),
        (
            {"name": "x", "datastore_type": "Nope"},
            422,
            "datastore_type: Input should be 'AzureBlob', 'AzureFile', 'S3' or 'LocalFolder'",
        ),
        (
            {"name": "blob", "datastore_type": "AzureBlob"},
            422,
            "container_name, account_name: required for a AzureBlob datastore",
        ),
        ({"name": "s3", "datastore_type": "S3"}, 422, "bucket_name: required for a S3 datastore"),
        (
            {"name": "loc", "datastore_type": "LocalFolder", "path": "/etc"},
            400,
            "path: '/etc' is outside the folders local datastores may use",
        ),
    ],
)
def test_a_bad_datastore_is_refused_naming_the_field_and_not_made(
    api: Api, body: dict[str, Any], status: int, wanted: str
) -> None:
    response = api.request("POST", "/workspaces/alpha/datastores", json=body)
    assert wanted in error_message(response, status)
    assert _names(api, "alpha") == ["workspaceblobstore", "workspacefilestore"]


def test_credentials_are_kept_but_never_answered(api: Api) -> None:
    body = {
        "name": "blob",
        "datastore_type": "AzureBlob",
        "container_name": "c",
        "account_name": "acct",
        "credentials": {"account_key": KEY},
        "skip_validation": True,
    }
    made = api.request("POST", "/workspaces/alpha/datastores", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["credential_type"] == "AccountKey"
    for answer in (
        made.text,
        api.request("GET", "/workspaces/alpha/datastores/blob").text,
        api.request("GET", "/workspaces/alpha/datastores").text,
    ):
        assert KEY not in answer


def test_the_default_moves_and_a_default_is_not_unregistered(api: Api, tmp_path: Path) -> None:
    assert _local(api, tmp_path / "data").status_code == 201
    refused = api.request("DELETE", "/workspaces/alpha/datastores/workspaceblobstore")
    assert "'workspaceblobstore' is the workspace's default" in error_message(refused, 409)
    moved = api.call("PUT", "/workspaces/alpha/datastores/mine/default")
    assert moved["is_default"] is True
    defaults = [
        s["name"] for s in api.call("GET", "/workspaces/alpha/datastores") if s["is_default"]
    ]
    assert defaults == ["mine"]
    missing = api.request("PUT", "/workspaces/alpha/datastores/nothere/default")
    assert (
        error_message(missing, 404) == "Datastore 'nothere' is not registered in workspace 'alpha'"
    )
    assert (
        api.request("DELETE", "/workspaces/alpha/datastores/workspaceblobstore").status_code == 204
    )


def test_the_same_datastore_name_lives_apart_in_two_workspaces(api: Api, tmp_path: Path) -> None:
    assert _local(api, tmp_path / "a", "alpha").status_code == 201
    assert "mine" not in _names(api, "beta")
    unseen = api.request("GET", "/workspaces/beta/datastores/mine")
    assert error_message(unseen, 404) == "Datastore 'mine' is not registered in workspace 'beta'"
    assert error_message(api.request("DELETE", "/workspaces/beta/datastores/mine"), 404)

    assert _local(api, tmp_path / "b", "beta").status_code == 201
    assert api.call("GET", "/workspaces/alpha/datastores/mine")["path"] == str(tmp_path / "a")
    assert api.request("DELETE", "/workspaces/beta/datastores/mine").status_code == 204
    assert api.call("GET", "/workspaces/alpha/datastores/mine")["path"] == str(tmp_path / "a")
    nowhere = api.request("GET", "/workspaces/nowhere/datastores")
    assert error_message(nowhere, 404) == "Workspace 'nowhere' not found"
