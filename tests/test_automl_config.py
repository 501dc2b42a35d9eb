"""AutoMLConfig: the SDK's refusals, and the settings it gives the engine fit a real model."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_iris

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
