"""Registered environments: versions per name and workspace, deduplicated by content."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainforge.schemas.environments import (
    RESERVED_PREFIXES,
    EnvironmentDefinition,
    EnvironmentInfo,
)
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.store import models

REGISTER_ATTEMPTS = 3


def to_info(row: models.RegisteredEnvironment) -> EnvironmentInfo:
    return EnvironmentInfo(
        name=row.name,
        version=str(row.version),
        definition=EnvironmentDefinition.model_validate(row.definition),
        content_hash=row.content_hash,
        created=row.created,
    )


def _versions(db: Session, ws: models.Workspace, name: str) -> list[models.RegisteredEnvironment]:
    query = (
        select(models.RegisteredEnvironment)
        .where(
            models.RegisteredEnvironment.workspace_id == ws.id,
            models.RegisteredEnvironment.name == name,
        )
        .order_by(models.RegisteredEnvironment.version)
    )
    return list(db.scalars(query))


def register(
    db: Session, ws: models.Workspace, name: str, definition: EnvironmentDefinition
) -> tuple[EnvironmentInfo, bool]:
    """Register ``definition`` as ``name``; return its version and whether it is new.

    The same content as an existing version returns that version (as Azure ML does);
    other content becomes the next version.
    """
    if name.lower().startswith(RESERVED_PREFIXES):
        raise BadRequest(
            f"name: environment names starting with 'AzureML' or 'Microsoft' are reserved for "
            f"curated environments; {name!r} cannot be registered"
        )
    content_hash = definition.content_hash()
    for _ in range(REGISTER_ATTEMPTS):
        existing = db.scalar(
            select(models.RegisteredEnvironment)
            .where(
                models.RegisteredEnvironment.workspace_id == ws.id,
                models.RegisteredEnvironment.name == name,
                models.RegisteredEnvironment.content_hash == content_hash,
            )
            .order_by(models.RegisteredEnvironment.version.desc())
        )
        if existing is not None:
            return to_info(existing), False
        latest = db.scalar(
            select(func.max(models.RegisteredEnvironment.version)).where(
                models.RegisteredEnvironment.workspace_id == ws.id,
                models.RegisteredEnvironment.name == name,
            )
        )
        row = models.RegisteredEnvironment(
            workspace_id=ws.id,
            name=name,
            version=(latest or 0) + 1,
            content_hash=content_hash,
            definition=definition.model_dump(mode="json"),
        )
        try:
            # A concurrent register of the same name may take this version first: try again.
            with db.begin_nested():
                db.add(row)
                db.flush()
        except IntegrityError:
            continue
        return to_info(row), True
    raise BadRequest(f"Environment {name!r} is being registered concurrently; try again")


def get(db: Session, ws: models.Workspace, name: str, version: str | None) -> EnvironmentInfo:
    """Version ``version`` of ``name`` (the latest when None)."""
    rows = _versions(db, ws, name)
    if not rows:
        raise NotFound(f"Environment {name!r} is not registered in workspace {ws.name!r}")
    if version is None:
        return to_info(rows[-1])
    for row in rows:
        if str(row.version) == str(version):
            return to_info(row)
    known = ", ".join(str(row.version) for row in rows)
    raise NotFound(
        f"Environment {name!r} has no version {version!r} in workspace {ws.name!r}; "
        f"its versions are {known}"
    )


def versions(db: Session, ws: models.Workspace, name: str) -> list[EnvironmentInfo]:
    rows = _versions(db, ws, name)
    if not rows:
        raise NotFound(f"Environment {name!r} is not registered in workspace {ws.name!r}")
    return [to_info(row) for row in rows]


def latest_of_each(db: Session, ws: models.Workspace) -> list[EnvironmentInfo]:
    newest = (
        select(
            models.RegisteredEnvironment.name,
            func.max(models.RegisteredEnvironment.version).label("version"),
        )
        .where(models.RegisteredEnvironment.workspace_id == ws.id)
        .group_by(models.RegisteredEnvironment.name)
        .subquery()
    )
    query = (
        select(models.RegisteredEnvironment)
        .join(
            newest,
            (models.RegisteredEnvironment.name == newest.c.name)
            & (models.RegisteredEnvironment.version == newest.c.version),
        )
        .where(models.RegisteredEnvironment.workspace_id == ws.id)
        .order_by(models.RegisteredEnvironment.name)
    )
    return [to_info(row) for row in db.scalars(query)]
