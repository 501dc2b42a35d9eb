"""``trainforge pipeline ...`` and ``trainforge pipeline schedule ...`` under Typer's
CliRunner, against a control plane served from this process (its pipeline loop stepped
by hand; no step runs here: what the commands show and make)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli import failed, flat, ok
from tests.test_pipeline_schedules import _publish


def test_publish_list_submit_disable_and_schedule_from_the_shell(
    cli_server: Any, tmp_path: Path
) -> None:
    api = cli_server
    ws = api.workspace("alpha")
    pipeline = _publish(api, ws, tmp_path, version="2.0")
    listed = json.loads(ok("pipeline", "list", "-w", ws, "--output", "json"))
    assert [(p["id"], p["version"], p["steps"]) for p in listed] == [(pipeline["id"], "2.0", 1)]
    assert listed[0]["endpoint"].endswith(
        f"/api/v1/workspaces/{ws}/publishedpipelines/{pipeline['id']}/runs"
    )
    shown = json.loads(ok("pipeline", "show", pipeline["id"], "-w", ws))
    assert shown["step_names"] == ["train"] and shown["parameters"]["pipeline_arg"] == 10

    said = ok(
        "pipeline", "submit", pipeline["id"], "-w", ws, "-e", "cli-exp", "-p", "pipeline_arg=45"
    )
    run_id = flat(said).split("submitted pipeline run ")[1].split(" ")[0]
    graph = api.call("GET", f"/workspaces/{ws}/runs/{run_id}/graph")
    assert graph["parameters"]["pipeline_arg"] == 45
    assert "'nope' not defined" in failed(
        1, "pipeline", "submit", pipeline["id"], "-w", ws, "-e", "cli-exp", "-p", "nope=1"
    )
    republished = ok("pipeline", "publish", run_id, "-w", ws, "--name", "again")
    assert "published pipeline" in republished and "/publishedpipelines/" in republished

    assert "Disabled" in ok("pipeline", "disable", pipeline["id"], "-w", ws)
    assert "is disabled" in failed(
        1, "pipeline", "submit", pipeline["id"], "-w", ws, "-e", "cli-exp"
    )
    assert "Active" in ok("pipeline", "enable", pipeline["id"], "-w", ws)

    assert "minutes: 75 is not a minute; minutes are 0 to 59" in failed(
        1,
        "pipeline", "schedule", "create", pipeline["id"], "-w", ws, "--name", "bad",
        "-e", "e", "--frequency", "Day", "--minutes", "75",
    )  # fmt: skip
    made = ok(
        "pipeline", "schedule", "create", pipeline["id"], "-w", ws, "--name", "nightly",
        "-e", "e", "--frequency", "Day", "--interval", "2", "--hours", "22", "--minutes", "30",
    )  # fmt: skip
    schedule_id = flat(made).split("schedule ")[1].split(":")[0]
    rows = json.loads(ok("pipeline", "schedule", "list", "-w", ws, "--output", "json"))
    assert [(r["id"], r["name"], r["status"]) for r in rows] == [(schedule_id, "nightly", "Active")]
    assert "hours=[22]" in rows[0]["trigger"] and rows[0]["next run"].endswith("22:30:00+00:00")
    assert "Disabled" in ok("pipeline", "schedule", "disable", schedule_id, "-w", ws)
    assert json.loads(ok("pipeline", "schedule", "list", "-w", ws, "--output", "json")) == []
    assert json.loads(ok("pipeline", "schedule", "show", schedule_id, "-w", ws))["runs"] == []


PIPELINE_YAML = """
pipeline:
    name: SamplePipelineFromYaml
    parameters:
        PipelineParam1:
            type: int
            default: 3
    default_compute: local
    steps:
        Step1:
            parameters:
                NUM_ITERATIONS:
                    source: PipelineParam1
            type: "PythonScriptStep"
            name: "MyPythonScriptStep"
            script_name: "train.py"
            source_directory: "scripts"
"""


def test_a_pipeline_yaml_is_submitted_from_the_shell(cli_server: Any, tmp_path: Path) -> None:
    # az ml run submit-pipeline -y pipeline.yml -n exp: the pipeline the file defines.
    api = cli_server
    ws = api.workspace("alpha")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "train.py").write_text("print('training')\n")
    pipeline_file = tmp_path / "pipeline.yml"
    pipeline_file.write_text(PIPELINE_YAML)
    said = ok(
        "pipeline", "submit", "-y", str(pipeline_file), "-w", ws, "-e", "yaml-exp",
        "-p", "PipelineParam1=7",
    )  # fmt: skip
    run_id = flat(said).split("submitted pipeline run ")[1].split(" ")[0]
    graph = api.call("GET", f"/workspaces/{ws}/runs/{run_id}/graph")
    assert graph["parameters"] == {"PipelineParam1": 7}
    assert [s["name"] for s in graph["steps"]] == ["MyPythonScriptStep"]

    pipeline_file.write_text(PIPELINE_YAML.replace("type: int", "type: complex"))
    assert "pipeline.parameters.PipelineParam1.type" in failed(
        1, "pipeline", "submit", "-y", str(pipeline_file), "-w", ws, "-e", "yaml-exp"
    )
    assert "one of the two" in failed(
        1, "pipeline", "submit", "some-id", "-y", str(pipeline_file), "-w", ws, "-e", "x"
    )
    assert "one of the two" in failed(1, "pipeline", "submit", "-w", ws, "-e", "x")

    # A Python file that builds the pipeline, as a notebook cell would, names it pipeline.
    script = tmp_path / "make_pipeline.py"
    script.write_text(
        "from trainforge.core import Workspace\n"
        "from trainforge.pipeline.core import Pipeline, PipelineParameter\n"
        "from trainforge.pipeline.steps import PythonScriptStep\n"
        f"ws = Workspace.get({ws!r})\n"
        "arg = PipelineParameter(name='pipeline_arg', default_value=10)\n"
        "step = PythonScriptStep(name='train', script_name='train.py', arguments=[arg],\n"
        f"    compute_target='local', source_directory={str(tmp_path / 'scripts')!r})\n"
        "pipeline = Pipeline(workspace=ws, steps=[step])\n"
    )
    said = ok(
        "pipeline", "submit", "-y", str(script), "-w", ws, "-e", "py-exp", "-p", "pipeline_arg=4"
    )
    run_id = flat(said).split("submitted pipeline run ")[1].split(" ")[0]
    graph = api.call("GET", f"/workspaces/{ws}/runs/{run_id}/graph")
    assert graph["parameters"] == {"pipeline_arg": 4}
    assert [s["name"] for s in graph["steps"]] == ["train"]
    script.write_text("x = 1\n")
    assert "define the Pipeline to submit as a variable named pipeline" in failed(
        1, "pipeline", "submit", "-y", str(script), "-w", ws, "-e", "py-exp"
    )
