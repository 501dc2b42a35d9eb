"""DataReference: a path on a datastore and how a run's processes reach it
(``azureml.data.data_reference.DataReference``)."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import REFERENCE_TOKEN, DataReferenceSpec, OutputRegistration
from trainforge.storage.locations import datastore_path, join
from trainforge.storage.paths import UnsafePathError

if TYPE_CHECKING:
    from trainforge.data.datapath import DataPath, DataPathComputeBinding
    from trainforge.data.datastore import Datastore

MODES = ("mount", "download", "upload")
TOKEN_PREFIX = REFERENCE_TOKEN


class DataReferenceConfiguration:
    """What a run configuration keeps of a reference (``run_config.data_references[name]``)."""

    def __init__(
        self,
        datastore_name: str | None = None,
        mode: str = "mount",
        path_on_datastore: str | None = None,
        path_on_compute: str | None = None,
        overwrite: bool = False,
        registration: OutputRegistration | None = None,
    ) -> None:
        self.data_store_name = datastore_name
        self.mode = mode
        self.path_on_datastore = path_on_datastore
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        # An OutputFileDatasetConfig's register_on_complete (an upload's only).
        self.registration = registration

    def _spec(self) -> DataReferenceSpec:
        if not self.data_store_name:
            raise UserErrorException("data_references: each reference needs a datastore_name")
        return DataReferenceSpec(
            datastore_name=self.data_store_name,
            mode=self.mode,  # type: ignore[arg-type]
            path_on_datastore=self.path_on_datastore,
            path_on_compute=self.path_on_compute,
            overwrite=self.overwrite,
            registration=self.registration,
        )


class DataReference:
    """A path on a datastore for a run: mounted, downloaded before the script starts, or
    uploaded after it ends. In arguments it reads ``$AZUREML_DATAREFERENCE_<name>``, which
    becomes the local path on every node."""

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if mode not in MODES:
            raise UserErrorException(
                f"mode: {mode!r} is not allowed; use one of {', '.join(MODES)}"
            )
        try:
            path = datastore_path(path_on_datastore)
        except UnsafePathError as exc:
            raise UserErrorException(str(exc)) from None
        if data_reference_name is None:
            data_reference_name = datastore.name if not path else uuid.uuid4().hex
        self.datastore = datastore
        self.data_reference_name = data_reference_name
        self.path_on_datastore = path or None
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    @staticmethod
    def create(
        data_reference_name: str | None = None,
        datapath: DataPath | None = None,
        datapath_compute_binding: DataPathComputeBinding | None = None,
    ) -> DataReference:
        """A reference from a DataPath and how to bind it on the compute."""
        if datapath is None:
            raise UserErrorException("datapath: a DataPath is required")
        binding = datapath_compute_binding
        return DataReference(
            datapath.datastore,
            data_reference_name,
            datapath.path_on_datastore,
            binding.mode if binding else "mount",
            binding.path_on_compute if binding else None,
            binding.overwrite if binding else False,
        )

    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        """A reference to ``path`` below this one."""
        return DataReference(
            self.datastore,
            data_reference_name,
            join(self.path_on_datastore or "", datastore_path(path)),
            self.mode,
            self.path_on_compute,
            self.overwrite,
        )

    def _with(self, **changes: Any) -> DataReference:
        clone = copy.copy(self)
        clone.__dict__.update(changes)
        return clone

    def as_mount(self) -> DataReference:
        return self._with(mode="mount")

    def as_download(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        return self._with(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_upload(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        return self._with(mode="upload", path_on_compute=path_on_compute, overwrite=overwrite)

    def to_config(self) -> DataReferenceConfiguration:
        return DataReferenceConfiguration(
            self.datastore.name,
            self.mode,
            self.path_on_datastore,
            self.path_on_compute,
            self.overwrite,
        )

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.data_reference_name}"

    __repr__ = __str__
