"""What file and tabular datasets share: their definition, registration and how a run
consumes them (``azureml.data.abstract_dataset.AbstractDataset``)."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import fsspec

from trainforge.client.api import api
from trainforge.client.api.datasets import DatasetsApi
from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import DatasetDefinition, DatasetInfo, DatasetRegister
from trainforge.storage import dataset_files

if TYPE_CHECKING:
    from trainforge.client.api import HasWorkspace as Workspace
    from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig

INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AbstractDataset:
    """A dataset: a definition of files (and how to parse them), registered or not."""

    # Each kind says which ``dataset_type`` it is, and is found by it (the package imports
    # both kinds), so the base class names neither: no import circle with its subclasses.
    _dataset_type: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type[AbstractDataset]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._dataset_type:
            AbstractDataset._kinds[cls._dataset_type] = cls

    def __init__(
        self,
        definition: DatasetDefinition,
        workspace: Workspace | None,
        info: DatasetInfo | None = None,
    ) -> None:
        self._definition = definition
        self._workspace = workspace
        self.id: str | None = info.id if info else None
        self.name: str | None = info.name if info else None
        self.version: int | None = info.version if info else None
        self.description: str | None = info.description if info else None
        self.tags: dict[str, str] = dict(info.tags) if info else {}

    def __repr__(self) -> str:
        kind = type(self).__name__
        paths = [p.url or f"('{p.datastore_name}', '{p.path}')" for p in self._definition.paths]
        registration = f", name={self.name!r}, version={self.version}" if self.name else ""
        return f"{kind}(paths={paths}{registration})"

    # -- registry ---------------------------------------------------------------------
    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> AbstractDataset:
        """Register this definition as version 1 of ``name``, or (``create_new_version``) as
        its next version. Registered versions never change."""
        request = validated(
            DatasetRegister,
            name=name,
            description=description,
            tags=tags or {},
            create_new_version=create_new_version,
            definition=self._definition,
        )
        with sdk_errors():
            info = api(workspace, DatasetsApi).register(request)
        return registered(workspace, info)

    def unregister_all_versions(self) -> None:
        workspace = self._need_workspace()
        if self.name is None:
            raise UserErrorException("This dataset is not registered")
        with sdk_errors():
            api(workspace, DatasetsApi).delete(self.name)

    # -- consumption in runs ----------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """This dataset as input ``name`` of a run (direct mode until ``as_mount``/``as_download``)."""
        from trainforge.data.dataset_consumption_config import DatasetConsumptionConfig

        if not INPUT_NAME.match(name):
            raise UserErrorException(
                f"name: {name!r} is not allowed; use letters, digits and '_', not starting with a digit"
            )
        return DatasetConsumptionConfig(name, self)

    def _default_input_name(self) -> str:
        return f"input_{(self.id or uuid.uuid4().hex).split('-')[0][:8]}"

    # -- reading ----------------------------------------------------------------------
    def _need_workspace(self) -> Workspace:
        if self._workspace is None:
            raise UserErrorException(
                "This dataset reads only URLs; it has no workspace to read from"
            )
        return self._workspace

    def _files(
        self,
    ) -> tuple[list[dataset_files.DatasetFile], dict[str, fsspec.AbstractFileSystem]]:
        def access_for(datastore_name: str) -> Any:
            return api(self._need_workspace(), DatastoresApi).access(datastore_name)

        with sdk_errors():
            return dataset_files.resolve(self._definition, access_for)


def dataset_of(
    definition: DatasetDefinition, workspace: Workspace | None, info: DatasetInfo | None = None
) -> AbstractDataset:
    """The FileDataset or TabularDataset of ``definition`` (registered when ``info`` is given)."""
    return AbstractDataset._kinds[definition.dataset_type](definition, workspace, info)


def registered(workspace: Workspace, body: Any) -> AbstractDataset:
    """The dataset object of a registry answer."""
    info = DatasetInfo.model_validate(body)
    return dataset_of(info.definition, workspace, info)
