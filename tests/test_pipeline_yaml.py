"""``Pipeline.load_yaml``: the SDK v1 pipeline YAML (the shapes of the Azure ML "Define
machine learning pipelines in YAML" reference: parameters, data references, a multi-step
pipeline whose outputs' destinations are the next step's sources, a runconfig file) run
on a real control plane; bad files refused naming the key, nothing built."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.test_pipelines import write
from trainforge.core import Dataset, Experiment, Workspace
from trainforge.core.runconfig import RunConfiguration
from trainforge.exceptions import RunConfigurationException
from trainforge.pipeline.core import Pipeline

pytestmark = pytest.mark.slow

PREP = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--train_path")
parser.add_argument("--test_path")
parser.add_argument("--raw")
args = parser.parse_args()
raw = args.raw if os.path.isfile(args.raw) else os.path.join(args.raw, "titanic.csv")
rows = open(raw).read().splitlines()
for folder, part in ((args.train_path, rows[:3]), (args.test_path, rows[3:])):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "part.csv"), "w") as f:
        f.write("\\n".join(part))
print("iterations", os.environ["AML_PARAMETER_NUM_ITERATIONS"])
print("seed", os.environ["AML_PARAMETER_SEED"])
print("mode", os.environ["PREP_MODE"])
"""

TRAIN = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--train_path")
parser.add_argument("--test_path")
parser.add_argument("--extra")
args = parser.parse_args()
train = open(os.path.join(args.train_path, "part.csv")).read().splitlines()
test = open(os.path.join(args.test_path, "part.csv")).read().splitlines()
print("train", len(train), "test", len(test), "extra", open(args.extra).read().strip())
"""

PIPELINE = """
pipeline:
    name: SamplePipelineFromYAML
    description: Sample multistep YAML pipeline
    parameters:
        NumIterationsParameter:
            type: int
            default: 40
        DataPathParameter:
            type: datapath
            default:
                datastore: workspaceblobstore
                path_on_datastore: yaml-test/extra.txt
    data_references:
        TitanicDS:
            dataset_name: 'titanic_ds'
            bind_mode: download
    default_compute: local
    steps:
        Dataprep:
            type: "PythonScriptStep"
            name: "DataPrep Step"
            runconfig: "prep.runconfig"
            script_name: "prep.py"
            source_directory: "prep"
            parameters:
                NUM_ITERATIONS:
                    source: NumIterationsParameter
                SEED: 7
            arguments:
            - '--train_path'
            - output:train_path
            - '--test_path'
            - output:test_path
            - '--raw'
            - input:titanic_ds
            allow_reuse: True
            inputs:
                titanic_ds:
                    source: TitanicDS
                    bind_mode: download
            outputs:
                train_path:
                    destination: train_csv
                    datastore: workspaceblobstore
                test_path:
                    destination: test_csv
        Training:
            type: "PythonScriptStep"
            name: "Training Step"
            compute: local
            script_name: "train.py"
            source_directory: "train"
            arguments:
            - "--train_path"
            - input:train_path
            - "--test_path"
            - input:test_path
            - "--extra"
            - input:extra
            inputs:
                train_path:
                    source: train_csv
                    bind_mode: download
                test_path:
                    source: test_csv
                extra:
                    source: DataPathParameter
                    bind_mode: download
"""

RUNCONFIG = """
script: prep.py
framework: Python
communicator: None
target: local
nodeCount: 1
environment:
  name: prep-env
  environmentVariables:
    PREP_MODE: from-runconfig
  python:
    userManagedDependencies: true
    interpreterPath: python
  docker:
    enabled: false
