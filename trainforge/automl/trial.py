"""What one AutoML iteration does: featurize, fit the proposed learner, validate, score.

The fitted pipeline is plain scikit-learn (imputation and one-hot encoding in a
``ColumnTransformer``, then the learner's own estimator class with the parameters FLAML
derives from the proposed hyperparameters, ``search.estimator_of``), so an iteration and
``outputs/model.pkl`` need scikit-learn and the learner's package, not FLAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainforge.automl.metrics import classification_metrics, regression_metrics
from trainforge.automl.names import VOTING_ENSEMBLE

# The SDK's default validation when none is given: cross-validation below 20,000 rows
# (10 folds below 1,000 rows, else 3), a 10% holdout above.
CV_ROWS, TEN_FOLD_ROWS, HOLDOUT_FRACTION = 20_000, 1_000, 0.1


@dataclass
class Settings:
    """The AutoMLConfig settings an iteration needs (``automl_settings.json`` in the snapshot)."""

    task: str
    label_column_name: str
    primary_metric: str
    n_cross_validations: int | None = None
    validation_size: float | None = None
    featurization: str = "auto"
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class Result:
    """What an iteration logs and saves."""

    metrics: dict[str, float]
    model: Any
    validation: str
    # Files of the run (name -> JSON-ready value): the confusion matrix, residuals.
    files: dict[str, Any] = field(default_factory=dict)


class LabelEncodedClassifier:
    """A classifier fitted on label indices (XGBoost wants 0..n-1), predicting the labels."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> LabelEncodedClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator.fit(X, codes)
        return self

    def predict(self, X: Any) -> Any:
        return self.classes_[np.asarray(self.estimator.predict(X), dtype=int)]

    def predict_proba(self, X: Any) -> Any:
        return self.estimator.predict_proba(X)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"estimator": self.estimator}

    def set_params(self, **params: Any) -> LabelEncodedClassifier:
        self.estimator = params.get("estimator", self.estimator)
        return self

    @property
    def _estimator_type(self) -> str:
        return "classifier"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )


def featurizer(frame: Any, featurization: str) -> Any:
    """Imputation for every column, one-hot encoding for the non-numeric ones ('auto');
    the columns as they are ('off')."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in frame.columns if frame[c].dtype.kind in "biuf"]
    other = [c for c in frame.columns if c not in numeric]
    if featurization == "off":
        return ColumnTransformer([("passthrough", "passthrough", list(frame.columns))])
    parts: list[tuple[str, Any, list[Any]]] = []
    if numeric:
        parts.append(("numeric", SimpleImputer(strategy="mean"), numeric))
    if other:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        parts.append(("categorical", categorical, other))
    return ColumnTransformer(parts)


# The packages an iteration's estimator class may come from (its name arrives as an
# argument of the child run).
ESTIMATOR_PACKAGES = ("sklearn", "lightgbm", "xgboost")


def estimator_class(path: str) -> Any:
    """The class ``module.Class`` of a learner's estimator, from a known package only."""
    import importlib

    module, _, name = path.rpartition(".")
    if module.split(".")[0] not in ESTIMATOR_PACKAGES:
        raise ValueError(f"estimator: {path!r} is not from {list(ESTIMATOR_PACKAGES)}")
    return getattr(importlib.import_module(module), name)


def pipeline(settings: Settings, estimator: str, params: dict[str, Any], frame: Any) -> Any:
    """The unfitted pipeline of an iteration: featurization, then the learner's estimator
    (``search.estimator_of`` gives its class and parameters)."""
    from sklearn.pipeline import Pipeline

    model = estimator_class(estimator)(**params)
    if estimator.startswith("xgboost.") and settings.task == "classification":
        model = LabelEncodedClassifier(model)
    return Pipeline([("featurize", featurizer(frame, settings.featurization)), ("model", model)])


