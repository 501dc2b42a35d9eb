"""Registered datasets: immutable, numbered versions of a dataset definition."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainforge.schemas.datastores import (
    DataReferenceSpec,
    DatasetDefinition,
    DatasetInfo,
    DatasetPath,
    DatasetRegister,
    OutputRegistration,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound, ServiceError
from trainforge.server.services import datastores
from trainforge.server.store import models


def _hash(definition: DatasetDefinition) -> str:
    return hashlib.sha256(definition.model_dump_json().encode()).hexdigest()


def to_info(row: models.Dataset) -> DatasetInfo:
    return DatasetInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        description=row.description,
        tags=row.tags,
        definition=DatasetDefinition.model_validate(row.definition),
        created=row.created,
    )


def _versions(db: Session, ws: models.Workspace, name: str) -> list[models.Dataset]:
    query = select(models.Dataset).where(
        models.Dataset.workspace_id == ws.id, func.lower(models.Dataset.name) == name.lower()
    )
    return list(db.scalars(query.order_by(models.Dataset.version)))


def register(db: Session, ws: models.Workspace, request: DatasetRegister) -> DatasetInfo:
    """A new version, or the SDK's errors: the name is taken without ``create_new_version``,
    or the same definition is registered under another name already."""
    for path in request.definition.paths:
        if path.datastore_name is not None:
            datastores.get(db, ws, path.datastore_name)
    digest = _hash(request.definition)
    versions = _versions(db, ws, request.name)
    if versions and not request.create_new_version:
        latest = versions[-1]
        raise Conflict(
            f"There is already a dataset registered under name {request.name!r} "
            f"(version {latest.version}); pass create_new_version=True to add a version"
        )
    if versions and versions[-1].definition_hash == digest:
        return to_info(versions[-1])
    same = db.scalar(
        select(models.Dataset).where(
            models.Dataset.workspace_id == ws.id,
            models.Dataset.definition_hash == digest,
            func.lower(models.Dataset.name) != request.name.lower(),
        )
    )
    if same is not None:
        raise Conflict(
            f"name: this dataset is already registered as {same.name}:{same.version}; "
            "use Dataset.get_by_name to reach it"
        )
    row = models.Dataset(
        id=str(uuid.uuid4()),
        workspace_id=ws.id,
        name=request.name,
        version=(versions[-1].version + 1) if versions else 1,
        description=request.description,
        tags=request.tags,
        definition=request.definition.model_dump(mode="json"),
        definition_hash=digest,
    )
    db.add(row)
    db.flush()
    return to_info(row)


def get(db: Session, ws: models.Workspace, name: str, version: str = "latest") -> DatasetInfo:
    versions = _versions(db, ws, name)
    if not versions:
        raise NotFound(f"No dataset named {name!r} is registered in workspace {ws.name!r}")
    if version == "latest":
        return to_info(versions[-1])
    if not version.isdigit():
        raise BadRequest(f"version: {version!r} is not allowed; give 'latest' or a number")
    for row in versions:
        if row.version == int(version):
            return to_info(row)
    raise NotFound(
        f"Dataset {name!r} has no version {version}; versions: "
        f"{', '.join(str(r.version) for r in versions)}"
    )


def get_by_id(db: Session, ws: models.Workspace, dataset_id: str) -> DatasetInfo:
    row = db.get(models.Dataset, dataset_id)
    if row is None or row.workspace_id != ws.id:
        raise NotFound(f"No dataset with id {dataset_id!r} in workspace {ws.name!r}")
    return to_info(row)


def list_latest(db: Session, ws: models.Workspace) -> list[DatasetInfo]:
    latest: dict[str, models.Dataset] = {}
    query = select(models.Dataset).where(models.Dataset.workspace_id == ws.id)
    for row in db.scalars(query.order_by(models.Dataset.version)):
        latest[row.name.lower()] = row
    return [to_info(row) for row in sorted(latest.values(), key=lambda r: r.name.lower())]


def unregister_all(db: Session, ws: models.Workspace, name: str) -> None:
    versions = _versions(db, ws, name)
    if not versions:
        raise NotFound(f"No dataset named {name!r} is registered in workspace {ws.name!r}")
    for row in versions:
        db.delete(row)
    db.flush()


def registration_request(
    registration: OutputRegistration, datastore_name: str, path_on_datastore: str | None
) -> DatasetRegister:
    """``register_on_complete``'s new dataset version of an output on a datastore."""
    parse = registration.parse
    return DatasetRegister(
        name=registration.name,
        description=registration.description,
        tags=registration.tags,
        create_new_version=True,
        definition=DatasetDefinition(
            dataset_type=parse.dataset_type,
            paths=[DatasetPath(datastore_name=datastore_name, path=path_on_datastore or "")],
            separator=parse.separator,
            header=parse.header,
            include_path=parse.include_path,
        ),
    )


def register_run_outputs(db: Session, run: models.Run) -> None:
    """A run completed: each of its uploads with ``register_on_complete`` becomes a new
    version of its dataset. A refusal (the name is another dataset's) is a warning of the
    run; the run stays completed."""
    references = ((run.definition or {}).get("data_references") or {}).items()
    wanted = [
        (name, DataReferenceSpec.model_validate(ref))
        for name, ref in references
        if isinstance(ref, dict) and ref.get("registration")
    ]
    if not wanted:
        return
    ws = db.get(models.Workspace, run.workspace_id)
    assert ws is not None
    warnings = list(run.warnings or [])
    for name, ref in wanted:
        assert ref.registration is not None
        request = registration_request(ref.registration, ref.datastore_name, ref.path_on_datastore)
        try:  # its refusals come before it writes anything
            register(db, ws, request)
        except ServiceError as exc:
            warnings.append(
                f"Output {name} was not registered as dataset {request.name!r}: {exc.message}"
            )
    run.warnings = warnings
