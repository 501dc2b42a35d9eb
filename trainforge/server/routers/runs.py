"""Runs: submit, read, list, update, cancel, children, properties and metrics."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from trainforge.schemas import limits
from trainforge.schemas.limits import WaitSeconds
from trainforge.schemas.names import ExperimentName
from trainforge.schemas.run_filters import (
    MAX_NAME,
    ORDER_HELP,
    RunFilter,
    RunOrder,
    parse_filter,
    parse_order,
)
from trainforge.schemas.runs import (
    BatchResult,
    ChildrenCreate,
    MetricBatch,
    RunCreate,
    RunInfo,
    RunList,
    RunUpdate,
)
from trainforge.server.errors import BadRequest
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import IdempotencyKey, plane
from trainforge.server.services import fencing, metrics, request_keys, sweeps

router = APIRouter(prefix="/workspaces/{ws}")
# Runs per page of a listing: the SDK's generators and the CLI page through them.
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# Metric columns one listing may ask for (the studio's chosen columns).
MAX_METRIC_COLUMNS = 50


def _filter(raw: str | None, field: str) -> str | dict[str, Any] | list[str] | None:
    """Tag and property filters arrive as JSON: a key, a list of keys or a key -> value map."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if not isinstance(value, str | dict | list):
        raise BadRequest(f"{field}: give a key, a list of keys or a key -> value object")
    return value


def _conditions(raw: list[str]) -> RunFilter:
    """``filter`` expressions parsed by the schema; what is wrong is a 400 naming it."""
    try:
        return parse_filter(raw)
    except ValueError as error:
        raise BadRequest(f"filter: {error}") from None


def _order(raw: str | None) -> RunOrder | None:
    """``order_by`` parsed by the schema; a key it does not know is a 400 saying which are."""
    if raw is None:
        return None
    try:
        return parse_order(raw)
    except ValueError as error:
        raise BadRequest(f"order_by: {error}") from None


def _metric_names(raw: list[str]) -> list[str]:
    if len(raw) > MAX_METRIC_COLUMNS:
        raise BadRequest(f"metric: {len(raw)} names; at most {MAX_METRIC_COLUMNS}")
    for name in raw:
        if not 1 <= len(name) <= MAX_NAME:
            raise BadRequest(f"metric: names take 1 to {MAX_NAME} characters")
    return list(dict.fromkeys(raw))


