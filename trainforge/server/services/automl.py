"""Automated ML runs: submit (the parent run and its search row), continue, read, cancel."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.automl import search
from trainforge.automl.names import goal, sdk_model_name
from trainforge.schemas.automl import (
    MAX_ITERATIONS,
    AutoMLContinue,
    AutoMLCreate,
    AutoMLInfo,
    IterationInfo,
)
from trainforge.schemas.runs import RunCreate, RunStatus
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services.child_runs import cancel_child
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.automl import AutoMLIteration, AutoMLSearch
from trainforge.server.store.models import utcnow

RUN_TYPE = "automl"
# The property of a continued AutoML run that names the run it continues.
CONTINUED_PROPERTY = "azureml.automl.continued_run_id"
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
    if request.continued_from is not None:
        raise BadRequest(
            "continued_from: set by AutoMLRun.continue_experiment "
            "(POST .../automl/{run_id}/continue), not by a submit"
        )
    return _create(db, runs, ws, experiment_name, request, parent_run_id, run_type)


def _create(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    experiment_name: str,
    request: AutoMLCreate,
    parent_run_id: str | None = None,
    run_type: str = RUN_TYPE,
    continued: AutoMLSearch | None = None,
) -> models.Run:
    definition = request.definition
    if not definition.script:
        raise BadRequest("definition.script: an AutoML run needs its iteration script")
    runs._check_target(db, ws, definition)
    seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
    assert request.rows is not None and request.columns is not None  # AutoMLCreate's rule
    if continued is not None:
        # FLAML's searcher as the continued run left it: it knows every config tried and
        # its score, so it proposes none of them again.
        searcher = continued.searcher
    else:
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
                **({CONTINUED_PROPERTY: continued.run_id} if continued is not None else {}),
            },
            display_name=request.display_name,
            description=request.description,
            submitted_by=request.submitted_by,
        ),
    )
    minutes = request.experiment_timeout_minutes
    row = AutoMLSearch(
        run_id=parent.id,
        workspace_id=ws.id,
        spec={**request.model_dump(mode="json"), "seed": seed},
        state="running",
        next_index=0,
        calls=0,
        searcher=searcher,
        deadline=utcnow() + timedelta(minutes=minutes) if minutes is not None else None,
    )
    if continued is not None:
        # The continued run's iterations, as they ended: the best so far, the numbering
        # and the searcher's trial ids go on from them.
        row.next_index, row.calls = continued.next_index, continued.calls
        row.best_run_id, row.best_value = continued.best_run_id, continued.best_value
    db.add(row)
    db.flush()
    if continued is not None:
        for it in iterations_of(db, continued):
            db.add(
                AutoMLIteration(
                    workspace_id=ws.id,
                    automl_run_id=parent.id,
                    index=it.index,
                    run_id=it.run_id,
                    learner=it.learner,
                    config=dict(it.config),
                    trial_id=it.trial_id,
                    score=it.score,
                    reported=it.reported,
                )
            )
        db.flush()
    return parent


def continue_run(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    run_id: str,
    request: AutoMLContinue,
) -> models.Run:
    """``AutoMLRun.continue_experiment``: a new AutoML run in the same experiment that goes
    on from ``run_id`` (which has ended and is not written to): its settings, with the
    budgets and data given; its iterations seeded into the search (FLAML's searcher as it
    left it, the iterations' configs and scores, the best so far); its own iterations
    numbered after them."""
    old = search_of(db, ws, run_id)
    parent = db.get(models.Run, (ws.id, old.run_id))
    assert parent is not None
    if not RunStatus(parent.status).is_terminal:
        raise BadRequest(
            f"run_id: AutoML run {run_id!r} is {parent.status}; continue it once it has "
            "ended (wait_for_completion)"
        )
    experiment = db.get(models.Experiment, parent.experiment_id)
    assert experiment is not None
    spec = AutoMLCreate.model_validate(old.spec)
    more = request.iterations if request.iterations is not None else spec.iterations
    total = old.next_index + more
    if total > MAX_ITERATIONS:
        raise BadRequest(
            f"iterations: {old.next_index} iterations so far and {more} more exceed "
            f"{MAX_ITERATIONS} in all"
        )
    update: dict[str, object] = {
        "iterations": total,
        "continued_from": old.run_id,
        "first_iteration": old.next_index,
        "run_id": request.run_id,
        "tags": dict(request.tags),
        "properties": {},
        "display_name": None,
        "description": None,
        "submitted_by": request.submitted_by or spec.submitted_by,
        "seed": old.spec.get("seed"),
    }
    if request.experiment_timeout_minutes is not None:
        update["experiment_timeout_minutes"] = request.experiment_timeout_minutes
    if request.experiment_exit_score is not None:
        update["experiment_exit_score"] = request.experiment_exit_score
    if request.snapshot_id is not None:
        update |= {
            "snapshot_id": request.snapshot_id,
            "rows": request.rows,
            "columns": request.columns,
        }
        if request.guardrails is not None:
            update["guardrails"] = request.guardrails
    continued = AutoMLCreate.model_validate({**spec.model_dump(), **update})
    return _create(db, runs, ws, experiment.name, continued, continued=old)


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
        continued_from=spec.continued_from,
        first_iteration=spec.first_iteration,
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
    continued_from = row.spec.get("continued_from")
    if continued_from is not None and iteration < row.spec.get("first_iteration", 0):
        raise BadRequest(
            f"iteration: iteration {iteration} is AutoML run {continued_from!r}'s, which "
            f"AutoML run {run_id!r} continues; it has ended"
        )
    run = db.get(models.Run, (ws.id, it.run_id))
    assert run is not None
    cancel_child(
        db, runs, ws, run, f"Iteration {iteration} was canceled by the user", "IterationCanceled"
    )
    return run
