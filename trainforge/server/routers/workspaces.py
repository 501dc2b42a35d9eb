"""Workspaces, their experiments and key-vault secrets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from trainforge.schemas.names import ExperimentName, SecretName
from trainforge.schemas.workspaces import (
    ExperimentInfo,
    SecretValue,
    WorkspaceCreate,
    WorkspaceInfo,
    WorkspaceUpdate,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import secrets
from trainforge.server.services.workspaces import to_info

router = APIRouter()


@router.post("/workspaces", response_model=WorkspaceInfo)
def create_workspace(
    body: WorkspaceCreate,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> WorkspaceInfo:
    with cp.store.session() as db:
        info, created = cp.workspaces.create_once(db, body, idempotency_key)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@router.get("/workspaces", response_model=list[WorkspaceInfo])
def list_workspaces(
    name: str | None = None,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    cp: ControlPlane = Depends(plane),
) -> list[WorkspaceInfo]:
    with cp.store.reading() as db:
        return cp.workspaces.find(db, name, subscription_id, resource_group)


@router.get("/workspaces/{ws}", response_model=WorkspaceInfo)
def get_workspace(ws: str, cp: ControlPlane = Depends(plane)) -> WorkspaceInfo:
    with cp.store.reading() as db:
        return to_info(cp.workspaces.get_row(db, ws))


@router.patch("/workspaces/{ws}", response_model=WorkspaceInfo)
def update_workspace(
    ws: str, body: WorkspaceUpdate, cp: ControlPlane = Depends(plane)
) -> WorkspaceInfo:
    with cp.store.session() as db:
        return cp.workspaces.update(db, ws, body)


@router.delete("/workspaces/{ws}", status_code=204)
def delete_workspace(ws: str, cp: ControlPlane = Depends(plane)) -> None:
    with cp.store.session() as db:
        cp.workspaces.delete(db, ws)


@router.put("/workspaces/{ws}/experiments/{name}", response_model=ExperimentInfo)
def get_or_create_experiment(
    ws: str, name: ExperimentName, cp: ControlPlane = Depends(plane)
) -> ExperimentInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        exp = cp.runs.experiment(db, row, name)
        return ExperimentInfo(id=exp.id, name=exp.name, workspace_name=ws)


@router.delete("/workspaces/{ws}/experiments/{name}", status_code=204)
def delete_experiment(ws: str, name: ExperimentName, cp: ControlPlane = Depends(plane)) -> None:
    """Delete the experiment with all its runs (Batch AI's ``experiments.delete``), once
    every run has ended: 409 naming one that has not."""
    cp.delete_runs(ws, lambda db, row: cp.runs.delete_experiment(db, row, name))


@router.get("/workspaces/{ws}/experiments", response_model=list[ExperimentInfo])
def list_experiments(ws: str, cp: ControlPlane = Depends(plane)) -> list[ExperimentInfo]:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return [
            ExperimentInfo(id=exp.id, name=exp.name, workspace_name=ws)
            for exp in cp.runs.experiments(db, row)
        ]


@router.get("/workspaces/{ws}/secrets", response_model=list[str])
def list_secret_names(ws: str, cp: ControlPlane = Depends(plane)) -> list[str]:
    with cp.store.reading() as db:
        return secrets.list_secrets(db, cp.workspaces.get_row(db, ws))


@router.put("/workspaces/{ws}/secrets/{name}", status_code=204)
def set_secret(
    ws: str, name: SecretName, body: SecretValue, cp: ControlPlane = Depends(plane)
) -> None:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        secrets.set_secret(db, cp.vault, row, name, body.value, body.content_type)


@router.get("/workspaces/{ws}/secrets/{name}", response_model=SecretValue)
def get_secret(ws: str, name: SecretName, cp: ControlPlane = Depends(plane)) -> SecretValue:
    with cp.store.reading() as db:
        value, content_type = secrets.get_secret(db, cp.vault, cp.workspaces.get_row(db, ws), name)
        return SecretValue(value=value, content_type=content_type)


@router.delete("/workspaces/{ws}/secrets/{name}", status_code=204)
def delete_secret(ws: str, name: SecretName, cp: ControlPlane = Depends(plane)) -> None:
    with cp.store.session() as db:
        secrets.delete_secret(db, cp.workspaces.get_row(db, ws), name)
