"""HyperDrive sweeps: submit (the parent run and its sweep row), read, cancel."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.hyperdrive.policies import best_of
from trainforge.schemas.runs import RunCreate, RunStatus
from trainforge.schemas.sweeps import SweepCreate, SweepInfo, TrialInfo
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services import metrics
from trainforge.server.services.child_runs import cancel_child
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.models import utcnow
from trainforge.server.store.sweeps import Sweep, SweepTrial

RUN_TYPE = "hyperdrive"
CANCELED_WITH_PARENT = "The run was canceled because its HyperDrive run {parent} was canceled"


def hyperparameter_tag(child_run_id: str) -> str:
    """The parent's tag holding a child's sampled values (SDK 1.4x naming)."""
    return f"_aml_system_{child_run_id}"


def create(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    experiment_name: str,
    request: SweepCreate,
    parent_run_id: str | None = None,
    run_type: str = RUN_TYPE,
) -> models.Run:
    """Create the HyperDrive run (Running at once) and the sweep the sweeper drives; a
    pipeline's HyperDriveStep makes it a step run of its pipeline run (``parent_run_id``,
    ``run_type``)."""
    definition = request.definition
    if not (definition.script or definition.command):
        raise BadRequest("definition.script: a HyperDrive run needs a script or a command")
    runs._check_target(db, ws, definition)
    if request.generator_config.name == "BayesianOptimization":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise BadRequest(
                "generator_config: Bayesian sampling needs optuna where the control plane runs: "
                "pip install 'trainforge[hyperdrive]'"
            ) from None
    spec = request.model_dump(mode="json")
    configs = {
        "generator_config": json.dumps(spec["generator_config"]),
        "policy_config": json.dumps(spec["policy_config"]),
        "primary_metric_config": json.dumps(spec["primary_metric_config"]),
    }
    parent = runs.create(
        db,
        ws,
        experiment_name,
        RunCreate(
            run_id=request.run_id or f"HD_{uuid.uuid4()}",
            kind="sweep",
            run_type=run_type,
            parent_run_id=parent_run_id,
            definition=definition,
            snapshot_id=request.snapshot_id,
            tags={**request.tags, **configs},
            properties={
                **request.properties,
                **configs,
                "ContentSnapshotId": request.snapshot_id,
                "azureml.runsource": "hyperdrive",
                "runTemplate": "HyperDrive",
            },
            display_name=request.display_name,
            description=request.description,
            submitted_by=request.submitted_by,
        ),
    )
    seed = request.generator_config.properties.get("rngSeed")
    db.add(
        Sweep(
            run_id=parent.id,
            workspace_id=ws.id,
            spec=spec,
            seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
            state="running",
            next_index=0,
            policy_state={},
            deadline=utcnow() + timedelta(minutes=request.max_duration_minutes),
        )
    )
    db.flush()
    return parent


def sweep_of(db: Session, ws: models.Workspace, run_id: str) -> Sweep:
    sweep = db.get(Sweep, (ws.id, run_id))
    if sweep is None:
        raise NotFound(f"HyperDrive run {run_id!r} not found in workspace {ws.name!r}")
    return sweep


def trials_of(db: Session, sweep: Sweep) -> list[SweepTrial]:
    return list(
        db.scalars(
            select(SweepTrial)
            .where(
                SweepTrial.workspace_id == sweep.workspace_id,
                SweepTrial.sweep_run_id == sweep.run_id,
            )
            .order_by(SweepTrial.index)
        )
    )


@dataclass(frozen=True)
class JudgedTrial:
    """A run that is a trial of a running sweep: what its policy judges it by."""

    key: tuple[str, str, int]  # the SweepTrial's primary key
    metric: str  # the sweep's primary metric
    canceled_by_policy: str | None


def judged_trial(db: Session, run: models.Run) -> JudgedTrial | None:
    """``run`` as a trial of a sweep still running; None for any other run."""
    if run.parent_run_id is None:
        return None
    sweep = db.get(Sweep, (run.workspace_id, run.parent_run_id))
    if sweep is None or sweep.state != "running":
        return None
    trial = db.scalars(
        select(SweepTrial).where(
            SweepTrial.workspace_id == run.workspace_id,
            SweepTrial.sweep_run_id == sweep.run_id,
            SweepTrial.run_id == run.id,
        )
    ).first()
    if trial is None:
        return None
    return JudgedTrial(
        (trial.workspace_id, trial.sweep_run_id, trial.index),
        str(sweep.spec["primary_metric_config"]["name"]),
        trial.canceled_by_policy,
    )


def numbers(value: object) -> list[float]:
    """A metric's values as get_metrics shapes them, numbers only, in logging order."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def curves_of(
    db: Session, workspace_id: str, run_ids: list[str], metric: str
) -> dict[str, list[float]]:
    found = metrics.metrics_of(db, workspace_id, run_ids, metric) if run_ids else {}
    return {run_id: numbers(found.get(run_id, {}).get(metric)) for run_id in run_ids}


