"""Compute targets, as ``azureml.core.compute``: ComputeTarget, AmlCompute clusters and
AksCompute node pools."""

from trainforge.core.compute.aks import AksCompute
from trainforge.core.compute.amlcompute import (
    AmlCompute,
    AmlComputeNodeStateCounts,
    AmlComputeProvisioningConfiguration,
    AmlComputeStatus,
    BatchAiCompute,
    ScaleSettings,
)
from trainforge.core.compute.compute import (
    ComputeTarget,
    ComputeTargetProvisioningConfiguration,
)
from trainforge.core.compute.ray import RayCompute, RayComputeAttachConfiguration

__all__ = [
    "AksCompute",
    "AmlCompute",
    "AmlComputeNodeStateCounts",
    "AmlComputeProvisioningConfiguration",
    "AmlComputeStatus",
    "BatchAiCompute",
    "ComputeTarget",
    "ComputeTargetProvisioningConfiguration",
    "RayCompute",
    "RayComputeAttachConfiguration",
    "ScaleSettings",
]
