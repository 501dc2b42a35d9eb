"""Datastores of a workspace: registration (validated against the store itself),
lookup, the default, and short-lived access for the code that moves data.

Credentials are sealed (``secrets.Vault``) in their datastore's row, which no route
returns: not a key-vault secret, so the secrets API can neither read nor replace them.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainforge.schemas.datastores import (
    DatastoreCredentials,
    DatastoreEntry,
    DatastoreInfo,
    DatastoreListing,
    DatastoreRegister,
    DatastoreType,
    StorageAccess,
    StorageKind,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import secrets
from trainforge.server.store import models
from trainforge.storage.locations import (
    UnsafePathError,
    blob_service_url,
    datastore_path,
    join,
    open_filesystem,
)

log = logging.getLogger("trainforge.server")
# A SAS handed to a client or a run lasts this long; runs longer than this re-ask.
SAS_LIFETIME = timedelta(hours=12)
BLOB_CONCURRENCY = 8
KIND_OF_TYPE: dict[str, StorageKind] = {
    "AzureBlob": "azure_blob",
    "AzureFile": "azure_file",
    "S3": "s3",
    "LocalFolder": "local",
}


def to_info(row: models.Datastore) -> DatastoreInfo:
    config = row.config
    return DatastoreInfo(
        name=row.name,
        datastore_type=row.datastore_type,
        is_default=row.is_default,
        **{k: v for k, v in config.items() if k in DatastoreInfo.model_fields},
    )


def find(db: Session, ws: models.Workspace, name: str) -> models.Datastore | None:
    query = select(models.Datastore).where(
        models.Datastore.workspace_id == ws.id, func.lower(models.Datastore.name) == name.lower()
    )
    return db.scalar(query)


def get(db: Session, ws: models.Workspace, name: str) -> models.Datastore:
    row = find(db, ws, name)
    if row is None:
        raise NotFound(f"Datastore {name!r} is not registered in workspace {ws.name!r}")
    return row


def list_all(db: Session, ws: models.Workspace) -> list[DatastoreInfo]:
    query = select(models.Datastore).where(models.Datastore.workspace_id == ws.id)
    return [to_info(row) for row in db.scalars(query.order_by(models.Datastore.name))]


class LocalRoots(NamedTuple):
    """Where users may register LocalFolder datastores, and the server's home, which they
    may neither enter nor contain (it holds the server's token and database)."""

    allowed: Sequence[Path]
    server_home: Path


def check_local_path(path: Path, roots: LocalRoots) -> None:
    """Refuse a LocalFolder path outside the allowed roots, or one that reaches the home."""
    resolved = path.resolve()
    home = roots.server_home.resolve()
    if resolved == Path(resolved.anchor) or resolved == home or home.is_relative_to(resolved):
        raise BadRequest(
            f"path: {str(path)!r} would expose the server's own files; give a data folder"
        )
    if resolved.is_relative_to(home):
        raise BadRequest(f"path: {str(path)!r} is inside the server's home")
    allowed = [root.resolve() for root in roots.allowed]
    if not any(resolved.is_relative_to(root) for root in allowed):
        raise BadRequest(
            f"path: {str(path)!r} is outside the folders local datastores may use "
            f"({', '.join(str(root) for root in allowed)}; the server's "
            "TRAINFORGE_LOCAL_DATASTORE_ROOTS sets them)"
        )


def register(
    db: Session,
    ws: models.Workspace,
    request: DatastoreRegister,
    make_default: bool = False,
    shown_as: DatastoreType | None = None,
    local_roots: LocalRoots | None = None,
    *,
    vault: secrets.Vault,
) -> DatastoreInfo:
    """Register (or with ``overwrite`` replace) a datastore, after checking the store answers.

    ``shown_as``: the type a workspace's own local-folder stores present (AzureBlob/AzureFile).
    ``local_roots``: where a user's LocalFolder may be; None only for the server's own stores.
    """
    existing = find(db, ws, request.name)
    if existing is not None and not request.overwrite:
        raise Conflict(
            f"Datastore {request.name!r} is already registered in workspace {ws.name!r}; "
            "pass overwrite=True to replace it"
        )
    config = _config_of(request)
    if config["storage_kind"] == "local" and local_roots is not None:
        check_local_path(Path(config["path"]), local_roots)
    access = _access(request.name, config, request.credentials)
    if not request.skip_validation:
        _validate(access, config, request)
    if existing is None:
        existing = models.Datastore(workspace_id=ws.id, name=request.name)
        db.add(existing)
    existing.datastore_type = shown_as or request.datastore_type
    if shown_as and config["storage_kind"] == "local":
        config["container_name"] = f"azureml-{shown_as[5:].lower()}store-{ws.id}"
    existing.config = config
    existing.is_default = make_default or existing.is_default
    existing.credentials = vault.seal(request.credentials.model_dump_json(exclude_none=True))
    db.flush()
    return to_info(existing)


def set_default(db: Session, ws: models.Workspace, name: str) -> DatastoreInfo:
    row = get(db, ws, name)
    for other in db.scalars(select(models.Datastore).where(models.Datastore.workspace_id == ws.id)):
        other.is_default = other is row
    db.flush()
    return to_info(row)


def unregister(db: Session, ws: models.Workspace, name: str) -> None:
    row = get(db, ws, name)
    if row.is_default:
        raise Conflict(
            f"Datastore {row.name!r} is the workspace's default; set another default "
            "(ws.set_default_datastore) before unregistering it"
        )
    db.delete(row)
    db.flush()


def access(db: Session, ws: models.Workspace, name: str, vault: secrets.Vault) -> StorageAccess:
    """The filesystem options for ``name``: a fresh short-lived SAS for Blob with a key."""
    row = get(db, ws, name)
    creds = (
        DatastoreCredentials.model_validate_json(vault.open(row.credentials))
        if row.credentials is not None
        else DatastoreCredentials()
    )
    return _access(row.name, row.config, creds, short_lived=True)


# -- helpers ----------------------------------------------------------------------------
def _config_of(request: DatastoreRegister) -> dict[str, Any]:
    creds = request.credentials
    kind = KIND_OF_TYPE[request.datastore_type]
    config: dict[str, Any] = {"storage_kind": kind}
    if kind in ("azure_blob", "azure_file"):
        config.update(
            account_name=request.account_name,
            container_name=request.container_name,
            protocol=request.protocol
            or (
                request.endpoint.split("://")[0]
                if request.endpoint and "://" in request.endpoint
                else "https"
            ),
            endpoint=request.endpoint or "core.windows.net",
            credential_type="AccountKey"
            if creds.account_key
            else ("Sas" if creds.sas_token else "None"),
        )
    elif kind == "s3":
        config.update(
            bucket_name=request.bucket_name,
            region=request.region,
            endpoint_url=request.endpoint_url,
            credential_type="AccessKey" if creds.access_key_id else "None",
        )
    else:
        path = Path(request.path or "")
        if not path.is_absolute():
            raise BadRequest(f"path: {request.path!r} must be an absolute folder on this machine")
        config.update(path=str(path), account_name="local", container_name=path.name)
    return config


def _access(
    name: str, config: dict[str, Any], creds: DatastoreCredentials, short_lived: bool = False
) -> StorageAccess:
    """How to open the store. ``short_lived``: what a client or run gets, derived
    credentials that expire (a container SAS, STS session keys) where the store offers them."""
    kind: StorageKind = config.get("storage_kind", "local")
    if kind == "local":
        return StorageAccess(
            datastore_name=name, storage_kind=kind, protocol="file", root=config["path"]
        )
    if kind == "s3":
        options: dict[str, Any] = {"client_kwargs": {}}
        if config.get("region"):
            options["client_kwargs"]["region_name"] = config["region"]
        if config.get("endpoint_url"):
            options["endpoint_url"] = config["endpoint_url"]
        expires: datetime | None = None
        if creds.access_key_id and short_lived and (session := _sts_session(config, creds)):
            key, secret, token, expires = session
            options.update(key=key, secret=secret, token=token)
        elif creds.access_key_id:
            options.update(key=creds.access_key_id, secret=creds.secret_access_key)
        else:
            options["anon"] = True
        return StorageAccess(
            datastore_name=name,
            storage_kind=kind,
            protocol="s3",
            root=config["bucket_name"],
            storage_options=options,
            expires=expires,
        )
    if kind == "azure_file":
        raise BadRequest(
            f"Datastore {name!r} is an Azure file share; trainforge registers file shares but moves "
            "data only through Azure Blob, S3 and local datastores (fsspec has no Azure Files driver "
            "and Azurite does not emulate Azure Files)"
        )
    url = blob_service_url(config["account_name"], config.get("protocol"), config.get("endpoint"))
    expires = None
    sas = creds.sas_token
    if creds.account_key:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        expires = datetime.now(UTC) + SAS_LIFETIME
        sas = generate_container_sas(
            config["account_name"],
            config["container_name"],
            account_key=creds.account_key,
            permission=ContainerSasPermissions(
                read=True, write=True, delete=True, list=True, add=True, create=True
            ),
            expiry=expires,
        )
    connection = f"BlobEndpoint={url};" + (
        f"SharedAccessSignature={sas.lstrip('?')};" if sas else ""
    )
    return StorageAccess(
        datastore_name=name,
        storage_kind=kind,
        protocol="abfs",
        root=config["container_name"],
        storage_options={
            "connection_string": connection,
            "max_concurrency": BLOB_CONCURRENCY,
            **({} if sas else {"anon": True}),
        },
        expires=expires,
    )


def _sts_session(
    config: dict[str, Any], creds: DatastoreCredentials
) -> tuple[str, str, str, datetime] | None:
    """Temporary keys from the store's STS (AWS, MinIO, moto), so the registered keys stay
    in the key vault; None where the endpoint has no STS, and the registered keys are used."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError

    client = botocore.session.get_session().create_client(
        "sts",
        region_name=config.get("region") or "us-east-1",
        endpoint_url=config.get("endpoint_url"),
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )
    try:
        found = client.get_session_token(DurationSeconds=int(SAS_LIFETIME.total_seconds()))
    except (BotoCoreError, ClientError) as exc:
        log.warning(
            "S3 endpoint %s gives no STS session (%s); runs get the registered keys",
            config.get("endpoint_url") or "AWS",
            exc,
        )
        return None
    finally:
        client.close()
    c = found["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"]


def _validate(access: StorageAccess, config: dict[str, Any], request: DatastoreRegister) -> None:
    """Reach the store once; create the container/bucket/folder when asked to."""
    if access.storage_kind == "local":
        folder = Path(access.root)
        if not folder.is_dir():
            if not request.create_if_not_exists:
                raise BadRequest(
                    f"path: {access.root} is not a folder; pass create_if_not_exists=True"
                )
            folder.mkdir(parents=True)
        return
    if access.storage_kind == "azure_blob" and request.credentials.account_key:
        _ensure_container(config, request)
        return
    try:
        fs = open_filesystem(access)
        if fs.exists(access.root):
            return
        if not request.create_if_not_exists:
            raise BadRequest(
                f"{'bucket_name' if access.storage_kind == 's3' else 'container_name'}: "
                f"{access.root!r} does not exist; pass create_if_not_exists=True to create it"
            )
        if access.storage_kind == "s3" and config.get("region"):
            fs.mkdir(access.root, region_name=config["region"])
        else:
            fs.mkdir(access.root)
    except BadRequest:
        raise
    except Exception as exc:
        raise BadRequest(
            f"Datastore {request.name!r}: the store cannot be reached: {exc}"
        ) from None


def _ensure_container(config: dict[str, Any], request: DatastoreRegister) -> None:
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContainerClient

    url = blob_service_url(config["account_name"], config.get("protocol"), config.get("endpoint"))
    client = ContainerClient(
        url,
        config["container_name"],
        credential={
            "account_name": config["account_name"],
            "account_key": request.credentials.account_key,  # type: ignore[dict-item]
        },
    )
    try:
        if client.exists():
            return
        if not request.create_if_not_exists:
            raise BadRequest(
                f"container_name: {config['container_name']!r} does not exist in account "
                f"{config['account_name']!r}; pass create_if_not_exists=True to create it"
            )
        client.create_container()
    except AzureError as exc:
        raise BadRequest(
            f"Datastore {request.name!r}: the storage account cannot be reached: {exc}"
        ) from None
    finally:
        client.close()


# A datastore folder listing answers at most this many entries.
MAX_LISTING = 1000


def browse(found: StorageAccess, name: str, prefix: str, limit: int) -> DatastoreListing:
    """The files and folders directly under ``prefix`` of the datastore (its root when
    empty), read through its filesystem; a path that leaves the datastore is a 400."""
    try:
        folder = datastore_path(prefix, "prefix")
    except UnsafePathError as exc:
        raise BadRequest(str(exc)) from exc
    fs = open_filesystem(found)
    root = found.root.rstrip("/")
    where = join(root, folder)
    try:
        items = fs.ls(where, detail=True) if fs.isdir(where) else None
    except (OSError, ValueError):  # not there, or a name the filesystem cannot hold
        items = None
    if items is None:
        raise NotFound(f"Datastore {name!r} has no folder {folder!r}")
    entries = []
    for item in items:
        full = str(item["name"]).rstrip("/")
        inside = full[len(root) :].strip("/") if full.startswith(root) else full
        if not inside or inside == folder:
            continue
        kind = "directory" if item.get("type") == "directory" else "file"
        entries.append(
            DatastoreEntry(
                name=posixpath.basename(inside),
                path=inside,
                type=kind,
                size=int(item["size"]) if kind == "file" and item.get("size") is not None else None,
            )
        )
    entries.sort(key=lambda e: (e.type != "directory", e.name))
    return DatastoreListing(
        datastore_name=name, prefix=folder, entries=entries[:limit], truncated=len(entries) > limit
    )
