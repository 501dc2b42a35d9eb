"""ONNX models of AutoML iterations (``enable_onnx_compatible_models``): an iteration's
fitted pipeline converted with skl2onnx (LightGBM and XGBoost through onnxmltools'
converters), and the SDK's helpers to save one and to score with onnxruntime.

An ONNX model takes one input per raw column, named after it: numbers as float32, the
others as strings, a missing string given as ''. ``model_onnx.json`` says which is which.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The opsets the converters write; onnxruntime 1.18 and later run them.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
_registered = False


def string_columns(frame: Any) -> list[str]:
    return [str(c) for c in frame.columns if frame[c].dtype.kind not in "biuf"]


def onnx_frame(frame: Any) -> Any:
    """``frame`` as an ONNX-compatible pipeline is fitted and fed: every non-numeric
    column as strings, a missing value as ''."""
    columns = string_columns(frame)
    if not columns:
        return frame
    return frame.assign(
        **{c: frame[c].astype(object).where(frame[c].notna(), "").astype(str) for c in columns}
    )


def _register_converters() -> None:
    """skl2onnx converts scikit-learn; LightGBM's and XGBoost's estimators take
    onnxmltools' converters."""
    global _registered
    if _registered:
        return
    import lightgbm
    import xgboost
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.lightgbm.shape_calculators.Regressor import (
        calculate_linear_regressor_output_shapes,
    )
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for cls, alias, shapes, convert, options in (
        (lightgbm.LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes, convert_lightgbm, classifier_options),
        (lightgbm.LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes, convert_lightgbm, None),
        (xgboost.XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes, convert_xgboost, classifier_options),
        (xgboost.XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost, None),
    ):  # fmt: skip
        update_registered_converter(cls, alias, shapes, convert, options=options)
    _registered = True


def convert(model: Any, frame: Any, task: str) -> tuple[bytes, dict[str, Any]]:
    """The ONNX model of ``model`` (fitted on ``frame``'s columns) and its resource."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_converters()
    strings = set(string_columns(frame))
    inputs = [
        (str(c), StringTensorType([None, 1]) if str(c) in strings else FloatTensorType([None, 1]))
        for c in frame.columns
    ]
    options = {"zipmap": False} if task == "classification" else None
    onnx_model = convert_sklearn(
        model,
        initial_types=inputs,
        options={type(model): options} if options else None,
        target_opset=TARGET_OPSET,
    )
    classes = getattr(model, "classes_", None)
    resource = {
        "task": task,
        "columns": [str(c) for c in frame.columns],
        # The converters name inputs with [A-Za-z0-9_] only: one per column, in order.
        "inputs": [node.name for node in onnx_model.graph.input],
        "string_columns": sorted(strings),
        "classes": [c.item() if hasattr(c, "item") else c for c in classes]
        if classes is not None
        else None,
    }
    return onnx_model.SerializeToString(), resource


class OnnxConverter:
    """The SDK's helper to keep an ONNX model."""

    @staticmethod
    def save_onnx_model(onnx_model: Any, file_path: str) -> None:
        """Write ``onnx_model`` (an ``onnx.ModelProto``, or its bytes) to ``file_path``."""
        data = onnx_model if isinstance(onnx_model, bytes) else onnx_model.SerializeToString()
        with open(file_path, "wb") as out:
            out.write(data)


class OnnxInferenceHelper:
    """Scores a DataFrame with an AutoML ONNX model in onnxruntime, as the SDK's helper:
    ``predict(X)`` -> ``(predictions, probabilities or None)``."""

    def __init__(self, onnx_model_bytes: bytes, onnx_resource: dict[str, Any]) -> None:
        import onnxruntime

        self.resource = onnx_resource
        self.session = onnxruntime.InferenceSession(
            onnx_model_bytes, providers=["CPUExecutionProvider"]
        )

    def predict(self, X: Any, with_prob: bool = True) -> tuple[Any, Any]:
        strings = set(self.resource["string_columns"])
        frame = onnx_frame(X[self.resource["columns"]])
        columns = self.resource["columns"]
        feeds = {
            name: frame[[c]].to_numpy().astype(str)
            if c in strings
            else frame[[c]].to_numpy(dtype=np.float32)
            for c, name in zip(columns, self.resource.get("inputs", columns), strict=True)
        }
        outputs = self.session.run(None, feeds)
        predicted = np.asarray(outputs[0]).ravel()
        classes = self.resource.get("classes")
        if self.resource["task"] != "classification":
            return predicted, None
        if classes is not None and predicted.dtype.kind in "iu" and not isinstance(classes[0], int):
            predicted = np.asarray(classes, dtype=object)[predicted]
        return predicted, (np.asarray(outputs[1]) if with_prob and len(outputs) > 1 else None)
