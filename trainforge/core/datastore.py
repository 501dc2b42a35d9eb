"""``azureml.core.datastore``: the datastore classes, which live in ``trainforge.data``
(as in the SDK, where ``azureml.data`` holds them and ``azureml.core`` re-exports)."""

from trainforge.data.datastore import (
    AzureBlobDatastore,
    AzureFileDatastore,
    Datastore,
    LocalFolderDatastore,
    S3Datastore,
    UnsafePathError,
    info_of,
    storage_access,
)

__all__ = [
    "AzureBlobDatastore",
    "AzureFileDatastore",
    "Datastore",
    "LocalFolderDatastore",
    "S3Datastore",
    "UnsafePathError",
    "info_of",
    "storage_access",
]
