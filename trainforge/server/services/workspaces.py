"""Workspaces: create, find and delete, with their folders and default datastore."""

from __future__ import annotations

import shutil
import uuid

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.datastores import DatastoreCredentials, DatastoreRegister
from trainforge.schemas.workspaces import (
    LOCAL_SUBSCRIPTION,
    WorkspaceCreate,
    WorkspaceInfo,
    WorkspaceUpdate,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import datastores, request_keys, secrets
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models

DEFAULT_DATASTORE = "workspaceblobstore"
FILE_DATASTORE = "workspacefilestore"
WORKSPACE_FOLDERS = ("artifacts", "snapshots", "nodes", "envs", "datastores")


def to_info(ws: models.Workspace) -> WorkspaceInfo:
    arm_id = (
        f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{ws.name}"
    )
    return WorkspaceInfo(
        id=arm_id,
        workspace_id=ws.id,
        name=ws.name,
        subscription_id=ws.subscription_id,
        resource_group=ws.resource_group,
        location=ws.location,
        friendly_name=ws.friendly_name,
        description=ws.description,
        tags=ws.tags,
        sku=ws.sku,
        created=ws.created,
    )


class WorkspaceService:
    def __init__(self, settings: ServerSettings, vault: secrets.Vault) -> None:
        self.settings = settings
        self.vault = vault

    def create_once(
        self, db: Session, request: WorkspaceCreate, key: str | None
    ) -> tuple[WorkspaceInfo, bool]:
        """``create``, once per Idempotency-Key: a retry gets the first answer again (the key
        is kept with the workspace it made, which is where a retry finds it)."""
        existing = db.scalar(select(models.Workspace).where(models.Workspace.name == request.name))
        found = request_keys.find(db, existing, key, "workspaces") if existing else None
        answer = TypeAdapter(tuple[WorkspaceInfo, bool])
        if found is not None and found.response is not None:
            return answer.validate_python(found.response)
        made = self.create(db, request)
        row = self.get_row(db, made[0].name)
        request_keys.keep(
            db, row, key, "workspaces", response=answer.dump_python(made, mode="json")
        )
        return made

    def create(self, db: Session, request: WorkspaceCreate) -> tuple[WorkspaceInfo, bool]:
        """Create the workspace; return it and whether it is new."""
        existing = db.scalar(select(models.Workspace).where(models.Workspace.name == request.name))
        if existing is not None:
            if not request.exist_ok:
                raise Conflict(
                    f"Workspace {request.name!r} already exists; pass exist_ok=True to use it"
                )
            return to_info(existing), False
        resource_group = request.resource_group or f"{request.name}-rg"
        ws = models.Workspace(
            id=str(uuid.uuid4()),
            name=request.name,
            subscription_id=request.subscription_id or LOCAL_SUBSCRIPTION,
            resource_group=resource_group,
            location=request.location or "local",
            friendly_name=request.friendly_name or request.name,
            description=request.description or "",
            tags=request.tags,
            sku=request.sku,
        )
        db.add(ws)
        db.flush()
        root = self.settings.workspace_dir(request.name)
        for folder in WORKSPACE_FOLDERS:
            (root / folder).mkdir(parents=True, exist_ok=True)
        self._create_datastores(db, ws, request.storage_account)
        db.flush()
        return to_info(ws), True

    def get_row(self, db: Session, name: str) -> models.Workspace:
        ws = db.scalar(select(models.Workspace).where(models.Workspace.name == name))
        if ws is None:
            raise NotFound(f"Workspace {name!r} not found")
        return ws

    def find(
        self,
        db: Session,
        name: str | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
    ) -> list[WorkspaceInfo]:
        query = select(models.Workspace).order_by(models.Workspace.name)
        if name:
            query = query.where(models.Workspace.name == name)
        if subscription_id:
            query = query.where(models.Workspace.subscription_id == subscription_id)
        if resource_group:
            query = query.where(models.Workspace.resource_group == resource_group)
        return [to_info(ws) for ws in db.scalars(query)]

    def update(self, db: Session, name: str, request: WorkspaceUpdate) -> WorkspaceInfo:
        ws = self.get_row(db, name)
        for field, value in request.model_dump(exclude_none=True).items():
            setattr(ws, field, value)
        db.flush()
        return to_info(ws)

    def delete(self, db: Session, name: str) -> None:
        ws = self.get_row(db, name)
        db.delete(ws)
        db.flush()
        shutil.rmtree(self.settings.workspace_dir(name), ignore_errors=True)

    def _create_datastores(
        self, db: Session, ws: models.Workspace, storage_account: str | None
    ) -> None:
        """``workspaceblobstore`` (the default) and ``workspacefilestore``: folders under the
        workspace, or a blob container in the storage account the workspace was created with."""
        root = self.settings.workspace_dir(ws.name) / "datastores"
        blob = DatastoreRegister(
            name=DEFAULT_DATASTORE,
            datastore_type="LocalFolder",
            path=str(root / DEFAULT_DATASTORE),
            create_if_not_exists=True,
        )
        if storage_account:
            blob = blob_store_of(storage_account, f"azureml-blobstore-{ws.id}")
        files = DatastoreRegister(
            name=FILE_DATASTORE,
            datastore_type="LocalFolder",
            path=str(root / FILE_DATASTORE),
            create_if_not_exists=True,
        )
        # Code written for Azure ML checks these types; a local folder serves as either.
        datastores.register(db, ws, blob, make_default=True, shown_as="AzureBlob", vault=self.vault)
        datastores.register(db, ws, files, shown_as="AzureFile", vault=self.vault)


def blob_store_of(connection_string: str, container: str) -> DatastoreRegister:
    """The default datastore of a workspace created with ``storage_account``: an Azure
    Storage connection string (``AccountName=...;AccountKey=...;BlobEndpoint=...``)."""
    parts = dict(
        item.split("=", 1)
        for item in connection_string.strip().strip(";").split(";")
        if "=" in item
    )
    if not parts.get("AccountName") or not parts.get("AccountKey"):
        raise BadRequest(
            "storage_account: give an Azure Storage connection string with AccountName and AccountKey "
            "(and BlobEndpoint for an emulator such as Azurite)"
        )
    endpoint = parts.get("BlobEndpoint") or parts.get("EndpointSuffix")
    return DatastoreRegister(
        name=DEFAULT_DATASTORE,
        datastore_type="AzureBlob",
        account_name=parts["AccountName"],
        container_name=container,
        protocol=parts.get("DefaultEndpointsProtocol", "https"),
        endpoint=endpoint,
        credentials=DatastoreCredentials(account_key=parts["AccountKey"]),
        create_if_not_exists=True,
    )
