"""Data access: datastores' references, paths and datasets (``azureml.data``)."""

from trainforge.data.abstract_dataset import AbstractDataset
from trainforge.data.data_reference import DataReference, DataReferenceConfiguration
from trainforge.data.datapath import DataPath, DataPathComputeBinding
from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig
from trainforge.data.file_dataset import FileDataset
from trainforge.data.output_dataset_config import (
    OutputFileDatasetConfig,
    OutputTabularDatasetConfig,
)
from trainforge.data.tabular_dataset import TabularDataset

__all__ = [
    "AbstractDataset",
    "DataPath",
    "DataPathComputeBinding",
    "DataReference",
    "DataReferenceConfiguration",
    "DatasetConsumptionConfig",
    "FileDataset",
    "OutputFileDatasetConfig",
    "OutputTabularDatasetConfig",
    "TabularDataset",
]
