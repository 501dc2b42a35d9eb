"""HyperDrive sweeps: submit, read and cancel (the children are ordinary runs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from trainforge.schemas.names import ExperimentName
from trainforge.schemas.runs import RunInfo
from trainforge.schemas.sweeps import SweepCreate, SweepInfo
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import request_keys, sweeps

router = APIRouter(prefix="/workspaces/{ws}")


@router.post("/experiments/{experiment}/sweeps", response_model=RunInfo, status_code=201)
def submit_sweep(
    ws: str,
    experiment: ExperimentName,
    body: SweepCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        request = f"experiments/{experiment}/sweeps"
        parent = cp.runs.create_once(
            db,
            row,
            idempotency_key,
            request,
            lambda: sweeps.create(db, cp.runs, row, experiment, body),
        )
        info = cp.runs.info(db, row, parent)
    cp.sweeper.wake()
    return info


@router.get("/sweeps/{run_id}", response_model=SweepInfo)
def get_sweep(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> SweepInfo:
    with cp.store.reading() as db:
        return sweeps.info(db, cp.workspaces.get_row(db, ws), run_id)


@router.post("/sweeps/{run_id}/cancel", response_model=RunInfo)
def cancel_sweep(
    ws: str, run_id: str, idempotency_key: IdempotencyKey = None, cp: ControlPlane = Depends(plane)
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            f"sweeps/{run_id}/cancel",
            RunInfo,
            lambda: cp.runs.info(db, row, sweeps.cancel(db, cp.runs, row, run_id)),
        )
    cp.scheduler.wake()
    cp.sweeper.wake()
    return info
