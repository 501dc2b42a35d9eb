"""AutoMLStep: an AutoML run as a pipeline step on a real control plane. Its step run is the
AutoML run, whose children are the iterations; its outputs (TrainingOutput 'Metrics' and
'Model', and the default ones) are filled when it completes and flow to the next step;
an unchanged step is reused. The first test makes the calls of the public sample
aml-pipelines-with-automated-machine-learning-step.ipynb as they are, with ``azureml`` ->
``trainforge`` in the imports (and the test data read from the workspace's datastore
instead of the sample's URL)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from tests.clusters import delete_clusters
from tests.helpers import wait_until
from tests.test_pipelines import write
from trainforge.core import Dataset, Experiment, Model, Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.data import OutputFileDatasetConfig
from trainforge.pipeline.core import Pipeline, PipelineData, TrainingOutput
from trainforge.pipeline.steps import AutoMLStep, AutoMLStepRun, PythonScriptStep
from trainforge.train.automl import AutoMLConfig, ConfigException

pytestmark = pytest.mark.slow

CRIMES = ["THEFT", "BATTERY", "NARCOTICS"]
TERMINAL = {"Completed", "Failed", "Canceled"}


def crimes(rows: int, seed: int) -> pd.DataFrame:
    """A small stand-in for the sample's Chicago crime sample: the type of crime follows
    from the district and the hour, with some noise."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, len(CRIMES), rows)
    return pd.DataFrame(
        {
            "District": kind * 5 + rng.integers(0, 3, rows),
            "Hour": (kind * 8 + rng.integers(0, 4, rows)) % 24,
            "Arrest": kind == 2,
            "Location Description": np.array(["STREET", "APARTMENT", "SIDEWALK"])[
                rng.integers(0, 3, rows)
            ],
            "FBI Code": np.array(["06", "08B", "18"])[kind],
            "Primary Type": np.array(CRIMES)[kind],
        }
    )


@pytest.fixture
def sample_setup(ws: Workspace, tmp_path: Path) -> Any:
    """What the sample finds when it runs a second time: its cluster (with a node up) and
    its registered dataset; its test data on the datastore."""
    datastore = ws.get_default_datastore()
    folder = tmp_path / "demo"
    folder.mkdir()
    crimes(240, 1).drop(columns=["FBI Code"]).to_csv(folder / "crime0-random.csv", index=False)
    crimes(60, 2).to_csv(folder / "crime0-test.csv", index=False)
    datastore.upload(str(folder), target_path="demo", overwrite=True, show_progress=False)
    dataset = Dataset.Tabular.from_delimited_files(path=[(datastore, "demo/crime0-random.csv")])
    dataset.register(workspace=ws, name="Crime-Dataset", create_new_version=True)
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=2
    )
    cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    ws.write_config(path=str(tmp_path))
    yield datastore
    delete_clusters(ws, [cluster])