def info(db: Session, ws: models.Workspace, run_id: str) -> SweepInfo:
    sweep = sweep_of(db, ws, run_id)
    spec = SweepCreate.model_validate(sweep.spec)
    parent = db.get(models.Run, (ws.id, sweep.run_id))
    assert parent is not None
    trials = trials_of(db, sweep)
    maximize = spec.primary_metric_config.goal == "maximize"
    curves = curves_of(db, ws.id, [t.run_id for t in trials], spec.primary_metric_config.name)
    rows = []
    for trial in trials:
        run = db.get(models.Run, (ws.id, trial.run_id))
        curve = curves[trial.run_id]
        rows.append(
            TrialInfo(
                index=trial.index,
                run_id=trial.run_id,
                parameters=trial.parameters,
                status=run.status if run else "Unknown",
                best_primary_metric=best_of(curve, maximize) if curve else None,
                intervals=len(curve),
                canceled_by_policy=trial.canceled_by_policy,
                start_time_utc=run.started if run else None,
                end_time_utc=run.ended if run else None,
            )
        )
    return SweepInfo(
        run_id=sweep.run_id,
        status=parent.status,
        sweep_state=sweep.state,
        generator_config=spec.generator_config,
        policy_config=spec.policy_config,
        primary_metric_config=spec.primary_metric_config,
        max_total_runs=spec.max_total_runs,
        max_concurrent_runs=spec.max_concurrent_runs or spec.max_total_runs,
        max_duration_minutes=spec.max_duration_minutes,
        seed=sweep.seed,
        best_run_id=sweep.best_run_id,
        best_primary_metric=sweep.best_value,
        trials=rows,
    )


def cancel_trial(
    db: Session, runs: RunService, ws: models.Workspace, run: models.Run, reason: str, code: str
) -> None:
    """Cancel a child run of the sweep, saying why (the parent-run loops' ``cancel_child``)."""
    cancel_child(db, runs, ws, run, reason, code)


def cancel_active(
    db: Session, runs: RunService, ws: models.Workspace, sweep: Sweep, reason: str, code: str
) -> list[str]:
    """Cancel every child run of the sweep that has not ended; return their ids."""
    canceled = []
    for trial in trials_of(db, sweep):
        run = db.get(models.Run, (ws.id, trial.run_id))
        if run is not None and not RunStatus(run.status).is_terminal:
            cancel_trial(db, runs, ws, run, reason, code)
            canceled.append(run.id)
    return canceled


def cancel(db: Session, runs: RunService, ws: models.Workspace, run_id: str) -> models.Run:
    """``HyperDriveRun.cancel()``: the HyperDrive run and every child still going."""
    sweep = sweep_of(db, ws, run_id)
    cancel_active(
        db, runs, ws, sweep, CANCELED_WITH_PARENT.format(parent=run_id), "HyperDriveCanceled"
    )
    return runs.cancel(db, ws, run_id)
