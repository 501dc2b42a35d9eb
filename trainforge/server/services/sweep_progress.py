"""One step of a sweep: report ended trials, apply the policy, keep the budgets, finish.

``advance`` is called by the sweeper whenever runs change and on a timer. Everything it
decides is written to the sweep's tables in the same transaction, so a control plane
that restarts mid-sweep goes on from the same place.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from trainforge.hyperdrive import samplers
from trainforge.hyperdrive.arguments import trial_arguments
from trainforge.hyperdrive.policies import Policy, best_of, better
from trainforge.schemas.runs import ErrorDetail, MetricBatch, MetricPoint, RunCreate, RunStatus
from trainforge.schemas.sweeps import SweepCreate
from trainforge.server.errors import ServiceError
from trainforge.server.services import metrics, run_states
from trainforge.server.services.runs import RunService
from trainforge.server.services.sweeps import (
    CANCELED_WITH_PARENT,
    cancel_active,
    cancel_trial,
    curves_of,
    hyperparameter_tag,
    trials_of,
)
from trainforge.server.store import models
from trainforge.server.store.sweeps import Sweep, SweepTrial

BEST_TABLE = "best_child_by_primary_metric"
# The sweep gives up when its first child runs all fail: the script is broken, not the values.
FAILURE_LIMIT = 5


@dataclass
class Outcome:
    """What the step did that others must hear about once it is committed."""

    lines: list[str] = field(default_factory=list)
    runs_changed: bool = False


def _log_best(db: Session, parent: models.Run, run_id: str, value: float, final: bool) -> None:
    point = MetricPoint(
        name=BEST_TABLE,
        kind="row",
        value={"run_id": run_id, "metric_value": value, "final": final},
        time=time.time(),
    )
    metrics.add_batch(db, parent, MetricBatch(batch_id=uuid.uuid4().hex, points=[point]))


def _finish(
    db: Session, sweep: Sweep, parent: models.Run, status: RunStatus, error: ErrorDetail | None
) -> None:
    sweep.state = "done"
    if sweep.best_run_id is not None and sweep.best_value is not None:
        _log_best(db, parent, sweep.best_run_id, sweep.best_value, final=True)
    if error is not None and parent.error is None:
        parent.error = error.model_dump(mode="json")
    if not RunStatus(parent.status).is_terminal:
        run_states.transition(parent, status)


def _launch(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    experiment: models.Experiment,
    parent: models.Run,
    sweep: Sweep,
    spec: SweepCreate,
    sample: samplers.Sample,
) -> models.Run:
    index = sweep.next_index
    definition = spec.definition.model_copy(
        update={"arguments": trial_arguments(spec.definition.arguments, sample.parameters)}
    )
    child = runs.create(
        db,
        ws,
        experiment.name,
        RunCreate(
            run_id=f"{parent.id}_{index}",
            kind="script",
            run_type="azureml.scriptrun",
            parent_run_id=parent.id,
            definition=definition,
            snapshot_id=spec.snapshot_id,
            properties={
                "ContentSnapshotId": spec.snapshot_id,
                "azureml.runsource": "hyperdrive",
            },
            submitted_by=parent.submitted_by,
        ),
    )
    db.add(
        SweepTrial(
            sweep_run_id=sweep.run_id,
            index=index,
            run_id=child.id,
            parameters=sample.parameters,
            internal=sample.internal,
            evaluated=0,
        )
    )
    parent.tags = {**parent.tags, hyperparameter_tag(child.id): json.dumps(sample.parameters)}
    sweep.next_index = index + 1
    return child


def advance(db: Session, runs: RunService, sweep: Sweep, now: datetime) -> Outcome:
    """Move the sweep one step; return what to log and whether runs changed."""
    out = Outcome()
    spec = SweepCreate.model_validate(sweep.spec)
    parent = db.get(models.Run, sweep.run_id)
    if parent is None:
        sweep.state = "done"
        return out
    ws = db.get(models.Workspace, parent.workspace_id)
    experiment = db.get(models.Experiment, parent.experiment_id)
    assert ws is not None and experiment is not None
    metric, maximize = (
        spec.primary_metric_config.name,
        spec.primary_metric_config.goal == "maximize",
    )
    trials = trials_of(db, sweep)
    child = {t.run_id: db.get(models.Run, t.run_id) for t in trials}
    status = {rid: RunStatus(run.status) for rid, run in child.items() if run is not None}

    # A HyperDrive run canceled through the runs API, or out of time: stop every child.
    parent_status = RunStatus(parent.status)
    if parent_status.is_terminal or parent_status is RunStatus.CANCEL_REQUESTED:
        stopped = cancel_active(
            db, runs, ws, sweep, CANCELED_WITH_PARENT.format(parent=parent.id), "HyperDriveCanceled"
        )
        out.lines.append(
            f"The HyperDrive run was canceled; {len(stopped)} running child runs canceled"
        )
        out.runs_changed = True
        _finish(db, sweep, parent, RunStatus.CANCELED, None)
        return out
    if now >= sweep.deadline:
        reason = (
            f"The run was canceled because its HyperDrive run reached max_duration_minutes="
            f"{spec.max_duration_minutes}"
        )
        stopped = cancel_active(db, runs, ws, sweep, reason, "HyperDriveMaxDuration")
        out.lines.append(
            f"max_duration_minutes={spec.max_duration_minutes} reached: the HyperDrive run and "
            f"{len(stopped)} running child runs are canceled"
        )
        runs.cancel(db, ws, parent.id)
        out.runs_changed = True
        _finish(db, sweep, parent, RunStatus.CANCELED, None)
        return out

    curves = curves_of(db, list(child), metric)
    for trial in trials:
        if trial.canceled_by_policy:
            # What a stopped run logs while it shuts down is not part of its curve: the
            # policy judged it at this interval, and later verdicts must not depend on timing.
            curves[trial.run_id] = curves[trial.run_id][: trial.evaluated]
    if not trials and sweep.next_index == 0:
        out.lines.append(_describe(parent.id, spec))

    # Children that ended since the last step.
    ended: set[str] = set()
    for trial in trials:
        now_status = status.get(trial.run_id)
        if now_status is not None and now_status.is_terminal and trial.reported != now_status.value:
            trial.reported = now_status.value
            ended.add(trial.run_id)
            curve = curves[trial.run_id]
            best = (
                f"; best {metric} {best_of(curve, maximize):.6g}"
                if curve
                else f"; no {metric} logged"
            )
            out.lines.append(f"Child run {trial.run_id} {now_status.value}{best}")

    # The policy: every running child, at every interval whose values changed since the
    # last step (its own new values, or others' catching up with it).
    policy = Policy(spec.policy_config.name, dict(spec.policy_config.properties))
    finished = frozenset(rid for rid, s in status.items() if s.is_terminal)
    state = json.loads(json.dumps(sweep.policy_state or {}))
    judged = {
        trial.run_id: trial
        for trial in trials
        if not trial.canceled_by_policy
        and trial.run_id in status
        and _judgeable(status[trial.run_id])
    }
    decisions = policy.review(
        curves,
        {trial.run_id: trial.evaluated for trial in trials},
        judged,
        maximize,
        finished,
        state,
        metric,
        ended,
    )
    for trial in trials:
        trial.evaluated = len(curves[trial.run_id])
    for run_id, decision in sorted(decisions.items()):
        trial, run = judged[run_id], child[run_id]
        assert run is not None
        cancel_trial(db, runs, ws, run, decision.reason, "EarlyTermination")
        trial.canceled_by_policy = decision.reason
        trial.evaluated = decision.interval
        curves[run_id] = curves[run_id][: decision.interval]
        status[run_id] = RunStatus(run.status)
        out.lines.append(f"Child run {run_id}: {decision.reason}")
        out.runs_changed = True
    if state != (sweep.policy_state or {}):
        sweep.policy_state = state

    # The best child so far, also kept as the parent's best_child_by_primary_metric table.
    for trial in trials:
        curve = curves[trial.run_id]
        if not curve:
            continue
        value = best_of(curve, maximize)
        if sweep.best_value is None or better(value, sweep.best_value, maximize):
            sweep.best_run_id, sweep.best_value = trial.run_id, value
            _log_best(db, parent, trial.run_id, value, final=False)
            out.lines.append(f"New best child run {trial.run_id}: {metric} {value:.6g}")

    # A script that fails for every value: stop instead of burning the budget.
    ended_trials = [trial for trial in trials if status.get(trial.run_id, RunStatus.QUEUED).is_terminal]
    limit = min(FAILURE_LIMIT, spec.max_total_runs)
    if len(ended_trials) >= limit and all(status[t.run_id] is RunStatus.FAILED for t in ended_trials):
        last = child[ended_trials[-1].run_id]
        cause = (last.error or {}).get("message", "") if last is not None else ""
        cancel_active(db, runs, ws, sweep, "The HyperDrive run failed", "HyperDriveFailed")
        message = f"HyperDrive run failed: its first {len(ended_trials)} child runs all failed. Last error: {cause}"
        out.lines.append(message)
        out.runs_changed = True
        _finish(db, sweep, parent, RunStatus.FAILED, ErrorDetail(code="UserError", message=message))
        return out

    # New children while the budgets allow.
    concurrent = spec.max_concurrent_runs or spec.max_total_runs
    active = sum(1 for s in status.values() if not s.is_terminal)
    method = spec.generator_config.name
    space = spec.generator_config.parameter_space
    capacity = samplers.capacity(method, space)
    limit_total = (
        min(spec.max_total_runs, capacity) if capacity is not None else spec.max_total_runs
    )
    history = [
        samplers.Finished(t.internal, best_of(curves[t.run_id], maximize))
        for t in trials
        if t.internal is not None
        and status.get(t.run_id) is RunStatus.COMPLETED
        and curves[t.run_id]
    ]
    while active < concurrent and sweep.next_index < limit_total:
        sample = samplers.next_sample(
            method, space, sweep.next_index, sweep.seed, maximize, history
        )
        if sample is None:
            limit_total = sweep.next_index
            break
        try:
            run = _launch(db, runs, ws, experiment, parent, sweep, spec, sample)
        except ServiceError as exc:  # e.g. the target cluster was deleted meanwhile
            message = f"HyperDrive run failed: could not create child run {sweep.next_index}: {exc.message}"
            cancel_active(db, runs, ws, sweep, "The HyperDrive run failed", "HyperDriveFailed")
            out.lines.append(message)
            out.runs_changed = True
            _finish(
                db, sweep, parent, RunStatus.FAILED, ErrorDetail(code="UserError", message=message)
            )
            return out
        out.lines.append(f"Child run {run.id} queued with {json.dumps(sample.parameters)}")
        out.runs_changed = True
        active += 1

    if active == 0 and sweep.next_index >= limit_total:
        counts = {s: sum(1 for v in status.values() if v is s) for s in finished_statuses()}
        by_policy = sum(1 for t in trials if t.canceled_by_policy)
        best = (
            f"best child run {sweep.best_run_id} with {metric} {sweep.best_value:.6g}"
            if sweep.best_run_id
            else f"no child run logged {metric}"
        )
        out.lines.append(
            f"HyperDrive run completed: {len(trials)} child runs ({counts[RunStatus.COMPLETED]} "
            f"completed, {by_policy} canceled by {policy.label}, {counts[RunStatus.FAILED]} failed); {best}"
        )
        _finish(db, sweep, parent, RunStatus.COMPLETED, None)
        out.runs_changed = True
    return out


def _describe(run_id: str, spec: SweepCreate) -> str:
    generator, policy = spec.generator_config, spec.policy_config
    properties = ", ".join(f"{k}={v}" for k, v in policy.properties.items())
    return (
        f"HyperDrive run {run_id} started: {generator.name} sampling over "
        f"{json.dumps(generator.parameter_space)}; policy {policy.name}({properties}); primary metric "
        f"{spec.primary_metric_config.name} ({spec.primary_metric_config.goal}); max_total_runs="
        f"{spec.max_total_runs}, max_concurrent_runs={spec.max_concurrent_runs or spec.max_total_runs}, "
        f"max_duration_minutes={spec.max_duration_minutes}"
    )


def _judgeable(status: RunStatus) -> bool:
    """A child the policy may still cancel: not ended, and not already stopping."""
    return not status.is_terminal and status is not RunStatus.CANCEL_REQUESTED


def finished_statuses() -> tuple[RunStatus, ...]:
    return (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)
