"""HyperDriveStep: a sweep as a pipeline step on a real control plane. Each trial writes
the step's output to a place of its own; the best trial's output is what the next step
reads; metrics_output holds every trial's metrics. The calls are the public HyperDrive
pipeline sample's (aml-pipelines-parameter-tuning-with-hyperdrive) and of scripts that
follow it (``HyperDriveStepRun(step_run=...).get_best_run_by_primary_metric()``), with
``azureml`` -> ``trainforge`` in the imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.test_pipelines import write
from trainforge.core import Experiment, Model, ScriptRunConfig, Workspace
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core import Pipeline, PipelineData, TrainingOutput
from trainforge.pipeline.steps import HyperDriveStep, HyperDriveStepRun, PythonScriptStep
from trainforge.train.hyperdrive import (
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    choice,
)

pytestmark = pytest.mark.slow

# A "model" whose accuracy peaks at lr 0.5; it saves its lr where the step's output goes.
TRAIN = """
import argparse, os
from trainforge.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--model_dir", type=str)
parser.add_argument("--lr", type=float)
args = parser.parse_args()
run = Run.get_context()
run.log("accuracy", 1 - abs(args.lr - 0.5))
os.makedirs(args.model_dir, exist_ok=True)
with open(os.path.join(args.model_dir, "model.txt"), "w") as f:
    f.write(f"lr={args.lr} run={run.id}")
"""

USE = """
import argparse, os
from trainforge.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--model_dir", type=str)
args = parser.parse_args()
with open(os.path.join(args.model_dir, "model.txt")) as f:
    print("using", f.read())
"""


# The sample's tf_mnist.py saves its model under outputs/model/; this one saves its lr.
SAVE_MODEL = """
import argparse, os
from trainforge.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
args = parser.parse_args()
run = Run.get_context()
run.log("accuracy", 1 - abs(args.lr - 0.5))
os.makedirs("outputs/model", exist_ok=True)
with open("outputs/model/saved_model.pb", "w") as f:
    f.write(f"lr={args.lr} run={run.id}")
"""

# The sample's register_model.py, trainforge for azureml.
REGISTER_MODEL = """
import argparse
import json
import os
from trainforge.core import Workspace, Experiment, Model
from trainforge.core import Run
from shutil import copy2

parser = argparse.ArgumentParser()
parser.add_argument('--saved-model', type=str, dest='saved_model', help='path to saved model file')
args = parser.parse_args()

model_output_dir = './model/'

os.makedirs(model_output_dir, exist_ok=True)
copy2(args.saved_model, model_output_dir)

ws = Run.get_context().experiment.workspace

