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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin

from trainforge.automl.metrics import classification_metrics, regression_metrics
from trainforge.automl.names import ENSEMBLES, STACK_ENSEMBLE
from trainforge.automl.runtime import onnx_convert
from trainforge.automl.runtime.onnx_convert import onnx_frame

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
    # 'auto', 'off', or a FeaturizationConfig's settings.
    featurization: str | dict[str, Any] = "auto"
    seed: int = 0
    # Explain each fitted pipeline by its raw columns (model_explainability).
    model_explainability: bool = True
    # Featurize only with what converts to ONNX, and save the ONNX model too.
    enable_onnx_compatible_models: bool = False
    # Forecasting: the series' time column, how far ahead, and what tells series apart.
    time_column_name: str | None = None
    forecast_horizon: int = 1
    time_series_id_column_names: list[str] = field(default_factory=list)
    # Sample weights, the user's own CV splits, and the positive class of a binary task.
    weight_column_name: str | None = None
    cv_split_column_names: list[str] = field(default_factory=list)
    positive_label: Any = None

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
    # The ONNX model's bytes (enable_onnx_compatible_models), or why there is none.
    onnx: bytes | None = None
    onnx_error: str | None = None


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier fitted on label indices (XGBoost wants 0..n-1), predicting the labels."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LabelEncodedClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if sample_weight is None:
            self.estimator.fit(X, codes)
        else:
            self.estimator.fit(X, codes, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> Any:
        return self.classes_[np.asarray(self.estimator.predict(X), dtype=int)]

    def predict_proba(self, X: Any) -> Any:
        return self.estimator.predict_proba(X)


# What a forecast's time column becomes (the SDK's DateTimeTransformer parts).
TIME_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")
# The SDK's name of the forecast column in what ``forecast()`` returns.
FORECAST_COLUMN = "_automl_target_col"


class TimeFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A forecast's time column as features: its calendar parts (season) and its distance
    in days from the training data's first time (trend)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def fit(self, X: Any, y: Any = None) -> TimeFeatures:
        import pandas as pd

        self.origin_ = pd.to_datetime(X[self.column]).min()
        return self

    def transform(self, X: Any) -> Any:
        import pandas as pd

        times = pd.to_datetime(X[self.column])
        out = X.drop(columns=[self.column])
        parts = {f"{self.column}_{part}": getattr(times.dt, part) for part in TIME_PARTS}
        parts[f"{self.column}_days"] = (times - self.origin_).dt.total_seconds() / 86400
        return out.assign(**parts)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        names = [f"{self.column}_{part}" for part in (*TIME_PARTS, "days")]
        return np.array(names, dtype=object)


class SeriesTrend(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A regressor of a series' detrended values: each series' straight-line trend over
    time is fitted first and the pipeline learns what is left (season, the other
    features), since tree learners cannot extrapolate a trend past the training times
    (the SDK's ``use_stl`` decomposes the same way). A series unseen in training takes the
    trend of all series."""

    def __init__(self, pipeline: Any, time_column: str, ids: list[str]) -> None:
        self.pipeline = pipeline
        self.time_column = time_column
        self.ids = ids

    def _days(self, X: Any) -> Any:
        import pandas as pd

        return np.asarray((pd.to_datetime(X[self.time_column]) - self.origin_).dt.days, float)

    def _keys(self, X: Any) -> list[tuple[Any, ...]]:
        return list(zip(*(X[c] for c in self.ids), strict=True)) if self.ids else [()] * len(X)

    def _trend(self, X: Any) -> Any:
        days, keys = self._days(X), self._keys(X)
        lines = [self.lines_.get(key, self.overall_) for key in keys]
        return np.array(
            [slope * day + level for (slope, level), day in zip(lines, days, strict=True)]
        )

    def fit(self, X: Any, y: Any) -> SeriesTrend:
        import pandas as pd

        self.origin_ = pd.to_datetime(X[self.time_column]).min()
        days, keys, values = self._days(X), self._keys(X), np.asarray(y, dtype=float)

        def line(mask: Any) -> tuple[float, float]:
            if len(set(days[mask])) < 2:
                return 0.0, float(values[mask].mean())
            slope, level = np.polyfit(days[mask], values[mask], 1)
            return float(slope), float(level)

        self.lines_ = (
            {key: line(np.array([k == key for k in keys])) for key in dict.fromkeys(keys)}
            if self.ids
            else {}
        )
        self.overall_ = line(np.ones(len(values), dtype=bool))
        self.pipeline.fit(X, values - self._trend(X))
        return self

    def predict(self, X: Any) -> Any:
        return np.asarray(self.pipeline.predict(X), dtype=float) + self._trend(X)

    @property
    def named_steps(self) -> Any:
        return self.pipeline.named_steps


class ForecastingModel:
    """A fitted forecast, as the SDK's forecasting pipeline: ``predict(X)`` and
    ``forecast(X_pred)`` -> ``(y_pred, X_pred with the forecast in '_automl_target_col')``
    for the rows (times, and series ids) of ``X_pred``."""

    def __init__(self, pipeline: Any, time_column_name: str, horizon: int) -> None:
        self.pipeline = pipeline
        self.time_column_name = time_column_name
        self.forecast_horizon = horizon

    def predict(self, X: Any) -> Any:
        return self.pipeline.predict(X)

    def forecast(self, X_pred: Any, y_pred: Any = None, **_: Any) -> tuple[Any, Any]:
        predicted = np.asarray(self.pipeline.predict(X_pred), dtype=float)
        return predicted, X_pred.assign(**{FORECAST_COLUMN: predicted})


# A categorical column with more distinct values than this is hashed ('auto'), as the
# SDK's high-cardinality handling does, into 2**HASH_BITS columns.
HASH_ABOVE, HASH_BITS = 100, 8
# At most this many words of a text column become TF-IDF features.
TEXT_FEATURES = 1000


class HashEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One-hot encoding of a categorical column's values hashed into ``2**number_of_bits``
    columns (the SDK's HashOneHotEncoder): the same value always lands in the same column,
    and a value unseen in training still gets one."""

    def __init__(self, number_of_bits: int = HASH_BITS) -> None:
        self.number_of_bits = number_of_bits

    def fit(self, X: Any, y: Any = None) -> HashEncoder:
        self.columns_ = [str(c) for c in getattr(X, "columns", range(np.shape(X)[1]))]
        return self

    def transform(self, X: Any) -> Any:
        import zlib

        width = 2**self.number_of_bits
        values = np.asarray(X, dtype=object)
        out = np.zeros((len(values), width * values.shape[1]))
        for j in range(values.shape[1]):
            for i, value in enumerate(values[:, j]):
                out[i, j * width + zlib.crc32(str(value).encode()) % width] = 1.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        width = 2**self.number_of_bits
        return np.array([f"{c}_hash_{i}" for c in self.columns_ for i in range(width)], object)


def detected_type(column: Any, onnx: bool = False) -> str:
    """The SDK's feature type of a raw column, as 'auto' featurization sees it (ONNX has
    no hashing: every non-number is one-hot encoded there)."""
    kind = column.dtype.kind
    if kind in "biuf":
        return "Numeric"
    if kind == "M":
        return "DateTime"
    if onnx:
        return "Categorical"
    return "CategoricalHash" if column.nunique() > HASH_ABOVE else "Categorical"


def featurizer(frame: Any, featurization: str | dict[str, Any], onnx: bool = False) -> Any:
    """The featurization of ``frame``'s columns: 'auto' imputes every column, one-hot
    encodes categoricals (hashes those of many values), splits datetimes into parts;
    'off' keeps the columns as they are; a ``FeaturizationConfig``'s settings set a
    column's purpose, drop columns, and choose the imputer or the hash width per column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if featurization == "off":
        return ColumnTransformer([("passthrough", "passthrough", list(frame.columns))])
    custom = featurization if isinstance(featurization, dict) else {}
    purposes = custom.get("column_purposes", {})
    params = custom.get("transformer_params", {})
    dropped = set(custom.get("drop_columns", []))
    onehot_blocked = "OneHotEncoder" in custom.get("blocked_transformers", [])
    numeric: list[Any] = []
    categorical: list[Any] = []
    parts: list[tuple[str, Any, Any]] = []
    for column in frame.columns:
        purpose = purposes.get(column) or detected_type(frame[column], onnx)
        if column in dropped or purpose == "Ignore":
            continue
        if purpose == "Categorical" and onehot_blocked:
            purpose = "CategoricalHash"
        imputer = params.get("Imputer", {}).get(column)
        if purpose == "Numeric" and imputer is None:
            numeric.append(column)
        elif purpose == "Numeric":
            parts.append((f"numeric:{column}", SimpleImputer(**imputer), [column]))
        elif purpose == "Categorical":
            categorical.append(column)
        elif purpose == "CategoricalHash":
            bits = params.get("HashOneHotEncoder", {}).get(column, {}).get("number_of_bits")
            hashed = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="most_frequent")),
                    ("hash", HashEncoder(bits or HASH_BITS)),
                ]
            )
            parts.append((f"hash:{column}", hashed, [column]))
        elif purpose == "DateTime":
            parts.append((f"datetime:{column}", TimeFeatures(column), [column]))
        else:  # Text
            text = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="constant", fill_value="")),
                    ("flat", FunctionTransformer(np.ravel, feature_names_out="one-to-one")),
                    ("tfidf", TfidfVectorizer(max_features=TEXT_FEATURES)),
                ]
            )
            parts.append((f"text:{column}", text, [column]))
    if categorical:
        # ONNX frames carry a missing string as '' (onnx_convert.onnx_frame).
        missing = {"missing_values": ""} if onnx else {}
        encode = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent", **missing)),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        parts.insert(0, ("categorical", encode, categorical))
    if numeric:
        parts.insert(0, ("numeric", SimpleImputer(strategy="mean"), numeric))
    return ColumnTransformer(parts, sparse_threshold=0)


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
    if not settings.time_column_name:
        featurize = featurizer(
            frame, settings.featurization, settings.enable_onnx_compatible_models
        )
        return Pipeline([("featurize", featurize), ("model", model)])
    time = TimeFeatures(settings.time_column_name)
    steps = Pipeline(
        [
            ("time", time),
            ("featurize", featurizer(time.fit_transform(frame), settings.featurization)),
            ("model", model),
        ]
    )
    return SeriesTrend(steps, settings.time_column_name, settings.time_series_id_column_names)


def ensemble(settings: Settings, kind: str, members: list[dict[str, Any]], frame: Any) -> Any:
    """The SDK's ensembles of the members' pipelines (each ``{"estimator", "params"}``):
    a VotingEnsemble averages them (soft voting for a classifier); a StackEnsemble fits
    a meta-learner on their out-of-fold predictions (the SDK's defaults: logistic
    regression for classification, elastic net for regression and forecasting)."""
    from sklearn.ensemble import (
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
        VotingRegressor,
    )
    from sklearn.linear_model import ElasticNetCV, LogisticRegression

    parts = [
        (f"model_{i}", pipeline(settings, m["estimator"], m["params"], frame))
        for i, m in enumerate(members)
    ]
    classify = settings.task == "classification"
    if kind == STACK_ENSEMBLE and classify:
        return StackingClassifier(parts, final_estimator=LogisticRegression(max_iter=1000), cv=3)
    if kind == STACK_ENSEMBLE:
        return StackingRegressor(parts, final_estimator=ElasticNetCV(cv=3), cv=3)
    return VotingClassifier(parts, voting="soft") if classify else VotingRegressor(parts)


def _rows(values: Any, rows: Any) -> Any:
    return None if values is None else values.iloc[rows]


def _fit(template: Any, X: Any, y: Any, weights: Any) -> Any:
    """A fresh copy of ``template`` fitted, with ``weights`` as its learner's sample
    weights where the learner takes them (KNN does not: it is fitted without)."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    model = clone(template)
    if weights is None:
        return model.fit(X, y)
    if isinstance(model, Pipeline):
        name, last = model.steps[-1]
        wanted = {f"{name}__sample_weight": np.asarray(weights)}
        return (
            model.fit(X, y, **wanted)
            if has_fit_parameter(last, "sample_weight")
            else model.fit(X, y)
        )
    return model.fit(X, y, sample_weight=np.asarray(weights))


def _cv_folds(
    settings: Settings, training: Any, y: Any, classify: bool, method: str, folds: int
) -> list[tuple[Any, Any]]:
    """The rows each fold trains and validates on: the user's split columns (1 trains,
    0 validates, as the SDK's ``cv_split_column_names``), else ``folds`` shuffled folds
    (stratified where every class has enough rows)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if method == "cv_split_columns":
        found = []
        for column in settings.cv_split_column_names:
            marks = np.asarray(training[column])
            found.append((np.flatnonzero(marks == 1), np.flatnonzero(marks == 0)))
        return found
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=settings.seed)
        if classify and min(y.value_counts()) >= folds
        else KFold(folds, shuffle=True, random_state=settings.seed)
    )
    return list(splitter.split(np.zeros(len(y)), y))


def _validation(settings: Settings, rows: int, given: bool) -> tuple[str, float | int]:
    if given:
        return "validation_data", 0
    if settings.cv_split_column_names:
        return "cv_split_columns", len(settings.cv_split_column_names)
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
    ``estimator`` "VotingEnsemble" or "StackEnsemble" with ``params["members"]``: that
    ensemble of those."""
    from sklearn.model_selection import train_test_split

    label = settings.label_column_name
    if settings.enable_onnx_compatible_models:
        training = onnx_frame(training)
        validation = onnx_frame(validation) if validation is not None else None
    # Sample weights and the user's CV splits are columns of the data, never features.
    aside = [c for c in [settings.weight_column_name, *settings.cv_split_column_names] if c]
    X, y = training.drop(columns=[label, *aside]), training[label]
    weights = training[settings.weight_column_name] if settings.weight_column_name else None
    classify = settings.task == "classification"
    method, amount = _validation(settings, len(training), validation is not None)
    template = (
        ensemble(settings, estimator, params["members"], X)
        if estimator in ENSEMBLES
        else pipeline(settings, estimator, params, X)
    )
    if settings.task == "forecasting":
        return _forecast_iteration(settings, template, training, validation, estimator)
    # An ensemble refits its members without weights (their pipelines do not route them).
    fit_weights = None if estimator in ENSEMBLES else weights
    if method in ("cv", "cv_split_columns"):
        folds = _cv_folds(settings, training, y, classify, method, int(amount))
        everyone = list(np.unique(np.asarray(y))) if classify else []
        parts = []
        for train, test in folds:
            fold = _fit(template, X.iloc[train], y.iloc[train], _rows(fit_weights, train))
            if not classify:
                parts.append(fold.predict(X.iloc[test]))
                continue
            # A fold may lack a class: its probabilities go in that class's column, 0 else.
            seen = fold.predict_proba(X.iloc[test])
            full = np.zeros((len(test), len(everyone)))
            for column, known in enumerate(fold.classes_):
                full[:, everyone.index(known)] = seen[:, column]
            parts.append(full)
        tested = np.concatenate([test for _, test in folds])
        predicted = np.concatenate(parts)
        truth, truth_weights = y.iloc[tested], _rows(weights, tested)
        model = _fit(template, X, y, fit_weights)
        described = (
            f"{len(folds)}-fold cross validation"
            if method == "cv"
            else f"cross validation on the splits of {', '.join(settings.cv_split_column_names)}"
        )
    else:
        if method == "holdout":
            stratify = y if classify and min(y.value_counts()) >= 2 else None
            rows = np.arange(len(y))
            kept, held = train_test_split(
                rows, test_size=amount, random_state=settings.seed, stratify=stratify
            )
            X, X_valid, y, truth = X.iloc[kept], X.iloc[held], y.iloc[kept], y.iloc[held]
            truth_weights = _rows(weights, held)
            fit_weights = _rows(fit_weights, kept)
            described = f"train/validation split, validation_size={amount}"
        else:
            X_valid = validation.drop(columns=[label, *aside], errors="ignore")
            truth = validation[label]
            truth_weights = (
                validation[settings.weight_column_name] if settings.weight_column_name else None
            )
            described = "validation_data"
        model = _fit(template, X, y, fit_weights)
        predicted = model.predict_proba(X_valid) if classify else model.predict(X_valid)
    if classify:
        classes = np.unique(np.asarray(y if method == "holdout" else training[label]))
        proba = np.asarray(predicted)
        labels = classes[np.argmax(proba, axis=1)]
        metrics = classification_metrics(
            truth, labels, proba, classes, truth_weights, settings.positive_label
        )
        files: dict[str, Any] = {"confusion_matrix": _confusion_matrix(truth, labels, classes)}
    else:
        metrics = regression_metrics(truth, predicted, truth_weights)
        files = {"residuals": _residuals(truth, predicted)}
    metrics = {k: v for k, v in metrics.items() if not math.isnan(v)}
    if settings.model_explainability:
        explained = (X_valid, truth) if method in ("holdout", "validation_data") else (X, y)
        files["raw_feature_importance"] = raw_feature_importance(settings, model, *explained)
    result = Result(metrics=metrics, model=model, validation=described, files=files)
    if settings.enable_onnx_compatible_models:
        _add_onnx(result, X, settings.task)
    if estimator in ENSEMBLES:
        return result
    files["featurization_summary"] = featurization_summary(model, X)
    importance = feature_importance(model)
    if importance is not None:
        files["feature_importance"] = importance
    return result


def _add_onnx(result: Result, frame: Any, task: str) -> None:
    """The ONNX form of the fitted model and its resource; a model the converters cannot
    take keeps its pickle and says why."""
    try:
        result.onnx, resource = onnx_convert.convert(result.model, frame, task)
    except Exception as exc:  # noqa: BLE001 - any converter failure: no ONNX, said
        result.onnx_error = f"{type(exc).__name__}: {exc}"
        return
    result.files["model_onnx"] = resource


def rolling_origin_folds(settings: Settings, training: Any) -> list[tuple[Any, Any]]:
    """The SDK's rolling-origin validation: ``n_cross_validations`` folds (default 3, fewer
    when a series is short), each testing on the next ``forecast_horizon`` periods of every
    series after training on all its periods before them. Masks of (train, test) rows."""
    import pandas as pd

    horizon = settings.forecast_horizon
    times = pd.to_datetime(training[settings.time_column_name])
    ids = settings.time_series_id_column_names
    grouped = times.groupby([training[c] for c in ids]) if ids else times.groupby(0 * times)
    rank = grouped.rank(method="dense")
    periods = grouped.transform("nunique")
    folds = min(settings.n_cross_validations or 3, max(1, int(periods.min()) // horizon - 1))
    masks = []
    for back in range(folds, 0, -1):
        start = periods - back * horizon  # the fold tests ranks start+1 .. start+horizon
        masks.append((rank <= start, (rank > start) & (rank <= start + horizon)))
    return masks


def _forecast_iteration(
    settings: Settings, template: Any, training: Any, validation: Any, estimator: str
) -> Result:
    from sklearn.base import clone

    label = settings.label_column_name
    X, y = training.drop(columns=[label]), training[label]
    if validation is not None:
        model = clone(template).fit(X, y)
        truth = validation[label]
        predicted = model.predict(validation.drop(columns=[label]))
        described = "validation_data"
    else:
        masks = rolling_origin_folds(settings, training)
        truths, predictions = [], []
        for train, test in masks:
            fold = clone(template).fit(X[train], y[train])
            truths.append(np.asarray(y[test], dtype=float))
            predictions.append(np.asarray(fold.predict(X[test]), dtype=float))
        truth, predicted = np.concatenate(truths), np.concatenate(predictions)
        model = clone(template).fit(X, y)
        described = (
            f"rolling origin cross validation, {len(masks)} folds of "
            f"forecast_horizon={settings.forecast_horizon}"
        )
    metrics = {k: v for k, v in regression_metrics(truth, predicted).items() if not math.isnan(v)}
    files: dict[str, Any] = {"residuals": _residuals(truth, predicted)}
    if estimator not in ENSEMBLES:
        time = model.named_steps["time"]
        files["featurization_summary"] = featurization_summary(model, time.transform(X))
        importance = feature_importance(model)
        if importance is not None:
            files["feature_importance"] = importance
    assert settings.time_column_name is not None
    if settings.model_explainability:
        files["raw_feature_importance"] = raw_feature_importance(settings, model, X, y)
    forecast = ForecastingModel(model, settings.time_column_name, settings.forecast_horizon)
    return Result(metrics=metrics, model=forecast, validation=described, files=files)


# Raw importances are measured on at most this many rows, each column shuffled this often.
EXPLAIN_ROWS, EXPLAIN_REPEATS = 500, 3


def raw_feature_importance(settings: Settings, model: Any, X: Any, y: Any) -> dict[str, Any]:
    """How much the fitted pipeline's score drops when each raw column is shuffled
    (permutation importance: model-agnostic, so ensembles are explained too), largest
    first; what ``ExplanationClient.download_model_explanation(raw=True)`` reads."""
    from sklearn.inspection import permutation_importance

    rows = X.sample(min(len(X), EXPLAIN_ROWS), random_state=settings.seed)
    found = permutation_importance(
        model,
        rows,
        np.asarray(y)[X.index.get_indexer(rows.index)],
        scoring="accuracy" if settings.task == "classification" else "r2",
        n_repeats=EXPLAIN_REPEATS,
        random_state=settings.seed,
        n_jobs=1,
    )
    pairs = sorted(
        zip((str(c) for c in X.columns), (float(v) for v in found.importances_mean), strict=True),
        key=lambda p: -p[1],
    )
    return {
        "schema_type": "feature_importance",
        "schema_version": "1.0.0",
        "data": {"features": [n for n, _ in pairs], "importance": [v for _, v in pairs]},
    }


def feature_importance(model: Any) -> dict[str, Any] | None:
    """The fitted learner's own importance of each engineered feature (tree importances,
    or the mean absolute coefficient of a linear model), largest first; None for a learner
    without either (KNN)."""
    learner: Any = model.named_steps["model"]
    if isinstance(learner, LabelEncodedClassifier):
        learner = learner.estimator
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


# What featurization_summary.json says of each kind of column transformer.
_SUMMARY = {
    "categorical": ("Categorical", ["ModeCatImputer", "OneHotEncoder"]),
    "hash": ("CategoricalHash", ["ModeCatImputer", "HashOneHotEncoder"]),
    "datetime": ("DateTime", ["DateTimeTransformer"]),
    "text": ("Text", ["StringCast", "TfIdf"]),
}


def featurization_summary(model: Any, frame: Any) -> list[dict[str, Any]]:
    """What featurization did to each raw column, in the shape of the SDK's
    ``featurization_summary.json``: its detected type, the features it became, and the
    columns dropped."""
    transformer = model.named_steps["featurize"]
    summary: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for name, part, columns in transformer.transformers_:
        if name == "remainder":
            continue
        kind = name.split(":")[0]
        for index, column in enumerate(columns):
            seen.add(column)
            numeric = frame[column].dtype.kind in "biuf"
            detected, steps = _SUMMARY.get(kind, ("Numeric" if numeric else "Categorical", []))
            count = 1
            if kind == "numeric":
                strategy = part.strategy
                detected, steps = "Numeric", [f"{strategy.title().replace('_', '')}Imputer"]
            elif kind == "passthrough":
                steps = ["Passthrough"]
            elif kind == "categorical":
                count = len(part.named_steps["onehot"].categories_[index])
            elif kind == "hash":
                count = 2 ** part.named_steps["hash"].number_of_bits
            elif kind == "datetime":
                count = len(TIME_PARTS) + 1
            elif kind == "text":
                count = len(part.named_steps["tfidf"].vocabulary_)
            summary.append(
                {
                    "RawFeatureName": str(column),
                    "TypeDetected": detected,
                    "Dropped": "No",
                    "EngineeredFeatureCount": count,
                    "Transformations": steps,
                }
            )
    for column in frame.columns:
        if column not in seen:
            summary.append(
                {
                    "RawFeatureName": str(column),
                    "TypeDetected": detected_type(frame[column]),
                    "Dropped": "Yes",
                    "EngineeredFeatureCount": 0,
                    "Transformations": [],
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
