"""``azure.storage.blob.BlockBlobService`` and ``azure.storage.file.FileService`` (the legacy
storage clients the Batch AI samples use): the same classes and the methods the samples
call, over trainforge's storage accounts.

Where an account lives is configuration (``trainforge.client.settings``):

- ``TRAINFORGE_BATCHAI_STORAGE_ENDPOINT`` set (``core.windows.net`` for Azure, Azurite's
  ``http://127.0.0.1:10000``): the account's blob service, through fsspec (adlfs). Azurite
  has no Azure Files, and fsspec no Azure Files driver, so a file share is kept as the
  blob container of the same name there.
- unset (the embedded default): each account is a folder under
  ``TRAINFORGE_BATCHAI_STORAGE_ROOT`` (``<account>/blob/<container>``,
  ``<account>/file/<share>``), made on first use with its key; a later call with another
  key is refused, as the service refused it.

A job's mount volumes become datastores of the workspace on the same accounts
(:meth:`StorageAccount.datastore`), so what these clients upload is what the job reads.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import fsspec

from trainforge.client.settings import ClientSettings
from trainforge.schemas.datastores import DatastoreCredentials, DatastoreRegister
from trainforge.storage.locations import blob_service_url

Kind = Literal["blob", "file"]
KEY_FILE = ".account-key-sha256"


class AzureHttpError(Exception):
    """A storage request the service refuses (the legacy SDK's exception)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = {
            403: "AuthenticationFailed",
            404: "ResourceNotFound",
            409: "ResourceAlreadyExists",
        }.get(status_code, "InvalidInput")