model = Model.register(workspace=ws, model_name='tf-dnn-mnist', model_path=model_output_dir)
"""


def lr_sweep(folder: Path, script: str, *lrs: float) -> HyperDriveConfig:
    """A grid over ``--lr`` of ``script`` (as train.py in ``folder``) on the local compute,
    every trial at once, maximizing ``accuracy``."""
    src = ScriptRunConfig(
        source_directory=write(folder, "train.py", script),
        script="train.py",
        compute_target="local",
    )
    return HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=GridParameterSampling({"--lr": choice(*lrs)}),
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=len(lrs),
        max_concurrent_runs=len(lrs),
    )


def test_a_hyperdrive_step_hands_its_best_trials_output_on(ws: Workspace, tmp_path: Path) -> None:
    datastore = ws.get_default_datastore()
    model_dir = PipelineData("model_dir", datastore=datastore)
    metrics_output_name = "metrics_output"
    metrics_data = PipelineData(
        "metrics_data", datastore=datastore, pipeline_output_name=metrics_output_name
    )
    hd_config = lr_sweep(tmp_path / "train", TRAIN, 0.1, 0.5, 0.8)
    hd_step = HyperDriveStep(
        name="hd_step01",
        hyperdrive_config=hd_config,
        estimator_entry_script_arguments=["--model_dir", model_dir],
        outputs=[model_dir],
        metrics_output=metrics_data,
        allow_reuse=True,
    )
    use_step = PythonScriptStep(
        name="use_model",
        script_name="use.py",
        arguments=["--model_dir", model_dir],
        inputs=[model_dir],
        compute_target="local",
        source_directory=write(tmp_path / "use", "use.py", USE),
    )
    pipeline = Pipeline(workspace=ws, steps=[hd_step, use_step])
    assert pipeline.validate() == []
    pipeline_run = Experiment(ws, "hd-pipeline").submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"

    hd_step_run = HyperDriveStepRun(step_run=pipeline_run.find_step_run("hd_step01")[0])
    best_run = hd_step_run.get_best_run_by_primary_metric()
    assert best_run is not None
    assert best_run.get_metrics() == {"accuracy": 1.0}
    assert len(hd_step_run.get_hyperparameters()) == 3
    # Each trial kept its model in a place of its own.
    for trial in hd_step_run.get_children():
        datastore.download(
            str(tmp_path / "trials"), prefix=f"azureml/{trial.id}/model_dir", show_progress=False
        )
        saved = tmp_path / "trials" / "azureml" / trial.id / "model_dir" / "model.txt"
        assert saved.read_text().endswith(f"run={trial.id}")
    # The step after it read the best trial's model, not another trial's.
    (use_run,) = pipeline_run.find_step_run("use_model")
    assert f"using lr=0.5 run={best_run.id}" in use_run.get_job_log()
    # metrics_output: every trial's metrics, as the sample reads them.
    metrics_output = pipeline_run.get_pipeline_output(metrics_output_name)
    metrics_output.download(str(tmp_path / "got"), show_progress=False)
    assert metrics_output.path_on_datastore == (
        hd_step_run.step_run.get_output_data("metrics_data").path_on_datastore
    )
    with pytest.raises(UserErrorException, match="no output 'model'.* are metrics_output"):
        pipeline_run.get_pipeline_output("model")
    with open(tmp_path / "got" / metrics_output._path_on_datastore) as f:
        deserialized_metrics_output = json.loads(f.read())
    assert deserialized_metrics_output == hd_step_run.get_metrics()
    accuracies = sorted(m["accuracy"] for m in deserialized_metrics_output.values())
    assert accuracies == pytest.approx([0.6, 0.7, 1.0])

    # Submitted again unchanged: the sweep is reused, and so is its best output.
    again = Experiment(ws, "hd-pipeline").submit(pipeline)
    assert again.wait_for_completion(show_output=False) == "Completed"
    (hd_again,) = again.find_step_run("hd_step01")
    assert hd_again.properties["azureml.reusedrunid"] == hd_step_run.id
    assert HyperDriveStepRun(step_run=hd_again).get_best_run_by_primary_metric().id == best_run.id


def test_training_outputs_hold_the_metrics_and_the_best_trials_model_file(
    ws: Workspace, tmp_path: Path
) -> None:
    # The calls of the sample (aml-pipelines-parameter-tuning-with-hyperdrive) as they are.
    datastore = ws.get_default_datastore()
    hd_config = lr_sweep(tmp_path / "train", SAVE_MODEL, 0.1, 0.5, 0.8)
    metrics_output_name = "metrics_output"
    metrics_data = PipelineData(
        name="metrics_data",
        datastore=datastore,
        pipeline_output_name=metrics_output_name,
        training_output=TrainingOutput("Metrics"),
    )

    model_output_name = "model_output"
    saved_model = PipelineData(
        name="saved_model",
        datastore=datastore,
        pipeline_output_name=model_output_name,
        training_output=TrainingOutput("Model", model_file="outputs/model/saved_model.pb"),
    )

    hd_step_name = "hd_step01"
    hd_step = HyperDriveStep(
        name=hd_step_name,
        hyperdrive_config=hd_config,
        outputs=[metrics_data, saved_model],
    )
    register_model_step = PythonScriptStep(
        script_name="register_model.py",
        name="register_model_step01",
        inputs=[saved_model],
        compute_target="local",
        arguments=["--saved-model", saved_model],
        allow_reuse=True,
        source_directory=write(tmp_path / "register", "register_model.py", REGISTER_MODEL),
    )
    register_model_step.run_after(hd_step)
    pipeline = Pipeline(workspace=ws, steps=[hd_step, register_model_step])
    pipeline_run = Experiment(ws, "hd-training-output").submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"

    hd_step_run = HyperDriveStepRun(step_run=pipeline_run.find_step_run(hd_step_name)[0])
    best_run = hd_step_run.get_best_run_by_primary_metric()
    # The registered model is the best trial's file, as the next step got it.
    model = Model(ws, "tf-dnn-mnist")
    got = Path(model.download(str(tmp_path / "model"), exist_ok=True))
    (saved,) = [p for p in got.rglob("*") if p.is_file()]
    assert saved.read_text() == f"lr=0.5 run={best_run.id}"
    # The model output is that one file; the metrics output every trial's metrics.
    model_output = pipeline_run.get_pipeline_output(model_output_name)
    model_output.download(str(tmp_path / "got"), show_progress=False)
    assert (tmp_path / "got" / model_output._path_on_datastore).read_text() == saved.read_text()
    metrics_output = pipeline_run.get_pipeline_output(metrics_output_name)
    metrics_output.download(str(tmp_path / "got"), show_progress=False)
    with open(tmp_path / "got" / metrics_output._path_on_datastore) as f:
        deserialized_metrics_output = json.loads(f.read())
    assert deserialized_metrics_output == hd_step_run.get_metrics()
    assert len(deserialized_metrics_output) == 3
    log = pipeline_run.get_details_with_logs()["logFiles"]["azureml-logs/pipeline.txt"]
    assert f"output saved_model holds outputs/model/saved_model.pb of run {best_run.id}" in log


def test_training_outputs_are_refused_where_they_do_not_fit(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="type: unknown training output type 'Weights'"):
        TrainingOutput("Weights")
    with pytest.raises(ValueError, match="iteration: not for a TrainingOutput of type 'Metrics'"):
        TrainingOutput("Metrics", iteration=2)
    with pytest.raises(ValueError, match="give iteration or metric .* not both"):
        TrainingOutput("Model", iteration=2, metric="accuracy")
    with pytest.raises(UserErrorException, match="training_output: expected a TrainingOutput"):
        PipelineData("m", training_output="Model")
    model = PipelineData("model", training_output=TrainingOutput("Model"))
    plain = PythonScriptStep(
        "use.py", outputs=[model], source_directory=write(tmp_path / "use", "use.py", USE)
    )
    assert Pipeline(ws, [plain]).validate() == [
        "step 'use.py': output 'model': training_output is for the outputs of a HyperDriveStep "
        "or an AutoMLStep, not of a PythonScriptStep"
    ]
    by_metric = PipelineData("best", training_output=TrainingOutput("Model", metric="loss"))
    hd = HyperDriveStep(
        name="hd", hyperdrive_config=lr_sweep(tmp_path / "t", TRAIN, 0.1), outputs=[by_metric]
    )
    (error,) = Pipeline(ws, [hd]).validate()
    assert error.startswith("step 'hd': output 'best': TrainingOutput metric picks an AutoMLStep")


def test_a_hyperdrive_step_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(UserErrorException, match="hyperdrive_config: a HyperDriveStep needs"):
        HyperDriveStep(name="hd", hyperdrive_config="config")  # type: ignore[arg-type]
    config = lr_sweep(tmp_path / "train", TRAIN, 0.1, 0.5)
    with pytest.raises(UserErrorException, match="pipeline_output_name: 'bad name'"):
        PipelineData("m", pipeline_output_name="bad name")
    with pytest.raises(UserErrorException, match="metrics_output: expected a PipelineData"):
        HyperDriveStep(name="hd", hyperdrive_config=config, metrics_output="m.json")  # type: ignore[arg-type]


def test_canceling_the_pipeline_stops_the_sweep_and_its_trials(
    ws: Workspace, tmp_path: Path
) -> None:
    sleeper = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    config = lr_sweep(tmp_path / "sleep", sleeper, 0.1, 0.5)
    run = Pipeline(ws, [HyperDriveStep(name="sweep", hyperdrive_config=config)]).submit("hd-cancel")

    def running_trials() -> list[Any]:
        steps = run.find_step_run("sweep")
        trials = list(steps[0].get_children()) if steps else []
        return trials if [t.get_status() for t in trials] == ["Running"] * 2 else []

    trials = wait_until(running_trials, 90, "both trials running")
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    for trial in trials:
        wait_until(lambda t=trial: t.get_status() == "Canceled", 60, f"trial {trial.id} canceled")
    (sweep,) = run.find_step_run("sweep")
    wait_until(lambda: sweep.get_status() == "Canceled", 60, "the sweep's step run canceled")
