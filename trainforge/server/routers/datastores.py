"""Datastores of a workspace, and short-lived access to their bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from trainforge.schemas.datastores import (
    DatastoreInfo,
    DatastoreListing,
    DatastoreRegister,
    StorageAccess,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import datastores, request_keys

router = APIRouter()


@router.get("/workspaces/{ws}/datastores", response_model=list[DatastoreInfo])
def list_datastores(ws: str, cp: ControlPlane = Depends(plane)) -> list[DatastoreInfo]:
    with cp.store.reading() as db:
        return datastores.list_all(db, cp.workspaces.get_row(db, ws))


@router.post("/workspaces/{ws}/datastores", response_model=DatastoreInfo)
def register_datastore(
    ws: str,
    body: DatastoreRegister,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> DatastoreInfo:
    with cp.store.session() as db:
        roots = datastores.LocalRoots(cp.settings.local_datastore_roots, cp.settings.home)
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            "datastores",
            DatastoreInfo,
            lambda: datastores.register(db, row, body, local_roots=roots, vault=cp.vault),
        )
    response.status_code = status.HTTP_201_CREATED
    return info


@router.get("/workspaces/{ws}/datastores/{name}", response_model=DatastoreInfo)
def get_datastore(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> DatastoreInfo:
    with cp.store.reading() as db:
        return datastores.to_info(datastores.get(db, cp.workspaces.get_row(db, ws), name))


@router.delete("/workspaces/{ws}/datastores/{name}", status_code=204)
def unregister_datastore(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> None:
    with cp.store.session() as db:
        datastores.unregister(db, cp.workspaces.get_row(db, ws), name)


@router.put("/workspaces/{ws}/datastores/{name}/default", response_model=DatastoreInfo)
def set_default_datastore(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> DatastoreInfo:
    with cp.store.session() as db:
        return datastores.set_default(db, cp.workspaces.get_row(db, ws), name)


@router.post("/workspaces/{ws}/datastores/{name}/access", response_model=StorageAccess)
def datastore_access(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> StorageAccess:
    """What a client or a run needs to move data: never the account key itself."""
    with cp.store.session() as db:
        return datastores.access(db, cp.workspaces.get_row(db, ws), name, cp.vault)


@router.get("/workspaces/{ws}/datastores/{name}/files", response_model=DatastoreListing)
def browse_datastore(
    ws: str,
    name: str,
    prefix: Annotated[str, Query(max_length=1024)] = "",
    limit: Annotated[int, Query(ge=1, le=datastores.MAX_LISTING)] = datastores.MAX_LISTING,
    cp: ControlPlane = Depends(plane),
) -> DatastoreListing:
    """The files and folders directly under ``prefix`` of the datastore (its root when
    empty), read through its filesystem; a path that leaves the datastore is a 400."""
    with cp.store.session() as db:
        found = datastores.access(db, cp.workspaces.get_row(db, ws), name, cp.vault)
    return datastores.browse(found, name, prefix, limit)