class AzureMissingResourceHttpError(AzureHttpError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class AzureConflictHttpError(AzureHttpError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


def _key_digest(key: str | None) -> str:
    return hashlib.sha256((key or "").encode()).hexdigest()


class StorageAccount:
    """One storage account as the configuration places it."""

    def __init__(self, account_name: str, account_key: str | None) -> None:
        if not account_name or not re.fullmatch(r"[a-z0-9]{3,24}", account_name):
            raise ValueError(
                f"account_name: {account_name!r} is not a storage account name "
                "(3 to 24 lowercase letters and digits)"
            )
        self.name = account_name
        self.key = account_key
        settings = ClientSettings()
        self.endpoint = settings.batchai_storage_endpoint
        self.root = settings.batchai_storage_folder() / account_name

    @property
    def remote(self) -> bool:
        return self.endpoint is not None

    @property
    def blob_url(self) -> str:
        assert self.endpoint is not None
        return blob_service_url(self.name, None, self.endpoint)

    def check_key(self, create: bool = True) -> None:
        """A local account: made with this key on first use, refused with another key."""
        if self.remote:
            return
        key_file = self.root / KEY_FILE
        if not key_file.exists():
            if not create:
                raise AzureMissingResourceHttpError(
                    f"The storage account {self.name!r} does not exist"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            key_file.write_text(_key_digest(self.key))
            return
        if key_file.read_text().strip() != _key_digest(self.key):
            raise AzureHttpError(
                f"Server failed to authenticate the request: the key given for account "
                f"{self.name!r} is not its key",
                403,
            )

    def exists(self) -> bool:
        return self.remote or (self.root / KEY_FILE).exists()

    def filesystem(self) -> fsspec.AbstractFileSystem:
        if not self.remote:
            return fsspec.filesystem("file")
        connection = (
            f"DefaultEndpointsProtocol={self.blob_url.split('://')[0]};AccountName={self.name};"
            f"AccountKey={self.key};BlobEndpoint={self.blob_url};"
        )
        return fsspec.filesystem("abfs", connection_string=connection, skip_instance_cache=True)

    def container_root(self, kind: Kind, container: str) -> str:
        """The container's (or share's) root on the account's filesystem."""
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?", container or ""):
            raise ValueError(
                f"{'container_name' if kind == 'blob' else 'share_name'}: {container!r} is not "
                "valid (3 to 63 lowercase letters, digits and '-')"
            )
        if self.remote:
            return container
        return str(self.root / kind / container)

    def datastore(self, kind: Kind, container: str) -> DatastoreRegister:
        """The workspace datastore that mounts this container (or share) in a job."""
        name = re.sub(r"\W", "_", f"batchai_{self.name}_{kind}_{container}")[:255]
        if self.remote:
            return DatastoreRegister(
                name=name,
                datastore_type="AzureBlob",
                container_name=container,
                account_name=self.name,
                endpoint=self.endpoint,
                protocol="http" if self.blob_url.startswith("http://") else "https",
                credentials=DatastoreCredentials(account_key=self.key),
                overwrite=True,
            )
        return DatastoreRegister(
            name=name,
            datastore_type="LocalFolder",
            path=self.container_root(kind, container),
            overwrite=True,
        )


@dataclass
class BlobProperties:
    content_length: int = 0
    last_modified: datetime | None = None


@dataclass
class Blob:
    """A blob as ``list_blobs`` and ``get_blob_to_*`` return it."""

    name: str
    content: Any = None
    properties: BlobProperties = field(default_factory=BlobProperties)


@dataclass
class FileProperties:
    content_length: int = 0
    last_modified: datetime | None = None


@dataclass
class File:
    name: str
    content: Any = None
    properties: FileProperties = field(default_factory=FileProperties)


@dataclass
class Directory:
    name: str


class _Service:
    kind: Kind

    def __init__(
        self,
        account_name: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        is_emulated: bool = False,
        protocol: str = "https",
        endpoint_suffix: str = "core.windows.net",
        connection_string: str | None = None,
        **_ignored: Any,
    ) -> None:
        if connection_string and not account_name:
            parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)
            account_name = parts.get("AccountName")
            account_key = account_key or parts.get("AccountKey")
        if not account_name:
            raise ValueError("account_name: required")
        self.account_name = account_name
        self.account_key = account_key
        self.account = StorageAccount(account_name, account_key)
        self.account.check_key()
        self.fs = self.account.filesystem()

    def _root(self, container: str) -> str:
        return self.account.container_root(self.kind, container)

    def _path(self, container: str, *parts: str | None) -> str:
        clean = [p.strip("/") for p in parts if p]
        for part in clean:
            if any(seg == ".." for seg in part.split("/")):
                raise ValueError(f"blob name: {part!r} may not contain '..'")
        return posixpath.join(self._root(container), *clean)

    def _create(self, container: str, fail_on_exist: bool) -> bool:
        root = self._root(container)
        if self.fs.exists(root):
            if fail_on_exist:
                raise AzureConflictHttpError(f"The specified {self._noun} already exists")
            return False
        self.fs.mkdir(root, create_parents=True) if not self.account.remote else self.fs.mkdir(root)
        return True

    @property
    def _noun(self) -> str:
        return "container" if self.kind == "blob" else "share"

    def _require(self, container: str) -> None:
        if not self.fs.exists(self._root(container)):
            raise AzureMissingResourceHttpError(f"The specified {self._noun} does not exist")

    def _write(self, container: str, path: str, data: bytes) -> None:
        self._require(container)
        if not self.account.remote:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.fs.pipe_file(path, data)

    def _put(self, container: str, path: str, local: str) -> None:
        self._require(container)
        if not self.account.remote:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.fs.put_file(local, path)

    def _read(self, container: str, path: str) -> bytes:
        self._require(container)
        if not self.fs.isfile(path):
            raise AzureMissingResourceHttpError("The specified blob does not exist")
        data: bytes = self.fs.cat_file(path)
        return data

    def _info(self, path: str) -> tuple[int, datetime | None]:
        info = self.fs.info(path)
        modified = info.get("mtime") or info.get("last_modified")
        if isinstance(modified, int | float):
            modified = datetime.fromtimestamp(modified, UTC)
        return int(info.get("size") or 0), modified

    def _delete_container(self, container: str, fail_not_exist: bool) -> bool:
        root = self._root(container)
        if not self.fs.exists(root):
            if fail_not_exist:
                raise AzureMissingResourceHttpError(f"The specified {self._noun} does not exist")
            return False
        self.fs.rm(root, recursive=True)
        return True


class BlockBlobService(_Service):
    """``azure.storage.blob.BlockBlobService``: containers and block blobs of one account."""

    kind: Kind = "blob"

    def create_container(
        self, container_name: str, metadata: Any = None, public_access: Any = None,
        fail_on_exist: bool = False, timeout: Any = None,
    ) -> bool:  # fmt: skip
        """Create the container; False when it existed (unless ``fail_on_exist``)."""
        return self._create(container_name, fail_on_exist)

    def delete_container(self, container_name: str, fail_not_exist: bool = False, **_: Any) -> bool:
        return self._delete_container(container_name, fail_not_exist)

    def exists(self, container_name: str, blob_name: str | None = None, **_: Any) -> bool:
        return bool(self.fs.exists(self._path(container_name, blob_name)))

    def list_containers(self, prefix: str | None = None, **_: Any) -> list[Blob]:
        base = str(self.account.root / "blob") if not self.account.remote else ""
        if not self.account.remote and not Path(base).exists():
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(base, detail=False)]
        return [Blob(name) for name in sorted(names) if not prefix or name.startswith(prefix)]

    def create_blob_from_path(
        self, container_name: str, blob_name: str, file_path: str, **_: Any
    ) -> None:
        self._put(container_name, self._path(container_name, blob_name), str(file_path))

    def create_blob_from_bytes(
        self, container_name: str, blob_name: str, blob: bytes, index: int = 0,
        count: int | None = None, **_: Any,
    ) -> None:  # fmt: skip
        data = blob[index : None if count is None else index + count]
        self._write(container_name, self._path(container_name, blob_name), bytes(data))

    def create_blob_from_text(
        self, container_name: str, blob_name: str, text: str, encoding: str = "utf-8", **_: Any
    ) -> None:
        self._write(container_name, self._path(container_name, blob_name), text.encode(encoding))

    def create_blob_from_stream(
        self, container_name: str, blob_name: str, stream: Any, **_: Any
    ) -> None:
        self._write(container_name, self._path(container_name, blob_name), stream.read())

    def get_blob_to_bytes(self, container_name: str, blob_name: str, **_: Any) -> Blob:
        path = self._path(container_name, blob_name)
        data = self._read(container_name, path)
        size, modified = self._info(path)
        return Blob(blob_name, data, BlobProperties(size, modified))

    def get_blob_to_text(
        self, container_name: str, blob_name: str, encoding: str = "utf-8", **_: Any
    ) -> Blob:
        blob = self.get_blob_to_bytes(container_name, blob_name)
        blob.content = blob.content.decode(encoding)
        return blob

    def get_blob_to_path(
        self, container_name: str, blob_name: str, file_path: str, **_: Any
    ) -> Blob:
        blob = self.get_blob_to_bytes(container_name, blob_name)
        Path(file_path).write_bytes(blob.content)
        blob.content = None
        return blob

    def list_blobs(
        self, container_name: str, prefix: str | None = None, num_results: int | None = None,
        **_: Any,
    ) -> Iterator[Blob]:  # fmt: skip
        self._require(container_name)
        root = self._root(container_name)
        found = self.fs.find(root, detail=True)
        strip = self.fs._strip_protocol(root).rstrip("/") + "/"
        count = 0
        for path in sorted(found):
            name = path[len(strip) :] if path.startswith(strip) else path
            if prefix and not name.startswith(prefix):
                continue
            info = found[path]
            size, modified = (
                int(info.get("size") or 0),
                info.get("mtime") or info.get("last_modified"),
            )
            if isinstance(modified, int | float):
                modified = datetime.fromtimestamp(modified, UTC)
            yield Blob(name, None, BlobProperties(size, modified))
            count += 1
            if num_results is not None and count >= num_results:
                return

    def delete_blob(self, container_name: str, blob_name: str, **_: Any) -> None:
        path = self._path(container_name, blob_name)
        if not self.fs.exists(path):
            raise AzureMissingResourceHttpError("The specified blob does not exist")
        self.fs.rm(path)


class FileService(_Service):
    """``azure.storage.file.FileService``: shares, directories and files of one account."""

    kind: Kind = "file"

    def create_share(
        self, share_name: str, metadata: Any = None, quota: Any = None,
        fail_on_exist: bool = False, timeout: Any = None,
    ) -> bool:  # fmt: skip
        """Create the share; False when it existed (unless ``fail_on_exist``)."""
        return self._create(share_name, fail_on_exist)

    def delete_share(self, share_name: str, fail_not_exist: bool = False, **_: Any) -> bool:
        return self._delete_container(share_name, fail_not_exist)

    def exists(
        self, share_name: str, directory_name: str | None = None, file_name: str | None = None,
        **_: Any,
    ) -> bool:  # fmt: skip
        return bool(self.fs.exists(self._path(share_name, directory_name, file_name)))

    def create_directory(
        self, share_name: str, directory_name: str, metadata: Any = None,
        fail_on_exist: bool = False, **_: Any,
    ) -> bool:  # fmt: skip
        self._require(share_name)
        path = self._path(share_name, directory_name)
        if self.fs.exists(path) or (self.account.remote and self.fs.exists(path + "/.directory")):
            if fail_on_exist:
                raise AzureConflictHttpError("The specified resource already exists")
            return False
        if self.account.remote:  # blob storage has no folders: a marker keeps it
            self.fs.pipe_file(path + "/.directory", b"")
        else:
            Path(path).mkdir(parents=True)
        return True

    def create_file_from_path(
        self, share_name: str, directory_name: str | None, file_name: str, local_file_path: str,
        **_: Any,
    ) -> None:  # fmt: skip
        self._put(
            share_name, self._path(share_name, directory_name, file_name), str(local_file_path)
        )

    def create_file_from_text(
        self, share_name: str, directory_name: str | None, file_name: str, text: str,
        encoding: str = "utf-8", **_: Any,
    ) -> None:  # fmt: skip
        path = self._path(share_name, directory_name, file_name)
        self._write(share_name, path, text.encode(encoding))

    def create_file_from_bytes(
        self, share_name: str, directory_name: str | None, file_name: str, file: bytes, **_: Any
    ) -> None:
        self._write(share_name, self._path(share_name, directory_name, file_name), bytes(file))

    def get_file_to_bytes(
        self, share_name: str, directory_name: str | None, file_name: str, **_: Any
    ) -> File:
        path = self._path(share_name, directory_name, file_name)
        data = self._read(share_name, path)
        size, modified = self._info(path)
        return File(file_name, data, FileProperties(size, modified))

    def get_file_to_text(
        self, share_name: str, directory_name: str | None, file_name: str,
        encoding: str = "utf-8", **_: Any,
    ) -> File:  # fmt: skip
        found = self.get_file_to_bytes(share_name, directory_name, file_name)
        found.content = found.content.decode(encoding)
        return found

    def get_file_to_path(
        self, share_name: str, directory_name: str | None, file_name: str, file_path: str,
        **_: Any,
    ) -> File:  # fmt: skip
        found = self.get_file_to_bytes(share_name, directory_name, file_name)
        Path(file_path).write_bytes(found.content)
        found.content = None
        return found

    def list_directories_and_files(
        self, share_name: str, directory_name: str | None = None, **_: Any
    ) -> Iterator[File | Directory]:
        self._require(share_name)
        path = self._path(share_name, directory_name)
        if not self.fs.exists(path):
            raise AzureMissingResourceHttpError("The specified parent path does not exist")
        for info in sorted(self.fs.ls(path, detail=True), key=lambda i: i["name"]):
            name = posixpath.basename(info["name"].rstrip("/"))
            if name == ".directory":
                continue
            if info.get("type") == "directory":
                yield Directory(name)
            else:
                size, modified = (
                    int(info.get("size") or 0),
                    info.get("mtime") or info.get("last_modified"),
                )
                if isinstance(modified, int | float):
                    modified = datetime.fromtimestamp(modified, UTC)
                yield File(name, None, FileProperties(size, modified))

    def delete_file(
        self, share_name: str, directory_name: str | None, file_name: str, **_: Any
    ) -> None:
        path = self._path(share_name, directory_name, file_name)
        if not self.fs.exists(path):
            raise AzureMissingResourceHttpError("The specified resource does not exist")
        self.fs.rm(path)
