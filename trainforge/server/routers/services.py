"""Scoring services: deploy, list, show (with their state), logs, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
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
    ServiceUpdate,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.services import deployments
from trainforge.server.store.models import Service, Workspace

router = APIRouter(prefix="/workspaces/{ws}")


def _found(db: Session, cp: ControlPlane, ws: str, name: str) -> tuple[Workspace, Service]:
    """The workspace's row and its service ``name`` (404 naming what is missing)."""
    row = cp.workspaces.get_row(db, ws)
    return row, deployments.row(db, row, name)


@router.post("/services", response_model=ServiceInfo, status_code=status.HTTP_201_CREATED)
def create_service(ws: str, body: ServiceCreate, cp: ControlPlane = Depends(plane)) -> ServiceInfo:
    """Deploy: the service's host starts at once; its state says when it serves."""
    with cp.store.session() as db:
        return deployments.create(cp.settings, db, cp.workspaces.get_row(db, ws), body, cp.vault)


@router.get("/services", response_model=ServiceList)
def list_services(ws: str, cp: ControlPlane = Depends(plane)) -> ServiceList:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return ServiceList(services=deployments.list_all(cp.settings, db, row))


@router.get("/services/{name}", response_model=ServiceInfo)
def get_service(ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)) -> ServiceInfo:
    with cp.store.reading() as db:
        row, service = _found(db, cp, ws, name)
        return deployments.to_info(cp.settings, row, service)


@router.patch("/services/{name}", response_model=ServiceInfo)
def update_service(
    ws: str, name: ServiceName, body: ServiceUpdate, cp: ControlPlane = Depends(plane)
) -> ServiceInfo:
    """New code, models or environment: the service starts again from them."""
    with cp.store.session() as db:
        row, service = _found(db, cp, ws, name)
        return deployments.update(cp.settings, db, row, service, body)


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
        return deployments.regenerate_key(cp.settings, cp.vault, row, service, body)


@router.delete("/services/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_service(ws: str, name: ServiceName, cp: ControlPlane = Depends(plane)) -> Response:
    with cp.store.session() as db:
        deployments.delete(cp.settings, db, cp.workspaces.get_row(db, ws), name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
