"""The SDK's data guardrails: checks of the training data reported by ``get_guardrails()``."""

from __future__ import annotations

from typing import Any

# A class is under-represented when it has at most this share of the largest class's rows.
IMBALANCE_RATIO = 0.2
# A non-numeric column is high-cardinality when nearly every row has its own value.
HIGH_CARDINALITY_SHARE = 0.9
HIGH_CARDINALITY_MIN_ROWS = 20


def guardrails(frame: Any, label: str, task: str) -> list[dict[str, Any]]:
    """The checks of ``frame``: type, status (passed, done, alerted), description, details."""
    features = frame.drop(columns=[label])
    found: list[dict[str, Any]] = []
    if task == "classification":
        counts = frame[label].value_counts()
        ratio = float(counts.min() / counts.max()) if len(counts) else 1.0
        small = [str(c) for c, n in counts.items() if n <= IMBALANCE_RATIO * counts.max()]
        found.append(
            {
                "type": "Class balancing detection",
                "status": "alerted" if small else "passed",
                "description": (
                    f"Classes {small} have at most {IMBALANCE_RATIO:.0%} of the largest "
                    "class's rows; consider more data or a metric that weighs classes."
                    if small
                    else "Your inputs were analyzed, and all classes are balanced in your "
                    "training data."
                ),
                "details": {
                    "class_counts": {str(c): int(n) for c, n in counts.items()},
                    "smallest_to_largest": ratio,
                },
            }
        )
    missing = {str(c): int(n) for c, n in features.isna().sum().items() if n}
    found.append(
        {
            "type": "Missing feature values imputation",
            "status": "done" if missing else "passed",
            "description": (
                "Missing feature values were detected and imputed (mean for numbers, most "
                "frequent value for other columns)."
                if missing
                else "No feature missing values were detected in the training data."
            ),
            "details": {"missing_values": missing},
        }
    )
    rows = len(features)
    high = [
        str(c)
        for c in features.columns
        if features[c].dtype.kind not in "biufc"
        and rows >= HIGH_CARDINALITY_MIN_ROWS
        and _distinct(features[c]) > HIGH_CARDINALITY_SHARE * rows
    ]
    found.append(
        {
            "type": "High cardinality feature detection",
            "status": "alerted" if high else "passed",
            "description": (
                f"Columns {high} have a distinct value in nearly every row (an id?); they are "
                "one-hot encoded like any other and may add little but cost."
                if high
                else "Your inputs were analyzed, and no high cardinality features were detected."
            ),
            "details": {"columns": high},
        }
    )
    return found


def _distinct(column: Any) -> int:
    """How many distinct values a column has (values that cannot be compared: by text)."""
    try:
        return int(column.nunique())
    except TypeError:
        return int(column.astype(str).nunique())


class DataProblem(ValueError):
    """Training data an AutoML run cannot use: the argument at fault, the value given,
    why, and what is supported (each side words it: ConfigException, a 400)."""

    def __init__(self, argument: str, value: str, reason: str, supported: Any) -> None:
        super().__init__(f"{argument}: {value} {reason}")
        self.argument, self.value, self.reason, self.supported = argument, value, reason, supported


def data_settings(frame: Any, label: str, task: str) -> dict[str, Any]:
    """What an AutoML run's settings take of its training data, read where it is (where
    the run is submitted, or by the control plane when an AutoMLStep on another step's
    output starts): ``rows``, ``columns`` (the features) and ``guardrails``. DataProblem
    for a label that is not a column or a dataset without rows."""
    if label not in frame.columns:
        raise DataProblem(
            "label_column_name",
            repr(label),
            "is not a column of the training data",
            [str(c) for c in frame.columns],
        )
    if len(frame) == 0:
        raise DataProblem("training_data", "an empty dataset", "has no rows", "a dataset with rows")
    return {
        "rows": len(frame),
        "columns": max(1, len(frame.columns) - 1),
        "guardrails": guardrails(frame, label, task),
    }
