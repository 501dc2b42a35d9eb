"""Datastores and datasets as the REST API sees them.

Credentials go in with a registration and are kept in the workspace key vault; no
response of the datastore API carries them. Code that moves data asks for a
:class:`StorageAccess`: the fsspec options for the store, with a short-lived SAS where
the store is Azure Blob with an account key.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

DATASTORE_NAME = re.compile(r"^[A-Za-z0-9_]{1,255}$")
DATASTORE_NAME_RULE = "1 to 255 characters: letters, digits and '_'"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}$")
DATASET_NAME_RULE = (
    "1 to 255 characters: letters, digits, '_', '-' and '.', starting with a letter or digit"
)

# How a run's arguments name its data: ``str(data_reference)`` and ``str(dataset input)``
# are these prefixes and a name, replaced by the local path on the node.
REFERENCE_TOKEN = "$AZUREML_DATAREFERENCE_"
DATASET_TOKEN = "DatasetConsumptionConfig:"

# The SDK's datastore types, plus S3 of our own.
DatastoreType = Literal["AzureBlob", "AzureFile", "S3", "LocalFolder"]
# Where the bytes live: the fsspec filesystem that serves them.
StorageKind = Literal["local", "azure_blob", "azure_file", "s3"]


def _checked(pattern: re.Pattern[str], rule: str, field: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{field}: {value!r} is not allowed; use {rule}")
        return value

    return AfterValidator(check)


DatastoreName = Annotated[str, _checked(DATASTORE_NAME, DATASTORE_NAME_RULE, "datastore_name")]
DatasetName = Annotated[str, _checked(DATASET_NAME, DATASET_NAME_RULE, "name")]


class DatastoreCredentials(BaseModel):
    """What a registration may carry; stored as one key-vault secret."""

    account_key: str | None = None
    sas_token: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class DatastoreRegister(BaseModel):
    """``Datastore.register_*``: one body for every kind."""

    name: DatastoreName
    datastore_type: DatastoreType
    # Azure Blob / Azure File
    container_name: str | None = None
    account_name: str | None = None
    protocol: Literal["https", "http"] | None = None
    endpoint: str | None = None
    # S3
    bucket_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    # Local folder
    path: str | None = None
    credentials: DatastoreCredentials = Field(default_factory=DatastoreCredentials)
    create_if_not_exists: bool = False
    overwrite: bool = False
    skip_validation: bool = False

    @model_validator(mode="after")
    def _required_per_type(self) -> DatastoreRegister:
        needed = {
            "AzureBlob": ("container_name", "account_name"),
            "AzureFile": ("container_name", "account_name"),
            "S3": ("bucket_name",),
            "LocalFolder": ("path",),
        }[self.datastore_type]
        missing = [field for field in needed if not getattr(self, field)]
        if missing:
            raise ValueError(
                f"{', '.join(missing)}: required for a {self.datastore_type} datastore"
            )
        creds = self.credentials
        if (
            self.datastore_type in ("AzureBlob", "AzureFile")
            and creds.account_key
            and creds.sas_token
        ):
            raise ValueError("account_key, sas_token: give one of them, not both")
        if self.datastore_type == "S3" and bool(creds.access_key_id) != bool(
            creds.secret_access_key
        ):
            raise ValueError("access_key_id, secret_access_key: give both or neither")
        return self


class DatastoreInfo(BaseModel):
    """A datastore without its credentials."""

    name: str
    datastore_type: str
    storage_kind: StorageKind = "local"
    account_name: str | None = None
    container_name: str | None = None
    protocol: str | None = None
    endpoint: str | None = None
    bucket_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    path: str | None = None
    credential_type: Literal["None", "AccountKey", "Sas", "AccessKey"] = "None"
    is_default: bool = False


class StorageAccess(BaseModel):
    """How to reach a datastore's bytes: an fsspec protocol, the root inside it and the
    options (credentials included) to open it with. Short-lived where the store allows."""

    datastore_name: str
    storage_kind: StorageKind
    protocol: str
    root: str
    storage_options: dict[str, Any] = Field(default_factory=dict)
    expires: datetime | None = None


class DatastoreEntry(BaseModel):
    """A file or folder directly under a folder of a datastore (the studio browses them)."""

    name: str
    path: str
    type: Literal["file", "directory"]
    size: int | None = None


class DatastoreListing(BaseModel):
    """``GET .../datastores/{name}/files?prefix=``: one folder, folders first; ``truncated``
    when it held more than ``limit`` entries."""

    datastore_name: str
    prefix: str
    entries: list[DatastoreEntry]
    truncated: bool = False


class DatasetPath(BaseModel):
    """One path of a dataset: a datastore and a path (globs allowed) or an http(s) URL."""

    datastore_name: str | None = None
    path: str = ""
    url: str | None = None


class DatasetDefinition(BaseModel):
    """What a dataset reads; immutable once registered."""

    dataset_type: Literal["File", "Tabular"]
    paths: list[DatasetPath] = Field(min_length=1)
    # Tabular parsing (``from_delimited_files``)
    separator: str = ","
    header: bool = True
    encoding: str = "utf8"
    include_path: bool = False


class DatasetRegister(BaseModel):
    name: DatasetName
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    create_new_version: bool = False
    definition: DatasetDefinition


class DatasetInfo(BaseModel):
    id: str
    name: str
    version: int
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    definition: DatasetDefinition
    created: datetime


class DatasetParse(BaseModel):
    """An upstream output read as a dataset: its files (File), or its delimited files
    parsed as a table (Tabular: ``read_delimited_files``)."""

    dataset_type: Literal["File", "Tabular"] = "File"
    separator: str = Field(default=",", min_length=1, max_length=8)
    header: bool = True
    include_path: bool = False


class OutputRegistration(BaseModel):
    """``register_on_complete(name, description, tags)``: the output registered as a
    dataset (a new version) when its step (or run) completes."""

    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(default=None, max_length=4096)
    tags: dict[str, str] = Field(default_factory=dict)
    parse: DatasetParse = Field(default_factory=DatasetParse)


class DataReferenceSpec(BaseModel):
    """``DataReferenceConfiguration``: how one data reference reaches a run's processes."""

    datastore_name: str
    mode: Literal["mount", "download", "upload"] = "mount"
    path_on_datastore: str | None = None
    path_on_compute: str | None = None
    overwrite: bool = False
    # A pipeline step's PipelineData input: the producing step may have written nothing,
    # and its consumer then sees an empty folder (as an empty mount), not an error.
    allow_empty: bool = False
    # An upload's ``register_on_complete``: a new dataset version when the run completes.
    registration: OutputRegistration | None = None


class DatasetInputSpec(BaseModel):
    """A dataset consumed by a run (``as_named_input(name).as_mount()`` and friends)."""

    name: str
    mode: Literal["mount", "download", "direct"] = "direct"
    path_on_compute: str | None = None
    dataset_id: str | None = None
    definition: DatasetDefinition
