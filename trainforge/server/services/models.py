"""The model registry: versions 1, 2, ... per name and workspace, each with files that never
change once registered (``Model.register``, ``run.register_model``)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainforge.schemas.models import (
    Framework,
    ModelDataset,
    ModelFilter,
    ModelInfo,
    ModelRegister,
    ModelUpdate,
    ResourceConfigurationSpec,
)
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services import run_filters
from trainforge.server.store import models
from trainforge.storage.artifacts import ArtifactStore
from trainforge.storage.model_files import ModelFiles, measure
from trainforge.storage.paths import UnsafePathError, safe_relative_path

REGISTER_ATTEMPTS = 5
# How many of a run's file names an error about a missing model path lists.
LISTED_FILES = 20


def to_info(row: models.RegisteredModel) -> ModelInfo:
    mime = "application/x-directory" if row.is_folder else None
    return ModelInfo(
        id=f"{row.name}:{row.version}",
        name=row.name,
        version=row.version,
        asset_name=row.asset_name,
        is_folder=row.is_folder,
        size=row.size,
        file_count=row.file_count,
        tags=dict(row.tags),
        properties=dict(row.properties),
        description=row.description,
        model_framework=row.model_framework,
        model_framework_version=row.model_framework_version,
        run_id=row.run_id,
        experiment_name=row.experiment_name,
        datasets=[ModelDataset.model_validate(d) for d in row.datasets],
        sample_input_dataset_id=row.sample_input_dataset_id,
        sample_output_dataset_id=row.sample_output_dataset_id,
        resource_configuration=(
            ResourceConfigurationSpec.model_validate(row.resource_configuration)
            if row.resource_configuration
            else None
        ),
        created_by=row.created_by,
        created_time=row.created,
        url=f"aml://asset/{row.name}:{row.version}/{row.asset_name}",
        mime_type=mime or mimetypes.guess_type(row.asset_name)[0] or "application/octet-stream",
    )


def _check_datasets(db: Session, ws: models.Workspace, body: ModelRegister | ModelUpdate) -> None:
    """Every dataset a model names is a registered dataset of this workspace."""
    wanted: list[tuple[str, str]] = []
    if isinstance(body, ModelRegister):
        wanted += [("datasets", d.dataset_id) for d in body.datasets]
    for field in ("sample_input_dataset_id", "sample_output_dataset_id"):
        value = getattr(body, field)
        if value is not None:
            wanted.append((field, value))
    for field, dataset_id in wanted:
        row = db.get(models.Dataset, dataset_id)
        if row is None or row.workspace_id != ws.id:
            raise BadRequest(
                f"{field}: dataset {dataset_id!r} is not a registered dataset of workspace "
                f"{ws.name!r} (register it first: dataset.register(workspace, name))"
            )


def _next_version(db: Session, ws: models.Workspace, name: str) -> int:
    """The next version of ``name``; a number once given is never given again."""
    for _ in range(REGISTER_ATTEMPTS):
        counter = db.scalar(
            select(models.ModelName)
            .where(models.ModelName.workspace_id == ws.id, models.ModelName.name == name)
            .with_for_update()
        )
        if counter is not None:
            counter.last_version += 1
            db.flush()
            return counter.last_version
        try:
            # Two first registrations of a name at once: one inserts, the other tries again.
            with db.begin_nested():
                db.add(models.ModelName(workspace_id=ws.id, name=name, last_version=1))
                db.flush()
        except IntegrityError:
            continue
        return 1
    raise BadRequest(f"name: model {name!r} is being registered concurrently; try again")


def _run_path(path: str) -> str:
    cleaned = path.replace("\\", "/").strip()
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    try:
        return safe_relative_path(cleaned.rstrip("/"), "model_path")
    except UnsafePathError as exc:
        raise BadRequest(str(exc)) from None


def register(
    db: Session,
    ws: models.Workspace,
    body: ModelRegister,
    files: ModelFiles,
    run_files: Callable[[str], ArtifactStore],
    principal: str | None,
) -> tuple[ModelInfo, bool]:
    """A new version of ``body.name`` from an upload or a run's files."""
    _check_datasets(db, ws, body)
    run: models.Run | None = None
    experiment_name: str | None = None
    if body.run_id is not None:
        run = db.get(models.Run, (ws.id, body.run_id))
        if run is None:
            raise NotFound(f"Run {body.run_id!r} not found in workspace {ws.name!r}")
        exp = db.get(models.Experiment, run.experiment_id)
        experiment_name = exp.name if exp is not None else None
    version = _next_version(db, ws, body.name)
    try:
        if run is not None:
            path = _run_path(body.run_path or "")
            source = run_files(run.id)
            try:
                asset = files.copy_in(source, path, body.name, version)
            except FileNotFoundError:
                names = [name for name, _ in source.list()][:LISTED_FILES]
                raise BadRequest(
                    f"model_path: could not locate {path!r} in the files of run {run.id!r}: {names}"
                ) from None
        else:
            try:
                asset = files.commit_upload(
                    body.upload_id or "", body.asset_name or "", body.name, version
                )
            except FileNotFoundError:
                raise BadRequest(
                    f"upload_id: upload {body.upload_id!r} holds no {body.asset_name!r}; "
                    "upload the model's files first"
                ) from None
        size, count = measure(asset)
        row = models.RegisteredModel(
            workspace_id=ws.id,
            name=body.name,
            version=version,
            asset_name=asset.name,
            is_folder=asset.is_dir(),
            size=size,
            file_count=count,
            description=body.description,
            tags=dict(body.tags),
            properties=dict(body.properties),
            model_framework=body.model_framework or Framework.CUSTOM,
            model_framework_version=body.model_framework_version,
            run_id=run.id if run is not None else None,
            experiment_name=experiment_name,
            datasets=[d.model_dump() for d in body.datasets],
            sample_input_dataset_id=body.sample_input_dataset_id,
            sample_output_dataset_id=body.sample_output_dataset_id,
            resource_configuration=(
                body.resource_configuration.model_dump() if body.resource_configuration else None
            ),
            created_by=body.created_by or principal,
        )
        db.add(row)
        db.flush()
    except BaseException:
        files.remove(body.name, version)  # the transaction rolls back: no files without a row
        raise
    return to_info(row), True


