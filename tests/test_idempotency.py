"""Every create honours its Idempotency-Key: sent again with the same key (the client's
retry after a lost answer), it gives the first answer and makes nothing twice. In-process,
on SQLite and PostgreSQL; and the client's own retry sends the key it sent first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import TOKEN, Api, InProcessTransport, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.client.api.computes import ComputesApi
from trainforge.client.api.datasets import DatasetsApi
from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.api.environments import EnvironmentsApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.sweeps import SweepsApi
from trainforge.client.api.workspaces import WorkspacesApi
from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.schemas.compute import ComputeCreate
from trainforge.schemas.datastores import DatasetRegister, DatastoreRegister
from trainforge.schemas.environments import EnvironmentDefinition
from trainforge.schemas.runs import RunCreate
from trainforge.schemas.sweeps import SweepCreate
from trainforge.schemas.workspaces import WorkspaceCreate

DATASET = {
    "name": "data",
    "create_new_version": True,
    "definition": {
        "dataset_type": "File",
        "paths": [{"datastore_name": "workspaceblobstore", "path": "x/*"}],
    },
}
SWEEP = {
    "generator_config": {
        "name": "RANDOM",
        "parameter_space": {"lr": ["uniform", [0, 1]]},
        "properties": {"rngSeed": 3},
    },
    "primary_metric_config": {"name": "acc", "goal": "maximize"},
    "max_total_runs": 2,
    "definition": {"script": "train.py", "target": "local"},
    "snapshot_id": "snap",
}


def twice(api: Api, path: str, body: Any = None) -> tuple[Any, Any]:
    """The same create sent twice with one key: both answers (each a 2xx)."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.call("POST", path, json=body, headers=key)
    return first, api.call("POST", path, json=body, headers=key)


def test_a_workspace_created_twice_with_one_key_is_made_once(api: Api) -> None:
    first, again = twice(api, "/workspaces", {"name": "ws-once"})
    assert again == first
    # Without a key the second create is refused: the workspace exists.
    refused = api.request("POST", "/workspaces", json={"name": "ws-once"})
    assert refused.status_code == 409, refused.text
    assert [w["name"] for w in api.call("GET", "/workspaces")] == ["ws-once"]


def test_a_dataset_registered_twice_with_one_key_is_one_version(api: Api) -> None:
    ws = api.workspace("ws-data")
    first, again = twice(api, f"/workspaces/{ws}/datasets", DATASET)
    assert again == first and first["version"] == 1
    # A new key is a new request: another definition is the next version.
    other = {
        **DATASET,
        "definition": {
            **DATASET["definition"],
            "paths": [{"datastore_name": "workspaceblobstore", "path": "y/*"}],
        },
    }  # type: ignore[dict-item]
    assert api.call("POST", f"/workspaces/{ws}/datasets", json=other)["version"] == 2


def test_a_datastore_registered_twice_with_one_key_is_made_once(api: Api, tmp_path: Path) -> None:
    ws = api.workspace("ws-store")
    folder = tmp_path / "data"
    folder.mkdir()
    body = {"name": "mine", "datastore_type": "LocalFolder", "path": str(folder)}
    first, again = twice(api, f"/workspaces/{ws}/datastores", body)
    assert again == first
    names = [d["name"] for d in api.call("GET", f"/workspaces/{ws}/datastores")]
    assert names.count("mine") == 1


def test_an_environment_registered_twice_with_one_key_is_one_version(api: Api) -> None:
    ws = api.workspace("ws-env")
    path = f"/workspaces/{ws}/environments/env/versions"
    first, again = twice(api, path, {"environment_variables": {"A": "1"}})
    assert again == first and first["version"] == "1"
    versions = api.call("GET", path)["environments"]
    assert [v["version"] for v in versions] == ["1"]


def test_a_sweep_submitted_twice_with_one_key_is_one_sweep(api: Api) -> None:
    ws = api.workspace("ws-sweep")
    first, again = twice(api, f"/workspaces/{ws}/experiments/exp/sweeps", SWEEP)
    assert again["run_id"] == first["run_id"]
    runs = api.call("GET", f"/workspaces/{ws}/runs", params={"experiment": "exp"})["runs"]
    assert [r["run_id"] for r in runs] == [first["run_id"]]
    cancelled, cancelled_again = twice(api, f"/workspaces/{ws}/sweeps/{first['run_id']}/cancel")
    assert cancelled_again == cancelled


