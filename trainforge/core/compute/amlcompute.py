"""AmlCompute: an autoscaling cluster of nodes, as ``azureml.core.compute.amlcompute``.

The SDK's names live in three modules, each with one job: ``amlcompute_status`` (the status
objects), ``amlcompute_provisioning`` (the settings of a new cluster) and
``amlcompute_cluster`` (the cluster itself); this module gives them the SDK's import path.
"""

from trainforge.core.compute.amlcompute_cluster import AmlCompute, BatchAiCompute
from trainforge.core.compute.amlcompute_provisioning import AmlComputeProvisioningConfiguration
from trainforge.core.compute.amlcompute_status import (
    AmlComputeNodeStateCounts,
    AmlComputeStatus,
    ScaleSettings,
)

__all__ = [
    "AmlCompute",
    "AmlComputeNodeStateCounts",
    "AmlComputeProvisioningConfiguration",
    "AmlComputeStatus",
    "BatchAiCompute",
    "ScaleSettings",
]
