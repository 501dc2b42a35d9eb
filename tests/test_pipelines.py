"""ML pipelines end to end: a real control plane runs each step as a child run on the local
compute or a local cluster, passes PipelineData between them, reuses unchanged steps and
goes on after a restart. The calls are the public sample notebooks' (getting started,
data dependency steps), with ``azureml`` -> ``trainforge`` in the imports."""

from __future__ import annotations

import os
import textwrap
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import restart_server, wait_until
from trainforge.core import Datastore, Experiment, Workspace
from trainforge.core.runconfig import DEFAULT_CPU_IMAGE, RunConfiguration
from trainforge.data.data_reference import DataReference
from trainforge.data.datapath import DataPath, DataPathComputeBinding
from trainforge.exceptions import ActivityFailedException, UserErrorException
from trainforge.pipeline.core import Pipeline, PipelineData, PipelineParameter, PipelineRun
from trainforge.pipeline.steps import CommandStep, PythonScriptStep
from trainforge.widgets import RunDetails

pytestmark = pytest.mark.slow


def write(folder: Path, name: str, code: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(code))
    return str(folder)


def times(run) -> tuple[datetime, datetime]:  # type: ignore[no-untyped-def]
    details = run.get_details()
    return (
        datetime.fromisoformat(details["startTimeUtc"].replace("Z", "+00:00")),
        datetime.fromisoformat(details["endTimeUtc"].replace("Z", "+00:00")),
    )


# Each branch of a diamond writes its mark and waits for the other's: they can only both
# complete if they ran at the same time.
MEET = """
import os, sys, time
here, other = sys.argv[2], sys.argv[3]
open(os.path.join(sys.argv[1], here), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(sys.argv[1], other)):
    if time.time() > deadline:
        sys.exit(f"{other} never started while {here} ran")
    time.sleep(0.05)
print(f"{here} met {other}")
"""

TRAIN = """
import argparse, os
print("In train.py")
parser = argparse.ArgumentParser("train")
parser.add_argument("--input_data", type=str)
parser.add_argument("--output_train", type=str)
args = parser.parse_args()
print("Argument 1: %s" % args.input_data)
print("Argument 2: %s" % args.output_train)
os.makedirs(args.output_train, exist_ok=True)
with open(args.input_data) as f:
    text = f.read()
with open(os.path.join(args.output_train, "train.txt"), "w") as f:
    f.write(text.upper())
"""

EXTRACT = """
import argparse, os
parser = argparse.ArgumentParser("extract")
parser.add_argument("--input_extract", type=str)
parser.add_argument("--output_extract", type=str)
args = parser.parse_args()
os.makedirs(args.output_extract, exist_ok=True)
with open(os.path.join(args.input_extract, "train.txt")) as f:
    text = f.read()
with open(os.path.join(args.output_extract, "extract.txt"), "w") as f:
    f.write(text + "|extracted")
"""

COMPARE = """
import argparse, os
parser = argparse.ArgumentParser("compare")
parser.add_argument("--compare_data1", type=str)
parser.add_argument("--compare_data2", type=str)
parser.add_argument("--output_compare", type=str)
parser.add_argument("--pipeline_param", type=int)
args = parser.parse_args()
os.makedirs(args.output_compare, exist_ok=True)
with open(args.compare_data1) as f:
    first = f.read()
with open(os.path.join(args.compare_data2, "extract.txt")) as f:
    second = f.read()
with open(os.path.join(args.output_compare, "compare.txt"), "w") as f:
    f.write(f"{first}|{second}|{args.pipeline_param}|{os.environ.get('AML_PARAMETER_tag')}")
"""


