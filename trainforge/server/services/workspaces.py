"""Workspaces: create, find and delete, with their folders and default datastore."""

from __future__ import annotations

import shutil
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.workspaces import (
    LOCAL_SUBSCRIPTION,
    DatastoreInfo,
    WorkspaceCreate,
    WorkspaceInfo,
)
from trainforge.server.errors import Conflict, NotFound
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models

DEFAULT_DATASTORE = "workspaceblobstore"
WORKSPACE_FOLDERS = ("artifacts", "snapshots", "nodes", "envs", f"datastores/{DEFAULT_DATASTORE}")


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
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

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
        db.add(
            models.Datastore(
                workspace_id=ws.id,
                name=DEFAULT_DATASTORE,
                datastore_type="AzureBlob",
                config={
                    "kind": "local",
                    "path": str(root / "datastores" / DEFAULT_DATASTORE),
                    "account_name": "local",
                    "container_name": f"azureml-blobstore-{ws.id}",
                },
                is_default=True,
            )
        )
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

    def delete(self, db: Session, name: str) -> None:
        ws = self.get_row(db, name)
        db.delete(ws)
        db.flush()
        shutil.rmtree(self.settings.workspace_dir(name), ignore_errors=True)

    def datastores(self, db: Session, name: str) -> list[DatastoreInfo]:
        ws = self.get_row(db, name)
        rows = db.scalars(select(models.Datastore).where(models.Datastore.workspace_id == ws.id))
        return [
            DatastoreInfo(
                name=row.name,
                datastore_type=row.datastore_type,
                account_name=row.config.get("account_name"),
                container_name=row.config.get("container_name"),
                is_default=row.is_default,
            )
            for row in rows
        ]
