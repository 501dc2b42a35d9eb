"""``azureml.data.azure_storage_datastore``: the Azure datastore classes."""

from trainforge.core.datastore import AzureBlobDatastore, AzureFileDatastore

__all__ = ["AzureBlobDatastore", "AzureFileDatastore"]
