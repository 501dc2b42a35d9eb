"""Registered environments of a workspace: register a version, get one, list them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from trainforge.schemas.environments import (
    EnvironmentDefinition,
    EnvironmentInfo,
    EnvironmentList,
    EnvironmentName,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import environments, request_keys

router = APIRouter()


@router.post("/workspaces/{ws}/environments/{name}/versions", response_model=EnvironmentInfo)
def register_environment(
    ws: str,
    name: EnvironmentName,
    body: EnvironmentDefinition,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> EnvironmentInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info, created = request_keys.once(
            db,
            row,
            idempotency_key,
            f"environments/{name}/versions",
            tuple[EnvironmentInfo, bool],
            lambda: environments.register(db, row, name, body),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@router.get("/workspaces/{ws}/environments", response_model=EnvironmentList)
def list_environments(ws: str, cp: ControlPlane = Depends(plane)) -> EnvironmentList:
    with cp.store.reading() as db:
        return EnvironmentList(
            environments=environments.latest_of_each(db, cp.workspaces.get_row(db, ws))
        )


@router.get("/workspaces/{ws}/environments/{name}", response_model=EnvironmentInfo)
def get_latest_environment(
    ws: str, name: EnvironmentName, cp: ControlPlane = Depends(plane)
) -> EnvironmentInfo:
    with cp.store.reading() as db:
        return environments.get(db, cp.workspaces.get_row(db, ws), name, None)


@router.get("/workspaces/{ws}/environments/{name}/versions", response_model=EnvironmentList)
def list_environment_versions(
    ws: str, name: EnvironmentName, cp: ControlPlane = Depends(plane)
) -> EnvironmentList:
    with cp.store.reading() as db:
        return EnvironmentList(
            environments=environments.versions(db, cp.workspaces.get_row(db, ws), name)
        )


@router.get(
    "/workspaces/{ws}/environments/{name}/versions/{version}", response_model=EnvironmentInfo
)
def get_environment_version(
    ws: str, name: EnvironmentName, version: str, cp: ControlPlane = Depends(plane)
) -> EnvironmentInfo:
    with cp.store.reading() as db:
        return environments.get(db, cp.workspaces.get_row(db, ws), name, version)
