"""``AutoMLConfig``: what an AutoML experiment fits, validated as the SDK validates it.

The engine behind it is FLAML (the ``automl`` extra): the SDK's model names map to FLAML's
learner names here, so a name FLAML cannot fit is refused when the config is made, not when
an iteration runs.
"""

from __future__ import annotations

import warnings
from typing import Any

from trainforge.automl.core.featurization import FeaturizationConfig
from trainforge.automl.core.forecasting_parameters import ForecastingParameters
from trainforge.automl.names import MODELS, PRIMARY_METRICS, SDK_MODELS, TASKS
from trainforge.data.output_dataset_config import is_step_output_table
from trainforge.train.automl.exceptions import ConfigException

__all__ = ["MODELS", "PRIMARY_METRICS", "TASKS", "AutoMLConfig"]


# Models left out when enable_onnx_compatible_models is set.
ONNX_UNSUPPORTED = ("XGBoostClassifier", "XGBoostRegressor", "KNN")


def is_numeric_dtype(values: Any) -> bool:
    from pandas.api.types import is_numeric_dtype as numeric

    return bool(numeric(values))


def _refuse(argument: str, value: Any, allowed: Any) -> ConfigException:
    return ConfigException(
        f"Invalid argument(s) '{argument}' specified: {value!r}. Supported value(s): {allowed}."
    )


