"""``azureml.core.Dataset``: the dataset factories and the workspace's registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainforge.client.errors import sdk_errors
from trainforge.data.abstract_dataset import AbstractDataset, registered
from trainforge.data.dataset_factory import FileDatasetFactory, TabularDatasetFactory

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace


class Dataset:
    """``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_delimited_files(...)``,
    ``Dataset.get_by_name(ws, name, version)``."""

    File = FileDatasetFactory
    Tabular = TabularDatasetFactory

    @staticmethod
    def get_by_name(
        workspace: Workspace, name: str, version: str | int = "latest"
    ) -> AbstractDataset:
        """A registered dataset: its latest version, or ``version``."""
        with sdk_errors():
            body = workspace._client.get(
                f"/workspaces/{workspace.name}/datasets/{name}", version=str(version)
            )
        return registered(workspace, body)

    @staticmethod
    def get_by_id(workspace: Workspace, id: str) -> AbstractDataset:
        with sdk_errors():
            body = workspace._client.get(f"/workspaces/{workspace.name}/dataset-ids/{id}")
        return registered(workspace, body)

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, AbstractDataset]:
        """{name: latest version} of every registered dataset."""
        with sdk_errors():
            found = workspace._client.get(f"/workspaces/{workspace.name}/datasets")
        return {item["name"]: registered(workspace, item) for item in found}