def test_data_dependency_steps_pass_data_and_reuse_what_did_not_change(
    ws: Workspace, tmp_path: Path
) -> None:
    # aml-pipelines-with-data-dependency-steps.ipynb, on the local compute.
    def_blob_store = Datastore(ws, "workspaceblobstore")
    folder = f"titanic-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "Titanic.csv"
    data.write_text("name,age\nada,36\n")
    def_blob_store.upload_files([str(data)], target_path=folder, overwrite=True)
    compare_file = tmp_path / "compare.csv"
    compare_file.write_text("compare me")
    def_blob_store.upload_files([str(compare_file)], target_path=folder, overwrite=True)

    blob_input_data = DataReference(
        datastore=def_blob_store,
        data_reference_name="test_data",
        path_on_datastore=f"{folder}/Titanic.csv",
    )
    processed_data1 = PipelineData("processed_data1", datastore=def_blob_store, is_directory=True)
    run_config = RunConfiguration()
    run_config.environment.docker.enabled = True
    run_config.environment.docker.base_image = DEFAULT_CPU_IMAGE
    train_dir = write(tmp_path / "data_dependency_run_train", "train.py", TRAIN)
    trainStep = PythonScriptStep(  # noqa: F841 (the notebook names it; closure pulls it in)
        script_name="train.py",
        arguments=["--input_data", blob_input_data, "--output_train", processed_data1],
        inputs=[blob_input_data],
        outputs=[processed_data1],
        compute_target="local",
        source_directory=train_dir,
        runconfig=run_config,
    )
    processed_data2 = PipelineData("processed_data2", datastore=def_blob_store, is_directory=True)
    extractStep = PythonScriptStep(  # noqa: F841
        script_name="extract.py",
        arguments=["--input_extract", processed_data1, "--output_extract", processed_data2],
        inputs=[processed_data1],
        outputs=[processed_data2],
        compute_target="local",
        source_directory=write(tmp_path / "data_dependency_run_extract", "extract.py", EXTRACT),
    )
    datapath = DataPath(datastore=def_blob_store, path_on_datastore=f"{folder}/compare.csv")
    datapath_param = PipelineParameter(name="compare_data", default_value=datapath)
    data_parameter1 = (datapath_param, DataPathComputeBinding(mode="mount"))
    pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
    processed_data3 = PipelineData("processed_data3", datastore=def_blob_store, is_directory=True)
    compareStep = PythonScriptStep(
        script_name="compare.py",
        arguments=[
            "--compare_data1",
            data_parameter1,
            "--compare_data2",
            processed_data2,
            "--output_compare",
            processed_data3,
            "--pipeline_param",
            pipeline_param,
        ],
        inputs=[data_parameter1, processed_data2],
        outputs=[processed_data3],
        params={"tag": "v1"},
        compute_target="local",
        source_directory=write(tmp_path / "data_dependency_run_compare", "compare.py", COMPARE),
    )
    pipeline1 = Pipeline(workspace=ws, steps=[compareStep])
    assert [s.name for s in pipeline1.steps] == ["compare.py", "extract.py", "train.py"]
    assert pipeline1.validate() == []
    experiment = f"Data_dependency_sample_{uuid.uuid4().hex[:6]}"
    pipeline_run1 = Experiment(ws, experiment).submit(pipeline1)
    assert isinstance(pipeline_run1, PipelineRun)
    assert pipeline_run1.wait_for_completion(show_output=True) == "Completed"

    steps = {step.name: step for step in pipeline_run1.get_steps()}
    assert sorted(steps) == ["compare.py", "extract.py", "train.py"]
    assert all(step.type == "azureml.StepRun" for step in steps.values())
    for step in steps.values():
        for name, output in step.get_outputs().items():
            reference = output.get_port_data_reference()
            assert reference.datastore_name == "workspaceblobstore"
            assert reference.path_on_datastore == f"azureml/{step.id}/{name}"
    train_step = pipeline_run1.find_step_run("train.py")
    assert len(train_step) == 1
    target = tmp_path / "outputs"
    train_step[0].get_output_data("processed_data1").download(str(target))
    found = target / "azureml" / train_step[0].id / "processed_data1" / "train.txt"
    assert found.read_text() == "NAME,AGE\nADA,36\n"
    compare = steps["compare.py"].get_output_data("processed_data3")
    compare.download(str(target))
    result = (target / compare.path_on_datastore / "compare.txt").read_text()
    assert result == "compare me|NAME,AGE\nADA,36\n|extracted|10|v1"
    assert "In train.py" in train_step[0].get_job_log()

    # The same pipeline again: every step is reused, at once, linking the earlier run.
    again = Experiment(ws, experiment).submit(pipeline1)
    assert again.wait_for_completion(show_output=False) == "Completed"
    reused = {step.name: step for step in again.get_steps()}
    for name, step in reused.items():
        assert step.get_properties()["azureml.reusedrunid"] == steps[name].id
        assert f"reuses the outputs of step run {steps[name].id}" in step.get_job_log()
    assert reused["compare.py"].get_output_data("processed_data3").path_on_datastore == (
        compare.path_on_datastore
    )

    # A new parameter value: compare runs again; what it consumes is reused.
    third = Experiment(ws, experiment).submit(pipeline1, pipeline_parameters={"pipeline_arg": 45})
    assert third.wait_for_completion(show_output=False) == "Completed"
    graph = {s.name: s for s in third.get_graph().steps}
    assert graph["train.py"].reused_run_id == steps["train.py"].id
    assert graph["extract.py"].reused_run_id == steps["extract.py"].id
    assert graph["compare.py"].reused_run_id is None
    rerun = third.find_step_run("compare.py")[0].get_output_data("processed_data3")
    rerun.download(str(target))
    assert (target / rerun.path_on_datastore / "compare.txt").read_text().endswith("|45|v1")

    # New bytes under the same path: train (and so everything after it) runs again.
    data.write_text("name,age\ngrace,85\n")
    def_blob_store.upload_files([str(data)], target_path=folder, overwrite=True)
    fourth = Experiment(ws, experiment).submit(pipeline1)
    assert fourth.wait_for_completion(show_output=False) == "Completed"
    assert all(s.reused_run_id is None for s in fourth.get_graph().steps)
    latest = fourth.find_step_run("compare.py")[0].get_output_data("processed_data3")
    latest.download(str(target))
    assert "GRACE,85" in (target / latest.path_on_datastore / "compare.txt").read_text()

    # A changed source file: only that step and the steps after it run again.
    (Path(train_dir) / "train.py").write_text(textwrap.dedent(TRAIN) + "\nprint('v2')\n")
    fifth = Experiment(ws, experiment).submit(pipeline1, regenerate_outputs=False)
    assert fifth.wait_for_completion(show_output=False) == "Completed"
    assert all(s.reused_run_id is None for s in fifth.get_graph().steps)
    assert "v2" in fifth.find_step_run("train.py")[0].get_job_log()

    # regenerate_outputs: nothing is reused.
    sixth = Experiment(ws, experiment).submit(pipeline1, regenerate_outputs=True)
    assert sixth.wait_for_completion(show_output=False) == "Completed"
    assert all(s.reused_run_id is None for s in sixth.get_graph().steps)


