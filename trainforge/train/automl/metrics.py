"""The SDK's AutoML metric names computed with scikit-learn (``trainforge.automl.metrics``)."""

from trainforge.automl.metrics import classification_metrics, regression_metrics

__all__ = ["classification_metrics", "regression_metrics"]
