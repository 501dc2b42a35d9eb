"""Pipeline graphs in-process: the pure step decisions, and the control plane's pipeline
loop stepped by hand (a recording backend instead of node processes; step runs move as a
launcher would move them, through the runs API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.inprocess import Api, error_message
from trainforge.schemas.runs import RunStatus
from trainforge.server.services.pipeline_progress import StepView, decide

S = RunStatus


def view(name: str, state: str, status: RunStatus = S.NOT_STARTED, *waits: str) -> StepView:
    return StepView(name, state, status, frozenset(waits))


def test_steps_start_when_what_they_wait_for_completed() -> None:
    steps = [
        view("a", "done", S.COMPLETED),
        view("b", "waiting", S.NOT_STARTED, "a"),
        view("c", "waiting", S.NOT_STARTED, "a"),
        view("d", "waiting", S.NOT_STARTED, "b", "c"),
    ]
    decision = decide(steps, continue_on_step_failure=False)
    assert decision.start == ["b", "c"]
    assert decision.skip == {} and decision.cancel == [] and decision.final is None


def test_a_failed_step_stops_the_pipeline_unless_it_continues() -> None:
    steps = [
        view("a", "done", S.FAILED),
        view("b", "waiting", S.NOT_STARTED, "a"),
        view("c", "waiting", S.NOT_STARTED, "b"),
        view("x", "running", S.RUNNING),
        view("y", "waiting", S.NOT_STARTED, "x"),
    ]
    stop = decide(steps, continue_on_step_failure=False)
    assert stop.start == []
    assert stop.cancel == ["x"]
    assert stop.skip == {
        "b": "step 'a' did not complete (Failed)",
        "c": "step 'b' did not run",
        "y": "step 'a' failed and continue_on_step_failure is off",
    }
    assert stop.final is None  # x is still stopping
    go_on = decide(steps, continue_on_step_failure=True)
    assert go_on.cancel == [] and set(go_on.skip) == {"b", "c"} and go_on.start == []
    ended = [view("a", "done", S.FAILED), view("x", "done", S.COMPLETED)]
    assert decide(ended, True).final is S.FAILED
    assert decide([view("a", "done", S.COMPLETED)], False).final is S.COMPLETED
    assert decide([view("a", "done", S.CANCELED)], False).final is S.CANCELED


def _step(name: str, snapshot: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "definition": {"script": "s.py", "target": "local"},
        "snapshot_id": snapshot,
        **extra,
    }


def _patch(api: Api, ws: str, run_id: str, status: str) -> None:
    api.call("PATCH", f"/workspaces/{ws}/runs/{run_id}", json={"status": status})


def test_the_loop_submits_each_step_when_its_input_is_ready(app_api: Api, tmp_path: Path) -> None:
    ws = app_api.workspace("alpha")
    app_api.workspace("beta")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s.py").write_text("print('s')\n")
    snap = app_api.upload(ws, tmp_path / "src")
    graph = {
        "steps": [
            _step(
                "make",
                snap,
                outputs=[{"name": "made", "datastore_name": "workspaceblobstore"}],
                arguments=["--out", "$AZUREML_DATAREFERENCE_made", {"parameter": "n"}],
            ),
            _step(
                "use",
                snap,
                inputs=[{"name": "made", "kind": "pipeline_data"}],
                params={"n": {"parameter": "n"}},
            ),
        ],
        "parameters": [{"name": "n", "default_value": 3}],
    }
    parent = app_api.call(
        "POST",
        f"/workspaces/{ws}/experiments/e/pipelineruns",
        json={"graph": graph, "pipeline_parameters": {"n": 7}},
    )
    assert parent["run_type"] == "azureml.PipelineRun" and parent["status"] == "Running"
    app_api.plane.pipeliner.tick()
    shown = app_api.call("GET", f"/workspaces/{ws}/runs/{parent['run_id']}/graph")
    make, use = shown["steps"]
    assert (make["name"], make["state"], make["status"]) == ("make", "running", "Queued")
    assert (use["state"], use["run_id"]) == ("waiting", None)
    assert shown["edges"] == [["make", "use"]]
    child = app_api.call("GET", f"/workspaces/{ws}/runs/{make['run_id']}")
    assert child["parent_run_id"] == parent["run_id"]
    assert child["run_type"] == "azureml.StepRun"
    assert child["definition"]["arguments"] == ["--out", "$AZUREML_DATAREFERENCE_made", "7"]
    made = child["definition"]["data_references"]["made"]
    assert (made["mode"], made["path_on_datastore"]) == (
        "upload",
        f"azureml/{child['run_id']}/made",
    )
    # Another workspace sees nothing of it.
    assert (
        app_api.request("GET", f"/workspaces/beta/runs/{parent['run_id']}/graph").status_code == 404
    )

    for status in ("Running", "Completed"):
        _patch(app_api, ws, make["run_id"], status)
    app_api.plane.pipeliner.tick()
    use = app_api.call("GET", f"/workspaces/{ws}/runs/{parent['run_id']}/graph")["steps"][1]
    assert use["state"] == "running"
    consumer = app_api.call("GET", f"/workspaces/{ws}/runs/{use['run_id']}")["definition"]
    assert consumer["data_references"]["made"]["path_on_datastore"] == made["path_on_datastore"]
    assert consumer["data_references"]["made"]["allow_empty"] is True
    assert consumer["environment"]["environment_variables"]["AML_PARAMETER_n"] == "7"
    _patch(app_api, ws, use["run_id"], "Running")
    _patch(app_api, ws, use["run_id"], "Failed")
    app_api.plane.pipeliner.tick()
    run = app_api.call("GET", f"/workspaces/{ws}/runs/{parent['run_id']}")
    assert run["status"] == "Failed"
    assert run["error"]["message"] == "Pipeline run failed: step use failed"
    files = app_api.call("GET", f"/workspaces/{ws}/runs/{parent['run_id']}/files")
    assert "azureml-logs/pipeline.txt" in [f["name"] for f in files]
    log = app_api.request(
        "GET", f"/workspaces/{ws}/runs/{parent['run_id']}/files/azureml-logs/pipeline.txt"
    ).text
    assert f"StepRun( use ) Status: Failed, run {use['run_id']}" in log
    assert "PipelineRun Status: Failed: 2 steps (1 completed of which 0 reused, 1 failed" in log


def test_bad_submits_are_4xx_naming_what_is_wrong_and_create_nothing(
    app_api: Api, tmp_path: Path
) -> None:
    ws = app_api.workspace("alpha")
    path = f"/workspaces/{ws}/experiments/e/pipelineruns"
    cycle = {
        "steps": [
            _step("a", "x", run_after=["b"]),
            _step("b", "x", run_after=["a"]),
        ]
    }
    message = error_message(app_api.request("POST", path, json={"graph": cycle}), 422)
    assert "the pipeline has a cycle" in message
    dup = {"steps": [_step("a", "x"), _step("a", "x")]}
    assert "step name 'a' is used by 2 steps" in error_message(
        app_api.request("POST", path, json={"graph": dup}), 422
    )
    orphan = {"steps": [_step("a", "x", inputs=[{"name": "nope", "kind": "pipeline_data"}])]}
    assert "input 'nope' is not connected" in error_message(
        app_api.request("POST", path, json={"graph": orphan}), 422
    )
    params = {"graph": {"steps": [_step("a", "x")]}, "pipeline_parameters": {"lr": 1}}
    assert "pipeline_parameters: 'lr' not defined in the pipeline; it has none" in error_message(
        app_api.request("POST", path, json=params), 422
    )
    lost = {"steps": [_step("a", "x", definition={"script": "s.py", "target": "nowhere"})]}
    assert "step 'a': definition.target: compute target 'nowhere' not found" in error_message(
        app_api.request("POST", path, json={"graph": lost}), 404
    )
    store = {"steps": [_step("a", "x", outputs=[{"name": "o", "datastore_name": "nostore"}])]}
    assert "step 'a': datastore 'nostore' not found" in error_message(
        app_api.request("POST", path, json={"graph": store}), 404
    )
    public = [
        {"name": n, "datastore_name": "workspaceblobstore", "pipeline_output_name": "m"}
        for n in ("o1", "o2")
    ]
    twice = {"steps": [_step("a", "x", outputs=public[:1]), _step("b", "x", outputs=public[1:])]}
    assert "pipeline_output_name 'm' is given to more than one output" in error_message(
        app_api.request("POST", path, json={"graph": twice}), 422
    )
    assert app_api.call("GET", f"/workspaces/{ws}/runs")["runs"] == []
