"""The workspace key vault: named secrets, whose values only ``get`` returns."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.server.errors import NotFound
from trainforge.server.store import models
from trainforge.server.store.models import utcnow


def set_secret(db: Session, ws: models.Workspace, name: str, value: str, content_type: str) -> None:
    row = db.get(models.Secret, (ws.id, name))
    if row is None:
        db.add(models.Secret(workspace_id=ws.id, name=name, value=value, content_type=content_type))
    else:
        row.value, row.content_type, row.updated = value, content_type, utcnow()


def get_secret(db: Session, ws: models.Workspace, name: str) -> models.Secret:
    row = db.get(models.Secret, (ws.id, name))
    if row is None:
        raise NotFound(f"Secret {name!r} not found in the key vault of workspace {ws.name!r}")
    return row


def list_secrets(db: Session, ws: models.Workspace) -> list[str]:
    query = select(models.Secret.name).where(models.Secret.workspace_id == ws.id)
    return list(db.scalars(query.order_by(models.Secret.name)))


def delete_secret(db: Session, ws: models.Workspace, name: str) -> None:
    db.delete(get_secret(db, ws, name))
