"""``azureml.data.azure_storage_datastore``: the Azure datastore classes."""

from trainforge.data.datastore import AzureBlobDatastore, AzureFileDatastore

__all__ = ["AzureBlobDatastore", "AzureFileDatastore"]
