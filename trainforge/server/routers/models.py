"""The model registry: uploads, versions, their files, updates and deletes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from trainforge.schemas.limits import PositiveCount
from trainforge.schemas.models import (
    ModelFilter,
    ModelInfo,
    ModelList,
    ModelName,
    ModelRegister,
    ModelUpdate,
    UploadId,
)
from trainforge.schemas.runs import FileInfo
from trainforge.server.errors import Conflict, NotFound
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.routers.files import check_name, receive, send
from trainforge.server.services import deployments, models, request_keys
from trainforge.storage.model_files import ModelFiles

router = APIRouter(prefix="/workspaces/{ws}")


def _files(cp: ControlPlane, ws: str) -> ModelFiles:
    return ModelFiles(cp.settings.workspace_dir(ws) / "models")


def _who(request: Request) -> str | None:
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.kind == "run":
        return f"run {principal.run_id}"
    return None


@router.put("/model-uploads/{upload_id}/files/{name:path}", response_model=FileInfo)
async def put_upload_file(
    ws: str, upload_id: UploadId, name: str, request: Request, cp: ControlPlane = Depends(plane)
) -> FileInfo:
    """One file of a model about to be registered (``Model.register`` uploads each file of
    its file or folder here, then registers the upload)."""

    def staging() -> ModelFiles:
        with cp.store.reading() as db:
            cp.workspaces.get_row(db, ws)
        return _files(cp, ws)

    store = (await run_in_threadpool(staging)).staging(upload_id)
    return await receive(request, store, name, cp.settings.max_file_bytes)


@router.post("/models", response_model=ModelInfo, status_code=status.HTTP_201_CREATED)
def register_model(
    ws: str,
    body: ModelRegister,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> ModelInfo:
    files = _files(cp, ws)
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info, created = request_keys.once(
            db,
            row,
            idempotency_key,
            "models",
            tuple[ModelInfo, bool],
            lambda: models.register(
                db, row, body, files, lambda run_id: cp.artifacts(ws, run_id), _who(request)
            ),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@router.get("/models", response_model=ModelList)
def list_models(
    ws: str,
    name: Annotated[str | None, Query(max_length=255)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    tag: Annotated[list[str] | None, Query(max_length=256)] = None,
    property: Annotated[list[str] | None, Query(max_length=256)] = None,
    run_id: Annotated[str | None, Query(max_length=256)] = None,
    dataset_id: Annotated[str | None, Query(max_length=36)] = None,
    model_framework: Annotated[str | None, Query(max_length=64)] = None,
    latest: bool = False,
    cp: ControlPlane = Depends(plane),
) -> ModelList:
    query = ModelFilter(
        name=name,
        version=version,
        tags=tag or [],
        properties=property or [],
        run_id=run_id,
        dataset_id=dataset_id,
        model_framework=model_framework,
        latest=latest,
    )
    with cp.store.reading() as db:
        return ModelList(models=models.find(db, cp.workspaces.get_row(db, ws), query))


@router.get("/models/{name}", response_model=ModelInfo)
def get_latest_model(ws: str, name: ModelName, cp: ControlPlane = Depends(plane)) -> ModelInfo:
    with cp.store.reading() as db:
        return models.to_info(models.row(db, cp.workspaces.get_row(db, ws), name, None))


@router.get("/models/{name}/versions/{version}", response_model=ModelInfo)
def get_model(
    ws: str, name: ModelName, version: PositiveCount, cp: ControlPlane = Depends(plane)
) -> ModelInfo:
    with cp.store.reading() as db:
        return models.to_info(models.row(db, cp.workspaces.get_row(db, ws), name, version))


@router.patch("/models/{name}/versions/{version}", response_model=ModelInfo)
def update_model(
    ws: str,
    name: ModelName,
    version: PositiveCount,
    body: ModelUpdate,
    cp: ControlPlane = Depends(plane),
) -> ModelInfo:
    with cp.store.session() as db:
        return models.update(db, cp.workspaces.get_row(db, ws), name, version, body)


@router.delete("/models/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(
    ws: str, name: ModelName, version: PositiveCount, cp: ControlPlane = Depends(plane)
) -> Response:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        users = deployments.users_of(db, row, f"{name}:{version}")
        if users:
            raise Conflict(
                f"Model {name}:{version} is deployed in service(s) {', '.join(users)}; "
                "delete them first"
            )
        models.delete(db, row, name, version)
    _files(cp, ws).remove(name, version)  # after the commit: a row never lacks its files
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _version_files(cp: ControlPlane, ws: str, name: str, version: int) -> ModelFiles:
    with cp.store.reading() as db:
        models.row(db, cp.workspaces.get_row(db, ws), name, version)
    return _files(cp, ws)


@router.get("/models/{name}/versions/{version}/files", response_model=list[FileInfo])
def list_model_files(
    ws: str, name: ModelName, version: PositiveCount, cp: ControlPlane = Depends(plane)
) -> list[FileInfo]:
    """Every file of the version, named from its asset (``model.pkl``, ``model/x.bin``)."""
    store = _version_files(cp, ws, name, version).store(name, version)
    return [FileInfo(name=path, size=size) for path, size in store.list()]


@router.get("/models/{name}/versions/{version}/files/{path:path}")
def get_model_file(
    ws: str,
    name: ModelName,
    version: PositiveCount,
    path: str,
    cp: ControlPlane = Depends(plane),
) -> Response:
    store = _version_files(cp, ws, name, version).store(name, version)
    check_name(store, path)
    if not store.exists(path):
        raise NotFound(f"Model {name}:{version} has no file {path!r}")
    return send(store, path)