def test_getting_started_steps_run_on_a_cluster_side_by_side_and_in_sequence(
    ws: Workspace,
    clusters,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # aml-pipelines-getting-started.ipynb: three steps without data between them on a
    # cluster of two nodes, then chained with run_after and pulled in by closure.
    aml_compute = clusters(min_nodes=0, max_nodes=2)
    meet = tmp_path / "meet"
    meet.mkdir()
    step1 = PythonScriptStep(
        name="train_step",
        script_name="train.py",
        arguments=[str(meet), "train", "compare"],
        compute_target=aml_compute,
        source_directory=write(tmp_path / "train", "train.py", MEET),
        allow_reuse=True,
    )
    step2 = PythonScriptStep(
        name="compare_step",
        script_name="compare.py",
        arguments=[str(meet), "compare", "train"],
        compute_target=aml_compute,
        source_directory=write(tmp_path / "compare", "compare.py", MEET),
    )
    steps = [step1, step2]
    pipeline1 = Pipeline(workspace=ws, steps=steps)
    assert pipeline1.validate() == []
    pipeline_run1 = Experiment(ws, "Hello_World1").submit(pipeline1, regenerate_outputs=False)
    assert pipeline_run1.wait_for_completion(show_output=False) == "Completed"
    step_runs = list(pipeline_run1.get_children())
    assert sorted(r.name for r in step_runs) == ["compare_step", "train_step"]  # type: ignore[type-var]
    for step_run in step_runs:
        assert step_run.get_status() == "Completed"
        assert step_run.get_details()["target"] == aml_compute.name
    assert "train met compare" in pipeline_run1.find_step_run("train_step")[0].get_job_log()
    # RunDetails(pipeline_run1).show(): the widget's data for a pipeline run shows its steps
    # and the pipeline's log.
    data = RunDetails(pipeline_run1).get_widget_data()
    assert "StepRun( train_step ) Status: Completed" in data["run_logs"]

    # Chained: the second starts only after the first ended (on a one-step-at-a-time
    # script, so it is not reused).
    seq = tmp_path / "seq"
    step3 = PythonScriptStep(
        name="first",
        script_name="first.py",
        compute_target=aml_compute,
        source_directory=write(seq / "a", "first.py", "print('first')\n"),
    )
    step4 = PythonScriptStep(
        name="second",
        script_name="second.py",
        compute_target=(aml_compute.name, "AmlCompute"),
        source_directory=write(seq / "b", "second.py", "print('second')\n"),
    )
    step4.run_after(step3)
    pipeline2 = Pipeline(workspace=ws, steps=[step4])
    assert [s.name for s in pipeline2.steps] == ["second", "first"]
    pipeline_run2 = Experiment(ws, "Hello_World2").submit(pipeline2, regenerate_outputs=True)
    assert pipeline_run2.wait_for_completion(show_output=False) == "Completed"
    first, second = (pipeline_run2.find_step_run(n)[0] for n in ("first", "second"))
    assert times(second)[0] >= times(first)[1]
    assert pipeline_run2.get_graph().edges == [("first", "second")]


def test_diamond_branches_overlap_and_a_failure_stops_what_depends_on_it(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meet = tmp_path / "meet"
    meet.mkdir()
    root = PipelineData("root")
    left_out, right_out = PipelineData("left"), PipelineData("right")
    start = CommandStep(
        command=["python", "start.py", root],
        name="start",
        outputs=[root],
        source_directory=write(
            tmp_path / "start_src",
            "start.py",
            "import os, sys\nopen(os.path.join(sys.argv[1], 'r.txt'), 'w').write('r')\n",
        ),
        allow_reuse=False,
    )
    src = write(tmp_path / "meet_src", "meet.py", MEET)
    left = PythonScriptStep(
        "meet.py",
        name="left",
        arguments=[str(meet), "left", "right", root, left_out],
        inputs=[root],
        outputs=[left_out],
        source_directory=src,
        allow_reuse=False,
    )
    right = PythonScriptStep(
        "meet.py",
        name="right",
        arguments=[str(meet), "right", "left", root, right_out],
        inputs=[root],
        outputs=[right_out],
        source_directory=src,
        allow_reuse=False,
    )
    end = PythonScriptStep(
        "end.py",
        name="end",
        arguments=[left_out, right_out],
        inputs=[left_out, right_out],
        source_directory=write(tmp_path / "end_src", "end.py", "import sys; print(sys.argv[1:])\n"),
        allow_reuse=False,
    )
    diamond = Pipeline(ws, [end])
    assert {id(s) for s in diamond.steps} == {id(s) for s in (start, left, right, end)}
    run = diamond.submit(f"diamond-{uuid.uuid4().hex[:6]}")
    assert run.wait_for_completion(show_output=False) == "Completed"
    graph = run.get_graph()
    assert sorted(graph.edges) == [
        ("left", "end"),
        ("right", "end"),
        ("start", "left"),
        ("start", "right"),
    ]
    by_name = {s.name: s for s in run.get_steps()}
    assert times(by_name["left"])[0] >= times(by_name["start"])[1]
    assert times(by_name["end"])[0] >= max(times(by_name["left"])[1], times(by_name["right"])[1])

    # One branch fails: the step after it never runs, the pipeline fails, and the other
    # branch still completes under continue_on_step_failure.
    broken = PythonScriptStep(
        "broken.py",
        name="broken",
        source_directory=write(
            tmp_path / "broken", "broken.py", "raise SystemExit('broken on purpose')\n"
        ),
    )
    after = PythonScriptStep(
        "end.py", name="after", source_directory=str(tmp_path / "end_src"), allow_reuse=False
    )
    after.run_after(broken)
    alone = PythonScriptStep(
        "end.py", name="alone", source_directory=str(tmp_path / "end_src"), allow_reuse=False
    )
    failing = Pipeline(ws, [after, alone]).submit(
        f"failing-{uuid.uuid4().hex[:6]}", continue_on_step_failure=True
    )
    with pytest.raises(ActivityFailedException):
        failing.wait_for_completion(show_output=True)
    printed = capsys.readouterr().out
    assert "broken on purpose" in printed
    steps = {s.name: s for s in failing.get_graph().steps}
    assert steps["broken"].status == "Failed"
    assert steps["alone"].status == "Completed"
    assert steps["after"].status == "NotStarted" and steps["after"].state == "skipped"
    assert steps["after"].run_id is None
    assert failing.get_status() == "Failed"


def test_bad_pipelines_are_refused_before_anything_is_submitted(
    ws: Workspace, tmp_path: Path
) -> None:
    src = write(tmp_path / "src", "s.py", "print('s')\n")
    a = PythonScriptStep("s.py", name="a", source_directory=src)
    b = PythonScriptStep("s.py", name="b", source_directory=src)
    a.run_after(b)
    b.run_after(a)
    errors = Pipeline(ws, [a]).validate()
    assert any("cycle" in e for e in errors), errors
    orphan = PipelineData("nobody_makes_this")
    c = PythonScriptStep("s.py", name="c", inputs=[orphan], source_directory=src)
    assert Pipeline(ws, [c]).validate() == [
        "step 'c': input 'nobody_makes_this' is not connected: no step of the pipeline "
        "produces it (give the producing step, or list it in its outputs)"
    ]
    d1 = PythonScriptStep("s.py", name="d", source_directory=src)
    d2 = PythonScriptStep("s.py", name="d", source_directory=src)
    assert "steps: step name 'd' is used by 2 steps" in Pipeline(ws, [d1, d2]).validate()
    param = PipelineParameter("lr", 0.1)
    e = PythonScriptStep("s.py", name="e", arguments=["--lr", param], source_directory=src)
    experiment = Experiment(ws, f"bad-{uuid.uuid4().hex[:6]}")
    with pytest.raises(
        UserErrorException, match="'epochs' not defined in the pipeline; its parameters are lr"
    ):
        experiment.submit(Pipeline(ws, [e]), pipeline_parameters={"epochs": 3})
    with pytest.raises(UserErrorException, match="cycle"):
        experiment.submit(Pipeline(ws, [a]))
    lost = PythonScriptStep(
        "s.py", name="lost", compute_target="no-such-cluster", source_directory=src
    )
    with pytest.raises(
        UserErrorException,
        match="step 'lost': definition.target: compute target 'no-such-cluster' not found",
    ):
        experiment.submit(Pipeline(ws, [lost]))
    assert list(experiment.get_runs()) == []


def test_a_pipeline_goes_on_after_a_control_plane_restart(
    tf_home: Path, ws: Workspace, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    waits = write(
        tmp_path / "wait",
        "wait.py",
        f"""
        import os, time
        print("waiting", flush=True)
        deadline = time.time() + 120
        while not os.path.exists({str(release)!r}):
            assert time.time() < deadline, "never released"
            time.sleep(0.05)
        print("released")
        """,
    )
    first = PythonScriptStep("wait.py", name="first", source_directory=waits, allow_reuse=False)
    second = PythonScriptStep(
        "end.py",
        name="second",
        source_directory=write(tmp_path / "end", "end.py", "print('second ran')\n"),
        allow_reuse=False,
    )
    second.run_after(first)
    run = Pipeline(ws, [second]).submit(f"restart-{uuid.uuid4().hex[:6]}")
    wait_until(
        lambda: any(s.get_status() == "Running" for s in run.get_steps()), 60, "first step running"
    )
    restart_server(tf_home)
    release.touch()
    again = PipelineRun(Experiment(ws, run.experiment.name), run.id)
    assert again.wait_for_completion(show_output=False) == "Completed"
    statuses = {s.name: s.get_status() for s in again.get_steps()}
    assert statuses == {"first": "Completed", "second": "Completed"}
    assert "second ran" in again.find_step_run("second")[0].get_job_log()
    assert os.path.exists(release)


def test_cancel_stops_the_running_step_and_starts_nothing_after_it(
    ws: Workspace, tmp_path: Path
) -> None:
    long = PythonScriptStep(
        "long.py",
        name="long",
        source_directory=write(
            tmp_path / "long",
            "long.py",
            "import time\nprint('started', flush=True)\ntime.sleep(120)\n",
        ),
        allow_reuse=False,
    )
    later = PythonScriptStep(
        "later.py",
        name="later",
        source_directory=write(tmp_path / "later", "later.py", "print('later')\n"),
        allow_reuse=False,
    )
    later.run_after(long)
    run = Pipeline(ws, [later]).submit(f"cancel-{uuid.uuid4().hex[:6]}")
    wait_until(
        lambda: any(s.get_status() == "Running" for s in run.get_steps()), 60, "long step running"
    )
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    wait_until(lambda: run.find_step_run("long")[0].get_status() == "Canceled", 60, "step canceled")
    # The pipeline loop's next pass marks what never started (the run is Canceled first).
    later_step = wait_until(
        lambda: next(
            (s for s in run.get_graph().steps if s.name == "later" and s.state == "skipped"), None
        ),
        30,
        "the later step marked skipped",
    )
    assert later_step.run_id is None
