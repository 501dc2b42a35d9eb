"""How a run consumes a dataset (``azureml.data.dataset_consumption_config``)."""

from __future__ import annotations

import copy
from typing import Any

from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import DATASET_TOKEN, DatasetInputSpec

TOKEN_PREFIX = DATASET_TOKEN


class DatasetConsumptionConfig:
    """A dataset as a named input of a run: 'direct' (the script gets the dataset), or its
    files mounted or downloaded (the script gets a local path). ``dataset`` may be a
    PipelineParameter whose default is a dataset: in a pipeline step each submit says which
    dataset the input is; in a plain run the default is."""

    def __init__(
        self,
        name: str,
        dataset: Any,
        mode: str = "direct",
        path_on_compute: str | None = None,
    ) -> None:
        # A PipelineParameter (the pipeline layer, above this one) is known by its default.
        default = getattr(dataset, "default_value", dataset)
        if not hasattr(default, "_definition"):
            raise UserErrorException(
                f"dataset: DatasetConsumptionConfig {name!r} takes a FileDataset or a "
                f"TabularDataset, or a PipelineParameter whose default is one; got {dataset!r}"
            )
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self._with_mode("mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self._with_mode("download", path_on_compute)

    def _with_mode(self, mode: str, path_on_compute: str | None) -> DatasetConsumptionConfig:
        clone = copy.copy(self)
        clone.mode, clone.path_on_compute = mode, path_on_compute
        return clone

    def _spec(self) -> DatasetInputSpec:
        dataset = getattr(self.dataset, "default_value", self.dataset)
        return DatasetInputSpec(
            name=self.name,
            mode=self.mode,
            path_on_compute=self.path_on_compute,
            dataset_id=dataset.id,
            definition=dataset._definition,
        )

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.name}"

    __repr__ = __str__
