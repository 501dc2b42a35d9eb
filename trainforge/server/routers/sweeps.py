"""HyperDrive sweeps: submit, read and cancel (the children are ordinary runs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from trainforge.schemas.names import ExperimentName
from trainforge.schemas.runs import RunInfo
from trainforge.schemas.sweeps import SweepCreate, SweepInfo
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.services import sweeps

router = APIRouter(prefix="/workspaces/{ws}")


@router.post("/experiments/{experiment}/sweeps", response_model=RunInfo, status_code=201)
def submit_sweep(
    ws: str, experiment: ExperimentName, body: SweepCreate, cp: ControlPlane = Depends(plane)
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        parent = sweeps.create(db, cp.runs, row, experiment, body)
        info = cp.runs.info(db, row, parent)
    cp.sweeper.wake()
    return info


@router.get("/sweeps/{run_id}", response_model=SweepInfo)
def get_sweep(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> SweepInfo:
    with cp.store.session() as db:
        return sweeps.info(db, cp.workspaces.get_row(db, ws), run_id)


@router.post("/sweeps/{run_id}/cancel", response_model=RunInfo)
def cancel_sweep(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = cp.runs.info(db, row, sweeps.cancel(db, cp.runs, row, run_id))
    cp.scheduler.wake()
    cp.sweeper.wake()
    return info