@router.post("/experiments/{experiment}/runs", response_model=RunInfo, status_code=201)
def submit_run(
    ws: str,
    experiment: ExperimentName,
    body: RunCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        request = f"experiments/{experiment}/runs"
        run = cp.runs.create_once(
            db, row, idempotency_key, request, lambda: cp.runs.create(db, row, experiment, body)
        )
        info = cp.runs.info(db, row, run)
    cp.scheduler.wake()
    return info


@router.get("/runs", response_model=RunList)
def list_runs(
    ws: str,
    experiment: str | None = None,
    parent: str | None = None,
    recursive: bool = False,
    include_children: bool = False,
    tags: str | None = Query(default=None, description="JSON: a key, a list of keys or an object"),
    properties: str | None = Query(default=None, description="JSON: as tags"),
    status: str | None = Query(default=None, max_length=32),
    type: str | None = None,
    target: str | None = None,
    created_after: datetime | None = Query(default=None, description="ISO 8601, inclusive"),
    created_before: datetime | None = Query(default=None, description="ISO 8601, exclusive"),
    limit: int = Query(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Runs per page"),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
    order: Literal["newest", "oldest"] = Query(default="newest", description="By creation"),
    order_by: str | None = Query(
        default=None,
        description=f"Sort, instead of order: {ORDER_HELP} (asc unless said); runs without "
        "the value last, ties by run id",
    ),
    filter: list[str] = Query(
        default=[],
        description="Conditions joined by 'and' / 'or' with parentheses: metrics.NAME > 0.9, max(metrics.NAME) <= 1, "
        "tags.KEY = value, properties.KEY != value (docs/monitoring.md)",
    ),
    metric: list[str] = Query(
        default=[], description="Metric names whose last value each listed run carries"
    ),
    cp: ControlPlane = Depends(plane),
) -> RunList:
    """Runs newest first, a page at a time: filters and order in SQL, ``next_cursor`` set
    while more runs follow."""
    # Checked before the database is touched: a bad filter is a 400, never a 500.
    wanted = _conditions(filter)
    sort = _order(order_by)
    columns = _metric_names(metric)
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        runs, next_cursor = cp.runs.list(
            db,
            row,
            experiment_name=experiment,
            parent_run_id=parent,
            recursive=recursive,
            include_children=include_children,
            tags=_filter(tags, "tags"),
            properties=_filter(properties, "properties"),
            status=status,
            run_type=type,
            target=target,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
            oldest_first=order == "oldest",
            where=wanted.where,
            order=sort,
        )
        values = metrics.last_values(db, row.id, [run.id for run in runs], columns)
        return RunList(
            runs=cp.runs.infos(db, row, runs),
            next_cursor=next_cursor,
            metrics=values if columns else {},
        )


@router.get("/runs/{run_id}", response_model=RunInfo)
def get_run(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> RunInfo:
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        return cp.runs.info(db, row, cp.runs.row(db, row, run_id))


@router.get("/runs/{run_id}/wait", response_model=RunInfo)
async def wait_for_run(
    ws: str,
    run_id: str,
    request: Request,
    timeout: WaitSeconds = 10.0,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    """The run once it has ended, or as it is after ``timeout`` seconds (at most 30);
    at once when the caller has gone."""
    deadline = time.monotonic() + timeout
    key = await run_in_threadpool(cp.run_key, ws, run_id)
    while True:
        info = await run_in_threadpool(get_run, ws, run_id, cp)
        if (
            info.status.is_terminal
            or time.monotonic() >= deadline
            or await request.is_disconnected()
        ):
            return info
        await cp.events.wait(key, deadline - time.monotonic())


@router.patch("/runs/{run_id}", response_model=RunInfo)
def update_run(ws: str, run_id: str, body: RunUpdate, cp: ControlPlane = Depends(plane)) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        return cp.runs.info(db, row, cp.runs.update(db, row, run_id, body))


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> Response:
    """Delete an ended run with the runs below it, their metrics and files (Batch AI's
    ``jobs.delete``); its id may then be used again. A run still going: 409."""
    cp.delete_runs(ws, lambda db, row: cp.runs.delete(db, row, run_id))
    return Response(status_code=204)


@router.post("/runs/{run_id}/properties", response_model=RunInfo)
def add_properties(
    ws: str,
    run_id: str,
    body: dict[str, str],
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        return request_keys.once(
            db,
            row,
            idempotency_key,
            f"runs/{run_id}/properties",
            RunInfo,
            lambda: cp.runs.info(db, row, cp.runs.add_properties(db, row, run_id, body)),
        )


@router.post("/runs/{run_id}/cancel", response_model=RunInfo)
def cancel_run(
    ws: str, run_id: str, idempotency_key: IdempotencyKey = None, cp: ControlPlane = Depends(plane)
) -> RunInfo:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        info = request_keys.once(
            db,
            row,
            idempotency_key,
            f"runs/{run_id}/cancel",
            RunInfo,
            lambda: cp.runs.info(db, row, cp.runs.cancel(db, row, run_id)),
        )
    cp.scheduler.wake()
    return info


@router.post("/runs/{run_id}/children", response_model=list[RunInfo], status_code=201)
def create_children(
    ws: str,
    run_id: str,
    body: ChildrenCreate,
    idempotency_key: IdempotencyKey = None,
    cp: ControlPlane = Depends(plane),
) -> list[RunInfo]:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        request = f"runs/{run_id}/children"
        children = cp.runs.created_for(db, row, idempotency_key, request)
        if children is None:
            children = cp.runs.create_children(db, row, run_id, body)
            cp.runs.remember(db, row, idempotency_key, request, children)
        return [cp.runs.info(db, row, child) for child in children]


@router.post("/runs/{run_id}/metrics:batch", response_model=BatchResult)
def post_metrics(
    ws: str, run_id: str, body: MetricBatch, cp: ControlPlane = Depends(plane)
) -> BatchResult:
    with cp.store.session() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        fencing.check_write(db, run, body.attempt, "metrics")
        stored = metrics.add_batch(db, run, body)
        trial = sweeps.judged_trial(db, run)
    result = BatchResult(stored=stored, count=len(body.points))
    if trial is not None:
        # A sweep's trial hears its policy's verdict in this answer, judged on the value
        # it just sent (and stops at once), not from a cancel that comes a pass later.
        result.judged_metric = trial.metric
        result.verdict = cp.sweeper.verdict(trial, {point.name for point in body.points})
    return result


@router.get("/runs/{run_id}/metric_summaries", response_model=dict[str, Any])
def get_metric_summaries(ws: str, run_id: str, cp: ControlPlane = Depends(plane)) -> Response:
    """{name: {kinds, count, last}}: what a page lists of a run's metrics without reading
    every point (``last`` for a name of scalars only)."""
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        found = metrics.summaries_of(db, cp.runs.row(db, row, run_id))
    return Response(json.dumps(found), media_type="application/json")


@router.get("/runs/{run_id}/metric_series", response_model=dict[str, Any])
def get_metric_series(
    ws: str,
    run_id: str,
    name: str = Query(min_length=1, max_length=255, description="the scalar metric's name"),
    points: int = Query(
        metrics.DEFAULT_SERIES_POINTS,
        ge=2,
        le=metrics.MAX_SERIES_POINTS,
        description="the most points to answer; more in the range are downsampled to a "
        "min and a max per bucket",
    ),
    x_min: int | None = Query(
        None,
        ge=limits.INT64_MIN,
        le=limits.INT64_MAX,
        description="the lowest x (step, else index) to answer",
    ),
    x_max: int | None = Query(
        None,
        ge=limits.INT64_MIN,
        le=limits.INT64_MAX,
        description="the highest x (step, else index) to answer",
    ),
    cp: ControlPlane = Depends(plane),
) -> Response:
    """One scalar metric as a chart draws it: exact in the asked x range when it holds at
    most ``points`` points, else downsampled on the server (min and max per bucket)."""
    if x_min is not None and x_max is not None and x_min > x_max:
        raise BadRequest("x_max: must be at least x_min")
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        run = cp.runs.row(db, row, run_id)
        found = metrics.series_of(db, run, name, points, x_min, x_max)
    return Response(json.dumps(found), media_type="application/json")


@router.get("/runs/{run_id}/metrics", response_model=dict[str, Any])
def get_metrics(
    ws: str,
    run_id: str,
    name: str | None = None,
    recursive: bool = False,
    cp: ControlPlane = Depends(plane),
) -> Response:
    """A run's metrics, or {run id: metrics} for its whole subtree when recursive.

    NaN and infinities are returned as JSON's common NaN/Infinity tokens, which
    Python's json module reads back.
    """
    with cp.store.reading() as db:
        row = cp.workspaces.get_row(db, ws)
        runs = cp.runs.subtree(db, row, run_id) if recursive else [cp.runs.row(db, row, run_id)]
        found = metrics.metrics_of(db, row.id, [run.id for run in runs], name)
    return Response(
        json.dumps(found if recursive else found[run_id]), media_type="application/json"
    )
