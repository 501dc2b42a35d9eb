"""The SDK's AutoML metric names computed with scikit-learn, for each iteration to log."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    classes: Any,
    sample_weight: Any = None,
    positive_label: Any = None,
) -> dict[str, float]:
    """``accuracy``, ``AUC_weighted``, ``precision_score_weighted``, ... of a classifier's
    predictions, each row counting as its ``sample_weight`` (weight_column_name); a binary
    task also gets the ``*_binary`` metrics of ``positive_label`` (default: the second
    class in sorted order, as scikit-learn takes it)."""
    from sklearn import metrics

    labels = list(classes)
    proba = np.asarray(y_proba)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    binary: dict[str, float] = {}
    if len(labels) == 2:
        auc = metrics.roc_auc_score(y_true, proba[:, 1], average="weighted", sample_weight=w)
        ap = metrics.average_precision_score(
            y_true, proba[:, 1], average="weighted", pos_label=labels[1], sample_weight=w
        )
        positive = labels[1] if positive_label is None else positive_label
        score = proba[:, labels.index(positive)] if positive in labels else proba[:, 1]
        truth = np.asarray(y_true) == positive
        binary = {
            "AUC_binary": float(metrics.roc_auc_score(truth, score, sample_weight=w)),
            "average_precision_score_binary": float(
                metrics.average_precision_score(truth, score, sample_weight=w)
            ),
            **{
                f"{name}_binary": float(
                    score_of(
                        y_true,
                        y_pred,
                        pos_label=positive,
                        average="binary",
                        zero_division=0,
                        sample_weight=w,
                    )  # fmt: skip
                )
                for name, score_of in (
                    ("precision_score", metrics.precision_score),
                    ("recall_score", metrics.recall_score),
                    ("f1_score", metrics.f1_score),
                )
            },
        }
    else:
        auc = metrics.roc_auc_score(
            y_true, proba, multi_class="ovr", average="weighted", labels=labels, sample_weight=w
        )
        onehot = np.asarray([[1 if y == c else 0 for c in labels] for y in y_true])
        ap = metrics.average_precision_score(onehot, proba, average="weighted", sample_weight=w)
    recall = metrics.recall_score(y_true, y_pred, average="macro", sample_weight=w)
    chance = 1.0 / len(labels)
    return {
        **binary,
        "accuracy": float(metrics.accuracy_score(y_true, y_pred, sample_weight=w)),
        "AUC_weighted": float(auc),
        "average_precision_score_weighted": float(ap),
        # The SDK's normalized macro recall: 0 at chance, 1 when perfect.
        "norm_macro_recall": float(max(0.0, (recall - chance) / (1 - chance))),
        **{
            f"{name}_{average}": float(
                score_of(y_true, y_pred, average=average, zero_division=0, sample_weight=w)
            )
            for name, score_of, averages in (
                ("precision_score", metrics.precision_score, ("weighted", "macro")),
                ("recall_score", metrics.recall_score, ("weighted",)),
                ("f1_score", metrics.f1_score, ("weighted", "macro", "micro")),
            )
            for average in averages
        },
        "recall_score_macro": float(recall),
        "balanced_accuracy": float(
            metrics.balanced_accuracy_score(y_true, y_pred, sample_weight=w)
        ),
        "log_loss": float(metrics.log_loss(y_true, proba, labels=labels, sample_weight=w)),
    }


def regression_metrics(y_true: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
    """``r2_score``, ``spearman_correlation`` and the SDK's errors normalized by the label
    range, each row counting as its ``sample_weight`` (spearman's rank correlation: not
    weighted)."""
    from scipy.stats import spearmanr
    from sklearn import metrics

    truth = np.asarray(y_true, dtype=float)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    span = float(truth.max() - truth.min()) or 1.0
    rmse = float(np.sqrt(metrics.mean_squared_error(truth, y_pred, sample_weight=w)))
    mae = float(metrics.mean_absolute_error(truth, y_pred, sample_weight=w))
    median = float(metrics.median_absolute_error(truth, y_pred, sample_weight=w))
    return {
        "r2_score": float(metrics.r2_score(truth, y_pred, sample_weight=w)),
        "spearman_correlation": float(spearmanr(truth, y_pred)[0]),
        "normalized_root_mean_squared_error": rmse / span,
        "normalized_mean_absolute_error": mae / span,
        "normalized_median_absolute_error": median / span,
        "root_mean_squared_error": rmse,
        "mean_absolute_error": mae,
        "median_absolute_error": median,
        "explained_variance": float(
            metrics.explained_variance_score(truth, y_pred, sample_weight=w)
        ),
    }