def test_the_automlstep_sample_runs_as_written(
    sample_setup: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.from_config()

    experiment_name = "automlstep-sample"
    project_folder = "./project"

    experiment = Experiment(ws, experiment_name)

    from trainforge.core.compute import AmlCompute, ComputeTarget
    from trainforge.core.compute_target import ComputeTargetException

    # Choose a name for your CPU cluster
    amlcompute_cluster_name = "cpu-cluster"

    # Verify that cluster does not exist already
    try:
        compute_target = ComputeTarget(workspace=ws, name=amlcompute_cluster_name)
        print("Found existing cluster, use it.")
    except ComputeTargetException:
        compute_config = AmlCompute.provisioning_configuration(
            vm_size="STANDARD_DS12_V2",  # for GPU, use "STANDARD_NC6"
            # vm_priority = 'lowpriority', # optional
            max_nodes=4,
        )
        compute_target = ComputeTarget.create(ws, amlcompute_cluster_name, compute_config)

    compute_target.wait_for_completion(show_output=True, min_node_count=1, timeout_in_minutes=10)

    # Try to load the dataset from the Workspace. Otherwise, create it from the file
    found = False
    key = "Crime-Dataset"
    description_text = "Crime Dataset (used in the the aml-pipelines-with-automated-machine-learning-step.ipynb notebook)"

    if key in ws.datasets.keys():
        found = True
        dataset = ws.datasets[key]

    if not found:
        # Create AML Dataset and register it into Workspace
        # The data referenced here was a 1MB simple random sample of the Chicago Crime data into a local temporary directory.
        example_data = "https://dprepdata.blob.core.windows.net/demo/crime0-random.csv"
        dataset = Dataset.Tabular.from_delimited_files(example_data)
        dataset = dataset.drop_columns(["FBI Code"])

        # Register Dataset in Workspace
        dataset = dataset.register(workspace=ws, name=key, description=description_text)

    df = dataset.to_pandas_dataframe()
    df.describe()

    assert dataset.take(5).to_pandas_dataframe().shape == (5, 5)

    automl_settings = {
        "experiment_timeout_minutes": 20,
        "max_concurrent_iterations": 4,
        "primary_metric": "AUC_weighted",
    }
    automl_config = AutoMLConfig(
        compute_target=compute_target,
        task="classification",
        training_data=dataset,
        label_column_name="Primary Type",
        path=project_folder,
        enable_early_stopping=True,
        featurization="auto",
        debug_log="automl_errors.log",
        **automl_settings,
    )

    from trainforge.pipeline.core import PipelineData, TrainingOutput

    ds = ws.get_default_datastore()
    metrics_output_name = "metrics_output"
    best_model_output_name = "best_model_output"

    metrics_data = PipelineData(
        name="metrics_data",
        datastore=ds,
        pipeline_output_name=metrics_output_name,
        training_output=TrainingOutput(type="Metrics"),
    )
    model_data = PipelineData(
        name="model_data",
        datastore=ds,
        pipeline_output_name=best_model_output_name,
        training_output=TrainingOutput(type="Model"),
    )

    automl_step = AutoMLStep(
        name="automl_module",
        automl_config=automl_config,
        outputs=[metrics_data, model_data],
        allow_reuse=True,
    )

    from trainforge.pipeline.core import Pipeline

    pipeline = Pipeline(description="pipeline_with_automlstep", workspace=ws, steps=[automl_step])

    pipeline_run = experiment.submit(pipeline)

    pipeline_run.wait_for_completion()

    metrics_output = pipeline_run.get_pipeline_output(metrics_output_name)
    num_file_downloaded = metrics_output.download(".", show_progress=True)

    with open(metrics_output._path_on_datastore) as f:
        metrics_output_result = f.read()

    deserialized_metrics_output = json.loads(metrics_output_result)
    df = pd.DataFrame(deserialized_metrics_output)

    # Retrieve best model from Pipeline Run
    best_model_output = pipeline_run.get_pipeline_output(best_model_output_name)
    num_file_downloaded = best_model_output.download(".", show_progress=True)

    with open(best_model_output._path_on_datastore, "rb") as f:
        best_model = pickle.load(f)
    best_model.steps  # noqa: B018 - the sample shows it

    dataset_test = Dataset.Tabular.from_delimited_files(
        path=[(ds, "demo/crime0-test.csv")]  # the sample: its URL
    )
    df_test = dataset_test.to_pandas_dataframe()
    df_test = df_test[pd.notnull(df_test["Primary Type"])]

    y_test = df_test["Primary Type"]
    X_test = df_test.drop(["Primary Type", "FBI Code"], axis=1)

    from sklearn.metrics import confusion_matrix

    ypred = best_model.predict(X_test)
    cm = confusion_matrix(y_test, ypred)

    # What the sample shows, checked: the step run is the AutoML run, its iterations its
    # children on the cluster; the metrics are theirs; the model is the best one's.
    assert num_file_downloaded.endswith(best_model_output._path_on_datastore)
    (step_run,) = pipeline_run.find_step_run("automl_module")
    automl_run = AutoMLStepRun(step_run=step_run)
    iterations = list(automl_run.get_children())
    assert iterations and all(r.get_details()["target"] == "cpu-cluster" for r in iterations)
    assert sorted(df.columns) == sorted(r.id for r in iterations)
    assert "AUC_weighted" in df.index
    best_run, fitted = automl_run.get_output()
    assert list(fitted.predict(X_test)) == list(ypred)
    assert best_run.get_metrics()["AUC_weighted"] == df[best_run.id]["AUC_weighted"]
    assert np.trace(cm) / cm.sum() > 0.8
    # The default outputs are there too, by the SDK's names.
    assert automl_run.get_default_model_output().get_port_data_reference().path_on_datastore == (
        f"azureml/{step_run.id}/default_model_automl_module"
    )
    assert "default_metrics_automl_module" in step_run.get_outputs()


USE_MODEL = """
import argparse, pickle
import pandas as pd
parser = argparse.ArgumentParser()
parser.add_argument("--model", type=str)
args = parser.parse_args()
with open(args.model, "rb") as f:
    model = pickle.load(f)
rows = pd.DataFrame({"sepal length (cm)": [5.1, 6.7], "sepal width (cm)": [3.5, 3.0],
                     "petal length (cm)": [1.4, 5.2], "petal width (cm)": [0.2, 2.3]})
print("predicted", [str(label) for label in model.predict(rows)])
"""


def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    names = dict(enumerate(load_iris().target_names))
    return frame.assign(species=frame.pop("target").map(names))


def iris_config(data: pd.DataFrame, iterations: int = 3) -> AutoMLConfig:
    return AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=data,
        label_column_name="species",
        compute_target="local",
        iterations=iterations,
        max_concurrent_iterations=2,
        validation_size=0.3,
        allowed_models=["LogisticRegression", "KNN"],
    )


