"""The metadata store and its services, on SQLite and on PostgreSQL: runs, metrics, sweeps,
clusters, and two workspaces that use the same names side by side.

Each test runs twice, on a SQLite file and on a new database of a PostgreSQL server the
tests start (tests/postgres_server.py); the control plane runs in-process, driven through
its REST API, with a recording backend in place of node processes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.inprocess import Api, api_fixture  # noqa: F401  (the fixture)
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.compute.backend import NodeRequest

LOCAL = {"script": "train.py", "target": "local"}


def source(tmp_path: Path, text: str = "print('hello')\n", name: str = "src") -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(text)
    return folder


def submit(api: Api, ws: str, experiment: str, snapshot_id: str | None, **definition: Any) -> str:
    body = {"definition": {**LOCAL, **definition}, "snapshot_id": snapshot_id}
    return api.call("POST", f"/workspaces/{ws}/experiments/{experiment}/runs", json=body)["run_id"]


def status(api: Api, ws: str, run_id: str) -> str:
    return api.call("GET", f"/workspaces/{ws}/runs/{run_id}")["status"]


def report(api: Api, ws: str, run_id: str, assignment_id: int, state: str) -> None:
    api.call(
        "PATCH",
        f"/workspaces/{ws}/runs/{run_id}/assignments/{assignment_id}",
        json={"state": state, "exit_code": 0 if state == "succeeded" else None},
    )


def finish_local(api: Api, ws: str, run_id: str) -> None:
    """What the launcher of a run on the 'local' target reports: running, then success."""
    launch = next(r for r in api.backend.launches if r.run_id == run_id)
    report(api, ws, run_id, launch.assignment_id, "running")
    report(api, ws, run_id, launch.assignment_id, "succeeded")


def cluster(api: Api, ws: str, name: str, **scale: int) -> dict[str, Any]:
    body = {
        "name": name,
        "vm_size": scale.pop("vm_size", "STANDARD_D2_V2"),
        "scale_settings": {"min_nodes": 0, "max_nodes": 2, **scale},
    }
    return api.call("POST", f"/workspaces/{ws}/computes", json=body)


def nodes(api: Api, ws: str, name: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/workspaces/{ws}/computes/{name}/nodes")


def node_request(api: Api, ws: str, node_name: str) -> NodeRequest:
    return next(
        r for r in api.backend.nodes if r.workspace_name == ws and r.node_id.startswith(node_name)
    )


# -- runs ------------------------------------------------------------------------------
def test_a_run_is_created_placed_and_completed(api: Api, tmp_path: Path) -> None:
    ws = api.workspace("ws-one")
    snapshot_id = api.upload(ws, source(tmp_path))
    run_id = submit(api, ws, "exp", snapshot_id)
    assert status(api, ws, run_id) == "Queued"
    api.call("PATCH", f"/workspaces/{ws}/runs/{run_id}", json={"tags": {"k": "v"}})
    api.call("POST", f"/workspaces/{ws}/runs/{run_id}/properties", json={"p": "1"})
    api.tick()
    assert status(api, ws, run_id) == "Preparing"
    finish_local(api, ws, run_id)
    run = api.call("GET", f"/workspaces/{ws}/runs/{run_id}")
    assert run["status"] == "Completed"
    assert run["tags"] == {"k": "v"} and run["properties"]["p"] == "1"
    assert run["snapshot_id"] == snapshot_id
    listed = api.call("GET", f"/workspaces/{ws}/runs", params={"experiment": "exp"})
    assert [r["run_id"] for r in listed["runs"]] == [run_id]


def test_a_queued_run_is_canceled_at_once(api: Api) -> None:
    ws = api.workspace("ws-one")
    cluster(api, ws, "cpu", max_nodes=1)
    run_id = submit(api, ws, "exp", None, target="cpu")
    assert api.call("POST", f"/workspaces/{ws}/runs/{run_id}/cancel")["status"] == "Canceled"


def test_children_and_numbers(api: Api) -> None:
    ws = api.workspace("ws-one")
    parent = submit(api, ws, "exp", None)
    second = submit(api, ws, "exp", None)
    children = api.call("POST", f"/workspaces/{ws}/runs/{parent}/children", json={"count": 3})
    numbers = [api.call("GET", f"/workspaces/{ws}/runs/{r}")["number"] for r in (parent, second)]
    assert numbers == [1, 2]
    assert sorted(c["number"] for c in children) == [3, 4, 5]
    listed = api.call("GET", f"/workspaces/{ws}/runs", params={"parent": parent})["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted(c["run_id"] for c in children)


# -- metrics ---------------------------------------------------------------------------
def test_metric_batches_are_stored_once_and_read_back(api: Api) -> None:
    ws = api.workspace("ws-one")
    run_id = submit(api, ws, "exp", None)
    batch = {
        "batch_id": "b1",
        "points": [
            {"name": "loss", "value": 0.5, "step": 0},
            {"name": "loss", "value": 0.25, "step": 1},
            {"name": "acc", "value": 0.1 + 0.2},
            {"name": "table", "kind": "row", "value": {"a": 1, "b": "x"}},
        ],
    }
    path = f"/workspaces/{ws}/runs/{run_id}/metrics:batch"
    assert api.call("POST", path, json=batch)["stored"] is True
    assert api.call("POST", path, json=batch)["stored"] is False  # a client's retry
    found = api.call("GET", f"/workspaces/{ws}/runs/{run_id}/metrics")
    assert found == {"loss": [0.5, 0.25], "acc": 0.1 + 0.2, "table": {"a": [1], "b": ["x"]}}


# -- sweeps ----------------------------------------------------------------------------
def test_a_grid_sweep_runs_its_trials_and_picks_the_best(api: Api, tmp_path: Path) -> None:
    ws = api.workspace("ws-one")
    snapshot_id = api.upload(ws, source(tmp_path))
    body = {
        "generator_config": {"name": "GRID", "parameter_space": {"--lr": ["choice", [[0.1, 0.2]]]}},
        "primary_metric_config": {"name": "acc", "goal": "maximize"},
        "max_total_runs": 2,
        "definition": LOCAL,
        "snapshot_id": snapshot_id,
    }
    parent = api.call("POST", f"/workspaces/{ws}/experiments/exp/sweeps", json=body)["run_id"]
    api.tick()
    api.tick()
    sweep = api.call("GET", f"/workspaces/{ws}/sweeps/{parent}")
    trials = {t["run_id"]: t["parameters"] for t in sweep["trials"]}
    assert len(trials) == 2
    for run_id, parameters in trials.items():
        api.call(
            "POST",
            f"/workspaces/{ws}/runs/{run_id}/metrics:batch",
            json={"batch_id": "m", "points": [{"name": "acc", "value": parameters["--lr"]}]},
        )
        finish_local(api, ws, run_id)
    api.tick()
    sweep = api.call("GET", f"/workspaces/{ws}/sweeps/{parent}")
    best = max(trials, key=lambda r: trials[r]["--lr"])
    assert sweep["best_run_id"] == best and sweep["best_primary_metric"] == 0.2
    assert status(api, ws, parent) == "Completed"


# -- clusters --------------------------------------------------------------------------
def test_a_cluster_grows_for_a_run_and_its_node_runs_it(api: Api) -> None:
    ws = api.workspace("ws-one")
    cluster(api, ws, "cpu", max_nodes=1)
    run_id = submit(api, ws, "exp", None, target="cpu")
    api.tick()
    assert [n["node_id"] for n in nodes(api, ws, "cpu")] == ["cpu-n001"]
    node = node_request(api, ws, "cpu-n001")
    api.heartbeat(node)  # the agent is up: the node is idle
    api.tick()
    reply = api.heartbeat(node)
    assert [s["run_id"] for s in reply["start"]] == [run_id]
    assignment = reply["start"][0]["assignment_id"]
    report(api, ws, run_id, assignment, "running")
    report(api, ws, run_id, assignment, "succeeded")
    assert status(api, ws, run_id) == "Completed"
    assert [n["state"] for n in nodes(api, ws, "cpu")] == ["idle"]


# -- two workspaces, the same names ----------------------------------------------------
def test_the_same_cluster_name_in_two_workspaces(api: Api) -> None:
    """Node ids were one global key: the second workspace's 'cpu-n001' failed to insert and
    rolled back the scheduler pass of every cluster."""
    first, second = api.workspace("ws-a"), api.workspace("ws-b")
    for ws in (first, second):
        cluster(api, ws, "cpu", min_nodes=1, max_nodes=1)
    api.tick()
    for ws in (first, second):
        assert [n["node_id"] for n in nodes(api, ws, "cpu")] == ["cpu-n001"]
        info = api.call("GET", f"/workspaces/{ws}/computes/cpu")
        assert info["status"]["errors"] is None
        api.heartbeat(node_request(api, ws, "cpu-n001"))
    runs = {ws: submit(api, ws, "exp", None, target="cpu") for ws in (first, second)}
    api.tick()
    for ws in (first, second):
        node = node_request(api, ws, "cpu-n001")
        reply = api.heartbeat(node)
        assert [s["run_id"] for s in reply["start"]] == [runs[ws]]
        assignment = reply["start"][0]["assignment_id"]
        report(api, ws, runs[ws], assignment, "succeeded")
        assert status(api, ws, runs[ws]) == "Completed"
        assert [n["run_id"] for n in nodes(api, ws, "cpu")] == [None]


def test_a_failing_cluster_pass_shows_on_that_cluster_only(api: Api) -> None:
    first, second = api.workspace("ws-a"), api.workspace("ws-b")
    api.backend.broken_sizes.add("STANDARD_D3_V2")
    cluster(api, first, "cpu", min_nodes=1, vm_size="STANDARD_D3_V2")
    cluster(api, second, "cpu", min_nodes=1)
    local_run = submit(api, second, "exp", None)
    api.tick()
    broken = api.call("GET", f"/workspaces/{first}/computes/cpu")["status"]
    assert "cannot make nodes of size STANDARD_D3_V2" in str(broken["errors"])
    assert nodes(api, first, "cpu") == []
    assert api.call("GET", f"/workspaces/{second}/computes/cpu")["status"]["errors"] is None
    assert [n["node_id"] for n in nodes(api, second, "cpu")] == ["cpu-n001"]
    assert status(api, second, local_run) == "Preparing"
    # Once the backend works again, the error goes and the cluster grows.
    api.backend.broken_sizes.clear()
    api.tick()
    assert api.call("GET", f"/workspaces/{first}/computes/cpu")["status"]["errors"] is None
    assert [n["node_id"] for n in nodes(api, first, "cpu")] == ["cpu-n001"]


def test_a_node_answers_only_in_its_own_workspace(api: Api) -> None:
    first, second = api.workspace("ws-a"), api.workspace("ws-b")
    cluster(api, first, "cpu", min_nodes=1)
    api.tick()
    node = node_request(api, first, "cpu-n001")
    beat = api.request("POST", f"/workspaces/{second}/agents/{node.node_id}/heartbeat", json={})
    assert beat.status_code == 404, beat.text
    assert nodes(api, first, "cpu")[0]["state"] == "preparing"  # that beat did not count


def test_a_heartbeat_cannot_end_another_nodes_assignment(api: Api) -> None:
    ws = api.workspace("ws-one")
    cluster(api, ws, "cpu", min_nodes=2, max_nodes=2)
    api.tick()
    one, two = (node_request(api, ws, f"cpu-n00{i}") for i in (1, 2))
    api.heartbeat(one)
    api.heartbeat(two)
    run_id = submit(api, ws, "exp", None, target="cpu")
    api.tick()
    placed = {n["node_id"]: n["run_id"] for n in nodes(api, ws, "cpu")}
    owner, other = (one, two) if placed["cpu-n001"] == run_id else (two, one)
    assignment = api.heartbeat(owner)["start"][0]["assignment_id"]
    api.heartbeat(other, launchers=[{"assignment_id": assignment, "alive": False, "exit_code": 1}])
    assert status(api, ws, run_id) == "Preparing"


def test_snapshots_are_kept_per_workspace(api: Api, tmp_path: Path) -> None:
    """The same source folder submitted in a second workspace: HEAD found the first
    workspace's snapshot, nothing was uploaded, and the run could not fetch its code."""
    first, second = api.workspace("ws-a"), api.workspace("ws-b")
    folder = source(tmp_path)
    snapshot_id = api.upload(first, folder)
    assert api.request("HEAD", f"/workspaces/{second}/snapshots/{snapshot_id}").status_code == 404
    assert api.request("GET", f"/workspaces/{second}/snapshots/{snapshot_id}").status_code == 404
    assert api.upload(second, folder) == snapshot_id
    kept = api.request("GET", f"/workspaces/{second}/snapshots/{snapshot_id}")
    assert kept.status_code == 200 and kept.content[:2] == b"PK"
    api.call("DELETE", f"/workspaces/{first}")
    assert api.request("HEAD", f"/workspaces/{second}/snapshots/{snapshot_id}").status_code == 200
    assert api.request("GET", f"/workspaces/{second}/snapshots/{snapshot_id}").status_code == 200


