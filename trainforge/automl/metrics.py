"""The SDK's AutoML metric names computed with scikit-learn, for each iteration to log."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(
    y_true: Any, y_pred: Any, y_proba: Any, classes: Any
) -> dict[str, float]:
    """``accuracy``, ``AUC_weighted``, ``precision_score_weighted``, ... of a classifier's predictions."""
    from sklearn import metrics

    labels = list(classes)
    proba = np.asarray(y_proba)
    if len(labels) == 2:
        auc = metrics.roc_auc_score(y_true, proba[:, 1], average="weighted")
        ap = metrics.average_precision_score(
            y_true, proba[:, 1], average="weighted", pos_label=labels[1]
        )
    else:
        auc = metrics.roc_auc_score(
            y_true, proba, multi_class="ovr", average="weighted", labels=labels
        )
        onehot = np.asarray([[1 if y == c else 0 for c in labels] for y in y_true])
        ap = metrics.average_precision_score(onehot, proba, average="weighted")
    recall = metrics.recall_score(y_true, y_pred, average="macro")
    chance = 1.0 / len(labels)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "AUC_weighted": float(auc),
        "average_precision_score_weighted": float(ap),
        # The SDK's normalized macro recall: 0 at chance, 1 when perfect.
        "norm_macro_recall": float(max(0.0, (recall - chance) / (1 - chance))),
        "precision_score_weighted": float(
            metrics.precision_score(y_true, y_pred, average="weighted", zero_division=0)
        ),
        "precision_score_macro": float(
            metrics.precision_score(y_true, y_pred, average="macro", zero_division=0)
        ),
        "recall_score_weighted": float(
            metrics.recall_score(y_true, y_pred, average="weighted", zero_division=0)
        ),
        "recall_score_macro": float(recall),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "f1_score_weighted": float(
            metrics.f1_score(y_true, y_pred, average="weighted", zero_division=0)
        ),
        "f1_score_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_score_micro": float(metrics.f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "log_loss": float(metrics.log_loss(y_true, proba, labels=labels)),
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``r2_score``, ``spearman_correlation`` and the SDK's errors normalized by the label range."""
    from scipy.stats import spearmanr
    from sklearn import metrics

    truth = np.asarray(y_true, dtype=float)
    span = float(truth.max() - truth.min()) or 1.0
    return {
        "r2_score": float(metrics.r2_score(truth, y_pred)),
        "spearman_correlation": float(spearmanr(truth, y_pred)[0]),
        "normalized_root_mean_squared_error": float(
            np.sqrt(metrics.mean_squared_error(truth, y_pred)) / span
        ),
        "normalized_mean_absolute_error": float(metrics.mean_absolute_error(truth, y_pred) / span),
        "normalized_median_absolute_error": float(
            metrics.median_absolute_error(truth, y_pred) / span
        ),
        "root_mean_squared_error": float(np.sqrt(metrics.mean_squared_error(truth, y_pred))),
        "mean_absolute_error": float(metrics.mean_absolute_error(truth, y_pred)),
        "median_absolute_error": float(metrics.median_absolute_error(truth, y_pred)),
        "explained_variance": float(metrics.explained_variance_score(truth, y_pred)),
    }
