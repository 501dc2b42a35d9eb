"""``azure.mgmt.batchai`` on trainforge: Batch AI code runs with ``azure.mgmt.batchai`` ->
``trainforge.batchai`` in its imports (the samples' ``utilities`` ->
``trainforge.batchai.utilities``, ``azure.storage.blob.BlockBlobService`` and
``azure.storage.file.FileService`` -> ``trainforge.batchai.storage``)."""

from __future__ import annotations

from trainforge.batchai import models
from trainforge.batchai.client import BatchAIManagementClient, CloudError, LROPoller

__all__ = ["BatchAIManagementClient", "CloudError", "LROPoller", "models"]