def test_a_snapshot_id_must_match_its_content(api: Api, tmp_path: Path) -> None:
    from trainforge.storage import snapshot

    ws = api.workspace("ws-one")
    real = snapshot.take(source(tmp_path, "print('real')\n", "real"))
    other = snapshot.take(source(tmp_path, "print('other')\n", "other"))
    try:
        refused = api.request(
            "PUT", f"/workspaces/{ws}/snapshots/{other.id}", content=real.zip_path.read_bytes()
        )
        assert refused.status_code == 400, refused.text
        assert "snapshot_id" in refused.json()["error"]["message"]
        assert api.request("HEAD", f"/workspaces/{ws}/snapshots/{other.id}").status_code == 404
    finally:
        real.zip_path.unlink()
        other.zip_path.unlink()


def test_two_workspaces_with_the_same_names_keep_their_own(api: Api) -> None:
    """Experiments, environments, datasets, secrets and datastores of one name, twice."""
    spaces = [api.workspace("ws-a"), api.workspace("ws-b")]
    for ws in spaces:
        env = {"environment_variables": {"WHO": ws}}
        registered = api.call("POST", f"/workspaces/{ws}/environments/env/versions", json=env)
        assert registered["version"] == "1"
        dataset = {
            "name": "data",
            "definition": {
                "dataset_type": "File",
                "paths": [{"datastore_name": "workspaceblobstore", "path": f"{ws}/*"}],
            },
        }
        assert api.call("POST", f"/workspaces/{ws}/datasets", json=dataset)["version"] == 1
        api.call("PUT", f"/workspaces/{ws}/secrets/key", json={"value": ws})
        submit(api, ws, "exp", None)
    for ws in spaces:
        env = api.call("GET", f"/workspaces/{ws}/environments/env")
        assert env["definition"]["environment_variables"] == {"WHO": ws}
        data = api.call("GET", f"/workspaces/{ws}/datasets/data")
        assert data["definition"]["paths"][0]["path"] == f"{ws}/*"
        assert api.call("GET", f"/workspaces/{ws}/secrets/key")["value"] == ws
        runs = api.call("GET", f"/workspaces/{ws}/runs", params={"experiment": "exp"})
        assert [r["workspace_name"] for r in runs["runs"]] == [ws]


def test_first_submits_to_a_new_experiment_side_by_side(api: Api) -> None:
    """Concurrent first submits each created the experiment; all but one failed with 500."""
    ws = api.workspace("ws-one")
    threads = 8
    barrier = threading.Barrier(threads)

    def first_submit(experiment: str) -> int:
        barrier.wait()
        body = {"definition": LOCAL}
        path = f"/workspaces/{ws}/experiments/{experiment}/runs"
        return api.request("POST", path, json=body).status_code

    for experiment in ("new-a", "new-b", "new-c"):
        with ThreadPoolExecutor(threads) as pool:
            codes = list(pool.map(first_submit, [experiment] * threads))
        assert codes == [201] * threads
        runs = api.call("GET", f"/workspaces/{ws}/runs", params={"experiment": experiment})
        assert sorted(r["number"] for r in runs["runs"]) == list(range(1, threads + 1))