def test_a_model_output_flows_to_the_next_step_and_an_unchanged_step_is_reused(
    ws: Workspace, tmp_path: Path
) -> None:
    datastore = ws.get_default_datastore()
    by_log_loss = PipelineData(
        "by_log_loss",
        datastore=datastore,
        training_output=TrainingOutput("Model", metric="log_loss"),
    )
    first = PipelineData("first", training_output=TrainingOutput("Model", iteration=0))

    def pipeline(data: pd.DataFrame) -> Pipeline:
        automl_step = AutoMLStep(
            name="automl step", automl_config=iris_config(data), outputs=[by_log_loss, first]
        )
        use = PythonScriptStep(
            "use.py",
            name="use_model",
            arguments=["--model", by_log_loss],
            inputs=[by_log_loss],
            compute_target="local",
            source_directory=write(tmp_path / "use", "use.py", USE_MODEL),
        )
        return Pipeline(ws, [automl_step, use])

    data = iris()
    pipeline_run = Experiment(ws, "automl-step").submit(pipeline(data))
    assert pipeline_run.wait_for_completion(show_output=False) == "Completed"
    (step_run,) = pipeline_run.find_step_run("automl step")
    automl_run = AutoMLStepRun(step_run=step_run)
    assert step_run.id.startswith("AutoML_") and automl_run.id == step_run.id
    children = {c.id: c for c in automl_run.get_children()}
    assert sorted(children) == [f"{step_run.id}_{i}" for i in range(3)]
    losses = {i: c.get_metrics()["log_loss"] for i, c in children.items()}
    by_loss = min(losses, key=losses.__getitem__)
    # The next step read the model of the iteration with the least log_loss.
    (use_run,) = pipeline_run.find_step_run("use_model")
    assert "predicted ['setosa', 'virginica']" in use_run.get_job_log()
    log = pipeline_run.get_details_with_logs()["logFiles"]["azureml-logs/pipeline.txt"]
    assert f"output by_log_loss holds outputs/model.pkl of run {by_loss}" in log
    assert f"output first holds outputs/model.pkl of run {step_run.id}_0 (iteration 0)" in log
    # The default outputs: the best iteration's model, every iteration's metrics.
    got = tmp_path / "got"
    default_model = automl_run.get_default_model_output().get_port_data_reference()
    default_model.download(str(got), show_progress=False)
    with open(got / default_model.path_on_datastore, "rb") as f:
        model = pickle.load(f)
    best_run, fitted = automl_run.get_output()
    assert list(model.predict(data.drop(columns="species"))) == list(
        fitted.predict(data.drop(columns="species"))
    )
    default_metrics = automl_run.get_default_metrics_output().get_port_data_reference()
    default_metrics.download(str(got), show_progress=False)
    metrics = json.loads((got / default_metrics.path_on_datastore).read_text())
    assert set(metrics) == set(children)
    assert metrics[best_run.id]["accuracy"] == best_run.get_metrics()["accuracy"]

    # Submitted again unchanged: the AutoML run is reused, and so are its outputs.
    again = Experiment(ws, "automl-step").submit(pipeline(iris()))
    assert again.wait_for_completion(show_output=False) == "Completed"
    (reused,) = again.find_step_run("automl step")
    assert reused.properties["azureml.reusedrunid"] == step_run.id
    assert AutoMLStepRun(step_run=reused).get_best_child().id == best_run.id
    # Other rows: a new AutoML run.
    changed = Experiment(ws, "automl-step").submit(pipeline(data.iloc[:120]))
    assert changed.wait_for_completion(show_output=False) == "Completed"
    (fresh,) = changed.find_step_run("automl step")
    assert "azureml.reusedrunid" not in fresh.properties
    assert len(list(AutoMLStepRun(step_run=fresh).get_children())) == 3


