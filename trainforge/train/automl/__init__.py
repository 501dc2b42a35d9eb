"""Automated ML, as ``azureml.train.automl``: ``AutoMLConfig``; ``experiment.submit(config)``
returns an ``AutoMLRun`` (``trainforge.train.automl.run``)."""

from trainforge.train.automl.automlconfig import AutoMLConfig
from trainforge.train.automl.exceptions import AutoMLException, ConfigException
from trainforge.train.automl.run import AutoMLRun

__all__ = ["AutoMLConfig", "AutoMLException", "AutoMLRun", "ConfigException"]
