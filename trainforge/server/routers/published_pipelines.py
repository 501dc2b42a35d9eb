"""Published pipelines and pipeline endpoints: publish, read, list, enable/disable, and
run one by a POST on its endpoint (the Azure ML REST body, answered with ``{"Id": ...}``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.orm import Session

from trainforge.schemas.published_pipelines import (
    PIPELINE_ID_PROPERTY,
    PipelineEndpointAdd,
    PipelineEndpointCreate,
    PipelineEndpointInfo,
    PipelineEndpointUpdate,
    PipelineRunStarted,
    PublishedPipelineCreate,
    PublishedPipelineInfo,
    PublishedPipelineRun,
    StatusUpdate,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import published_pipelines as published
from trainforge.server.store import models
from trainforge.server.store.published import PublishedPipelineRow

router = APIRouter(prefix="/workspaces/{ws}")
PipelineId = Annotated[str, Path(min_length=1, max_length=64)]
EndpointKey = Annotated[str, Path(min_length=1, max_length=255)]


@router.post("/publishedpipelines", response_model=PublishedPipelineInfo, status_code=201)
def publish(
    ws: str, body: PublishedPipelineCreate, cp: ControlPlane = Depends(plane)
) -> PublishedPipelineInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        return published.info(row, published.publish(db, cp.runs, row, body))


@router.get("/publishedpipelines", response_model=list[PublishedPipelineInfo])
def list_published(
    ws: str, active_only: bool = True, cp: ControlPlane = Depends(plane)
) -> list[PublishedPipelineInfo]:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return [published.info(row, p) for p in published.listing(db, row, active_only)]


@router.get("/publishedpipelines/{pipeline_id}", response_model=PublishedPipelineInfo)
def get_published(
    ws: str, pipeline_id: PipelineId, cp: ControlPlane = Depends(plane)
) -> PublishedPipelineInfo:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return published.info(row, published.get(db, row, pipeline_id))


@router.patch("/publishedpipelines/{pipeline_id}", response_model=PublishedPipelineInfo)
def set_published_status(
    ws: str, pipeline_id: PipelineId, body: StatusUpdate, cp: ControlPlane = Depends(plane)
) -> PublishedPipelineInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        found = published.get(db, row, pipeline_id)
        found.status = body.status
        db.flush()
        return published.info(row, found)


def _start(
    cp: ControlPlane,
    ws: str,
    request: str,
    body: PublishedPipelineRun,
    idempotency_key: str | None,
    pick: Callable[[Session, models.Workspace], tuple[PublishedPipelineRow, dict[str, str]]],
) -> PipelineRunStarted:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)

        def submit() -> models.Run:
            pipeline, properties = pick(db, row)
            return published.submit(
                db,
                cp.runs,
                row,
                pipeline,
                body.experiment_name,
                published.trigger_values(db, row, body),
                continue_on_step_failure=body.continue_on_step_failure,
                run_source=body.run_source or "SDK",
                description=body.description,
                display_name=body.display_name,
                properties=properties,
            )

        run = cp.runs.create_once(db, row, idempotency_key, request, submit)
        pipeline_id = str(run.properties.get(PIPELINE_ID_PROPERTY, ""))
        answer = PipelineRunStarted(
            Id=run.id,
            ExperimentName=body.experiment_name,
            PipelineId=pipeline_id,
            Status=run.status,
            RunNumber=run.number,
            RunSource=str(run.properties.get("runSource", "SDK")),
        )
    cp.pipeliner.wake()
    return answer


@router.post(
    "/publishedpipelines/{pipeline_id}/runs", response_model=PipelineRunStarted, status_code=200
)
def run_published(
    ws: str,
    pipeline_id: PipelineId,
    body: PublishedPipelineRun,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> PipelineRunStarted:
    """``POST <published_pipeline.endpoint>`` with ``{"ExperimentName": ...,
    "ParameterAssignments": {...}}``: a new pipeline run; ``{"Id": <run id>, ...}``."""

    def pick(db: Session, row: models.Workspace) -> tuple[PublishedPipelineRow, dict[str, str]]:
        return published.get(db, row, pipeline_id), {}

    return _start(cp, ws, f"publishedpipelines/{pipeline_id}/runs", body, idempotency_key, pick)


@router.post("/pipelineendpoints", response_model=PipelineEndpointInfo, status_code=201)
def create_endpoint(
    ws: str, body: PipelineEndpointCreate, cp: ControlPlane = Depends(plane)
) -> PipelineEndpointInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        return published.endpoint_info(db, row, published.create_endpoint(db, row, body))


@router.get("/pipelineendpoints", response_model=list[PipelineEndpointInfo])
def list_endpoints(
    ws: str, active_only: bool = True, cp: ControlPlane = Depends(plane)
) -> list[PipelineEndpointInfo]:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return [
            published.endpoint_info(db, row, e) for e in published.endpoints(db, row, active_only)
        ]


@router.get("/pipelineendpoints/{key}", response_model=PipelineEndpointInfo)
def get_endpoint(
    ws: str, key: EndpointKey, cp: ControlPlane = Depends(plane)
) -> PipelineEndpointInfo:
    """An endpoint by its id or its name."""
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return published.endpoint_info(db, row, published.get_endpoint(db, row, key))


@router.post("/pipelineendpoints/{key}/versions", response_model=PipelineEndpointInfo)
def add_endpoint_version(
    ws: str, key: EndpointKey, body: PipelineEndpointAdd, cp: ControlPlane = Depends(plane)
) -> PipelineEndpointInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        endpoint = published.get_endpoint(db, row, key)
        published.add_version(db, row, endpoint, body)
        return published.endpoint_info(db, row, endpoint)


@router.patch("/pipelineendpoints/{key}", response_model=PipelineEndpointInfo)
def update_endpoint(
    ws: str, key: EndpointKey, body: PipelineEndpointUpdate, cp: ControlPlane = Depends(plane)
) -> PipelineEndpointInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        endpoint = published.get_endpoint(db, row, key)
        published.update_endpoint(db, row, endpoint, body)
        return published.endpoint_info(db, row, endpoint)


@router.post("/pipelineendpoints/{key}/runs", response_model=PipelineRunStarted, status_code=200)
def run_endpoint(
    ws: str,
    key: EndpointKey,
    body: PublishedPipelineRun,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> PipelineRunStarted:
    """``POST <pipeline_endpoint.endpoint>``: a run of its default version, or of
    ``"PipelineVersion"``."""

    def pick(db: Session, row: models.Workspace) -> tuple[PublishedPipelineRow, dict[str, str]]:
        endpoint = published.get_endpoint(db, row, key)
        pipeline = published.endpoint_pipeline(db, row, endpoint, body.pipeline_version)
        return pipeline, published.endpoint_properties(endpoint)

    return _start(cp, ws, f"pipelineendpoints/{key}/runs", body, idempotency_key, pick)
