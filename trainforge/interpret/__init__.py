"""Model explanations of runs, under the SDK's names (``azureml.interpret``)."""

from trainforge.interpret.explanation_client import Explanation, ExplanationClient

__all__ = ["Explanation", "ExplanationClient"]