DATAPREP = """
import argparse, os
from sklearn.datasets import load_iris
parser = argparse.ArgumentParser()
parser.add_argument("--output_path")
args = parser.parse_args()
frame = load_iris(as_frame=True).frame
names = dict(enumerate(load_iris().target_names))
frame = frame.assign(species=frame.pop("target").map(names))
os.makedirs(args.output_path, exist_ok=True)
frame.to_csv(os.path.join(args.output_path, "prepped.csv"), index=False)
"""

REGISTER = """
import argparse
from trainforge.core import Model, Run
parser = argparse.ArgumentParser()
parser.add_argument("--model_name")
parser.add_argument("--model_path")
args = parser.parse_args()
ws = Run.get_context().experiment.workspace
model = Model.register(workspace=ws, model_path=args.model_path, model_name=args.model_name)
print("Registered version {0} of model {1}".format(model.version, model.name))
"""


def test_an_automlstep_trains_on_the_output_of_the_step_before_it(
    ws: Workspace, tmp_path: Path
) -> None:
    # The flow of the SDK's "Use automated ML in an Azure Machine Learning pipeline": a
    # data preparation step, AutoML on its output, a step registering the best model.
    datastore = ws.get_default_datastore()
    prepped_data_path = OutputFileDatasetConfig(
        name="output_path", destination=(datastore, "outputdataset/{run-id}")
    )
    dataprep_step = PythonScriptStep(
        name="dataprep",
        script_name="dataprep.py",
        compute_target="local",
        arguments=["--output_path", prepped_data_path],
        source_directory=write(tmp_path / "prep", "dataprep.py", DATAPREP),
        allow_reuse=True,
    )
    prepped_data = prepped_data_path.read_delimited_files()
    model_data = PipelineData(
        name="best_model_data",
        datastore=datastore,
        pipeline_output_name="model_output",
        training_output=TrainingOutput(type="Model"),
    )
    automl_config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=prepped_data,
        label_column_name="species",
        compute_target="local",
        iterations=2,
        max_concurrent_iterations=2,
        validation_size=0.3,
        allowed_models=["LogisticRegression", "KNN"],
    )
    train_step = AutoMLStep(
        name="AutoML_Classification",
        automl_config=automl_config,
        outputs=[model_data],
        enable_default_model_output=False,
        enable_default_metrics_output=False,
        allow_reuse=True,
    )
    register_step = PythonScriptStep(
        script_name="register_model.py",
        name="register_model",
        allow_reuse=False,
        arguments=["--model_name", "iris-from-pipeline", "--model_path", model_data],
        inputs=[model_data],
        compute_target="local",
        source_directory=write(tmp_path / "register", "register_model.py", REGISTER),
    )
    pipeline = Pipeline(ws, [dataprep_step, train_step, register_step])
    run = Experiment(ws, "automl-upstream").submit(pipeline)
    assert run.wait_for_completion(show_output=False) == "Completed"
    (step_run,) = run.find_step_run("AutoML_Classification")
    automl_run = AutoMLStepRun(step_run=step_run)
    assert len(list(automl_run.get_children())) == 2
    best_run, fitted = automl_run.get_output()
    # The guardrails were read from the upstream output when the step started.
    assert {g["type"] for g in automl_run.get_guardrails(to_console=False)["data"]}
    model = Model(ws, "iris-from-pipeline")
    got = Path(model.download(str(tmp_path / "model"), exist_ok=True))
    with open(got, "rb") as f:
        registered = pickle.load(f)
    rows = iris().drop(columns="species")
    assert list(registered.predict(rows)) == list(fitted.predict(rows))

    # A label the upstream output does not have: the step cannot start, the field named.
    wrong = AutoMLConfig(
        task="classification",
        training_data=prepped_data,
        label_column_name="kind",
        compute_target="local",
        iterations=2,
    )
    failed = Pipeline(ws, [AutoMLStep(name="wrong", automl_config=wrong)]).submit("automl-up")
    assert failed.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    error = failed.get_details()["error"]["error"]["message"]
    assert "label_column_name: 'kind' is not a column of the training data" in error
    with pytest.raises(ConfigException, match="'training_data' specified: another pipeline"):
        Experiment(ws, "automl-up").submit(wrong)


