"""How a run consumes a dataset (``azureml.data.dataset_consumption_config``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from trainforge.schemas.datastores import DATASET_TOKEN, DatasetInputSpec

if TYPE_CHECKING:
    from trainforge.data.abstract_dataset import AbstractDataset

TOKEN_PREFIX = DATASET_TOKEN


class DatasetConsumptionConfig:
    """A dataset as a named input of a run: 'direct' (the script gets the dataset), or its
    files mounted or downloaded (the script gets a local path)."""

    def __init__(
        self,
        name: str,
        dataset: AbstractDataset,
        mode: str = "direct",
        path_on_compute: str | None = None,
    ) -> None:
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
        return DatasetInputSpec(
            name=self.name,
            mode=self.mode,  # type: ignore[arg-type]
            path_on_compute=self.path_on_compute,
            dataset_id=self.dataset.id,
            definition=self.dataset._definition,
        )

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.name}"

    __repr__ = __str__
