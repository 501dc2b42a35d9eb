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
from trainforge.server.services.child_runs import Outcome
from trainforge.server.services.pipelines import output_path
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
    run_id = f"{parent.id}_{index}"
    definition = spec.definition.model_copy(
        update={"arguments": trial_arguments(spec.definition.arguments, sample.parameters)}
    )
    if spec.trial_outputs:
        references = dict(definition.data_references)
        # A HyperDriveStep's trials each write their outputs to a place of their own.
        for name in spec.trial_outputs:
            ref, own = references[name], output_path(run_id, name)
            local = own if ref.path_on_compute == ref.path_on_datastore else ref.path_on_compute
            references[name] = ref.model_copy(
                update={"path_on_datastore": own, "path_on_compute": local}
            )
        definition.data_references = references
    child = runs.create(
        db,
        ws,
        experiment.name,
        RunCreate(
            run_id=run_id,
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
            workspace_id=sweep.workspace_id,
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


@dataclass
class _Step:
    """What one step of a sweep reads once and its phases share."""

    db: Session
    runs: RunService
    sweep: Sweep
    spec: SweepCreate
    parent: models.Run
    ws: models.Workspace
    experiment: models.Experiment
    metric: str
    maximize: bool
    trials: list[SweepTrial]
    child: dict[str, models.Run | None]
    status: dict[str, RunStatus]
    curves: dict[str, list[float]] = field(default_factory=dict)
    out: Outcome = field(default_factory=Outcome)

    def finish(self, status: RunStatus, error: ErrorDetail | None = None) -> Outcome:
        """End the sweep (its HyperDrive run becomes ``status``); runs changed."""
        self.out.runs_changed = True
        _finish(self.db, self.sweep, self.parent, status, error)
        return self.out

    def fail(self, message: str) -> Outcome:
        """Stop every running child and fail the sweep with ``message``."""
        cancel_active(
            self.db, self.runs, self.ws, self.sweep, "The HyperDrive run failed", "HyperDriveFailed"
        )
        self.out.lines.append(message)
        return self.finish(RunStatus.FAILED, ErrorDetail(code="UserError", message=message))


def advance(db: Session, runs: RunService, sweep: Sweep, now: datetime) -> Outcome:
    """Move the sweep one step; return what to log and whether runs changed."""
    step = _load(db, runs, sweep)
    if step is None:
        return Outcome()
    if _stopped_by_parent(step) or _stopped_by_deadline(step, now):
        return step.out
    step.curves = _curves(step)
    ended = _report_ended(step)
    policy = _apply_policy(step, ended)
    _track_best(step)
    if _all_failing(step):
        return step.out
    launched = _launch_more(step)
    if launched is None:
        return step.out
    active, limit_total = launched
    if active == 0 and sweep.next_index >= limit_total:
        _complete(step, policy)
    return step.out


def _load(db: Session, runs: RunService, sweep: Sweep) -> _Step | None:
    """The sweep, its HyperDrive run and its children as they are now; None (and the sweep
    done) when the HyperDrive run is gone."""
    spec = SweepCreate.model_validate(sweep.spec)
    parent = db.get(models.Run, (sweep.workspace_id, sweep.run_id))
    if parent is None:
        sweep.state = "done"
        return None
    ws = db.get(models.Workspace, parent.workspace_id)
    experiment = db.get(models.Experiment, parent.experiment_id)
    assert ws is not None and experiment is not None
    trials = trials_of(db, sweep)
    child = {t.run_id: db.get(models.Run, (sweep.workspace_id, t.run_id)) for t in trials}
    return _Step(
        db=db,
        runs=runs,
        sweep=sweep,
        spec=spec,
        parent=parent,
        ws=ws,
        experiment=experiment,
        metric=spec.primary_metric_config.name,
        maximize=spec.primary_metric_config.goal == "maximize",
        trials=trials,
        child=child,
        status={rid: RunStatus(run.status) for rid, run in child.items() if run is not None},
    )


def _stopped_by_parent(step: _Step) -> bool:
    """A HyperDrive run canceled through the runs API: stop every child."""
    parent_status = RunStatus(step.parent.status)
    if not (parent_status.is_terminal or parent_status is RunStatus.CANCEL_REQUESTED):
        return False
    reason = CANCELED_WITH_PARENT.format(parent=step.parent.id)
    stopped = cancel_active(step.db, step.runs, step.ws, step.sweep, reason, "HyperDriveCanceled")
    step.out.lines.append(
        f"The HyperDrive run was canceled; {len(stopped)} running child runs canceled"
    )
    step.finish(RunStatus.CANCELED)
    return True


def _stopped_by_deadline(step: _Step, now: datetime) -> bool:
    """Out of time (max_duration_minutes): cancel the HyperDrive run and every child."""
    if now < step.sweep.deadline:
        return False
    minutes = step.spec.max_duration_minutes
    reason = (
        f"The run was canceled because its HyperDrive run reached max_duration_minutes={minutes}"
    )
    stopped = cancel_active(
        step.db, step.runs, step.ws, step.sweep, reason, "HyperDriveMaxDuration"
    )
    step.out.lines.append(
        f"max_duration_minutes={minutes} reached: the HyperDrive run and "
        f"{len(stopped)} running child runs are canceled"
    )
    step.runs.cancel(step.db, step.ws, step.parent.id)
    step.finish(RunStatus.CANCELED)
    return True


def _curves(step: _Step) -> dict[str, list[float]]:
    """Each child's primary metric so far (a child stopped by the policy: up to its verdict)."""
    curves = curves_of(step.db, step.ws.id, list(step.child), step.metric)
    for trial in step.trials:
        if trial.canceled_by_policy:
            # What a stopped run logs while it shuts down is not part of its curve: the
            # policy judged it at this interval, and later verdicts must not depend on timing.
            curves[trial.run_id] = curves[trial.run_id][: trial.evaluated]
    if not step.trials and step.sweep.next_index == 0:
        step.out.lines.append(_describe(step.parent.id, step.spec))
    return curves


def _report_ended(step: _Step) -> set[str]:
    """Log the children that ended since the last step; their ids."""
    ended: set[str] = set()
    for trial in step.trials:
        now_status = step.status.get(trial.run_id)
        if now_status is not None and now_status.is_terminal and trial.reported != now_status.value:
            trial.reported = now_status.value
            ended.add(trial.run_id)
            curve = step.curves[trial.run_id]
            best = (
                f"; best {step.metric} {best_of(curve, step.maximize):.6g}"
                if curve
                else f"; no {step.metric} logged"
            )
            step.out.lines.append(f"Child run {trial.run_id} {now_status.value}{best}")
    return ended


def _apply_policy(step: _Step, ended: set[str]) -> Policy:
    """The early termination policy: every running child, at every interval whose values
    changed since the last step (its own new values, or others' catching up with it)."""
    spec, trials, status, curves = step.spec, step.trials, step.status, step.curves
    policy = Policy(spec.policy_config.name, dict(spec.policy_config.properties))
    finished = frozenset(rid for rid, s in status.items() if s.is_terminal)
    state = json.loads(json.dumps(step.sweep.policy_state or {}))
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
        step.maximize,
        finished,
        state,
        step.metric,
        ended,
    )
    for trial in trials:
        trial.evaluated = len(curves[trial.run_id])
    for run_id, decision in sorted(decisions.items()):
        trial, run = judged[run_id], step.child[run_id]
        assert run is not None
        cancel_trial(step.db, step.runs, step.ws, run, decision.reason, "EarlyTermination")
        trial.canceled_by_policy = decision.reason
        trial.evaluated = decision.interval
        curves[run_id] = curves[run_id][: decision.interval]
        status[run_id] = RunStatus(run.status)
        step.out.lines.append(f"Child run {run_id}: {decision.reason}")
        step.out.runs_changed = True
    if state != (step.sweep.policy_state or {}):
        step.sweep.policy_state = state
    return policy


def _track_best(step: _Step) -> None:
    """The best child so far, also kept as the parent's best_child_by_primary_metric table."""
    sweep = step.sweep
    for trial in step.trials:
        curve = step.curves[trial.run_id]
        if not curve:
            continue
        value = best_of(curve, step.maximize)
        if sweep.best_value is None or better(value, sweep.best_value, step.maximize):
            sweep.best_run_id, sweep.best_value = trial.run_id, value
            _log_best(step.db, step.parent, trial.run_id, value, final=False)
            step.out.lines.append(f"New best child run {trial.run_id}: {step.metric} {value:.6g}")


def _all_failing(step: _Step) -> bool:
    """A script that fails for every value: stop instead of burning the budget."""
    status = step.status
    ended = [t for t in step.trials if status.get(t.run_id, RunStatus.QUEUED).is_terminal]
    limit = min(FAILURE_LIMIT, step.spec.max_total_runs)
    if len(ended) < limit or not all(status[t.run_id] is RunStatus.FAILED for t in ended):
        return False
    last = step.child[ended[-1].run_id]
    cause = (last.error or {}).get("message", "") if last is not None else ""
    step.fail(
        f"HyperDrive run failed: its first {len(ended)} child runs all failed. Last error: {cause}"
    )
    return True


def _launch_more(step: _Step) -> tuple[int, int] | None:
    """New children while the budgets allow; (children running, total the sweep makes), or
    None when a child could not be created and the sweep failed."""
    spec, sweep, status, curves = step.spec, step.sweep, step.status, step.curves
    concurrent = spec.max_concurrent_runs or spec.max_total_runs
    active = sum(1 for s in status.values() if not s.is_terminal)
    method = spec.generator_config.name
    space = spec.generator_config.parameter_space
    capacity = samplers.capacity(method, space)
    limit_total = (
        min(spec.max_total_runs, capacity) if capacity is not None else spec.max_total_runs
    )
    history = [
        samplers.Finished(t.internal, best_of(curves[t.run_id], step.maximize))
        for t in step.trials
        if t.internal is not None
        and status.get(t.run_id) is RunStatus.COMPLETED
        and curves[t.run_id]
    ]
    while active < concurrent and sweep.next_index < limit_total:
        sample = samplers.next_sample(
            method, space, sweep.next_index, sweep.seed, step.maximize, history
        )
        if sample is None:
            limit_total = sweep.next_index
            break
        try:
            run = _launch(
                step.db, step.runs, step.ws, step.experiment, step.parent, sweep, spec, sample
            )
        except ServiceError as exc:  # e.g. the target cluster was deleted meanwhile
            step.fail(
                f"HyperDrive run failed: could not create child run {sweep.next_index}: "
                f"{exc.message}"
            )
            return None
        step.out.lines.append(f"Child run {run.id} queued with {json.dumps(sample.parameters)}")
        step.out.runs_changed = True
        active += 1
    return active, limit_total


def _complete(step: _Step, policy: Policy) -> None:
    """Every child made has ended and no more are due: the sweep completes."""
    sweep, status, metric = step.sweep, step.status, step.metric
    counts = {s: sum(1 for v in status.values() if v is s) for s in finished_statuses()}
    by_policy = sum(1 for t in step.trials if t.canceled_by_policy)
    best = (
        f"best child run {sweep.best_run_id} with {metric} {sweep.best_value:.6g}"
        if sweep.best_run_id
        else f"no child run logged {metric}"
    )
    step.out.lines.append(
        f"HyperDrive run completed: {len(step.trials)} child runs "
        f"({counts[RunStatus.COMPLETED]} completed, {by_policy} canceled by {policy.label}, "
        f"{counts[RunStatus.FAILED]} failed); {best}"
    )
    step.finish(RunStatus.COMPLETED)


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
