"""DataPath and DataPathComputeBinding (``azureml.data.datapath``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainforge.exceptions import UserErrorException
from trainforge.storage.locations import datastore_path
from trainforge.storage.paths import UnsafePathError

if TYPE_CHECKING:
    from trainforge.data.data_reference import DataReference
    from trainforge.data.datastore import Datastore


class DataPath:
    """A path on a datastore, without saying how a run reaches it."""

    def __init__(
        self, datastore: Datastore, path_on_datastore: str | None = None, name: str | None = None
    ) -> None:
        try:
            self.path_on_datastore = datastore_path(path_on_datastore) or None
        except UnsafePathError as exc:
            raise UserErrorException(str(exc)) from None
        self.datastore = datastore
        self.name = name

    def create_data_reference(
        self,
        data_reference_name: str | None = None,
        datapath_compute_binding: DataPathComputeBinding | None = None,
    ) -> DataReference:
        from trainforge.data.data_reference import DataReference

        return DataReference.create(data_reference_name, self, datapath_compute_binding)


class DataPathComputeBinding:
    """How a DataPath reaches the compute: 'mount' or 'download'."""

    def __init__(
        self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False
    ) -> None:
        if mode not in ("mount", "download"):
            raise UserErrorException(f"mode: {mode!r} is not allowed; use 'mount' or 'download'")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
