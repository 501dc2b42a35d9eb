"""Automated ML runs: submit (the parent run and its search row), read, cancel."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.automl import search
from trainforge.automl.names import goal, sdk_model_name
from trainforge.schemas.automl import AutoMLCreate, AutoMLInfo, IterationInfo
from trainforge.schemas.runs import RunCreate, RunStatus
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services.child_runs import cancel_child
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.automl import AutoMLIteration, AutoMLSearch
from trainforge.server.store.models import utcnow

RUN_TYPE = "automl"
CANCELED_WITH_PARENT = "The run was canceled because its AutoML run {parent} was canceled"


def create(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    experiment_name: str,
    request: AutoMLCreate,
    parent_run_id: str | None = None,
    run_type: str = RUN_TYPE,
) -> models.Run:
    """Create the AutoML run (Running at once) and the search the AutoML loop drives; a
    pipeline's AutoMLStep makes it a step run of its pipeline run (``parent_run_id``,
    ``run_type``)."""
    definition = request.definition
    if not definition.script:
        raise BadRequest("definition.script: an AutoML run needs its iteration script")
    runs._check_target(db, ws, definition)
    seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
    assert request.rows is not None and request.columns is not None  # AutoMLCreate's rule
    try:
        searcher = search.new_search(
            request.task, request.learners, request.rows, request.columns, seed
        )
    except search.EngineMissing as exc:
        raise BadRequest(f"task: {exc}") from None
    settings = {
        "task": request.task,
        "primary_metric": request.primary_metric,
        "iterations": str(request.iterations),
        "max_concurrent_iterations": str(request.max_concurrent_iterations),
    }
    parent = runs.create(
        db,
        ws,
        experiment_name,
        RunCreate(
            run_id=request.run_id or f"AutoML_{uuid.uuid4()}",
            kind="sweep",
            run_type=run_type,
            parent_run_id=parent_run_id,
            definition=definition,
            snapshot_id=request.snapshot_id,
            tags=dict(request.tags),
            properties={
                **request.properties,
                **settings,
                "ContentSnapshotId": request.snapshot_id,
                "azureml.runsource": "automl",
                "runTemplate": "automl_child",
            },
            display_name=request.display_name,
            description=request.description,
            submitted_by=request.submitted_by,
        ),
    )
    minutes = request.experiment_timeout_minutes
    db.add(
        AutoMLSearch(
            run_id=parent.id,
            workspace_id=ws.id,
            spec={**request.model_dump(mode="json"), "seed": seed},
            state="running",
            next_index=0,
            calls=0,
            searcher=searcher,
            deadline=utcnow() + timedelta(minutes=minutes) if minutes is not None else None,
        )
    )
    db.flush()
    return parent


def search_of(db: Session, ws: models.Workspace, run_id: str) -> AutoMLSearch:
    row = db.get(AutoMLSearch, (ws.id, run_id))
    if row is None:
        raise NotFound(f"AutoML run {run_id!r} not found in workspace {ws.name!r}")
    return row


def iterations_of(db: Session, row: AutoMLSearch) -> list[AutoMLIteration]:
    return list(
        db.scalars(
            select(AutoMLIteration)
            .where(
                AutoMLIteration.workspace_id == row.workspace_id,
                AutoMLIteration.automl_run_id == row.run_id,
            )
            .order_by(AutoMLIteration.index)
        )
    )


def info(db: Session, ws: models.Workspace, run_id: str) -> AutoMLInfo:
    row = search_of(db, ws, run_id)
    spec = AutoMLCreate.model_validate(row.spec)
    parent = db.get(models.Run, (ws.id, row.run_id))
    assert parent is not None
    children = []
    for it in iterations_of(db, row):
        run = db.get(models.Run, (ws.id, it.run_id))
        children.append(
            IterationInfo(
                iteration=it.index,
                run_id=it.run_id,
                learner=it.learner,
                run_algorithm=sdk_model_name(spec.task, it.learner),
                config=it.config,
                status=run.status if run else "Unknown",
                score=it.score,
                start_time_utc=run.started if run else None,
                end_time_utc=run.ended if run else None,
            )
        )
    return AutoMLInfo(
        run_id=row.run_id,
        status=parent.status,
        automl_state=row.state,
        task=spec.task,
        primary_metric=spec.primary_metric,
        goal="maximize" if goal(spec.primary_metric) == "maximize" else "minimize",
        iterations=spec.iterations,
        max_concurrent_iterations=spec.max_concurrent_iterations,
        best_run_id=row.best_run_id,
        best_score=row.best_value,
        stop_reason=row.stop_reason,
        guardrails=spec.guardrails,
        children=children,
    )


def cancel_active(
    db: Session, runs: RunService, ws: models.Workspace, row: AutoMLSearch, reason: str, code: str
) -> list[str]:
    """Cancel every iteration that has not ended; their run ids."""
    canceled = []
    for it in iterations_of(db, row):
        run = db.get(models.Run, (ws.id, it.run_id))
        if run is not None and not RunStatus(run.status).is_terminal:
            cancel_child(db, runs, ws, run, reason, code)
            canceled.append(run.id)
    return canceled


def cancel(db: Session, runs: RunService, ws: models.Workspace, run_id: str) -> models.Run:
    """``AutoMLRun.cancel()``: the AutoML run and every iteration still going."""
    row = search_of(db, ws, run_id)
    cancel_active(db, runs, ws, row, CANCELED_WITH_PARENT.format(parent=run_id), "AutoMLCanceled")
    return runs.cancel(db, ws, run_id)


def cancel_iteration(
    db: Session, runs: RunService, ws: models.Workspace, run_id: str, iteration: int
) -> models.Run:
    """``AutoMLRun.cancel_iteration(i)``: one iteration; the search goes on."""
    row = search_of(db, ws, run_id)
    it = db.get(AutoMLIteration, (ws.id, row.run_id, iteration))
    if it is None:
        raise NotFound(f"AutoML run {run_id!r} has no iteration {iteration}")
    run = db.get(models.Run, (ws.id, it.run_id))
    assert run is not None
    cancel_child(
        db, runs, ws, run, f"Iteration {iteration} was canceled by the user", "IterationCanceled"
    )
    return run