"""


def test_a_yaml_pipeline_runs_its_steps_with_their_data_and_parameters(
    ws: Workspace, tmp_path: Path
) -> None:
    datastore = ws.get_default_datastore()
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "titanic.csv").write_text("a\nb\nc\nd\ne\n")
    (raw / "extra.txt").write_text("extra-data\n")
    datastore.upload_files(
        [str(raw / "titanic.csv")], target_path="yaml-test", overwrite=True, show_progress=False
    )
    datastore.upload_files(
        [str(raw / "extra.txt")], target_path="yaml-test", overwrite=True, show_progress=False
    )
    Dataset.File.from_files(path=[(datastore, "yaml-test/titanic.csv")]).register(
        ws, "titanic_ds", create_new_version=True
    )
    folder = tmp_path / "project"
    write(folder / "prep", "prep.py", PREP)
    write(folder / "train", "train.py", TRAIN)
    (folder / "prep.runconfig").write_text(RUNCONFIG)
    (folder / "pipeline.yml").write_text(PIPELINE)

    pipeline = Pipeline.load_yaml(ws, str(folder / "pipeline.yml"))
    assert pipeline.validate() == []
    assert sorted(step.name for step in pipeline.steps) == ["DataPrep Step", "Training Step"]
    run = Experiment(ws, "yaml-pipeline").submit(
        pipeline, pipeline_parameters={"NumIterationsParameter": 12}
    )
    assert run.wait_for_completion(show_output=False) == "Completed"
    (prep,) = run.find_step_run("DataPrep Step")
    prep_log = prep.get_job_log()
    assert "iterations 12" in prep_log and "seed 7" in prep_log
    assert "mode from-runconfig" in prep_log
    (train,) = run.find_step_run("Training Step")
    assert "train 3 test 2 extra extra-data" in train.get_job_log()
    assert sorted(prep.get_outputs()) == ["test_csv", "train_csv"]


def _refusal(tmp_path: Path, body: str) -> str:
    path = tmp_path / "bad.yml"
    path.write_text(textwrap.dedent(body))
    with pytest.raises(ValueError) as caught:
        Pipeline.load_yaml(None, str(path))  # type: ignore[arg-type]
    return str(caught.value)


STEP = """
pipeline:
    steps:
        Step1:
            type: PythonScriptStep
            script_name: train.py
            {extra}
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("steps: {}\n", 'pipeline: a pipeline YAML file must have a "pipeline:" section'),
        ("pipeline:\n    name: x\n", "pipeline.steps: Field required"),
        (
            "pipeline:\n    steps:\n        S:\n            type: AutoMLStep\n",
            "pipeline.steps.S: type: 'AutoMLStep' is not a step type of the pipeline YAML",
        ),
        (
            "pipeline:\n    steps:\n        S:\n            type: DatabricksStep\n",
            "pipeline.steps.S: type: DatabricksStep steps are not supported",
        ),
        (
            "pipeline:\n    steps:\n        S:\n            type: ParallelRunStep\n",
            "pipeline.steps.S: parallel_run_config: a ParallelRunStep needs its config file",
        ),
        (
            "pipeline:\n    steps:\n        S:\n            type: ParallelRunStep\n"
            "            name: prs\n            parallel_run_config: p.yml\n",
            "pipeline.steps.S: inputs: a ParallelRunStep needs its input datasets",
        ),
        (
            "pipeline:\n    steps:\n        S:\n            type: PythonScriptStep\n",
            "pipeline.steps.S: script_name: a PythonScriptStep needs its script",
        ),
        (
            STEP.format(
                extra="inputs:\n                d:\n                    source: x\n"
                "                    bind_mode: copy"
            ),
            "pipeline.steps.Step1.inputs.d.bind_mode: Input should be 'mount' or 'download'",
        ),
        (
            STEP.format(extra="outputs:\n                o:\n                    datastore: ws"),
            "pipeline.steps.Step1.outputs.o.destination: Field required",
        ),
        (
            STEP.format(extra="parameters:\n                P:\n                    source: Nope"),
            "pipeline.steps.Step1.parameters.P.source: 'Nope' is not a parameter of the pipeline",
        ),
        (
            "pipeline:\n    parameters:\n        P:\n            type: datapath\n"
            "            default:\n                datastore: ws\n"
            "    steps:\n        S:\n            type: PythonScriptStep\n"
            "            script_name: t.py\n",
            "pipeline.parameters.P.default",
        ),
        (
            "pipeline:\n    parameters:\n        P:\n            type: complex\n"
            "    steps:\n        S:\n            type: PythonScriptStep\n"
            "            script_name: t.py\n",
            "pipeline.parameters.P.type: Input should be 'string', 'int', 'float', 'bool' or "
            "'datapath'",
        ),
    ],
)
def test_a_bad_yaml_is_refused_naming_the_key(tmp_path: Path, body: str, message: str) -> None:
    assert message in _refusal(tmp_path, body)


def test_a_runconfig_file_loads_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rc.runconfig").write_text(RUNCONFIG)
    config = RunConfiguration.load(str(tmp_path / "rc.runconfig"))
    assert config.script == "prep.py" and config.target == "local"
    assert config.environment.environment_variables == {"PREP_MODE": "from-runconfig"}
    assert config.environment.python.user_managed_dependencies is True
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "train.runconfig").write_text("nodeCount: 0\n")
    with pytest.raises(RunConfigurationException, match="nodeCount: Input should be greater"):
        RunConfiguration.load(str(tmp_path), name="train")
    with pytest.raises(RunConfigurationException, match="name: no other.runconfig"):
        RunConfiguration.load(str(tmp_path), name="other")


TRANSFER = """
pipeline:
    name: SamplePipelineFromYaml
    data_references:
        adls_test_data:
            datastore: workspaceblobstore
            path_on_datastore: "{base}/in"
        blob_test_data:
            datastore: workspaceblobstore
            path_on_datastore: "{base}/out"
    default_compute: adftest
    steps:
        Step1:
            type: "DataTransferStep"
            name: "MyDataTransferStep"
            adla_compute_name: adftest
            source_reference_type: directory
            source_data_reference:
                adls_test_data:
                    source: adls_test_data
            destination_data_reference:
                blob_test_data:
                    source: blob_test_data
"""


def test_a_yaml_data_transfer_step_copies_between_datastore_paths(
    ws: Workspace, tmp_path: Path
) -> None:
    datastore = ws.get_default_datastore()
    base = f"yaml-transfer-{tmp_path.name}"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("alpha")
    datastore.upload(str(tmp_path / "in"), target_path=f"{base}/in", show_progress=False)
    (tmp_path / "transfer.yml").write_text(TRANSFER.replace("{base}", base))
    pipeline = Pipeline.load_yaml(ws, str(tmp_path / "transfer.yml"))
    run = Experiment(ws, "yaml-transfer").submit(pipeline)
    assert run.wait_for_completion(show_output=False) == "Completed"
    datastore.download(str(tmp_path / "got"), prefix=f"{base}/out", show_progress=False)
    assert (tmp_path / "got" / base / "out" / "a.txt").read_text() == "alpha"
