"""Registered datasets of a workspace: register a version, get, list, unregister."""

from __future__ import annotations

from trainforge.client.api import WorkspaceResource
from trainforge.schemas.datastores import DatasetInfo, DatasetRegister


class DatasetsApi(WorkspaceResource):
    def register(self, body: DatasetRegister) -> DatasetInfo:
        return DatasetInfo.model_validate(
            self.client.post(f"{self.base}/datasets", body.model_dump(mode="json"))
        )

    def get(self, name: str, version: str | int = "latest") -> DatasetInfo:
        return DatasetInfo.model_validate(
            self.client.get(f"{self.base}/datasets/{name}", version=str(version))
        )

    def get_by_id(self, dataset_id: str) -> DatasetInfo:
        return DatasetInfo.model_validate(self.client.get(f"{self.base}/dataset-ids/{dataset_id}"))

    def list(self) -> list[DatasetInfo]:
        return [
            DatasetInfo.model_validate(item) for item in self.client.get(f"{self.base}/datasets")
        ]

    def delete(self, name: str) -> None:
        self.client.delete(f"{self.base}/datasets/{name}")
