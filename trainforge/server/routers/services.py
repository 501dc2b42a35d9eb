"""Scoring services: deploy, list, show (with their state), logs, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from trainforge.schemas.services import (
    RegenerateKey,
    ServiceCreate,
    ServiceInfo,
    ServiceKeys,
    ServiceList,
    ServiceLogs,
    ServiceName,
    ServiceStats,
    ServiceToken,
    ServiceUpdate,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.services import aks, deployments
from trainforge.server.store.models import Service, Workspace

router = APIRouter(prefix="/workspaces/{ws}")
# The scoring address of AKS-style services: the service's own key or token, not the
# control plane's, is what a caller shows (its router checks it).
public_router = APIRouter(prefix="/workspaces/{ws}/scoring/{name}")


def _info(cp: ControlPlane, request: Request, row: Workspace, service: Service) -> ServiceInfo:
    view = cp.replicas.view(row.name, service.name, service.id, service.created)
    return deployments.to_info(cp.settings, row, service, view, str(request.base_url))


def _found(db: Session, cp: ControlPlane, ws: str, name: str) -> tuple[Workspace, Service]:
    """The workspace's row and its service ``name`` (404 naming what is missing)."""
    row = cp.workspaces.get_row(db, ws)
    return row, deployments.row(db, row, name)


@router.post("/services", response_model=ServiceInfo, status_code=status.HTTP_201_CREATED)
def create_service(
    ws: str, body: ServiceCreate, request: Request, cp: ControlPlane = Depends(plane)
) -> ServiceInfo:
    """Deploy: the service's host starts at once (an AKS service's replicas at the replica
    loop's next pass); its state says when it serves."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = deployments.create(cp.settings, db, row, body, cp.vault)
        if info.compute_type == "AKS":
            info = _info(cp, request, row, deployments.row(db, row, body.name))
    cp.replicas.wake()
    return info


@router.get("/services", response_model=ServiceList)
def list_services(ws: str, request: Request, cp: ControlPlane = Depends(plane)) -> ServiceList:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return ServiceList(services=[_info(cp, request, row, s) for s in deployments.rows(db, row)])


@router.get("/services/{name}", response_model=ServiceInfo)
def get_service(
    ws: str, name: ServiceName, request: Request, cp: ControlPlane = Depends(plane)
) -> ServiceInfo:
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return _info(cp, request, row, service)


@router.patch("/services/{name}", response_model=ServiceInfo)
def update_service(
    ws: str,
    name: ServiceName,
    body: ServiceUpdate,
    request: Request,
    cp: ControlPlane = Depends(plane),
) -> ServiceInfo:
    """New code, models or environment: the service starts again from them (each replica
    of an AKS service starts the new version beside the one serving)."""
    with cp.store.session() as db:
        row, service = _found(db, cp, ws, name)
        info = deployments.update(cp.settings, db, row, service, body)
        if service.compute_type == "AKS":
            # Transitioning until the loop sees every replica serve the new version.
            cp.replicas.forget_view(row.name, service.name)
            info = _info(cp, request, row, service)
        return info


@router.get("/services/{name}/logs", response_model=ServiceLogs)
def get_service_logs(
    ws: str,
    name: ServiceName,
    num_lines: Annotated[int, Query(ge=1, le=deployments.LOG_LINES_MAX)] = 5000,
    cp: ControlPlane = Depends(plane),
) -> ServiceLogs:
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return ServiceLogs(content=deployments.logs(cp.settings, row, service, num_lines))


@router.get("/services/{name}/stats", response_model=ServiceStats)
def get_service_stats(
    ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)
) -> ServiceStats:
    """Requests to POST /score, errors (answers of 400 and up) and latency percentiles."""
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return deployments.stats(cp.settings, row, service)


@router.get("/services/{name}/keys", response_model=ServiceKeys)
def get_service_keys(ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)) -> ServiceKeys:
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return deployments.get_keys(cp.vault, row, service)


@router.post("/services/{name}/regenerate-key", response_model=ServiceKeys)
def regenerate_service_key(
    ws: str, name: ServiceName, body: RegenerateKey, cp: ControlPlane = Depends(plane)
) -> ServiceKeys:
    with cp.store.session() as db:
        row, service = _found(db, cp, ws, name)
        keys = deployments.regenerate_key(cp.settings, cp.vault, row, service, body)
    # At once, not at the loop's next pass: the next request may carry the new key.
    cp.replicas.router.set_keys(ws, name, [keys.primary_key, keys.secondary_key])
    return keys


@router.post("/services/{name}/token", response_model=ServiceToken)
def get_service_token(
    ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)
) -> ServiceToken:
    """A token for an AKS service with token auth (``get_token``), expiring."""
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return aks.token(cp.settings, row, service)


@router.delete("/services/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_service(ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)) -> Response:
    with cp.store.session() as db:
        deployments.delete(cp.settings, db, cp.workspaces.get_row(db, ws), name)
    cp.replicas.router.drop(ws, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public_router.post("/score")
async def score(
    ws: str, name: str, request: Request, cp: ControlPlane = Depends(plane)
) -> Response:
    """An AKS service's scoring address: to one of its replicas (see scoring_router)."""
    return await cp.replicas.router.score(ws, name, request)


@public_router.get("/swagger.json")
async def swagger(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> Response:
    return await cp.replicas.router.swagger(ws, name)


@public_router.get("/")
@public_router.get("")
def health(ws: str, name: str, cp: ControlPlane = Depends(plane)) -> Response:
    """200 while a replica serves, else 503."""
    return cp.replicas.router.health(ws, name)
