"""``ExplanationClient``: the explanations a run saved, as the SDK reads them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from trainforge.core.run import Run
from trainforge.exceptions import UserErrorException

# What an AutoML iteration saves: the learner's importance of each engineered feature, and
# each raw column's permutation importance.
ENGINEERED_FILE = "outputs/feature_importance.json"
RAW_FILE = "outputs/raw_feature_importance.json"


class Explanation:
    """A global explanation: each feature's importance, largest first."""

    def __init__(self, features: list[str], importance: list[float]) -> None:
        self.features = list(features)
        self.global_importance_values = list(importance)

    def get_ranked_global_names(self, top_k: int | None = None) -> list[str]:
        return self.features[:top_k]

    def get_ranked_global_values(self, top_k: int | None = None) -> list[float]:
        return self.global_importance_values[:top_k]

    def get_feature_importance_dict(self, top_k: int | None = None) -> dict[str, float]:
        """``{feature: importance}``, largest first."""
        return dict(
            zip(
                self.get_ranked_global_names(top_k),
                self.get_ranked_global_values(top_k),
                strict=True,
            )
        )


class ExplanationClient:
    """Reads the model explanations of a run, as ``azureml.interpret.ExplanationClient``."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @classmethod
    def from_run(cls, run: Run) -> ExplanationClient:
        return cls(run)

    def download_model_explanation(
        self, explanation_id: str | None = None, top_k: int | None = None, raw: bool | None = None,
        **_: Any,
    ) -> Explanation:  # fmt: skip
        """The run's explanation: of the engineered features (``raw=False``, the default:
        the learner's own importances), or of the raw columns (``raw=True``: permutation
        importances, saved when the AutoML config has ``model_explainability``)."""
        name = RAW_FILE if raw else ENGINEERED_FILE
        if name not in self.run.get_file_names():
            kind = "raw" if raw else "engineered"
            raise UserErrorException(
                f"Run {self.run.id} has no {kind} model explanation ({name}); AutoML "
                "iterations save one when model_explainability is on (an ensemble has no "
                "engineered one)"
            )
        with tempfile.TemporaryDirectory() as folder:
            saved = Path(folder) / "explanation.json"
            self.run.download_file(name, str(saved))
            data = json.loads(saved.read_text())["data"]
        found = Explanation(data["features"], data["importance"])
        if top_k is not None:
            return Explanation(
                found.get_ranked_global_names(top_k), found.get_ranked_global_values(top_k)
            )
        return found