def _rows(db: Session, ws: models.Workspace, name: str) -> list[models.RegisteredModel]:
    query = (
        select(models.RegisteredModel)
        .where(models.RegisteredModel.workspace_id == ws.id, models.RegisteredModel.name == name)
        .order_by(models.RegisteredModel.version)
    )
    return list(db.scalars(query))


def row(
    db: Session, ws: models.Workspace, name: str, version: int | None
) -> models.RegisteredModel:
    """Version ``version`` of ``name`` (the latest when None); 404 naming what exists."""
    rows = _rows(db, ws, name)
    if not rows:
        raise NotFound(f"ModelNotFound: model {name!r} is not registered in workspace {ws.name!r}")
    if version is None:
        return rows[-1]
    for found in rows:
        if found.version == version:
            return found
    known = ", ".join(str(r.version) for r in rows)
    raise NotFound(
        f"ModelNotFound: model {name!r} has no version {version} in workspace {ws.name!r}; "
        f"its versions are {known}"
    )


def _key_values(
    dialect: str, column: Any, items: list[str], field: str
) -> list[ColumnElement[bool]]:
    """``key`` (present) and ``key=value`` (equal) filters as SQL, as run listing does."""
    conditions: list[ColumnElement[bool]] = []
    for item in items:
        key, sep, value = item.partition("=")
        conditions += run_filters.key_value(dialect, column, {key: value} if sep else key, field)
    return conditions


def find(db: Session, ws: models.Workspace, query: ModelFilter) -> list[ModelInfo]:
    """The models that match every filter, newest version first within each name; with
    ``latest`` only each name's newest version that matches."""
    model = models.RegisteredModel
    dialect = db.get_bind().dialect.name
    select_rows = select(model).where(
        model.workspace_id == ws.id,
        *_key_values(dialect, model.tags, query.tags, "tags"),
        *_key_values(dialect, model.properties, query.properties, "properties"),
    )
    if query.name is not None:
        select_rows = select_rows.where(model.name == query.name)
    if query.version is not None:
        select_rows = select_rows.where(model.version == query.version)
    if query.run_id is not None:
        select_rows = select_rows.where(model.run_id == query.run_id)
    if query.model_framework is not None:
        select_rows = select_rows.where(model.model_framework == query.model_framework)
    select_rows = select_rows.order_by(model.name, model.version.desc())
    found: list[ModelInfo] = []
    seen: set[str] = set()
    for candidate in db.scalars(select_rows):
        if query.dataset_id is not None and not any(
            d.get("dataset_id") == query.dataset_id for d in candidate.datasets
        ):
            continue
        if query.latest and candidate.name in seen:
            continue
        seen.add(candidate.name)
        found.append(to_info(candidate))
    return found


def update(
    db: Session, ws: models.Workspace, name: str, version: int, body: ModelUpdate
) -> ModelInfo:
    """Change a version's description, tags, properties (added, never removed) or its
    sample datasets and resource configuration; its files stay as they are."""
    target = row(db, ws, name, version)
    _check_datasets(db, ws, body)
    changes = body.model_dump(exclude_unset=True)
    if "description" in changes:
        target.description = body.description
    tags = dict(body.tags) if body.tags is not None else dict(target.tags)
    tags.update(body.add_tags)
    for key in body.remove_tags:
        tags.pop(key, None)
    target.tags = tags
    if body.add_properties:
        target.properties = {**target.properties, **body.add_properties}
    for field in ("sample_input_dataset_id", "sample_output_dataset_id"):
        if field in changes:
            setattr(target, field, getattr(body, field))
    if "resource_configuration" in changes:
        target.resource_configuration = (
            body.resource_configuration.model_dump() if body.resource_configuration else None
        )
    db.flush()
    return to_info(target)


def delete(db: Session, ws: models.Workspace, name: str, version: int) -> None:
    """Remove a version (the caller removes its files once this is committed); its number
    is not given again."""
    target = row(db, ws, name, version)
    db.delete(target)
    db.flush()
