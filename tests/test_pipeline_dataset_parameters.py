"""Datasets as pipeline parameters, with the calls of the public sample
aml-pipelines-showcasing-dataset-and-pipelineparameter (``azureml`` -> ``trainforge`` in the
imports): a PipelineParameter whose default is a dataset, consumed through
DatasetConsumptionConfig, swapped for another dataset at submit, from the SDK and from a
REST trigger's ``DataSetDefinitionValueAssignments``."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
import requests

from trainforge.core import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace
from trainforge.core.authentication import InteractiveLoginAuthentication
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core import Pipeline, PipelineParameter
from trainforge.pipeline.core.run import PipelineRun
from trainforge.pipeline.steps import PythonScriptStep

pytestmark = pytest.mark.slow

TRAIN_WITH_DATASET = """
import argparse, os
from trainforge.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--param1", type=str)
parser.add_argument("--param2", type=str)
args = parser.parse_args()

run = Run.get_context()
tabular_ds = run.input_datasets["tabular_dataset"]
frame = tabular_ds.to_pandas_dataframe()
print("rows", len(frame), "columns", ",".join(frame.columns))
# A dataset of one file mounts as that file's path, as in Azure ML.
path = args.param2
names = sorted(os.listdir(path)) if os.path.isdir(path) else [os.path.basename(path)]
print("file dataset holds", ",".join(names))
"""


def _upload(store: Datastore, folder: str, tmp_path: Path, name: str, text: str) -> None:
    local = tmp_path / folder / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    store.upload_files([str(local)], target_path=folder, overwrite=True, show_progress=False)


def _log(pipeline_run) -> str:  # type: ignore[no-untyped-def]
    return pipeline_run.find_step_run("train_step")[0].get_job_log()


def test_a_dataset_parameter_is_swapped_at_submit_and_by_rest(
    ws: Workspace, tmp_path: Path
) -> None:
    store = ws.get_default_datastore()
    titanic, iris = f"titanic-{uuid.uuid4().hex[:6]}", f"iris-{uuid.uuid4().hex[:6]}"
    _upload(store, titanic, tmp_path, "Titanic.csv", "name,age\nada,36\ngrace,85\n")
    _upload(store, iris, tmp_path, "iris.csv", "sepal,petal,species\n1,2,a\n3,4,b\n5,6,c\n")

    file_dataset = Dataset.File.from_files((store, f"{titanic}/Titanic.csv"))
    file_pipeline_param = PipelineParameter(name="file_ds_param", default_value=file_dataset)
    file_ds_consumption = DatasetConsumptionConfig("file_dataset", file_pipeline_param).as_mount()
    tabular_dataset = Dataset.Tabular.from_delimited_files((store, f"{titanic}/Titanic.csv"))
    tabular_pipeline_param = PipelineParameter(
        name="tabular_ds_param", default_value=tabular_dataset
    )
    tabular_ds_consumption = DatasetConsumptionConfig("tabular_dataset", tabular_pipeline_param)

    source_directory = tmp_path / "data_pipelines"
    source_directory.mkdir()
    (source_directory / "train_with_dataset.py").write_text(textwrap.dedent(TRAIN_WITH_DATASET))
    train_step = PythonScriptStep(
        name="train_step",
        script_name="train_with_dataset.py",
        arguments=["--param1", tabular_ds_consumption, "--param2", file_ds_consumption],
        inputs=[tabular_ds_consumption, file_ds_consumption],
        compute_target="local",
        source_directory=str(source_directory),
    )
    pipeline = Pipeline(workspace=ws, steps=[train_step])
    assert pipeline.validate() == []
    experiment = Experiment(ws, f"dataset-param-{uuid.uuid4().hex[:6]}")

    # The defaults.
    pipeline_run = experiment.submit(pipeline)
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"
    log = _log(pipeline_run)
    assert "rows 2 columns name,age" in log
    assert "file dataset holds Titanic.csv" in log

    # Other datasets for the same pipeline, as the notebook's second submit does.
    iris_tabular_ds = Dataset.Tabular.from_delimited_files((store, f"{iris}/iris.csv"))
    iris_file_ds = Dataset.File.from_files((store, f"{iris}/iris.csv"))
    pipeline_run_with_params = experiment.submit(
        pipeline,
        pipeline_parameters={"tabular_ds_param": iris_tabular_ds, "file_ds_param": iris_file_ds},
    )
    assert pipeline_run_with_params.wait_for_completion(show_output=False) == "Completed"
    log = _log(pipeline_run_with_params)
    assert "rows 3 columns sepal,petal,species" in log
    assert "file dataset holds iris.csv" in log
    graph = {s.name: s for s in pipeline_run_with_params.get_graph().steps}
    assert graph["train_step"].reused_run_id is None  # another dataset: never reused

    # The defaults again: the first run's step is reused.
    again = experiment.submit(pipeline)
    assert again.wait_for_completion(show_output=False) == "Completed"
    first_step = pipeline_run.find_step_run("train_step")[0]
    assert {s.name: s for s in again.get_graph().steps}["train_step"].reused_run_id == (
        first_step.id
    )

    # Published: a REST trigger names a registered dataset by its id.
    published = pipeline_run.publish_pipeline(
        name="dataset_param_pipeline", description="datasets as parameters", version="1"
    )
    registered = iris_tabular_ds.register(ws, f"iris-{uuid.uuid4().hex[:6]}")
    response = requests.post(
        published.endpoint,
        headers=InteractiveLoginAuthentication().get_authentication_header(),
        json={
            "ExperimentName": experiment.name,
            "DataSetDefinitionValueAssignments": {
                "tabular_ds_param": {"SavedDataSetReference": {"Id": registered.id}}
            },
        },
        timeout=30,
    )
    response.raise_for_status()
    rest_run = PipelineRun(experiment, response.json()["Id"])
    assert rest_run.wait_for_completion(show_output=False) == "Completed"
    log = _log(rest_run)
    assert "rows 3 columns sepal,petal,species" in log  # the registered dataset
    assert "file dataset holds Titanic.csv" in log  # the default

    # The SDK's submit of the published pipeline sends the same body: the same dataset,
    # so the step the POST ran is reused.
    sdk_run = published.submit(
        ws, experiment.name, pipeline_parameters={"tabular_ds_param": registered}
    )
    assert sdk_run.wait_for_completion(show_output=False) == "Completed"
    rest_step = rest_run.find_step_run("train_step")[0]
    assert {s.name: s for s in sdk_run.get_graph().steps}["train_step"].reused_run_id == (
        rest_step.id
    )

    # Refused, naming what is wrong; nothing runs.
    unknown = requests.post(
        published.endpoint,
        headers=InteractiveLoginAuthentication().get_authentication_header(),
        json={
            "ExperimentName": experiment.name,
            "DataSetDefinitionValueAssignments": {
                "tabular_ds_param": {"SavedDataSetReference": {"Id": "no-such-dataset"}}
            },
        },
        timeout=30,
    )
    assert unknown.status_code == 404
    assert "'tabular_ds_param'" in unknown.text and "no-such-dataset" in unknown.text
    with pytest.raises(UserErrorException, match="register"):
        published.submit(ws, experiment.name, pipeline_parameters={"file_ds_param": iris_file_ds})
    with pytest.raises(UserErrorException, match="'tabular_ds_param' takes a Dataset"):
        experiment.submit(pipeline, pipeline_parameters={"tabular_ds_param": 3})


def test_a_dataset_parameter_outside_a_pipeline_and_where_it_cannot_go(
    ws: Workspace, experiment: Experiment, tmp_path: Path
) -> None:
    store = ws.get_default_datastore()
    folder = f"titanic-{uuid.uuid4().hex[:6]}"
    _upload(store, folder, tmp_path, "Titanic.csv", "name,age\nada,36\n")
    file_dataset = Dataset.File.from_files((store, f"{folder}/Titanic.csv"))
    file_pipeline_param = PipelineParameter(name="file_ds_param", default_value=file_dataset)

    # In a plain run the parameter's default is the input (the SDK's as_download example).
    dataset_input = DatasetConsumptionConfig("input_1", file_pipeline_param).as_download()
    source = tmp_path / "plain"
    source.mkdir()
    (source / "read.py").write_text(
        "import os, sys\nfrom trainforge.core import Run\n"
        "print('argv', os.path.basename(sys.argv[1]))\n"
        "print('input', os.path.basename(Run.get_context().input_datasets['input_1']))\n"
    )
    run = experiment.submit(
        ScriptRunConfig(str(source), script="read.py", arguments=[dataset_input])
    )
    assert run.wait_for_completion()["status"] == "Completed"
    log = "".join(run.get_details_with_logs()["logFiles"].values())
    assert "argv Titanic.csv" in log and "input Titanic.csv" in log

    with pytest.raises(UserErrorException, match="takes a FileDataset or a TabularDataset"):
        DatasetConsumptionConfig("input_1", PipelineParameter(name="n", default_value=3))
    step = PythonScriptStep(
        name="bad_step",
        script_name="read.py",
        arguments=[file_pipeline_param],
        compute_target="local",
        source_directory=str(source),
    )
    with pytest.raises(UserErrorException, match="DatasetConsumptionConfig"):
        experiment.submit(Pipeline(workspace=ws, steps=[step]))
