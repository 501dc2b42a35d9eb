"""The SDK's tasks, primary metrics and model names, and what FLAML calls each."""

from __future__ import annotations

TASKS = ("classification", "regression", "forecasting")
# A forecast is a regression on the series' time features: FLAML searches its regressors.
ENGINE_TASKS = {"forecasting": "regression"}
# The model name of the ensemble iteration (the SDK's).
VOTING_ENSEMBLE = "VotingEnsemble"
STACK_ENSEMBLE = "StackEnsemble"
# The ensemble iterations, in the order the SDK runs them, after the search.
ENSEMBLES = (VOTING_ENSEMBLE, STACK_ENSEMBLE)

# The SDK's primary metrics per task (its first is the default) and FLAML's metric for each
# (what FLAML's own ``AutoML.fit`` would optimize; iterations log the SDK's metric itself).
PRIMARY_METRICS: dict[str, dict[str, str]] = {
    "classification": {
        "AUC_weighted": "roc_auc_weighted",
        "accuracy": "accuracy",
        "average_precision_score_weighted": "ap",
        "norm_macro_recall": "macro_f1",
        "precision_score_weighted": "micro_f1",
    },
    "regression": {
        "spearman_correlation": "r2",
        "normalized_root_mean_squared_error": "rmse",
        "r2_score": "r2",
        "normalized_mean_absolute_error": "mae",
    },
    "forecasting": {
        "normalized_root_mean_squared_error": "rmse",
        "r2_score": "r2",
        "normalized_mean_absolute_error": "mae",
        "spearman_correlation": "r2",
    },
}

# Metrics where smaller is better; every other SDK metric is maximized.
MINIMIZED = frozenset(
    {
        "normalized_root_mean_squared_error",
        "normalized_mean_absolute_error",
        "normalized_median_absolute_error",
        "root_mean_squared_error",
        "mean_absolute_error",
        "median_absolute_error",
        "log_loss",
    }
)

# The SDK's model names per task and the FLAML learner that fits each.
MODELS: dict[str, dict[str, str]] = {
    "classification": {
        "LightGBM": "lgbm",
        "RandomForest": "rf",
        "ExtremeRandomTrees": "extra_tree",
        "LogisticRegression": "lrl2",
        "XGBoostClassifier": "xgboost",
        "KNN": "kneighbor",
    },
    "regression": {
        "LightGBM": "lgbm",
        "RandomForest": "rf",
        "ExtremeRandomTrees": "extra_tree",
        "XGBoostRegressor": "xgboost",
        "KNN": "kneighbor",
    },
}
MODELS["forecasting"] = dict(MODELS["regression"])


def engine_task(task: str) -> str:
    """The FLAML task that searches for ``task``."""
    return ENGINE_TASKS.get(task, task)


def goal(metric: str) -> str:
    """'maximize' or 'minimize': which way ``metric`` gets better."""
    return "minimize" if metric in MINIMIZED else "maximize"


def sdk_model_name(task: str, learner: str) -> str:
    """The SDK's name of a FLAML learner (what the console table's PIPELINE column shows)."""
    for name, engine in MODELS.get(task, {}).items():
        if engine == learner:
            return name
    return learner


# Every model name the SDK accepts per task (azureml-train-automl-client's
# SupportedModels): those FLAML has no learner for are never tried here, so blocking one
# is a no-op and allowing one is said with a warning.
SDK_MODELS: dict[str, frozenset[str]] = {
    "classification": frozenset(
        {
            "AveragedPerceptronClassifier",
            "BernoulliNaiveBayes",
            "DecisionTree",
            "ExtremeRandomTrees",
            "GradientBoosting",
            "KNN",
            "LightGBM",
            "LinearSVM",
            "LogisticRegression",
            "MultinomialNaiveBayes",
            "RandomForest",
            "SGD",
            "SVM",
            "TensorFlowDNN",
            "TensorFlowLinearClassifier",
            "XGBoostClassifier",
        }
    ),
    "regression": frozenset(
        {
            "DecisionTree",
            "ElasticNet",
            "ExtremeRandomTrees",
            "FastLinearRegressor",
            "GradientBoosting",
            "KNN",
            "LassoLars",
            "LightGBM",
            "OnlineGradientDescentRegressor",
            "RandomForest",
            "SGD",
            "TensorFlowDNN",
            "TensorFlowLinearRegressor",
            "XGBoostRegressor",
        }
    ),
}
# Forecasting takes the regressors and the SDK's time-series models (none of which FLAML
# fits without statsmodels or prophet: never tried here).
SDK_MODELS["forecasting"] = SDK_MODELS["regression"] | frozenset(
    {
        "Arimax",
        "AutoArima",
        "Average",
        "ExponentialSmoothing",
        "Naive",
        "Prophet",
        "SeasonalAverage",
        "SeasonalNaive",
        "TCNForecaster",
    }
)
