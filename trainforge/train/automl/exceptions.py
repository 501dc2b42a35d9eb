"""AutoML's exceptions, under the SDK's names (``azureml.train.automl.exceptions``)."""

from __future__ import annotations

from trainforge.exceptions import UserErrorException


class AutoMLException(UserErrorException):
    """Base of AutoML's errors."""


class ConfigException(AutoMLException):
    """An ``AutoMLConfig`` argument is missing or has a value AutoML does not accept."""
