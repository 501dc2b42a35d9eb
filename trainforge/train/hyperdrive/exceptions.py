"""HyperDrive's exceptions, as ``azureml.train.hyperdrive.exceptions``."""

from __future__ import annotations

from trainforge.exceptions import TrainingException


class HyperDriveException(TrainingException):
    """Base of HyperDrive's errors."""


class HyperDriveConfigException(HyperDriveException):
    """A HyperDrive configuration (space, sampling, policy, budgets) the service would refuse."""


class HyperDriveNotImplementedException(HyperDriveException):
    """A Run method that HyperDrive runs do not support (``fail``, ``get_diagnostics``)."""
