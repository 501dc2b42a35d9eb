"""Notebook widgets, as ``azureml.widgets``: ``RunDetails(run).show()``."""

from trainforge.widgets.run_details import RunDetails

__all__ = ["RunDetails"]