SPLIT = """
import argparse, os
from sklearn.datasets import load_iris
parser = argparse.ArgumentParser()
parser.add_argument("--train_path")
parser.add_argument("--valid_path")
args = parser.parse_args()
frame = load_iris(as_frame=True).frame
names = dict(enumerate(load_iris().target_names))
frame = frame.assign(species=frame.pop("target").map(names))
for path, part in ((args.train_path, frame.iloc[::2]), (args.valid_path, frame.iloc[1::2])):
    os.makedirs(path, exist_ok=True)
    part.to_csv(os.path.join(path, "part.csv"), index=False)
"""


def test_an_automlstep_validates_on_another_steps_output(ws: Workspace, tmp_path: Path) -> None:
    datastore = ws.get_default_datastore()
    train_path = OutputFileDatasetConfig(
        name="train_path", destination=(datastore, "outputdataset/{run-id}/train")
    )
    valid_path = OutputFileDatasetConfig(
        name="valid_path", destination=(datastore, "outputdataset/{run-id}/valid")
    )
    split_step = PythonScriptStep(
        name="split",
        script_name="split.py",
        compute_target="local",
        arguments=["--train_path", train_path, "--valid_path", valid_path],
        source_directory=write(tmp_path / "split", "split.py", SPLIT),
    )
    automl_config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=train_path.read_delimited_files(),
        validation_data=valid_path.read_delimited_files(),
        label_column_name="species",
        compute_target="local",
        iterations=2,
        max_concurrent_iterations=2,
        allowed_models=["LogisticRegression", "KNN"],
    )
    train_step = AutoMLStep(name="automl_validated", automl_config=automl_config)
    run = Experiment(ws, "automl-validation").submit(Pipeline(ws, [split_step, train_step]))
    assert run.wait_for_completion(show_output=False) == "Completed"
    (step_run,) = run.find_step_run("automl_validated")
    children = list(AutoMLStepRun(step_run=step_run).get_children())
    assert len(children) == 2
    for child in children:
        log = "".join(child.get_details_with_logs()["logFiles"].values())
        assert "Validation: validation_data" in log  # the other step's rows, not a split

    # A validation output without the label column: the step cannot start, the field named.
    nolabel = OutputFileDatasetConfig(name="nolabel")
    drop_step = PythonScriptStep(
        name="drop_label",
        script_name="drop.py",
        compute_target="local",
        arguments=["--out", nolabel],
        source_directory=write(
            tmp_path / "drop",
            "drop.py",
            "import argparse, os\np = argparse.ArgumentParser(); p.add_argument('--out')\n"
            "a = p.parse_args(); os.makedirs(a.out, exist_ok=True)\n"
            "open(os.path.join(a.out, 'x.csv'), 'w').write('a,b\\n1,2\\n')\n",
        ),
    )
    bad_config = AutoMLConfig(
        task="classification",
        training_data=train_path.read_delimited_files(),
        validation_data=nolabel.read_delimited_files(),
        label_column_name="species",
        compute_target="local",
        iterations=2,
    )
    failed = Experiment(ws, "automl-validation").submit(
        Pipeline(
            ws, [split_step, drop_step, AutoMLStep(name="bad_valid", automl_config=bad_config)]
        )
    )
    assert failed.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    error = failed.get_details()["error"]["error"]["message"]
    assert "validation_data: 'species' is not a column" in error


