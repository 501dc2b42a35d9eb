"""Automated ML end to end: a real control plane proposing FLAML pipelines as child runs on
the local compute, the SDK's calls as the AutoML sample notebooks make them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from tests.helpers import restart_server
from trainforge.core import Dataset, Experiment, Workspace
from trainforge.exceptions import UserErrorException
from trainforge.schemas.runs import RunStatus
from trainforge.train.automl import AutoMLConfig, ConfigException
from trainforge.train.automl.run import AutoMLRun

pytestmark = pytest.mark.slow

CLASSIFICATION_METRICS = {
    "AUC_weighted",
    "accuracy",
    "average_precision_score_weighted",
    "norm_macro_recall",
    "precision_score_weighted",
    "f1_score_weighted",
    "log_loss",
}


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    names = dict(enumerate(load_iris().target_names))
    return frame.assign(species=frame.pop("target").map(names))


def test_classification_iterations_are_child_runs_and_the_best_model_predicts(
    experiment: Experiment, iris: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    automl_config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=iris,
        label_column_name="species",
        iterations=4,
        max_concurrent_iterations=2,
        n_cross_validations=3,
        experiment_timeout_minutes=10,
        allowed_models=["LightGBM", "LogisticRegression", "KNN"],
    )
    remote_run = experiment.submit(automl_config, show_output=True)
    assert isinstance(remote_run, AutoMLRun)
    assert remote_run.type == "automl"
    assert remote_run.get_status() == "Completed"
    out = capsys.readouterr().out
    assert "ITERATION" in out and "PIPELINE" in out and "BEST" in out

    children = {child.id: child for child in remote_run.get_children()}
    assert sorted(children) == sorted(f"{remote_run.id}_{i}" for i in range(4))
    algorithms = set()
    for child in children.values():
        assert child.get_status() == "Completed"
        assert CLASSIFICATION_METRICS <= set(child.get_metrics())
        assert "outputs/model.pkl" in child.get_file_names()
        assert "outputs/confusion_matrix.json" in child.get_file_names()
        algorithms.add(child.get_properties()["run_algorithm"])
    # FLAML starts every allowed learner at its low-cost point before searching further;
    # the last iteration is the SDK's VotingEnsemble of the best of them.
    assert algorithms == {"LightGBM", "LogisticRegression", "KNN", "VotingEnsemble"}
    ensemble = children[f"{remote_run.id}_3"]
    assert ensemble.get_properties()["run_algorithm"] == "VotingEnsemble"
    assert "outputs/featurization_summary.json" not in ensemble.get_file_names()

    best_run, fitted_model = remote_run.get_output()
    scores = {run_id: run.get_metrics()["accuracy"] for run_id, run in children.items()}
    assert scores[best_run.id] == max(scores.values())
    X = iris.drop(columns=["species"])
    predicted = fitted_model.predict(X)
    assert (predicted == iris["species"]).mean() > 0.9

    lowest_loss = remote_run.get_best_child(metric="log_loss")
    losses = {run_id: run.get_metrics()["log_loss"] for run_id, run in children.items()}
    assert losses[lowest_loss.id] == min(losses.values())
    third, _ = remote_run.get_output(iteration=2)
    assert third.id == f"{remote_run.id}_2"

    model = remote_run.register_model(model_name="iris-automl", description="AutoML best")
    assert model.name == "iris-automl" and model.version >= 1
    assert {row["algorithm"] for row in remote_run.summary()} == algorithms
    assert "outputs/featurization_summary.json" in children[f"{remote_run.id}_0"].get_file_names()
    guardrails = remote_run.get_guardrails()["data"]
    assert [g["status"] for g in guardrails] == ["passed", "passed", "passed"]
    assert "DATA GUARDRAILS" in capsys.readouterr().out


def _tabular(ws: Workspace, frame: pd.DataFrame, tmp_path: Path, name: str) -> Any:
    """A TabularDataset of ``frame`` on the default datastore, as the notebooks make one."""
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    datastore = ws.get_default_datastore()
    datastore.upload_files([str(csv)], target_path="automl-data", overwrite=True)
    return Dataset.Tabular.from_delimited_files(path=[(datastore, f"automl-data/{name}.csv")])


def test_regression_on_a_tabular_dataset_with_validation_data_minimizes_an_error_metric(
    experiment: Experiment, tmp_path: Path
) -> None:
    frame = load_diabetes(as_frame=True).frame
    train, valid = frame.iloc[:350], frame.iloc[350:]
    training_data = _tabular(experiment.workspace, train, tmp_path, "diabetes-train")
    config = AutoMLConfig(
        task="regression",
        primary_metric="normalized_root_mean_squared_error",
        training_data=training_data,
        validation_data=valid,
        label_column_name="target",
        iterations=3,
        allowed_models=["LightGBM", "RandomForest"],
    )
    run = experiment.submit(config)
    run.wait_for_completion()
    children = list(run.get_children())
    assert len(children) == 3
    errors = {c.id: c.get_metrics()["normalized_root_mean_squared_error"] for c in children}
    for child in children:
        assert {"r2_score", "spearman_correlation", "normalized_mean_absolute_error"} <= set(
            child.get_metrics()
        )
        assert "outputs/residuals.json" in child.get_file_names()
    best, model = run.get_output()
    assert errors[best.id] == min(errors.values())
    assert len(model.predict(valid.drop(columns=["target"]))) == len(valid)


def test_forecasting_two_stores_daily_and_the_best_model_forecasts_a_week(
    experiment: Experiment,
) -> None:
    from tests.test_automl_config import series
    from trainforge.automl.core.forecasting_parameters import ForecastingParameters

    history = series(67)
    train = history.groupby("store").head(60)
    test = history.groupby("store").tail(7)
    config = AutoMLConfig(
        task="forecasting",
        primary_metric="normalized_root_mean_squared_error",
        training_data=train,
        label_column_name="sales",
        n_cross_validations=2,
        iterations=3,
        allowed_models=["LightGBM", "RandomForest"],
        forecasting_parameters=ForecastingParameters(
            time_column_name="date", forecast_horizon=7, time_series_id_column_names=["store"]
        ),
    )
    run = experiment.submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    children = list(run.get_children())
    assert len(children) == 3
    for child in children:
        assert {"normalized_root_mean_squared_error", "r2_score"} <= set(child.get_metrics())
    best, model = run.get_output()
    y_pred, frame = model.forecast(test.drop(columns=["sales"]))
    assert len(y_pred) == len(frame) == 14
    truth = test["sales"].to_numpy()
    assert abs(y_pred - truth).mean() < 0.05 * abs(train["sales"].mean() - truth).mean()


def test_a_featurization_config_reaches_every_iteration(
    experiment: Experiment, tmp_path: Path
) -> None:
    import json

    from tests.test_automl_config import customers
    from trainforge.automl.core.featurization import FeaturizationConfig

    featurization = FeaturizationConfig(drop_columns=["customer_id"])
    featurization.add_column_purpose("note", "Text")
    featurization.add_transformer_params("HashOneHotEncoder", ["zip"], {"number_of_bits": 4})
    config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=customers(),
        label_column_name="churn",
        iterations=2,
        n_cross_validations=3,
        enable_voting_ensemble=False,
        allowed_models=["LightGBM", "LogisticRegression"],
        featurization=featurization,
    )
    run = experiment.submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    for child in run.get_children():
        saved = tmp_path / f"{child.id}.json"
        child.download_file("outputs/featurization_summary.json", str(saved))
        rows = {r["RawFeatureName"]: r for r in json.loads(saved.read_text())}
        assert rows["customer_id"]["Dropped"] == "Yes"
        assert rows["note"]["TypeDetected"] == "Text"
        assert rows["zip"]["EngineeredFeatureCount"] == 16


def test_binary_classification_ends_with_a_voting_then_a_stack_ensemble(
    experiment: Experiment,
) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    config = AutoMLConfig(
        task="classification",
        primary_metric="AUC_weighted",
        training_data=data,
        label_column_name="target",
        iterations=5,
        validation_size=0.3,
        allowed_models=["LightGBM", "LogisticRegression", "RandomForest"],
    )
    assert config.enable_stack_ensemble  # the SDK's default
    run = experiment.submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    children = {c.id: c for c in run.get_children()}
    algorithms = [children[f"{run.id}_{i}"].get_properties()["run_algorithm"] for i in range(5)]
    assert algorithms[3:] == ["VotingEnsemble", "StackEnsemble"]
    assert set(algorithms[:3]) == {"LightGBM", "LogisticRegression", "RandomForest"}
    stack_run, stack = run.get_output(iteration=4)
    assert stack_run.get_metrics()["AUC_weighted"] > 0.95
    assert set(stack.predict(data.drop(columns=["target"]).head(10))) <= {0, 1}

    # The explanation sample's calls: the best run explained by engineered and raw features.
    from trainforge.interpret import ExplanationClient

    best, _ = run.get_output()
    client = ExplanationClient.from_run(best)
    raw = client.download_model_explanation(raw=True)
    assert set(raw.get_ranked_global_names()) == set(data.columns) - {"target"}
    values = raw.get_ranked_global_values()
    assert values == sorted(values, reverse=True) and values[0] > 0
    top = client.download_model_explanation(raw=True, top_k=3).get_feature_importance_dict()
    assert list(top) == raw.get_ranked_global_names(3)
    stack_client = ExplanationClient.from_run(stack_run)  # an ensemble: raw columns only
    assert len(stack_client.download_model_explanation(raw=True).features) == 30
    with pytest.raises(UserErrorException, match="no engineered model explanation"):
        stack_client.download_model_explanation(raw=False)
    searched = children[f"{run.id}_0"]
    engineered = ExplanationClient.from_run(searched).download_model_explanation()
    assert engineered.features and len(engineered.features) == len(
        engineered.global_importance_values
    )


def test_onnx_models_as_the_sample_saves_and_scores_them(
    experiment: Experiment, iris: pd.DataFrame, tmp_path: Path
) -> None:
    import json

    from trainforge.automl.core.shared import constants
    from trainforge.automl.runtime.onnx_convert import OnnxConverter, OnnxInferenceHelper

    config = AutoMLConfig(
        task="classification", primary_metric="accuracy", training_data=iris,
        label_column_name="species", iterations=3, validation_size=0.3,
        allowed_models=["LightGBM", "LogisticRegression"], enable_onnx_compatible_models=True,
    )  # fmt: skip
    run = experiment.submit(config)
    run.wait_for_completion()
    best_run, onnx_mdl = run.get_output(return_onnx_model=True)
    onnx_fl_path = tmp_path / "best_model.onnx"
    OnnxConverter.save_onnx_model(onnx_mdl, str(onnx_fl_path))
    res_path = tmp_path / "onnx_resource.json"
    best_run.download_file(name=constants.MODEL_RESOURCE_PATH_ONNX, output_file_path=str(res_path))
    helper = OnnxInferenceHelper(onnx_fl_path.read_bytes(), json.loads(res_path.read_text()))
    pred_onnx, pred_prob_onnx = helper.predict(iris.drop(columns=["species"]))
    assert (pred_onnx == iris["species"].to_numpy()).mean() > 0.9
    assert pred_prob_onnx.shape == (150, 3)


def test_the_experiment_timeout_ends_the_search_and_the_run_completes(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        iterations=200,
        experiment_timeout_minutes=0.1,
        validation_size=0.3,
        allowed_models=["LogisticRegression", "KNN"],
    )
    run = experiment.submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    state = run._automl()
    assert state.stop_reason == "experiment_timeout_minutes=0.1 reached"
    assert 1 <= len(state.children) < 200


def test_bad_input_is_refused_before_anything_is_submitted(
    experiment: Experiment, iris: pd.DataFrame, tmp_path: Path
) -> None:
    dataset = _tabular(experiment.workspace, iris, tmp_path, "iris")
    cases = [
        ({"label_column_name": "colour"}, "label_column_name"),
        ({"task": "regression"}, "label_column_name"),  # a string label
        ({"primary_metric": "r2_score"}, "primary_metric"),
        ({"training_data": iris.iloc[:0]}, "training_data"),
        ({"allowed_models": ["KNN"], "blocked_models": ["KNN"]}, "allowed_models"),
        ({"validation_data": iris.drop(columns=["species"])}, "validation_data"),
        ({"training_data": iris.assign(species="setosa")}, "at least 2 classes"),
        # A TabularDataset is read where it is submitted: its columns are checked there.
        ({"training_data": dataset, "label_column_name": "colour"}, "label_column_name"),
    ]
    for change, named in cases:
        settings = {
            "task": "classification",
            "training_data": iris,
            "label_column_name": "species",
            **change,
        }
        with pytest.raises(ConfigException, match=named):
            experiment.submit(AutoMLConfig(**settings))
    assert list(experiment.get_runs()) == []


def test_iterations_that_all_fail_fail_the_automl_run_with_their_error(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    # A column of dicts: featurization cannot encode it, so every iteration fails.
    broken = iris.assign(notes=[{"n": i} for i in range(len(iris))])
    config = AutoMLConfig(
        task="classification",
        training_data=broken,
        label_column_name="species",
        iterations=2,
        validation_size=0.3,
        allowed_models=["KNN"],
    )
    run = experiment.submit(config)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "its first 2 iterations all failed" in details["error"]["error"]["message"]
    assert [c.get_status() for c in run.get_children()] == ["Failed", "Failed"]


def test_the_exit_score_ends_the_search_once_reached(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=iris,
        label_column_name="species",
        iterations=20,
        experiment_exit_score=0.5,
        validation_size=0.3,
        allowed_models=["KNN", "LogisticRegression"],
    )
    run = experiment.submit(config)
    assert run.wait_for_completion()["status"] == "Completed"
    state = run._automl()
    assert state.stop_reason == "experiment_exit_score=0.5 reached"
    assert len(state.children) == 1 and state.best_score is not None and state.best_score >= 0.5


def test_a_slow_iteration_is_stopped_at_iteration_timeout_minutes(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        iterations=1,
        iteration_timeout_minutes=0.01,  # 1 s: less than an iteration's imports take
        validation_size=0.3,
        allowed_models=["KNN"],
    )
    run = experiment.submit(config)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    (child,) = run.get_children()
    assert child.get_details()["runDefinition"]["max_run_duration_seconds"] == 1
    assert "max_run_duration_seconds=1" in child.get_details()["error"]["error"]["message"]


def _wait_for_a_running_iteration(run: AutoMLRun) -> None:
    deadline = time.monotonic() + 120
    while not any(c.get_status() == "Running" for c in run.get_children()):
        assert time.monotonic() < deadline, "no iteration started"
        time.sleep(0.2)


def test_a_restarted_control_plane_goes_on_with_the_search(
    experiment: Experiment, iris: pd.DataFrame, tf_home: Path
) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        iterations=2,
        validation_size=0.3,
        allowed_models=["LogisticRegression", "KNN"],
    )
    run = experiment.submit(config)
    _wait_for_a_running_iteration(run)
    restart_server(tf_home)
    again = AutoMLRun(experiment, run.id)
    assert again.wait_for_completion()["status"] == "Completed"
    children = {c.id: c for c in again.get_children()}
    assert sorted(children) == [f"{run.id}_{i}" for i in range(2)]
    assert all(c.get_status() == "Completed" for c in children.values())
    state = again._automl()
    assert [c.iteration for c in state.children] == [0, 1]
    # FLAML's searcher came back from the store: the second iteration is the next learner.
    assert [c.run_algorithm for c in state.children] == ["LogisticRegression", "KNN"]
    assert state.best_run_id in children


def test_cancel_stops_the_search_and_its_running_iterations(
    experiment: Experiment, iris: pd.DataFrame
) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        iterations=50,
        validation_size=0.3,
        allowed_models=["KNN"],
    )
    run = experiment.submit(config)
    _wait_for_a_running_iteration(run)
    run.cancel()
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Canceled"
    deadline = time.monotonic() + 60
    while not all(RunStatus(c.get_status()).is_terminal for c in run.get_children()):
        assert time.monotonic() < deadline, "an iteration did not stop"
        time.sleep(0.2)
    statuses = [c.get_status() for c in run.get_children()]
    assert "Canceled" in statuses and len(statuses) < 50
    assert set(statuses) <= {"Completed", "Canceled"}


def test_the_service_refuses_a_learner_of_another_task(experiment: Experiment) -> None:
    from trainforge.client.api import api
    from trainforge.client.api.automl import AutoMLApi
    from trainforge.client.errors import sdk_errors

    body = {
        "task": "regression",
        "primary_metric": "r2_score",
        "learners": ["lrl2"],
        "rows": 10,
        "columns": 2,
        "definition": {"script": "automl_driver.py"},
        "snapshot_id": "none",
    }
    automl = api(experiment.workspace, AutoMLApi)
    with pytest.raises(UserErrorException, match=r"learners: unknown \['lrl2'\]"):
        with sdk_errors():
            automl.client.post(f"{automl.base}/experiments/{experiment.name}/automl", body)
    assert list(experiment.get_runs()) == []


def _most_at_once(children: list[Any]) -> int:
    """The largest number of iterations that were running at the same moment."""
    events = []
    for child in children:
        details = child.get_details()
        events += [(details["startTimeUtc"], 1), (details["endTimeUtc"], -1)]
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


def test_iterations_run_on_a_cluster_two_at_once(
    clusters: Any, experiment: Experiment, iris: pd.DataFrame
) -> None:
    cluster = clusters(min_nodes=2, max_nodes=2)
    cluster.wait_for_completion(min_node_count=2, timeout_in_minutes=1)
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        compute_target=cluster,
        iterations=2,
        max_concurrent_iterations=2,
        validation_size=0.3,
        allowed_models=["LogisticRegression", "KNN"],
    )
    run = experiment.submit(config)
    assert run.wait_for_completion()["status"] == "Completed"
    children = list(run.get_children())
    assert len(children) == 2
    assert all(child.get_details()["target"] == cluster.name for child in children)
    assert _most_at_once(children) == 2


def test_sample_weights_split_columns_and_the_positive_label_reach_every_iteration(
    experiment: Experiment,
) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    data = data.assign(
        importance=[3.0 if i % 3 == 0 else 1.0 for i in range(len(data))],
        first_half=[1 if i < len(data) // 2 else 0 for i in range(len(data))],
        second_half=[0 if i < len(data) // 2 else 1 for i in range(len(data))],
    )
    config = AutoMLConfig(
        task="classification",
        primary_metric="AUC_weighted",
        training_data=data,
        label_column_name="target",
        weight_column_name="importance",
        cv_split_column_names=["first_half", "second_half"],
        positive_label=0,
        iterations=2,
        enable_voting_ensemble=False,
        enable_stack_ensemble=False,
        allowed_models=["LogisticRegression", "RandomForest"],
    )
    run = experiment.submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    for child in run.get_children():
        got = child.get_metrics()
        assert {"AUC_binary", "recall_score_binary", "f1_score_binary"} <= set(got)
        log = "".join(child.get_details_with_logs()["logFiles"].values())
        assert "Validation: cross validation on the splits of first_half, second_half" in log
    _, model = run.get_output()
    features = data.drop(columns=["target", "importance", "first_half", "second_half"])
    assert set(model.predict(features.head(10))) <= {0, 1}


def test_test_data_and_test_size_give_the_best_model_a_test_run(experiment: Experiment) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    train, test = data.iloc[:400], data.iloc[400:]
    config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=train,
        test_data=test,
        label_column_name="target",
        iterations=2,
        validation_size=0.3,
        enable_voting_ensemble=False,
        enable_stack_ensemble=False,
        allowed_models=["LogisticRegression", "RandomForest"],
    )
    remote_run = experiment.submit(config)
    remote_run.wait_for_completion()
    best_run, fitted_model = remote_run.get_output()
    # The SDK's calls: the best run's child of type automl.model_test.
    test_run = next(best_run.get_children(type="automl.model_test"))
    test_run.wait_for_completion()
    test_run_metrics = test_run.get_metrics()
    expected = (fitted_model.predict(test.drop(columns=["target"])) == test["target"]).mean()
    assert test_run_metrics["accuracy"] == pytest.approx(expected)
    assert "AUC_weighted" in test_run_metrics
    predictions = test_run.get_file_names()
    assert "predictions/predictions.csv" in predictions

    # test_size: that fraction of the training data is held out for the test run.
    held = AutoMLConfig(
        task="classification",
        training_data=data,
        test_size=0.2,
        label_column_name="target",
        iterations=1,
        validation_size=0.3,
        enable_voting_ensemble=False,
        enable_stack_ensemble=False,
        allowed_models=["LogisticRegression"],
    )
    run = experiment.submit(held)
    run.wait_for_completion()
    best, _ = run.get_output()
    tested = next(best.get_children(type="automl.model_test"))
    tested.wait_for_completion()
    assert 0 < tested.get_metrics()["accuracy"] <= 1
    with pytest.raises(ConfigException, match="'test_size' specified: give test_data or"):
        AutoMLConfig(task="classification", training_data=data, label_column_name="target",
                     test_data=test, test_size=0.2)  # fmt: skip
