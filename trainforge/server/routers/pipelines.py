"""ML pipeline runs: submit, and the graph of a pipeline run with each step's live state
(the steps themselves are ordinary child runs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from trainforge.schemas.names import ExperimentName
from trainforge.schemas.pipelines import PipelineRunGraph, PipelineSubmit
from trainforge.schemas.runs import RunInfo
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import pipelines

router = APIRouter(prefix="/workspaces/{ws}")


@router.post("/experiments/{experiment}/pipelineruns", response_model=RunInfo, status_code=201)
def submit_pipeline(
    ws: str,
    experiment: ExperimentName,
    body: PipelineSubmit,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        request = f"experiments/{experiment}/pipelineruns"
        parent = cp.runs.create_once(
            db,
            row,
            idempotency_key,
            request,
            lambda: pipelines.create(db, cp.runs, row, experiment, body),
        )
        info = cp.runs.info(db, row, parent)
    cp.pipeliner.wake()
    return info


@router.get("/runs/{run_id}/graph", response_model=PipelineRunGraph)
def pipeline_graph(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> PipelineRunGraph:
    with cp.store.reading() as db:
        return pipelines.graph_info(db, cp.workspaces.get_row(db, ws), run_id)
