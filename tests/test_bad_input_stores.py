"""Text that a column cannot hold is a 4xx naming the field, on SQLite and on PostgreSQL.

SQLite stores a string of any length in a VARCHAR(n) and a NUL inside text; PostgreSQL
refuses both, so without limits at the edge these requests answered 500 on a team server
only. The control plane runs in-process (TestClient) on each store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.inprocess import DATABASES, Api, database_url
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)

WS = "strings-ws"
LONG = "x" * 300  # longer than any VARCHAR column a request fills
RUNS = f"/workspaces/{WS}/experiments/exp/runs"
INTERACTIVE: dict[str, Any] = {"kind": "interactive"}
SCRIPT: dict[str, Any] = {"kind": "script", "definition": {"script": "train.py"}}
SWEEPS = f"/workspaces/{WS}/experiments/exp/sweeps"
SWEEP: dict[str, Any] = {
    "generator_config": {"name": "GRID", "parameter_space": {"lr": ["choice", [[1, 2]]]}},
    "primary_metric_config": {"name": "acc", "goal": "maximize"},
    "definition": {"script": "train.py"},
    "snapshot_id": "0" * 64,
    "max_total_runs": 2,
}


@pytest.fixture(scope="module", params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One control plane per store for the whole module: every request here is refused,
    so they cannot disturb each other."""
    folder = tmp_path_factory.mktemp("strings")
    control = Api(folder / "home", database_url(str(request.param), folder, request))
    control.workspace(WS)
    try:
        yield control
    finally:
        control.close()


def _refused(api: Api, method: str, path: str, body: dict[str, Any], field: str) -> None:
    reply = api.request(method, path, json=body)
    assert 400 <= reply.status_code < 500, (path, field, reply.status_code, reply.text)
    message = reply.json()["error"]["message"]
    assert field in message, (field, message)


def _run(api: Api) -> str:
    return f"/workspaces/{WS}/runs/{api.call('POST', RUNS, json=INTERACTIVE)['run_id']}"


# (path below the workspace, body, the field the answer must name)
TOO_LONG = [
    ("POST", RUNS, {**INTERACTIVE, "display_name": LONG}, "display_name"),
    ("POST", RUNS, {**INTERACTIVE, "submitted_by": LONG}, "submitted_by"),
    ("POST", RUNS, {**INTERACTIVE, "run_type": LONG}, "run_type"),
    ("POST", RUNS, {**INTERACTIVE, "snapshot_id": LONG}, "snapshot_id"),
    ("POST", RUNS, {**SCRIPT, "definition": {"script": "t.py", "target": LONG}}, "target"),
    ("POST", "/workspaces", {"name": "long-ws", "subscription_id": LONG}, "subscription_id"),
    ("POST", "/workspaces", {"name": "long-ws", "resource_group": LONG}, "resource_group"),
    ("POST", "/workspaces", {"name": "long-ws", "location": LONG}, "location"),
    ("POST", "/workspaces", {"name": "long-ws", "friendly_name": LONG}, "friendly_name"),
    ("POST", "/workspaces", {"name": "long-ws", "sku": LONG}, "sku"),
    ("PUT", f"/workspaces/{WS}/secrets/s1", {"value": "v", "content_type": LONG}, "content_type"),
    ("POST", f"/workspaces/{WS}/computes", {"name": "cpu", "vm_size": LONG}, "vm_size"),
    ("POST", SWEEPS, {**SWEEP, "display_name": LONG}, "display_name"),
    ("POST", SWEEPS, {**SWEEP, "submitted_by": LONG}, "submitted_by"),
    ("POST", SWEEPS, {**SWEEP, "snapshot_id": LONG}, "snapshot_id"),
    ("POST", SWEEPS, {**SWEEP, "max_concurrent_runs": 2**63}, "max_concurrent_runs"),
]

NUL = "a\u0000b"
WITH_NUL = [
    ("POST", RUNS, {**INTERACTIVE, "display_name": NUL}, "display_name"),
    ("POST", RUNS, {**INTERACTIVE, "description": NUL}, "description"),
    ("POST", RUNS, {**INTERACTIVE, "tags": {"team": NUL}}, "tags.team"),
    ("POST", RUNS, {**INTERACTIVE, "properties": {NUL: "v"}}, "properties"),
    (
        "POST",
        RUNS,
        {**SCRIPT, "definition": {"script": "t.py", "arguments": ["--a", NUL]}},
        "definition.arguments.1",
    ),
    ("POST", "/workspaces", {"name": "nul-ws", "description": NUL}, "description"),
    ("PUT", f"/workspaces/{WS}/secrets/s2", {"value": NUL}, "value"),
    ("POST", SWEEPS, {**SWEEP, "tags": {"k": NUL}}, "tags.k"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), TOO_LONG)
def test_text_longer_than_its_column_is_a_4xx_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    _refused(api, method, path, body, field)


@pytest.mark.parametrize(("method", "path", "body", "field"), WITH_NUL)
def test_a_nul_inside_a_json_body_is_a_4xx_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    _refused(api, method, path, body, field)


def test_updates_and_metrics_refuse_long_text_and_nul(api: Api) -> None:
    run = _run(api)
    _refused(api, "PATCH", run, {"display_name": LONG}, "display_name")
    _refused(api, "PATCH", run, {"description": NUL}, "description")
    _refused(api, "PATCH", run, {"tags": {NUL: "x"}}, "tags")
    _refused(api, "POST", f"{run}/properties", {"k": NUL}, "k")
    point = {"name": "m", "value": NUL}
    _refused(
        api, "POST", f"{run}/metrics:batch", {"batch_id": "b", "points": [point]}, "points.0.value"
    )
    # Good text next to them still goes in, and a backslash before "u0000" is no NUL.
    api.call("PATCH", run, json={"display_name": "ok", "description": "C:\\u0000dir"})
    assert api.call("GET", run)["description"] == "C:\\u0000dir"
