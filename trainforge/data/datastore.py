"""Datastores: named storage of a workspace (``azureml.core.Datastore``).

Every kind (a local folder, Azure Blob, S3) moves data through one fsspec-based transfer
engine; the SDK object asks the control plane for short-lived access and talks to the
store directly.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec

from trainforge.client.api import api
from trainforge.client.api.datastores import DatastoresApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.exceptions import UserErrorException
from trainforge.schemas.datastores import (
    DatastoreCredentials,
    DatastoreInfo,
    DatastoreRegister,
    StorageAccess,
)
from trainforge.storage import transfer
from trainforge.storage.locations import datastore_path, join, open_filesystem
from trainforge.storage.paths import UnsafePathError, safe_relative_path

if TYPE_CHECKING:
    from trainforge.client.api import HasWorkspace as Workspace
    from trainforge.data.data_reference import DataReference

# Ask again for access this long before a SAS runs out.
ACCESS_MARGIN = timedelta(minutes=5)


class Datastore:
    """A datastore registered in a workspace.

    ``Datastore(ws)`` is the default datastore, ``Datastore(ws, name)`` a named one;
    the object is an :class:`AzureBlobDatastore`, :class:`AzureFileDatastore`,
    :class:`S3Datastore` or :class:`LocalFolderDatastore` after its type.
    """

    datastore_type: str = ""

    def __new__(
        cls, workspace: Workspace, name: str | None = None, _info: DatastoreInfo | None = None
    ) -> Datastore:
        info = _info or _lookup(workspace, name)
        instance = super().__new__(_class_for(info))
        instance._info = info  # __init__ reads it instead of asking the server again
        return instance

    def __init__(
        self, workspace: Workspace, name: str | None = None, _info: DatastoreInfo | None = None
    ) -> None:
        info = _info or self._info
        self.workspace = workspace
        self._info = info
        self._access: StorageAccess | None = None
        self.name = info.name
        self.datastore_type = info.datastore_type
        self.account_name = info.account_name
        self.container_name = info.container_name
        self.protocol = info.protocol
        self.endpoint = info.endpoint
        self.credential_type = info.credential_type
        # Credentials stay in the workspace key vault; the SDK object never holds them.
        self.account_key: str | None = None
        self.sas_token: str | None = None

    def __repr__(self) -> str:
        fields = {
            "name": self.name,
            "container_name": self.container_name,
            "account_name": self.account_name,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
        }
        body = ",\n".join(f'  "{k}": "{v}"' for k, v in fields.items())
        return "{\n" + body + "\n}"

    # -- lookup and registration ------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        """The datastore named ``datastore_name`` (names are case-insensitive)."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return Datastore(workspace)

    @staticmethod
    def register_azure_blob_container(
        workspace: Workspace,
        datastore_name: str,
        container_name: str,
        account_name: str,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        blob_cache_timeout: int | None = None,
        grant_workspace_access: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
    ) -> AzureBlobDatastore:
        """Register a blob container. ``endpoint`` may name an emulator such as Azurite
        (``http://127.0.0.1:10000/devstoreaccount1`` or ``127.0.0.1:10000``)."""
        return _register(  # type: ignore[return-value]
            workspace,
            credentials=dict(account_key=account_key, sas_token=sas_token),
            name=datastore_name,
            datastore_type="AzureBlob",
            container_name=container_name,
            account_name=account_name,
            protocol=protocol,
            endpoint=endpoint,
            overwrite=overwrite,
            create_if_not_exists=create_if_not_exists,
            skip_validation=skip_validation,
        )

    @staticmethod
    def register_azure_file_share(
        workspace: Workspace,
        datastore_name: str,
        file_share_name: str,
        account_name: str,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
    ) -> AzureFileDatastore:
        """Register an Azure file share. It is kept in the registry; data moves only through
        Blob, S3 and local datastores (see the README), so the share is not contacted."""
        return _register(  # type: ignore[return-value]
            workspace,
            credentials=dict(account_key=account_key, sas_token=sas_token),
            name=datastore_name,
            datastore_type="AzureFile",
            container_name=file_share_name,
            account_name=account_name,
            protocol=protocol,
            endpoint=endpoint,
            overwrite=overwrite,
            create_if_not_exists=create_if_not_exists,
            skip_validation=True,
        )

    @staticmethod
    def register_s3(
        workspace: Workspace,
        datastore_name: str,
        bucket_name: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
    ) -> S3Datastore:
        """Register an S3 bucket (AWS, MinIO, moto...): trainforge's own datastore kind."""
        return _register(  # type: ignore[return-value]
            workspace,
            credentials=dict(access_key_id=access_key_id, secret_access_key=secret_access_key),
            name=datastore_name,
            datastore_type="S3",
            bucket_name=bucket_name,
            region=region,
            endpoint_url=endpoint_url,
            overwrite=overwrite,
            create_if_not_exists=create_if_not_exists,
            skip_validation=skip_validation,
        )

    @staticmethod
    def register_local_folder(
        workspace: Workspace,
        datastore_name: str,
        path: str,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
    ) -> LocalFolderDatastore:
        """Register a folder of the machine the control plane runs on (trainforge's own)."""
        return _register(  # type: ignore[return-value]
            workspace,
            name=datastore_name,
            datastore_type="LocalFolder",
            path=str(Path(path).expanduser().resolve()),
            overwrite=overwrite,
            create_if_not_exists=create_if_not_exists,
        )

    def set_as_default(self) -> None:
        with sdk_errors():
            api(self.workspace, DatastoresApi).set_default(self.name)

    def unregister(self) -> None:
        with sdk_errors():
            api(self.workspace, DatastoresApi).delete(self.name)

    # -- data references --------------------------------------------------------------
    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        """A reference (mode 'mount') to ``path`` on this datastore."""
        from trainforge.data.data_reference import DataReference

        return DataReference(self, data_reference_name, path)

    def as_mount(self) -> DataReference:
        return self.path().as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_download(path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_upload(path_on_compute)

    # -- transfers --------------------------------------------------------------------
    def upload(
        self,
        src_dir: str,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload the files under ``src_dir`` to ``target_path``, in parallel; existing
        files are skipped unless ``overwrite``. Returns a reference to ``target_path``."""
        source = Path(src_dir)
        if not source.is_dir():
            raise UserErrorException(f"src_dir: {src_dir!r} is not a folder")
        files = sorted(p for p in source.rglob("*") if p.is_file())
        self._upload(files, source, target_path, overwrite, show_progress)
        return self.path(target_path)

    def upload_files(
        self,
        files: list[str],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload ``files``; each lands at ``target_path`` + its path relative to
        ``relative_root`` (by default the files' common folder)."""
        paths = [Path(f).resolve() for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserErrorException(f"files: not files: {', '.join(missing)}")
        if relative_root is None:
            root = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else Path(".")
        else:
            root = Path(relative_root).resolve()
        outside = [str(p) for p in paths if not p.is_relative_to(root)]
        if outside:
            raise UserErrorException(f"relative_root: {root} does not contain {', '.join(outside)}")
        self._upload(paths, root, target_path, overwrite, show_progress)
        return self.path(target_path)

    def download(
        self,
        target_path: str,
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Download the files whose path starts with ``prefix`` to
        ``<target_path>/<path on the datastore>``; returns how many were downloaded."""
        fs, found = self._files(prefix)
        pairs = [
            (remote, Path(target_path) / safe_relative_path(relative), size)
            for remote, relative, size in found
        ]
        if show_progress:
            print(f"Downloading an estimated of {len(pairs)} files")
        report = transfer.download(fs, pairs, overwrite, show_progress, description="Downloading")
        if show_progress:
            if report.skipped:
                print(f"Skipped {len(report.skipped)} files that already exist (overwrite=False)")
            print(f"Downloaded {len(report.transferred)} files")
        return len(report.transferred)

    # -- internals ----------------------------------------------------------------------
    def _files(
        self, prefix: str | None = None
    ) -> tuple[fsspec.AbstractFileSystem, list[tuple[str, str, int]]]:
        """The files whose datastore path starts with ``prefix``: (remote path, datastore
        path, size) sorted by path, with the filesystem they are on."""
        fs, root = self._filesystem()
        wanted = datastore_path(prefix, "prefix")
        folder = wanted if not wanted or fs.isdir(join(root, wanted)) else wanted.rpartition("/")[0]
        base = fs._strip_protocol(root).rstrip("/")
        found = []
        for remote, info in sorted(transfer.list_files(fs, join(root, folder)).items()):
            relative = remote[len(base) :].lstrip("/")
            if relative.startswith(wanted):
                found.append((remote, relative, info.size))
        return fs, found

    def _upload(
        self,
        files: list[Path],
        source_root: Path,
        target_path: str | None,
        overwrite: bool,
        show_progress: bool,
    ) -> transfer.TransferReport:
        fs, root = self._filesystem()
        target = datastore_path(target_path, "target_path")
        pairs = [(f, join(root, target, f.relative_to(source_root).as_posix())) for f in files]
        if show_progress:
            print(f"Uploading an estimated of {len(pairs)} files")
        report = transfer.upload(fs, pairs, overwrite, show_progress, description="Uploading")
        if show_progress:
            for name in report.skipped[:10]:
                print(f"Target already exists. Skipping upload for {name}")
            if len(report.skipped) > 10:
                print(f"... and {len(report.skipped) - 10} more files that already exist")
            print(f"Uploaded {len(report.transferred)} files")
        return report

    def _storage_access(self) -> StorageAccess:
        """Access for this process, asked again shortly before a SAS expires."""
        access = self._access
        if access is None or (
            access.expires is not None and access.expires - ACCESS_MARGIN < datetime.now(UTC)
        ):
            access = storage_access(self.workspace, self.name)
            self._access = access
        return access

    def _filesystem(self) -> tuple[fsspec.AbstractFileSystem, str]:
        access = self._storage_access()
        return open_filesystem(access), access.root


class AzureBlobDatastore(Datastore):
    """A blob container (``azureml.data.azure_storage_datastore.AzureBlobDatastore``)."""

    datastore_type = "AzureBlob"


class AzureFileDatastore(Datastore):
    """An Azure file share (``azureml.data.azure_storage_datastore.AzureFileDatastore``)."""

    datastore_type = "AzureFile"


class S3Datastore(Datastore):
    """An S3 bucket; ``container_name`` is the bucket."""

    datastore_type = "S3"

    def __init__(
        self, workspace: Workspace, name: str | None = None, _info: DatastoreInfo | None = None
    ) -> None:
        super().__init__(workspace, name, _info)
        self.bucket_name = self._info.bucket_name
        self.container_name = self.bucket_name
        self.endpoint = self._info.endpoint_url
        self.region = self._info.region


class LocalFolderDatastore(Datastore):
    """A folder on the control plane's machine; runs read it in place, without copying."""

    datastore_type = "LocalFolder"

    def __init__(
        self, workspace: Workspace, name: str | None = None, _info: DatastoreInfo | None = None
    ) -> None:
        super().__init__(workspace, name, _info)
        self.path_on_host = self._info.path


def _class_for(info: DatastoreInfo) -> type[Datastore]:
    """The SDK class of a datastore; a workspace's own folders show as AzureBlob/AzureFile."""
    if info.storage_kind == "local" and info.datastore_type not in ("AzureBlob", "AzureFile"):
        return LocalFolderDatastore
    classes: dict[str, type[Datastore]] = {
        "AzureBlob": AzureBlobDatastore,
        "AzureFile": AzureFileDatastore,
        "S3": S3Datastore,
    }
    return classes.get(info.datastore_type, Datastore)


def storage_access(workspace: Workspace, datastore_name: str) -> StorageAccess:
    with sdk_errors():
        return api(workspace, DatastoresApi).access(datastore_name)


def info_of(store: Datastore) -> DatastoreInfo:
    """The datastore as the service described it (what ``trainforge datastore show`` prints)."""
    return store._info


def _lookup(workspace: Workspace, name: str | None) -> DatastoreInfo:
    stores = api(workspace, DatastoresApi)
    with sdk_errors():
        if name is not None:
            return stores.get(name)
        found = stores.list()
    default = next((info for info in found if info.is_default), None)
    if default is None:
        raise UserErrorException(f"Workspace {workspace.name!r} has no default datastore")
    return default


def _register(
    workspace: Workspace, credentials: dict[str, Any] | None = None, **fields: Any
) -> Datastore:
    """Register a datastore from the SDK's arguments, refusing bad ones by field name."""
    request = validated(
        DatastoreRegister,
        credentials=validated(DatastoreCredentials, **(credentials or {})),
        **fields,
    )
    with sdk_errors():
        info = api(workspace, DatastoresApi).register(request)
    return Datastore(workspace, _info=info)


__all__ = [
    "AzureBlobDatastore",
    "AzureFileDatastore",
    "Datastore",
    "LocalFolderDatastore",
    "S3Datastore",
    "UnsafePathError",
    "info_of",
    "storage_access",
]