def test_canceling_the_pipeline_stops_the_automl_run_and_its_iterations(ws: Workspace) -> None:
    step = AutoMLStep(name="automl", automl_config=iris_config(iris(), iterations=50))
    run = Pipeline(ws, [step]).submit("automl-cancel")

    def running() -> list[Any]:
        steps = run.find_step_run("automl")
        children = list(steps[0].get_children()) if steps else []
        return [c for c in children if c.get_status() == "Running"]

    wait_until(running, 120, "an iteration running")
    run.cancel()
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Canceled"
    (automl_run,) = run.find_step_run("automl")
    wait_until(lambda: automl_run.get_status() == "Canceled", 60, "the AutoML step run canceled")

    def settled() -> list[Any]:
        children = list(automl_run.get_children())
        return children if all(c.get_status() in TERMINAL for c in children) else []

    children = wait_until(settled, 60, "every iteration ended")
    assert len(children) < 50


def test_an_automlstep_refuses_what_it_cannot_run(ws: Workspace) -> None:
    config = iris_config(iris())
    with pytest.raises(ConfigException, match="'name' specified"):
        AutoMLStep(name=None, automl_config=config)  # type: ignore[arg-type]
    with pytest.raises(ConfigException, match="'automl_config' specified: dict"):
        AutoMLStep(name="a", automl_config={"task": "classification"})  # type: ignore[arg-type]
    local = AutoMLConfig(task="classification", training_data=iris(), label_column_name="species")
    with pytest.raises(ConfigException, match="'compute_target' specified: None"):
        AutoMLStep(name="a", automl_config=local)
    # Another step's output as validation data outside a pipeline: refused, naming it.
    upstream = OutputFileDatasetConfig(name="prepped").read_delimited_files()
    validating = AutoMLConfig(
        task="classification",
        training_data=iris(),
        validation_data=upstream,
        label_column_name="species",
        compute_target="local",
    )
    with pytest.raises(ConfigException, match="'validation_data' specified: another pipeline"):
        Experiment(ws, "automl-v").submit(validating)
    plain = PipelineData("plain")
    with_file = PipelineData("m", training_output=TrainingOutput("Model", model_file="x.pb"))
    step = AutoMLStep(name="a", automl_config=config, outputs=[plain, with_file])
    assert Pipeline(ws, [step]).validate() == [
        "step 'a': output 'plain': an AutoMLStep's outputs are PipelineData with a "
        "training_output (TrainingOutput('Metrics') or TrainingOutput('Model'))",
        "step 'a': output 'm': TrainingOutput model_file is for a HyperDriveStep; an "
        "AutoMLStep's model is the iteration's model.pkl",
    ]
