"""Automated ML, as ``azureml.train.automl``: ``AutoMLConfig`` (the run itself is not yet here)."""

from trainforge.train.automl.automlconfig import AutoMLConfig
from trainforge.train.automl.exceptions import AutoMLException, ConfigException

__all__ = ["AutoMLConfig", "AutoMLException", "ConfigException"]
