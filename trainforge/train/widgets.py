"""``azureml.train.widgets``: the 2018 SDK's home of RunDetails (now ``trainforge.widgets``)."""

from trainforge.widgets import RunDetails

__all__ = ["RunDetails"]
