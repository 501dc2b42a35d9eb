"""OutputFileDatasetConfig between pipeline steps on a real control plane: a step writes
to its destination (placeholders filled in), later steps read it as a folder
(``as_input``) and as a table (``read_delimited_files().as_input``), and
``register_on_complete`` registers it as a dataset when the step completes."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from trainforge.core import Dataset, Experiment, ScriptRunConfig, Workspace
from trainforge.data import OutputFileDatasetConfig
from trainforge.pipeline.core import Pipeline, PipelineData
from trainforge.pipeline.steps import PythonScriptStep

pytestmark = pytest.mark.slow

PREP = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "rows.csv"), "w") as f:
    f.write("a,b\\n1,2\\n3,4\\n")
print("prep wrote", args.out)
"""

TRAIN = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--data")
args = parser.parse_args()
print("train read:", open(os.path.join(args.data, "rows.csv")).read().replace("\\n", ";"))
"""

TABLE = """
from trainforge.core import Run
run = Run.get_context()
frame = run.input_datasets["table"].to_pandas_dataframe()
print("table shape:", frame.shape, "sum of b:", int(frame["b"].sum()))
"""


def _step(tmp_path: Path, name: str, code: str, **kwargs: object) -> PythonScriptStep:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(code))
    return PythonScriptStep(
        name=name,
        script_name=f"{name}.py",
        source_directory=str(folder),
        compute_target="local",
        **kwargs,  # type: ignore[arg-type]
    )


def test_output_file_dataset_config_flows_to_later_steps_and_registers(
    ws: Workspace, tmp_path: Path
) -> None:
    def_blob_store = ws.get_default_datastore()
    dataset_name = f"prepped_{uuid.uuid4().hex[:6]}"
    prepped = OutputFileDatasetConfig(
        name="prepped", destination=(def_blob_store, "outputdataset/{run-id}/{output-name}")
    ).register_on_complete(name=dataset_name)
    prep = _step(tmp_path, "prep", PREP, arguments=["--out", prepped.as_upload(overwrite=True)])
    train = _step(
        tmp_path, "train", TRAIN, arguments=["--data", prepped.as_input(name="training_data")]
    )
    table = _step(
        tmp_path, "table", TABLE, inputs=[prepped.read_delimited_files().as_input(name="table")]
    )
    pipeline = Pipeline(workspace=ws, steps=[train, table])
    assert prep in pipeline.steps  # pulled in as the producer of what they read
    assert pipeline.validate() == []
    run = Experiment(ws, f"ofdc-{uuid.uuid4().hex[:6]}").submit(pipeline)
    assert run.wait_for_completion(show_output=False) == "Completed"

    prep_run = run.find_step_run("prep")[0]
    where = prep_run.get_output_data("prepped")
    assert where.path_on_datastore == f"outputdataset/{prep_run.id}/prepped"
    assert "train read: a,b;1,2;3,4;" in run.find_step_run("train")[0].get_job_log()
    assert "table shape: (2, 2) sum of b: 6" in run.find_step_run("table")[0].get_job_log()

    registered = Dataset.get_by_name(ws, dataset_name)
    assert registered.version == 1
    assert [p.endswith("rows.csv") for p in registered.to_path()] == [True]
    assert prep_run.id in repr(registered)


COUNT = """
import os, sys
from trainforge.core import Run
run = Run.get_context()
folder = run.input_datasets["rows_folder"]
print("folder files:", sorted(os.listdir(folder)), "arg is folder:", sys.argv[1] == folder)
"""


def test_pipeline_data_as_dataset_is_read_as_a_dataset_and_registered(
    ws: Workspace, tmp_path: Path
) -> None:
    dataset_name = f"rows_{uuid.uuid4().hex[:6]}"
    rows = PipelineData("rows", datastore=ws.get_default_datastore()).as_dataset()
    rows.register(name=dataset_name, create_new_version=True)
    prep = _step(tmp_path, "prep", PREP, arguments=["--out", rows], outputs=[rows])
    folder = rows.as_named_input("rows_folder").as_mount()
    count = _step(tmp_path, "count", COUNT, arguments=[folder], inputs=[folder])
    table_input = rows.parse_delimited_files().as_named_input("table")
    table = _step(tmp_path, "table", TABLE, inputs=[table_input])
    run = Experiment(ws, f"as-dataset-{uuid.uuid4().hex[:6]}").submit(
        Pipeline(workspace=ws, steps=[count, table])
    )
    assert run.wait_for_completion(show_output=False) == "Completed"
    prep_run = run.find_step_run("prep")[0]
    assert prep.name == prep_run.name
    log = run.find_step_run("count")[0].get_job_log()
    assert "folder files: ['rows.csv'] arg is folder: True" in log
    assert "table shape: (2, 2) sum of b: 6" in run.find_step_run("table")[0].get_job_log()
    registered = Dataset.get_by_name(ws, dataset_name)
    assert f"azureml/{prep_run.id}/rows" in repr(registered)


def test_output_file_dataset_config_in_a_script_run_config(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "prep.py").write_text(textwrap.dedent(PREP))
    output = OutputFileDatasetConfig(name="prepped")
    src = ScriptRunConfig(
        source_directory=str(folder), script="prep.py", arguments=["--out", output.as_upload()]
    )
    run = Experiment(ws, f"ofdc-plain-{uuid.uuid4().hex[:6]}").submit(src)
    assert run.wait_for_completion()["status"] == "Completed"
    written = Dataset.File.from_files((ws.get_default_datastore(), f"dataset/{run.id}/prepped"))
    assert [p.endswith("rows.csv") for p in written.to_path()] == [True]

    # register_on_complete: a new version of the dataset once the run completes.
    name = f"plain-prepped-{uuid.uuid4().hex[:6]}"
    registered = (
        OutputFileDatasetConfig(name="prepped")
        .read_delimited_files()
        .register_on_complete(name, description="rows of a plain run")
    )
    src = ScriptRunConfig(
        source_directory=str(folder), script="prep.py", arguments=["--out", registered]
    )
    run = Experiment(ws, "ofdc-plain-registered").submit(src)
    assert run.wait_for_completion()["status"] == "Completed"
    dataset = Dataset.get_by_name(ws, name)
    assert (dataset.version, dataset.description) == (1, "rows of a plain run")
    assert len(dataset.to_pandas_dataframe()) > 0
    assert f"dataset/{run.id}/prepped" in repr(dataset)
    again = Experiment(ws, "ofdc-plain-registered").submit(src)
    assert again.wait_for_completion()["status"] == "Completed"
    assert Dataset.get_by_name(ws, name).version == 2
    # A failed run registers nothing.
    (folder / "fail.py").write_text("import sys; sys.exit(3)\n")
    failing = ScriptRunConfig(
        source_directory=str(folder), script="fail.py", arguments=["--out", registered]
    )
    failed = Experiment(ws, "ofdc-plain-registered").submit(failing)
    assert failed.wait_for_completion(raise_on_error=False)["status"] == "Failed"
    assert Dataset.get_by_name(ws, name).version == 2
