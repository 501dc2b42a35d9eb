"""``azureml.core.compute_target``: where Azure ML code imports ComputeTargetException from."""

from trainforge.core.compute.compute import ComputeTarget, ComputeTargetProvisioningConfiguration
from trainforge.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException", "ComputeTargetProvisioningConfiguration"]
