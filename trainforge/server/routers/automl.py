"""Automated ML runs: submit, read, cancel, cancel one iteration (iterations are ordinary runs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from trainforge.schemas.automl import AutoMLContinue, AutoMLCreate, AutoMLInfo
from trainforge.schemas.limits import Count
from trainforge.schemas.names import ExperimentName
from trainforge.schemas.runs import RunInfo
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import automl, request_keys

router = APIRouter(prefix="/workspaces/{ws}")


@router.post("/experiments/{experiment}/automl", response_model=RunInfo, status_code=201)
def submit_automl(
    ws: str,
    experiment: ExperimentName,
    body: AutoMLCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        request = f"experiments/{experiment}/automl"
        parent = cp.runs.create_once(
            db,
            row,
            idempotency_key,
            request,
            lambda: automl.create(db, cp.runs, row, experiment, body),
        )
        info = cp.runs.info(db, row, parent)
    cp.automl.wake()
    return info


@router.get("/automl/{run_id}", response_model=AutoMLInfo)
def get_automl(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> AutoMLInfo:
    with cp.store.reading() as db:
        return automl.info(db, cp.workspaces.get_row(db, ws), run_id)


@router.post("/automl/{run_id}/continue", response_model=RunInfo, status_code=201)
def continue_automl(
    ws: str,
    run_id: str,
    body: AutoMLContinue,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    """A new AutoML run that goes on from ``run_id`` (which has ended and stays as it is)."""
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        parent = cp.runs.create_once(
            db,
            row,
            idempotency_key,
            f"automl/{run_id}/continue",
            lambda: automl.continue_run(db, cp.runs, row, run_id, body),
        )
        info = cp.runs.info(db, row, parent)
    cp.automl.wake()
    return info


@router.post("/automl/{run_id}/cancel", response_model=RunInfo)
def cancel_automl(
    ws: str, run_id: str, idempotency_key: IdempotencyKey = None, cp: ControlPlane = Depends(plane)
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            f"automl/{run_id}/cancel",
            RunInfo,
            lambda: cp.runs.info(db, row, automl.cancel(db, cp.runs, row, run_id)),
        )
    cp.scheduler.wake()
    cp.automl.wake()
    return info


@router.post("/automl/{run_id}/iterations/{iteration}/cancel", response_model=RunInfo)
def cancel_automl_iteration(
    ws: str,
    run_id: str,
    iteration: Count,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            f"automl/{run_id}/iterations/{iteration}/cancel",
            RunInfo,
            lambda: cp.runs.info(
                db, row, automl.cancel_iteration(db, cp.runs, row, run_id, iteration)
            ),
        )
    cp.scheduler.wake()
    cp.automl.wake()
    return info
