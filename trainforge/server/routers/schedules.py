"""Schedules of published pipelines: create, read, list, update (enable/disable too) and
the pipeline runs each one submitted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from trainforge.schemas.schedules import (
    ScheduleCreate,
    ScheduleFiringInfo,
    ScheduleInfo,
    ScheduleUpdate,
)
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import plane
from trainforge.server.services import schedules

router = APIRouter(prefix="/workspaces/{ws}")
ScheduleId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/schedules", response_model=ScheduleInfo, status_code=201)
def create_schedule(
    ws: str, body: ScheduleCreate, cp: ControlPlane = Depends(plane)
) -> ScheduleInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = schedules.info(schedules.create(db, row, body, cp.schedule_loop.clock()))
    cp.schedule_loop.wake()
    return info


@router.get("/schedules", response_model=list[ScheduleInfo])
def list_schedules(
    ws: str,
    active_only: bool = True,
    pipeline_id: str | None = None,
    pipeline_endpoint_id: str | None = None,
    cp: ControlPlane = Depends(plane),
) -> list[ScheduleInfo]:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        found = schedules.listing(db, row, active_only, pipeline_id, pipeline_endpoint_id)
        return [schedules.info(s) for s in found]


@router.get("/schedules/{schedule_id}", response_model=ScheduleInfo)
def get_schedule(
    ws: str, schedule_id: ScheduleId, cp: ControlPlane = Depends(plane)
) -> ScheduleInfo:
    with cp.store.reading() as db:
        return schedules.info(schedules.get(db, cp.workspaces.get_row(db, ws), schedule_id))


@router.patch("/schedules/{schedule_id}", response_model=ScheduleInfo)
def update_schedule(
    ws: str, schedule_id: ScheduleId, body: ScheduleUpdate, cp: ControlPlane = Depends(plane)
) -> ScheduleInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        found = schedules.get(db, row, schedule_id)
        schedules.update(db, row, found, body, cp.schedule_loop.clock())
        info = schedules.info(found)
    cp.schedule_loop.wake()
    return info


@router.get("/schedules/{schedule_id}/runs", response_model=list[ScheduleFiringInfo])
def schedule_runs(
    ws: str, schedule_id: ScheduleId, cp: ControlPlane = Depends(plane)
) -> list[ScheduleFiringInfo]:
    """The pipeline runs the schedule submitted (newest first), each with its slot."""
    with cp.store.reading() as db:
        return schedules.firings(db, schedules.get(db, cp.workspaces.get_row(db, ws), schedule_id))