def ensemble(settings: Settings, members: list[dict[str, Any]], frame: Any) -> Any:
    """The SDK's VotingEnsemble: the members' pipelines (each ``{"estimator", "params"}``),
    averaged (soft voting for a classifier)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    parts = [
        (f"model_{i}", pipeline(settings, m["estimator"], m["params"], frame))
        for i, m in enumerate(members)
    ]
    if settings.task == "classification":
        return VotingClassifier(parts, voting="soft")
    return VotingRegressor(parts)


def _validation(settings: Settings, rows: int, given: bool) -> tuple[str, float | int]:
    if given:
        return "validation_data", 0
    if settings.validation_size is not None:
        return "holdout", settings.validation_size
    if settings.n_cross_validations is not None:
        return "cv", settings.n_cross_validations
    if rows < CV_ROWS:
        return "cv", 10 if rows < TEN_FOLD_ROWS else 3
    return "holdout", HOLDOUT_FRACTION


def run_iteration(
    settings: Settings,
    estimator: str,
    params: dict[str, Any],
    training: Any,
    validation: Any = None,
) -> Result:
    """Fit ``estimator`` with ``params`` on ``training`` and score it as the SDK does;
    ``estimator`` "VotingEnsemble" with ``params["members"]``: the ensemble of those."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, train_test_split

    label = settings.label_column_name
    X, y = training.drop(columns=[label]), training[label]
    classify = settings.task == "classification"
    method, amount = _validation(settings, len(training), validation is not None)
    template = (
        ensemble(settings, params["members"], X)
        if estimator == VOTING_ENSEMBLE
        else pipeline(settings, estimator, params, X)
    )
    if method == "cv":
        folds = int(amount)
        splitter = (
            StratifiedKFold(folds, shuffle=True, random_state=settings.seed)
            if classify and min(y.value_counts()) >= folds
            else KFold(folds, shuffle=True, random_state=settings.seed)
        )
        predicted = cross_val_predict(
            clone(template), X, y, cv=splitter, method="predict_proba" if classify else "predict"
        )
        model = clone(template).fit(X, y)
        truth, described = y, f"{folds}-fold cross validation"
    else:
        if method == "holdout":
            stratify = y if classify and min(y.value_counts()) >= 2 else None
            X, X_valid, y, truth = train_test_split(
                X, y, test_size=amount, random_state=settings.seed, stratify=stratify
            )
            described = f"train/validation split, validation_size={amount}"
        else:
            X_valid, truth = validation.drop(columns=[label]), validation[label]
            described = "validation_data"
        model = clone(template).fit(X, y)
        predicted = model.predict_proba(X_valid) if classify else model.predict(X_valid)
    if classify:
        classes = np.unique(np.asarray(y if method != "cv" else training[label]))
        proba = np.asarray(predicted)
        labels = classes[np.argmax(proba, axis=1)]
        metrics = classification_metrics(truth, labels, proba, classes)
        files: dict[str, Any] = {"confusion_matrix": _confusion_matrix(truth, labels, classes)}
    else:
        metrics = regression_metrics(truth, predicted)
        files = {"residuals": _residuals(truth, predicted)}
    metrics = {k: v for k, v in metrics.items() if not math.isnan(v)}
    if estimator == VOTING_ENSEMBLE:
        return Result(metrics=metrics, model=model, validation=described, files=files)
    files["featurization_summary"] = featurization_summary(model, X)
    importance = feature_importance(model)
    if importance is not None:
        files["feature_importance"] = importance
    return Result(metrics=metrics, model=model, validation=described, files=files)


def feature_importance(model: Any) -> dict[str, Any] | None:
    """The fitted learner's own importance of each engineered feature (tree importances,
    or the mean absolute coefficient of a linear model), largest first; None for a learner
    without either (KNN)."""
    learner = model.named_steps["model"]
    learner = (
        getattr(learner, "estimator", learner)
        if isinstance(learner, LabelEncodedClassifier)
        else learner
    )
    values = getattr(learner, "feature_importances_", None)
    if values is None and getattr(learner, "coef_", None) is not None:
        coef = np.abs(np.asarray(learner.coef_, dtype=float))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    if values is None:
        return None
    names = [str(n) for n in model.named_steps["featurize"].get_feature_names_out()]
    pairs = sorted(zip(names, (float(v) for v in values), strict=True), key=lambda p: -p[1])
    return {
        "schema_type": "feature_importance",
        "schema_version": "1.0.0",
        "data": {"features": [n for n, _ in pairs], "importance": [v for _, v in pairs]},
    }


def featurization_summary(model: Any, frame: Any) -> list[dict[str, Any]]:
    """What featurization did to each raw column, in the shape of the SDK's
    ``featurization_summary.json``: its detected type and the features it became."""
    transformer = model.named_steps["featurize"]
    summary: list[dict[str, Any]] = []
    for name, part, columns in transformer.transformers_:
        if name == "remainder":
            continue
        for index, column in enumerate(columns):
            count, steps = 1, ["Passthrough"]
            if name == "numeric":
                steps = ["MeanImputer"]
            elif name == "categorical":
                steps = ["ModeCatImputer", "OneHotEncoder"]
                count = len(part.named_steps["onehot"].categories_[index])
            summary.append(
                {
                    "RawFeatureName": str(column),
                    "TypeDetected": "Numeric"
                    if frame[column].dtype.kind in "biuf"
                    else "Categorical",
                    "Dropped": "No",
                    "EngineeredFeatureCount": count,
                    "Transformations": steps,
                }
            )
    return summary


def _confusion_matrix(truth: Any, predicted: Any, classes: Any) -> dict[str, Any]:
    """The SDK's confusion_matrix artifact."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(truth, predicted, labels=classes)
    return {
        "schema_type": "confusion_matrix",
        "schema_version": "1.0.0",
        "data": {"class_labels": [str(c) for c in classes], "matrix": matrix.tolist()},
    }


def _residuals(truth: Any, predicted: Any) -> dict[str, Any]:
    """The SDK's residuals artifact: a histogram of truth - prediction."""
    residuals = np.asarray(truth, dtype=float) - np.asarray(predicted, dtype=float)
    counts, edges = np.histogram(residuals, bins=10)
    return {
        "schema_type": "residuals",
        "schema_version": "1.0.0",
        "data": {"bin_edges": edges.tolist(), "bin_counts": counts.tolist()},
    }
