"""Registered datasets of a workspace."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from trainforge.schemas.datastores import DatasetInfo, DatasetRegister
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import datasets, request_keys

router = APIRouter()


@router.post("/workspaces/{ws}/datasets", response_model=DatasetInfo)
def register_dataset(
    ws: str,
    body: DatasetRegister,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> DatasetInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            "datasets",
            DatasetInfo,
            lambda: datasets.register(db, row, body),
        )
    response.status_code = status.HTTP_201_CREATED
    return info


@router.get("/workspaces/{ws}/datasets", response_model=list[DatasetInfo])
def list_datasets(ws: str, cp: ControlPlane = Depends(plane)) -> list[DatasetInfo]:
    with cp.store.reading() as db:
        return datasets.list_latest(db, cp.workspaces.get_row(db, ws))


@router.get("/workspaces/{ws}/datasets/{name}", response_model=DatasetInfo)
def get_dataset(
    ws: str, name: str, version: str = "latest", cp: ControlPlane = Depends(plane)
) -> DatasetInfo:
    with cp.store.reading() as db:
        return datasets.get(db, cp.workspaces.get_row(db, ws), name, version)


@router.get("/workspaces/{ws}/dataset-ids/{dataset_id}", response_model=DatasetInfo)
def get_dataset_by_id(ws: str, dataset_id: str, cp: ControlPlane = Depends(plane)) -> DatasetInfo:
    with cp.store.reading() as db:
        return datasets.get_by_id(db, cp.workspaces.get_row(db, ws), dataset_id)


@router.delete("/workspaces/{ws}/datasets/{name}", status_code=204)
def unregister_dataset(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> None:
    with cp.store.session() as db:
        datasets.unregister_all(db, cp.workspaces.get_row(db, ws), name)