def test_a_cancel_and_properties_sent_twice_with_one_key_answer_alike(api: Api) -> None:
    ws = api.workspace("ws-cancel")
    run = api.call("POST", f"/workspaces/{ws}/experiments/exp/runs", json={"kind": "interactive"})
    path = f"/workspaces/{ws}/runs/{run['run_id']}"
    first, again = twice(api, f"{path}/properties", {"a": "1"})
    assert again == first and first["properties"]["a"] == "1"
    first, again = twice(api, f"{path}/cancel")
    assert again == first


def test_one_key_for_two_requests_is_refused(api: Api) -> None:
    ws = api.workspace("ws-reuse")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    api.call("POST", f"/workspaces/{ws}/datasets", json=DATASET, headers=key)
    refused = api.request(
        "POST", f"/workspaces/{ws}/environments/env/versions", json={}, headers=key
    )
    assert refused.status_code == 409 and "Idempotency-Key" in refused.text


@pytest.mark.parametrize(
    "create",
    [
        lambda c: WorkspacesApi(c).create(WorkspaceCreate(name="ws-lost")),
        lambda c: DatasetsApi(c, "ws-main").register(DatasetRegister.model_validate(DATASET)),
        lambda c: EnvironmentsApi(c, "ws-main").register("env", EnvironmentDefinition()),
        lambda c: RunsApi(c, "ws-main").create("exp", RunCreate(kind="interactive")),
        lambda c: SweepsApi(c, "ws-main").create("exp", SweepCreate.model_validate(SWEEP)),
    ],
    ids=["workspace", "dataset", "environment", "run", "sweep"],
)
def test_the_client_retries_a_lost_create_with_its_key(
    api: Api, create: Callable[[TrainforgeClient], Any]
) -> None:
    api.workspace("ws-main")
    transport = InProcessTransport(api, lose_first_posts=True)
    client = TrainforgeClient(Endpoint("http://testserver", TOKEN), transport=transport)
    before = _counts(api)
    create(client)
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    after = _counts(api)
    assert sum(after.values()) - sum(before.values()) == 1, (before, after)


def test_a_cluster_created_twice_with_one_key_is_made_once(api: Api) -> None:
    ws = api.workspace("ws-compute")
    path = f"/workspaces/{ws}/computes"
    first, again = twice(api, path, {"name": "gpu-1", "vm_size": "STANDARD_D2_V2"})
    assert again == first and first["name"] == "gpu-1"
    # Without a key the second create is refused: the cluster exists.
    refused = api.request("POST", path, json={"name": "gpu-1"})
    assert refused.status_code == 409, refused.text
    assert [c["name"] for c in api.call("GET", path)] == ["gpu-1"]


def test_a_lost_cluster_create_is_made_once(api: Api) -> None:
    api.workspace("ws-main")
    transport = InProcessTransport(api, lose_first_posts=True)
    client = TrainforgeClient(Endpoint("http://testserver", TOKEN), transport=transport)
    made = ComputesApi(client, "ws-main").create(ComputeCreate(name="gpu-1"))
    assert made.name == "gpu-1" and made.vm_size == "STANDARD_NC6"
    # The retry carried the first try's key and got the first answer, not a 409.
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert transport.statuses == [201, 201]
    assert [c["name"] for c in api.call("GET", "/workspaces/ws-main/computes")] == ["gpu-1"]


def test_a_lost_datastore_registration_is_made_once(api: Api, tmp_path: Path) -> None:
    api.workspace("ws-main")
    transport = InProcessTransport(api, lose_first_posts=True)
    client = TrainforgeClient(Endpoint("http://testserver", TOKEN), transport=transport)
    folder = tmp_path / "data"
    folder.mkdir()
    DatastoresApi(client, "ws-main").register(
        DatastoreRegister(name="mine", datastore_type="LocalFolder", path=str(folder))
    )
    assert transport.keys[0] == transport.keys[1]
    names = [d["name"] for d in api.call("GET", "/workspaces/ws-main/datastores")]
    assert names.count("mine") == 1


def _counts(api: Api) -> dict[str, int]:
    """How many of each resource the control plane holds."""
    datasets = api.call("GET", "/workspaces/ws-main/datasets")
    return {
        "workspaces": len(api.call("GET", "/workspaces")),
        "runs": len(api.call("GET", "/workspaces/ws-main/runs")["runs"]),
        "dataset versions": sum(d["version"] for d in datasets),
        "environments": len(api.call("GET", "/workspaces/ws-main/environments")["environments"]),
    }