class AutoMLConfig:
    """Configuration of an automated ML experiment, for ``Experiment.submit``.

    :param task: 'classification', 'regression' or 'forecasting'.
    :param primary_metric: the metric AutoML optimizes (SDK names, e.g. 'AUC_weighted', 'r2_score').
    :param training_data: a pandas DataFrame or TabularDataset holding the label column.
    :param label_column_name: the column of ``training_data`` to predict.
    :param iterations: how many pipelines (child runs) to try.
    :param max_concurrent_iterations: how many iterations run at once.
    :param experiment_timeout_minutes: stop trying new iterations after this long
        (``experiment_timeout_hours`` is the newer name).
    :param allowed_models: only these models (SDK names); ``whitelist_models`` is the old name.
    :param blocked_models: never these models; ``blacklist_models`` is the old name.
    :param n_cross_validations: k-fold cross validation, or ``validation_size``: a holdout fraction.
        For forecasting, the number of rolling-origin folds (default 3), each
        ``forecast_horizon`` periods long at the end of every series.
    :param enable_voting_ensemble: end with a VotingEnsemble iteration of the best ones
        (at least 3 iterations).
    :param enable_stack_ensemble: then a StackEnsemble iteration (at least 5 iterations;
        default on, but off for forecasting).
    :param model_explainability: explain each iteration's model by its raw columns
        (read with ``trainforge.interpret.ExplanationClient``).
    :param enable_onnx_compatible_models: also save each iteration's model as ONNX
        (``get_output(return_onnx_model=True)``); no stack ensemble then.
    :param featurization: 'auto' (imputation, one-hot or hashed categoricals, datetime
        parts), 'off', or a ``FeaturizationConfig``.
    :param forecasting_parameters: a ``ForecastingParameters`` for task 'forecasting'
        (older code passes ``time_column_name``, ``max_horizon`` and
        ``grain_column_names`` as arguments instead).
    :param weight_column_name: a column of non-negative sample weights: each row counts as
        its weight in fitting (learners that take weights; KNN and an ensemble's refits do
        not) and in every metric but spearman_correlation; not a feature.
    :param cv_split_column_names: columns that are cross-validation splits, one fold each:
        1 trains, 0 validates (instead of n_cross_validations or validation data); not
        features.
    :param positive_label: the positive class of a binary classification, for the
        ``*_binary`` metrics (default: the second class in sorted order).
    :param test_data: data (a DataFrame or TabularDataset with the label) for a test run of
        the best model when the search ends: a child of the best run, type
        ``automl.model_test``, logging the metrics on it and ``predictions/predictions.csv``;
        or ``test_size``, the fraction of ``training_data`` held out for it (not trained on).
    """

    def __init__(
        self,
        task: str,
        primary_metric: str | None = None,
        training_data: Any = None,
        label_column_name: str | None = None,
        iterations: int | None = None,
        max_concurrent_iterations: int = 1,
        experiment_timeout_minutes: float | None = None,
        experiment_timeout_hours: float | None = None,
        allowed_models: list[str] | None = None,
        blocked_models: list[str] | None = None,
        whitelist_models: list[str] | None = None,
        blacklist_models: list[str] | None = None,
        n_cross_validations: int | None = None,
        validation_size: float | None = None,
        compute_target: Any = None,
        validation_data: Any = None,
        iteration_timeout_minutes: float | None = None,
        experiment_exit_score: float | None = None,
        enable_early_stopping: bool = True,
        enable_voting_ensemble: bool = True,
        enable_stack_ensemble: bool | None = None,
        model_explainability: bool = True,
        enable_onnx_compatible_models: bool = False,
        featurization: Any = "auto",
        forecasting_parameters: ForecastingParameters | None = None,
        weight_column_name: str | None = None,
        cv_split_column_names: list[str] | None = None,
        positive_label: Any = None,
        test_data: Any = None,
        test_size: float | None = None,
        X: Any = None,
        y: Any = None,
        **kwargs: Any,
    ) -> None:
        if training_data is None and X is not None and y is not None:
            # The 2019 SDK's X/y: one frame with the label as its last column.
            training_data, label_column_name = self._from_xy(X, y, label_column_name)
        if task not in TASKS:
            raise _refuse("task", task, list(TASKS))
        self.task = task
        metrics = PRIMARY_METRICS[task]
        if primary_metric is None:
            primary_metric = next(iter(metrics))
        if primary_metric not in metrics:
            raise _refuse("primary_metric", primary_metric, list(metrics))
        self.primary_metric = primary_metric
        self.engine_metric = metrics[primary_metric]

        if training_data is None:
            raise ConfigException(
                "Invalid argument(s) 'training_data' specified: None. Supported value(s): "
                "a pandas DataFrame or TabularDataset with label_column_name."
            )
        if not label_column_name:
            raise _refuse("label_column_name", label_column_name, "a column of training_data")
        columns = self._columns(training_data)
        if columns is not None and label_column_name not in columns:
            raise _refuse("label_column_name", label_column_name, list(columns))
        if columns is not None and len(training_data) == 0:
            raise _refuse("training_data", "an empty DataFrame", "a DataFrame with rows")
        if columns is not None and task in ("regression", "forecasting"):
            # A regression label must be numbers; the SDK refuses a string label before submitting.
            # dtype kinds: bool, signed/unsigned int, float, complex.
            if training_data[label_column_name].dtype.kind not in "biufc":
                raise _refuse(
                    "label_column_name",
                    f"{label_column_name} ({training_data[label_column_name].dtype})",
                    f"a numeric column for task '{task}'",
                )
        if columns is not None and task == "classification":
            if training_data[label_column_name].nunique() < 2:
                raise _refuse(
                    "label_column_name",
                    f"{label_column_name} (one class)",
                    "a column with at least 2 classes for task 'classification'",
                )
        self.training_data = training_data
        self.label_column_name = label_column_name

        if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
            raise _refuse("iterations", iterations, "an integer of at least 1")
        self.iterations = iterations if iterations is not None else 100
        if not isinstance(max_concurrent_iterations, int) or max_concurrent_iterations < 1:
            raise _refuse(
                "max_concurrent_iterations", max_concurrent_iterations, "an integer of at least 1"
            )
        self.max_concurrent_iterations = max_concurrent_iterations

        if experiment_timeout_minutes is not None and experiment_timeout_hours is not None:
            raise ConfigException(
                "Invalid argument(s) 'experiment_timeout_minutes' specified: give "
                "experiment_timeout_minutes or experiment_timeout_hours, not both."
            )
        minutes = experiment_timeout_minutes
        if experiment_timeout_hours is not None:
            minutes = experiment_timeout_hours * 60
        if minutes is not None and (not isinstance(minutes, (int, float)) or minutes <= 0):
            name = (
                "experiment_timeout_hours"
                if experiment_timeout_hours is not None
                else "experiment_timeout_minutes"
            )
            raise _refuse(name, minutes, "a positive number")
        self.experiment_timeout_minutes = minutes

        models = MODELS[task]
        allowed = allowed_models if allowed_models is not None else whitelist_models
        blocked = blocked_models if blocked_models is not None else blacklist_models
        known = MODELS[task].keys() | SDK_MODELS[task]
        for argument, names in (("allowed_models", allowed), ("blocked_models", blocked)):
            for name in names or []:
                if name not in known:
                    raise _refuse(argument, name, sorted(known))
        missing = [m for m in allowed or [] if m not in models]
        if missing and any(m in models for m in allowed or []):
            warnings.warn(
                f"allowed_models: {missing} have no engine learner here and are not tried; "
                f"supported: {list(models)}",
                stacklevel=2,
            )
        chosen = [
            m for m in models if (allowed is None or m in allowed) and m not in (blocked or [])
        ]
        if not chosen:
            raise ConfigException(
                "Invalid argument(s) 'allowed_models' specified: allowed_models and "
                f"blocked_models leave no model to try. Supported value(s): {list(models)}."
            )
        self.allowed_models = chosen
        self.learners = [models[m] for m in chosen]

        if n_cross_validations is not None and validation_size is not None:
            raise ConfigException(
                "Invalid argument(s) 'n_cross_validations' specified: give "
                "n_cross_validations or validation_size, not both."
            )
        if n_cross_validations is not None and (
            not isinstance(n_cross_validations, int) or n_cross_validations < 2
        ):
            raise _refuse("n_cross_validations", n_cross_validations, "an integer of at least 2")
        if validation_size is not None and not (
            isinstance(validation_size, (int, float)) and 0.0 < validation_size < 1.0
        ):
            raise _refuse("validation_size", validation_size, "a fraction between 0 and 1")
        self.n_cross_validations = n_cross_validations
        self.validation_size = validation_size
        self.compute_target = compute_target
        if validation_data is not None:
            if n_cross_validations is not None:
                raise ConfigException(
                    "Invalid argument(s) 'validation_data' specified: give validation_data or "
                    "n_cross_validations, not both."
                )
            valid_columns = self._columns(validation_data)
            if valid_columns is not None and label_column_name not in valid_columns:
                raise _refuse("validation_data", f"no column {label_column_name!r}", valid_columns)
        self.validation_data = validation_data
        self.weight_column_name, self.cv_split_column_names = self._special_columns(
            task, weight_column_name, cv_split_column_names, training_data, columns,
            n_cross_validations, validation_size, validation_data,
        )  # fmt: skip
        if positive_label is not None and task != "classification":
            raise _refuse("positive_label", positive_label, "None for task " + repr(task))
        if positive_label is not None and columns is not None:
            seen = set(training_data[label_column_name].unique())
            if len(seen) == 2 and positive_label not in seen:
                raise _refuse("positive_label", positive_label, sorted(map(str, seen)))
        self.positive_label = positive_label
        self.test_data, self.test_size = self._test(
            task, test_data, test_size, label_column_name, training_data, columns
        )
        for name, minutes_value in (("iteration_timeout_minutes", iteration_timeout_minutes),):
            if minutes_value is not None and (
                not isinstance(minutes_value, (int, float)) or minutes_value <= 0
            ):
                raise _refuse(name, minutes_value, "a positive number")
        self.iteration_timeout_minutes = iteration_timeout_minutes
        if experiment_exit_score is not None and not isinstance(
            experiment_exit_score, (int, float)
        ):
            raise _refuse("experiment_exit_score", experiment_exit_score, "a number")
        self.experiment_exit_score = experiment_exit_score
        self.enable_early_stopping = bool(enable_early_stopping)
        self.enable_voting_ensemble = bool(enable_voting_ensemble)
        self.model_explainability = bool(model_explainability)
        # The SDK leaves the stack out of forecasting by default: its meta-learner would
        # fit on the short validation windows of a series.
        self.enable_stack_ensemble = (
            task != "forecasting" if enable_stack_ensemble is None else bool(enable_stack_ensemble)
        )
        if isinstance(featurization, FeaturizationConfig):
            for argument, value, supported in featurization.problems(columns):
                raise _refuse(argument, value, supported)
        elif featurization not in ("auto", "off"):
            raise _refuse("featurization", featurization, ["auto", "off", "FeaturizationConfig"])
        self.featurization = featurization
        self.forecasting_parameters = self._forecasting(
            task, forecasting_parameters, kwargs, training_data, columns
        )
        self.enable_onnx_compatible_models = self._onnx(
            bool(enable_onnx_compatible_models), task, featurization, training_data, columns
        )
        if self.enable_onnx_compatible_models:
            self.enable_stack_ensemble = False  # as the SDK: no ONNX form of a stack
            # XGBoost's label-encoding wrapper has no converter, and KNN's float32 distances
            # in onnxruntime do not always pick the neighbours scikit-learn picks.
            kept = [m for m in self.allowed_models if m not in ONNX_UNSUPPORTED]
            if not kept:
                raise _refuse("allowed_models", self.allowed_models,
                              "models with an ONNX form (not XGBoost or KNN)")  # fmt: skip
            self.allowed_models = kept
            self.learners = [MODELS[task][m] for m in kept]
        self.user_settings = dict(kwargs)

    @staticmethod
    def _test(
        task: str,
        test_data: Any,
        test_size: float | None,
        label: str,
        training_data: Any,
        columns: list[str] | None,
    ) -> tuple[Any, float | None]:
        """``test_data`` or ``test_size``, checked as the SDK checks them."""
        if test_data is None and test_size is None:
            return None, None
        if task == "forecasting":
            name = "test_data" if test_data is not None else "test_size"
            raise _refuse(name, "a test run of a forecast", "None for task 'forecasting'")
        if test_data is not None and test_size is not None:
            raise ConfigException(
                "Invalid argument(s) 'test_size' specified: give test_data or test_size, not both."
            )
        if test_size is not None:
            if not (isinstance(test_size, (int, float)) and 0.0 < test_size < 1.0):
                raise _refuse("test_size", test_size, "a fraction between 0 and 1")
            if is_step_output_table(training_data):
                raise _refuse("test_size", test_size, "None when training_data is a step's output")
            return None, float(test_size)
        if is_step_output_table(test_data):
            raise _refuse("test_data", "another step's output", "a DataFrame or TabularDataset")
        test_columns = AutoMLConfig._columns(test_data)
        if test_columns is not None and label not in test_columns:
            raise _refuse("test_data", f"no column {label!r}", test_columns)
        return test_data, None

    @staticmethod
    def _special_columns(
        task: str,
        weight: str | None,
        splits: list[str] | None,
        data: Any,
        columns: list[str] | None,
        n_cross_validations: int | None,
        validation_size: float | None,
        validation_data: Any,
    ) -> tuple[str | None, list[str]]:
        """``weight_column_name`` and ``cv_split_column_names`` checked as the SDK checks
        them: columns of the data, weights numbers of at least 0, splits of 0 and 1, and
        splits instead of (not with) another way to validate."""
        if (weight is not None or splits) and task == "forecasting":
            name = "weight_column_name" if weight is not None else "cv_split_column_names"
            raise _refuse(name, weight if weight is not None else splits, "None for forecasting")
        if weight is not None:
            if not isinstance(weight, str) or (columns is not None and weight not in columns):
                raise _refuse("weight_column_name", weight, columns or "a column of training_data")
            if columns is not None:
                values = data[weight]
                if not is_numeric_dtype(values) or values.isna().any() or (values < 0).any():
                    raise _refuse("weight_column_name", weight, "a column of numbers of at least 0")
            valid = AutoMLConfig._columns(validation_data) if validation_data is not None else None
            if valid is not None and weight not in valid:
                raise _refuse("weight_column_name", f"{weight} (not in validation_data)", valid)
        chosen = list(splits or [])
        if chosen:
            if (
                n_cross_validations is not None
                or validation_size is not None
                or (validation_data is not None)
            ):
                raise ConfigException(
                    "Invalid argument(s) 'cv_split_column_names' specified: give "
                    "cv_split_column_names or n_cross_validations, validation_size or "
                    "validation_data, not both."
                )
            for column in chosen:
                if not isinstance(column, str) or (columns is not None and column not in columns):
                    raise _refuse(
                        "cv_split_column_names", column, columns or "columns of training_data"
                    )
                if columns is not None:
                    marks = set(data[column].unique())
                    if marks != {0, 1}:
                        raise _refuse(
                            "cv_split_column_names",
                            f"{column} holds {sorted(map(str, marks))}",
                            "columns of 1 (train) and 0 (validate), both present",
                        )
        return weight, chosen

    @staticmethod
    def _onnx(
        wanted: bool, task: str, featurization: Any, data: Any, columns: list[str] | None
    ) -> bool:
        """Whether iterations save ONNX models: only for classification and regression,
        with featurization ONNX can express (imputation, one-hot encoding)."""
        if not wanted:
            return False
        if task == "forecasting":
            raise _refuse(
                "enable_onnx_compatible_models", True, "tasks 'classification' and 'regression'"
            )
        if isinstance(featurization, FeaturizationConfig):
            for column, purpose in featurization.column_purposes.items():
                if purpose in ("CategoricalHash", "DateTime", "Text"):
                    raise _refuse(
                        "column_purposes",
                        f"{column}: {purpose}",
                        "'Numeric', 'Categorical' or 'Ignore' with enable_onnx_compatible_models",
                    )
        for column in columns or []:
            if data[column].dtype.kind == "M":
                raise _refuse(
                    "enable_onnx_compatible_models",
                    f"datetime column {column!r}",
                    "numbers or strings (give its parts as numbers, or drop it)",
                )
        return True  # fmt: skip

    def _forecasting(
        self,
        task: str,
        given: ForecastingParameters | None,
        kwargs: dict[str, Any],
        data: Any,
        columns: list[str] | None,
    ) -> ForecastingParameters | None:
        """The series settings of a forecasting task, checked against the data: a time
        column of times, ids that are columns, a whole horizon, enough periods per series
        for the rolling-origin folds."""
        legacy = {
            key: kwargs.pop(key)
            for key in ("time_column_name", "max_horizon", "forecast_horizon", "grain_column_names",
                        "time_series_id_column_names")
            if key in kwargs
        }  # fmt: skip
        if task != "forecasting":
            if given is not None or legacy:
                name = "forecasting_parameters" if given is not None else next(iter(legacy))
                raise _refuse(name, "given for task " + repr(task), "task 'forecasting' only")
            return None
        if given is None:
            given = ForecastingParameters(
                time_column_name=legacy.get("time_column_name"),
                forecast_horizon=legacy.get("forecast_horizon", legacy.get("max_horizon", 1)),
                time_series_id_column_names=legacy.get(
                    "time_series_id_column_names", legacy.get("grain_column_names")
                ),
            )
        elif not isinstance(given, ForecastingParameters):
            raise _refuse("forecasting_parameters", given, "a ForecastingParameters")
        horizon = given.forecast_horizon
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise _refuse("forecast_horizon", horizon, "an integer of at least 1")
        if not given.time_column_name:
            raise _refuse("time_column_name", None, "the column of training_data with the times")
        if self.validation_size is not None:
            raise _refuse(
                "validation_size",
                self.validation_size,
                "None for task 'forecasting' (use n_cross_validations or validation_data)",
            )
        if columns is None:  # a dataset: checked where it is read
            return given
        import pandas as pd

        for column in [given.time_column_name, *given.time_series_id_column_names]:
            if column not in columns:
                raise _refuse("time_column_name" if column == given.time_column_name
                              else "time_series_id_column_names", column, columns)  # fmt: skip
        try:
            times = pd.to_datetime(data[given.time_column_name])
        except (ValueError, TypeError) as exc:
            raise _refuse("time_column_name", given.time_column_name,
                          f"a column of dates or times ({exc})") from None  # fmt: skip
        ids = given.time_series_id_column_names
        per_series = (
            times.groupby([data[c] for c in ids]).nunique().min() if ids else times.nunique()
        )
        folds = self.n_cross_validations or 1
        if per_series < (folds + 1) * horizon:
            raise _refuse(
                "training_data",
                f"a series of {per_series} periods",
                f"series of at least {(folds + 1) * horizon} periods "
                f"((n_cross_validations + 1) x forecast_horizon)",
            )
        return given

    @staticmethod
    def _from_xy(X: Any, y: Any, label: str | None) -> tuple[Any, str]:
        from trainforge.train.automl.run import xy_frame

        return xy_frame(X, y, label)

    def _submit(self, experiment: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> Any:
        from trainforge.train.automl.run import submit

        return submit(self, experiment, tags, **kwargs)

    @staticmethod
    def _columns(data: Any) -> list[str] | None:
        """The columns of a DataFrame; None for a dataset not read here (read on the run, or
        another pipeline step's output, read by the control plane when an AutoMLStep
        starts)."""
        if is_step_output_table(data):
            return None
        columns = getattr(data, "columns", None)
        if columns is not None and not callable(columns):
            return [str(c) for c in columns]
        if hasattr(data, "to_pandas_dataframe"):
            return None
        raise ConfigException(
            f"Invalid argument(s) 'training_data' specified: {type(data).__name__}. "
            "Supported value(s): a pandas DataFrame or TabularDataset."
        )

    @property
    def featurization_settings(self) -> str | dict[str, Any]:
        """What the iterations get of ``featurization``: 'auto', 'off' or the config's settings."""
        given = self.featurization
        return given.settings() if isinstance(given, FeaturizationConfig) else given

    def engine_settings(self) -> dict[str, Any]:
        """The FLAML ``AutoML.fit`` settings this config means."""
        settings: dict[str, Any] = {
            "task": self.task,
            "metric": self.engine_metric,
            "estimator_list": self.learners,
            "max_iter": self.iterations,
            "n_concurrent_trials": self.max_concurrent_iterations,
        }
        if self.experiment_timeout_minutes is not None:
            settings["time_budget"] = self.experiment_timeout_minutes * 60
        if self.n_cross_validations is not None:
            settings["eval_method"] = "cv"
            settings["n_splits"] = self.n_cross_validations
        elif self.validation_size is not None:
            settings["eval_method"] = "holdout"
            settings["split_ratio"] = self.validation_size
        return settings
