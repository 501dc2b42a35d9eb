"""AutoMLConfig: the SDK's refusals, and the settings it gives the engine fit a real model."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from trainforge.automl.core.forecasting_parameters import ForecastingParameters
from trainforge.train.automl import AutoMLConfig, ConfigException
from trainforge.train.automl.automlconfig import PRIMARY_METRICS


@pytest.fixture
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    return frame.rename(columns={"target": "species"})


def test_defaults_follow_the_sdk(iris: pd.DataFrame) -> None:
    config = AutoMLConfig(task="classification", training_data=iris, label_column_name="species")
    assert config.primary_metric == "AUC_weighted"
    assert "LightGBM" in config.allowed_models


@pytest.mark.parametrize(
    ("kwargs", "named", "allowed"),
    [
        ({"task": "clustering"}, "task", "regression"),
        ({"primary_metric": "r2_score"}, "primary_metric", "AUC_weighted"),
        ({"allowed_models": ["SVM"]}, "allowed_models", "LightGBM"),
        ({"blocked_models": ["Prophet"]}, "blocked_models", "RandomForest"),
        ({"label_column_name": "colour"}, "label_column_name", "species"),
        ({"iterations": 0}, "iterations", "at least 1"),
        ({"max_concurrent_iterations": 0}, "max_concurrent_iterations", "at least 1"),
        ({"experiment_timeout_hours": -1}, "experiment_timeout_hours", "positive"),
        ({"n_cross_validations": 1}, "n_cross_validations", "at least 2"),
        ({"validation_size": 1.5}, "validation_size", "between 0 and 1"),
        ({"n_cross_validations": 3, "validation_size": 0.2}, "n_cross_validations", "not both"),
        ({"training_data": [1, 2, 3]}, "training_data", "DataFrame"),
        ({"training_data": pd.DataFrame({"species": []})}, "training_data", "with rows"),
        (
            {"task": "regression", "training_data": pd.DataFrame({"species": ["a", "b"]})},
            "label_column_name",
            "numeric",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_what_is_allowed(
    iris: pd.DataFrame, kwargs: dict[str, object], named: str, allowed: str
) -> None:
    arguments: dict[str, object] = {
        "task": "classification",
        "training_data": iris,
        "label_column_name": "species",
        **kwargs,
    }
    with pytest.raises(ConfigException) as error:
        AutoMLConfig(**arguments)  # type: ignore[arg-type]
    assert named in str(error.value)
    assert allowed in str(error.value)


def test_allowed_and_blocked_models_pick_the_learners(iris: pd.DataFrame) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        allowed_models=["LightGBM", "RandomForest"],
        blocked_models=["RandomForest"],
    )
    assert config.learners == ["lgbm"]
    with pytest.raises(ConfigException, match="leave no model"):
        AutoMLConfig(
            task="regression",
            training_data=iris,
            label_column_name="species",
            allowed_models=["LightGBM"],
            blacklist_models=["LightGBM"],
        )


def test_engine_settings_fit_a_model_that_predicts(iris: pd.DataFrame) -> None:
    flaml = pytest.importorskip("flaml")
    config = AutoMLConfig(
        task="classification",
        primary_metric="accuracy",
        training_data=iris,
        label_column_name="species",
        iterations=3,
        allowed_models=["LightGBM", "RandomForest"],
        n_cross_validations=3,
    )
    automl = flaml.AutoML()
    X = iris.drop(columns=["species"])
    automl.fit(X_train=X, y_train=iris["species"], verbose=0, **config.engine_settings())
    assert automl.best_estimator in ("lgbm", "rf")
    assert (automl.predict(X) == iris["species"]).mean() > 0.9


def test_sdk_metric_names_are_computed_for_both_tasks(iris: pd.DataFrame) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression

    from trainforge.train.automl.metrics import classification_metrics, regression_metrics

    X, y = iris.drop(columns=["species"]), iris["species"]
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    scores = classification_metrics(y, model.predict(X), model.predict_proba(X), model.classes_)
    assert set(PRIMARY_METRICS["classification"]) <= set(scores)
    assert 0.9 < scores["accuracy"] <= 1.0 and 0.9 < scores["AUC_weighted"] <= 1.0
    for name in ("f1_score_weighted", "f1_score_macro", "f1_score_micro", "balanced_accuracy"):
        assert 0.9 < scores[name] <= 1.0, name
    # Micro F1 of a single-label classifier is its accuracy; log loss of good probabilities is small.
    assert scores["f1_score_micro"] == pytest.approx(scores["accuracy"])
    assert 0 < scores["log_loss"] < 0.5
    coin = classification_metrics(
        [0, 1, 0, 1], [0, 0, 0, 0], [[0.5, 0.5]] * 4, [0, 1]
    )  # a coin's guesses: chance AUC, log loss ln 2, half the macro recall
    assert coin["AUC_weighted"] == pytest.approx(0.5)
    assert coin["log_loss"] == pytest.approx(0.6931, abs=1e-3)
    assert coin["norm_macro_recall"] == pytest.approx(0.0)

    target = X["petal length (cm)"]
    features = X.drop(columns=["petal length (cm)"])
    fitted = LinearRegression().fit(features, target)
    errors = regression_metrics(target, fitted.predict(features))
    assert set(PRIMARY_METRICS["regression"]) <= set(errors)
    assert errors["root_mean_squared_error"] > errors["normalized_root_mean_squared_error"]
    assert errors["median_absolute_error"] <= errors["root_mean_squared_error"]
    assert errors["r2_score"] > 0.9 and 0 < errors["normalized_root_mean_squared_error"] < 0.1


def test_guardrails_flag_imbalance_missing_values_and_id_like_columns() -> None:
    import numpy as np

    from trainforge.automl.guardrails import guardrails

    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, np.nan] * 10,
            "id": [f"row{i}" for i in range(30)],
            "y": [0] * 27 + [1] * 3,
        }
    )
    checks = {check["type"]: check for check in guardrails(frame, "y", "classification")}
    assert checks["Class balancing detection"]["status"] == "alerted"
    assert checks["Missing feature values imputation"]["details"] == {"missing_values": {"a": 10}}
    assert checks["High cardinality feature detection"]["details"] == {"columns": ["id"]}
    balanced = guardrails(frame.assign(y=[0, 1] * 15).drop(columns=["id"]), "y", "classification")
    assert balanced[0]["status"] == "passed" and balanced[2]["status"] == "passed"


def test_an_iteration_imputes_and_encodes_and_says_so(iris: pd.DataFrame) -> None:
    from trainforge.automl import search, trial

    frame = iris.assign(colour=["red", "green", None] * 50)
    frame.loc[::7, "sepal length (cm)"] = None
    settings = trial.Settings(
        task="classification",
        label_column_name="species",
        primary_metric="accuracy",
        validation_size=0.3,
    )
    estimator, params = search.estimator_of("classification", "lrl2", {"C": 1.0})
    assert estimator == "sklearn.linear_model._logistic.LogisticRegression"
    result = trial.run_iteration(settings, estimator, params, frame)
    assert result.metrics["accuracy"] > 0.8
    summary = {row["RawFeatureName"]: row for row in result.files["featurization_summary"]}
    assert summary["colour"]["EngineeredFeatureCount"] == 2
    assert summary["colour"]["Transformations"] == ["ModeCatImputer", "OneHotEncoder"]
    assert summary["sepal length (cm)"]["Transformations"] == ["MeanImputer"]
    assert len(result.model.predict(frame.drop(columns=["species"]).head(5))) == 5
    importance = result.files["feature_importance"]["data"]
    assert len(importance["features"]) == 4 + 2  # the numbers and colour's two values
    assert importance["importance"] == sorted(importance["importance"], reverse=True)


def customers(rows: int = 300) -> pd.DataFrame:
    """Customers who churn when their plan is cheap and they complain."""
    import numpy as np

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(rows)],  # unique: an id, many values
            "zip": [f"{z:05d}" for z in rng.integers(10000, 10400, rows)],  # as text, many values
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "monthly": rng.normal(50, 15, rows).round(2),
            "joined": pd.date_range("2020-01-01", periods=rows, freq="3D"),
            "note": rng.choice(["happy customer", "complained about billing", "no remark"], rows),
        }
    )
    frame.loc[::9, "monthly"] = None
    churn = (frame["monthly"].fillna(50) < 45) & frame["note"].str.contains("complained")
    return frame.assign(churn=np.where(churn, "yes", "no"))


def test_a_featurization_config_sets_purposes_drops_and_imputers() -> None:
    from trainforge.automl import search, trial
    from trainforge.automl.core.featurization import FeaturizationConfig

    data = customers()
    featurization = FeaturizationConfig()
    featurization.add_drop_columns("customer_id")
    featurization.add_column_purpose("zip", "CategoricalHash")
    featurization.add_column_purpose("note", "Text")
    featurization.add_transformer_params("Imputer", ["monthly"], {"strategy": "median"})
    featurization.add_transformer_params("HashOneHotEncoder", ["zip"], {"number_of_bits": 4})
    config = AutoMLConfig(
        task="classification", training_data=data, label_column_name="churn",
        featurization=featurization,
    )  # fmt: skip
    assert config.featurization is featurization
    settings = trial.Settings(
        task="classification",
        label_column_name="churn",
        primary_metric="accuracy",
        validation_size=0.3,
        featurization=config.featurization_settings,
    )
    estimator, params = search.estimator_of("classification", "lrl2", {"C": 10.0})
    result = trial.run_iteration(settings, estimator, params, data)
    assert result.metrics["accuracy"] > 0.9  # the complaint is in the text, the price a number
    summary = {row["RawFeatureName"]: row for row in result.files["featurization_summary"]}
    assert summary["customer_id"]["Dropped"] == "Yes"
    assert (summary["zip"]["TypeDetected"], summary["zip"]["EngineeredFeatureCount"]) == (
        "CategoricalHash",
        16,
    )
    assert summary["zip"]["Transformations"] == ["ModeCatImputer", "HashOneHotEncoder"]
    assert summary["note"]["TypeDetected"] == "Text"
    assert summary["monthly"]["Transformations"] == ["MedianImputer"]
    assert summary["joined"]["TypeDetected"] == "DateTime"  # detected, as 'auto' does
    assert summary["plan"]["Transformations"] == ["ModeCatImputer", "OneHotEncoder"]
    new = customers(20).drop(columns=["churn"]).assign(zip="99999")  # an unseen zip code
    assert len(result.model.predict(new)) == 20
    # 'auto' hashes a column of many values (the id) rather than one-hot encoding it.
    auto = trial.run_iteration(
        trial.Settings("classification", "churn", "accuracy", validation_size=0.3),
        estimator, params, data,
    )  # fmt: skip
    rows = {row["RawFeatureName"]: row for row in auto.files["featurization_summary"]}
    assert rows["customer_id"]["TypeDetected"] == "CategoricalHash"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.add_column_purpose("plan", "Colour"), "column_purposes"),
        (lambda f: f.add_column_purpose("nope", "Numeric"), "column_purposes"),
        (lambda f: f.add_drop_columns(["nope"]), "drop_columns"),
        (lambda f: f.add_transformer_params("Imputer", ["monthly"], {"strategy": "max"}), "transformer_params"),
        (lambda f: f.add_transformer_params("Scaler", ["monthly"], {}), "transformer_params"),
        (lambda f: f.add_transformer_params("HashOneHotEncoder", ["zip"], {"number_of_bits": 40}), "transformer_params"),
    ],
)  # fmt: skip
def test_a_bad_featurization_config_is_refused_naming_the_field(change: Any, named: str) -> None:
    from trainforge.automl.core.featurization import FeaturizationConfig

    featurization = FeaturizationConfig()
    change(featurization)
    with pytest.raises(ConfigException, match=f"'{named}'"):
        AutoMLConfig(
            task="classification", training_data=customers(), label_column_name="churn",
            featurization=featurization,
        )  # fmt: skip


def test_an_iteration_refuses_an_estimator_from_an_unknown_package(iris: pd.DataFrame) -> None:
    from trainforge.automl import trial

    settings = trial.Settings(
        task="classification", label_column_name="species", primary_metric="accuracy"
    )
    with pytest.raises(ValueError, match="is not from"):
        trial.run_iteration(settings, "os.system", {}, iris)


def test_sdk_model_names_without_a_learner_are_blocked_freely_and_allowed_with_a_warning(
    iris: pd.DataFrame,
) -> None:
    config = AutoMLConfig(
        task="classification",
        training_data=iris,
        label_column_name="species",
        blocked_models=["KNN", "LinearSVM"],
    )
    assert "KNN" not in config.allowed_models and "LinearSVM" not in config.allowed_models
    with pytest.warns(UserWarning, match=r"\['SVM'\] have no engine learner"):
        config = AutoMLConfig(
            task="classification",
            training_data=iris,
            label_column_name="species",
            allowed_models=["SVM", "LightGBM"],
        )
    assert config.learners == ["lgbm"]


def test_old_code_gives_x_and_y(iris: pd.DataFrame) -> None:
    X, y = iris.drop(columns=["species"]), iris["species"]
    config = AutoMLConfig(task="classification", X=X, y=y, iterations=2)
    assert config.label_column_name == "y"
    assert list(config.training_data.columns) == [*X.columns, "y"]
    assert (config.training_data["y"] == y.values).all()


def series(days: int = 60, stores: tuple[str, ...] = ("A", "B")) -> pd.DataFrame:
    """Daily sales of a few stores: a level per store, a trend and a weekly season."""
    import numpy as np

    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rng = np.random.default_rng(3)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "date": dates,
                    "store": store,
                    "sales": 100 * (i + 1) + 0.5 * np.arange(days)
                    + 20 * (dates.dayofweek >= 5) + rng.normal(0, 1, days),
                }
            )
            for i, store in enumerate(stores)
        ],
        ignore_index=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"forecasting_parameters": ForecastingParameters(forecast_horizon=7)}, "time_column_name"),
        ({"forecasting_parameters": ForecastingParameters("day")}, "time_column_name"),
        ({"forecasting_parameters": ForecastingParameters("date", 0)}, "forecast_horizon"),
        ({"forecasting_parameters": ForecastingParameters("date", 7, "shop")}, "time_series_id_column_names"),
        ({"forecasting_parameters": ForecastingParameters("date", 30, "store"), "n_cross_validations": 3}, "training_data"),
        ({"forecasting_parameters": ForecastingParameters("date", 7), "validation_size": 0.2}, "validation_size"),
    ],
)  # fmt: skip
def test_bad_forecasting_settings_are_refused_naming_the_field(
    arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigException, match=f"'{named}'"):
        AutoMLConfig(task="forecasting", training_data=series(), label_column_name="sales", **arguments)  # fmt: skip


def test_forecasting_settings_on_another_task_are_refused(iris: pd.DataFrame) -> None:
    with pytest.raises(ConfigException, match="'time_column_name'"):
        AutoMLConfig(
            task="regression", training_data=series(), label_column_name="sales",
            time_column_name="date",
        )  # fmt: skip


def test_a_forecast_iteration_validates_on_rolling_origins_and_forecasts() -> None:
    from trainforge.automl import search
    from trainforge.automl.trial import Settings, rolling_origin_folds, run_iteration

    data = series()
    old_style = AutoMLConfig(
        task="forecasting", training_data=data, label_column_name="sales",
        time_column_name="date", max_horizon=7, grain_column_names=["store"],
    )  # fmt: skip
    assert old_style.primary_metric == "normalized_root_mean_squared_error"
    assert old_style.forecasting_parameters is not None
    assert old_style.forecasting_parameters.time_series_id_column_names == ["store"]
    settings = Settings(
        task="forecasting",
        label_column_name="sales",
        primary_metric="normalized_root_mean_squared_error",
        n_cross_validations=2,
        time_column_name="date",
        forecast_horizon=7,
        time_series_id_column_names=["store"],
    )
    folds = rolling_origin_folds(settings, data)
    assert len(folds) == 2
    for train, test in folds:  # each fold tests the 7 days after its training days, per store
        assert test.sum() == 14 and data["date"][train].max() < data["date"][test].min()
    assert data["date"][folds[1][1]].max() == data["date"].max()
    estimator, params = search.estimator_of("forecasting", "rf", {"n_estimators": 50})
    result = run_iteration(settings, estimator, params, data)
    assert result.validation == "rolling origin cross validation, 2 folds of forecast_horizon=7"
    assert {"normalized_root_mean_squared_error", "r2_score"} <= set(result.metrics)
    future = series(67).groupby("store").tail(7).drop(columns=["sales"])
    truth = series(67).groupby("store").tail(7)["sales"].to_numpy()
    predicted, frame = result.model.forecast(future)
    assert list(frame["_automl_target_col"]) == list(predicted) and len(predicted) == 14
    # The trend, the weekly season and the stores' levels are learned: the error is the
    # noise's (sd 1), far below the mean's.
    error = abs(predicted - truth).mean()
    assert error < 0.05 * abs(data["sales"].mean() - truth).mean(), error


@pytest.mark.parametrize("learner", ["lgbm", "rf", "extra_tree", "lrl2"])
def test_an_onnx_compatible_iteration_scores_the_same_in_onnxruntime(learner: str) -> None:
    from trainforge.automl import search, trial
    from trainforge.automl.runtime.onnx_convert import OnnxInferenceHelper

    pytest.importorskip("onnxruntime")
    data = customers().drop(columns=["customer_id", "zip", "joined", "note"])
    data.loc[::11, "plan"] = None  # a missing category
    settings = trial.Settings(
        "classification", "churn", "accuracy", validation_size=0.3,
        enable_onnx_compatible_models=True,
    )  # fmt: skip
    estimator, params = search.estimator_of("classification", learner, {})
    result = trial.run_iteration(settings, estimator, params, data)
    assert result.onnx is not None, result.onnx_error
    helper = OnnxInferenceHelper(result.onnx, result.files["model_onnx"])
    X = data.drop(columns=["churn"])
    predicted, probabilities = helper.predict(X)
    expected = result.model.predict(trial.onnx_frame(X))
    assert (predicted == expected).mean() >= 0.99
    assert probabilities.shape == (len(X), 2)


def test_onnx_compatible_models_refuse_what_onnx_cannot_express() -> None:
    from trainforge.automl.core.featurization import FeaturizationConfig

    hashed = FeaturizationConfig(column_purposes={"zip": "CategoricalHash"})
    for arguments, named in (
        ({"training_data": customers()}, "enable_onnx_compatible_models"),  # a datetime column
        ({"training_data": customers().drop(columns=["joined"]), "featurization": hashed}, "column_purposes"),
    ):  # fmt: skip
        with pytest.raises(ConfigException, match=f"'{named}'"):
            AutoMLConfig(task="classification", label_column_name="churn",
                         enable_onnx_compatible_models=True, **arguments)  # fmt: skip
    with pytest.raises(ConfigException, match="'enable_onnx_compatible_models'"):
        AutoMLConfig(
            task="forecasting", training_data=series(), label_column_name="sales",
            forecasting_parameters=ForecastingParameters("date", 7), enable_onnx_compatible_models=True,
        )  # fmt: skip
    config = AutoMLConfig(
        task="classification", training_data=customers().drop(columns=["joined"]),
        label_column_name="churn", enable_onnx_compatible_models=True,
    )  # fmt: skip
    assert config.enable_onnx_compatible_models and not config.enable_stack_ensemble
    assert "KNN" not in config.allowed_models and "kneighbor" not in config.learners


def _binary(rows: int = 200) -> pd.DataFrame:
    """Two classes a line separates, and a weight that makes the first half count most."""
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=rows),
            "label": np.where(x + rng.normal(scale=0.5, size=rows) > 0, "yes", "no"),
            "w": np.where(np.arange(rows) < rows // 2, 5.0, 0.1),
            "fold_a": (np.arange(rows) % 2 == 0).astype(int),
            "fold_b": (np.arange(rows) % 2 == 1).astype(int),
        }
    )


def test_weights_splits_and_the_positive_label_reach_the_iteration() -> None:
    import numpy as np
    from sklearn import metrics

    from trainforge.automl import search, trial

    data = _binary()
    config = AutoMLConfig(
        task="classification",
        training_data=data,
        label_column_name="label",
        weight_column_name="w",
        cv_split_column_names=["fold_a", "fold_b"],
        positive_label="no",
    )
    assert (config.weight_column_name, config.cv_split_column_names) == ("w", ["fold_a", "fold_b"])
    settings = trial.Settings(
        task="classification",
        label_column_name="label",
        primary_metric="accuracy",
        weight_column_name="w",
        cv_split_column_names=["fold_a", "fold_b"],
        positive_label="no",
    )
    estimator, params = search.estimator_of("classification", "lrl2", {"C": 1.0})
    result = trial.run_iteration(settings, estimator, params, data)
    assert result.validation == "cross validation on the splits of fold_a, fold_b"
    # Not features: the fitted model takes the data without them.
    features = data[["x", "noise"]]
    assert len(result.model.predict(features)) == len(data)
    # The split columns are the folds: fit on the even rows, score the odd, and back.
    even, odd = np.flatnonzero(data["fold_a"] == 1), np.flatnonzero(data["fold_a"] == 0)
    truth, predicted, weights = [], [], []
    for train, test in ((even, odd), (odd, even)):
        fold = trial._fit(
            trial.pipeline(settings, estimator, params, features),
            features.iloc[train],
            data["label"].iloc[train],
            data["w"].iloc[train],
        )
        truth += list(data["label"].iloc[test])
        predicted += list(fold.predict(features.iloc[test]))
        weights += list(data["w"].iloc[test])
    assert result.metrics["accuracy"] == pytest.approx(
        metrics.accuracy_score(truth, predicted, sample_weight=weights)
    )
    # The binary metrics of the positive label "no".
    assert result.metrics["recall_score_binary"] == pytest.approx(
        metrics.recall_score(truth, predicted, pos_label="no", sample_weight=weights)
    )
    assert {"AUC_binary", "f1_score_binary", "precision_score_binary"} <= set(result.metrics)

    # A holdout with weights: the weights also count in its metrics.
    held = trial.Settings("classification", "label", "accuracy", validation_size=0.3,
                          weight_column_name="w")  # fmt: skip
    unweighted = trial.Settings("classification", "label", "accuracy", validation_size=0.3)
    plain = data.drop(columns=["fold_a", "fold_b"])
    with_w = trial.run_iteration(held, estimator, params, plain)
    without = trial.run_iteration(unweighted, estimator, params, plain.drop(columns=["w"]))
    assert with_w.metrics["accuracy"] != without.metrics["accuracy"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"weight_column_name": "nope"}, "'weight_column_name' specified: 'nope'"),
        ({"weight_column_name": "label"}, "a column of numbers of at least 0"),
        ({"cv_split_column_names": ["x"]}, "columns of 1 (train) and 0 (validate)"),
        ({"cv_split_column_names": ["fold_a"], "n_cross_validations": 3}, "not both"),
        ({"positive_label": "maybe"}, "'positive_label' specified: 'maybe'"),
        ({"task": "regression", "label_column_name": "x", "positive_label": 1}, "positive_label"),
    ],
)
def test_bad_weights_splits_and_labels_are_refused_naming_the_field(
    change: dict[str, Any], named: str
) -> None:
    settings = {"task": "classification", "training_data": _binary(), "label_column_name": "label"}
    with pytest.raises(ConfigException, match=re.escape(named)):
        AutoMLConfig(**{**settings, **change})
