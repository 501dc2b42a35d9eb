"""One pass over an AutoML run: report ended iterations to FLAML's searcher, keep the
budgets, propose and start new iterations, finish.

``advance`` is called by the AutoML loop whenever runs change and on a timer. Everything
it decides (the searcher's pickle included) is written in the same transaction, so a
control plane that restarts mid-search goes on from the same place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from trainforge.automl import search
from trainforge.automl.names import ENSEMBLES, STACK_ENSEMBLE, VOTING_ENSEMBLE, goal, sdk_model_name
from trainforge.schemas.automl import AutoMLCreate
from trainforge.schemas.runs import ErrorDetail, RunCreate, RunStatus
from trainforge.server.errors import ServiceError
from trainforge.server.services import metrics, run_states
from trainforge.server.services.automl import (
    CANCELED_WITH_PARENT,
    cancel_active,
    iterations_of,
)
from trainforge.server.services.child_runs import Outcome
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.automl import AutoMLIteration, AutoMLSearch

# The search gives up when its first iterations all fail: the data or settings are broken.
FAILURE_LIMIT = 5
# Early stopping (the SDK's default): no better score in this many iterations in a row.
EARLY_STOPPING_ITERATIONS = 10
# Proposals asked of the searcher in one pass before waiting for results (FLAML's CFO
# answers None now and then while its local search thread is being created).
ASKS_PER_PASS = 3
# The run type of the best model's test run, as the SDK names it.
MODEL_TEST_RUN_TYPE = "automl.model_test"
# The ensemble iterations: of the best this many iterations, when there are this many
# (a StackEnsemble's meta-learner wants at least three searched members: five in all).
ENSEMBLE_MEMBERS, ENSEMBLE_MIN_ITERATIONS, STACK_MIN_ITERATIONS = 5, 3, 5
# Proposals the searcher declines in a row, with no iteration running, before the search
# counts as exhausted (a small space FLAML has walked through).
EXHAUSTED_ASKS = 50


@dataclass
class _Pass:
    db: Session
    runs: RunService
    row: AutoMLSearch
    spec: AutoMLCreate
    parent: models.Run
    ws: models.Workspace
    experiment: models.Experiment
    maximize: bool
    iterations: list[AutoMLIteration]
    child: dict[str, models.Run | None]
    out: Outcome = field(default_factory=Outcome)

    def status(self, it: AutoMLIteration) -> RunStatus | None:
        run = self.child.get(it.run_id)
        return RunStatus(run.status) if run is not None else None

    @property
    def ensembles(self) -> list[str]:
        """The ensemble iterations that end the run, in order (the SDK's: VotingEnsemble,
        then StackEnsemble)."""
        spec = self.spec
        kinds = []
        if spec.enable_voting_ensemble and spec.iterations >= ENSEMBLE_MIN_ITERATIONS:
            kinds.append(VOTING_ENSEMBLE)
        if spec.enable_stack_ensemble and spec.iterations >= STACK_MIN_ITERATIONS:
            kinds.append(STACK_ENSEMBLE)
        return kinds

    @property
    def searched(self) -> int:
        """How many iterations FLAML's searcher proposes (the rest: the ensembles)."""
        return self.spec.iterations - len(self.ensembles)

    def active(self) -> int:
        return sum(
            1 for it in self.iterations if not (self.status(it) or RunStatus.QUEUED).is_terminal
        )

    def finish(self, status: RunStatus, error: ErrorDetail | None = None) -> Outcome:
        self.row.state = "done"
        self.out.runs_changed = True
        if error is not None and self.parent.error is None:
            self.parent.error = error.model_dump(mode="json")
        if not RunStatus(self.parent.status).is_terminal:
            run_states.transition(self.parent, status)
        return self.out


def advance(db: Session, runs: RunService, row: AutoMLSearch, now: datetime) -> Outcome:
    """Move the AutoML run one step; what to log and whether runs changed."""
    step = _load(db, runs, row)
    if step is None:
        return Outcome()
    if _stopped_by_parent(step):
        return step.out
    _report_ended(step)
    if _all_failing(step):
        return step.out
    _check_budgets(step, now)
    if row.stop_reason is None and not _launch_more(step):
        return step.out
    if step.active() == 0 and (row.stop_reason is not None or row.next_index >= step.searched):
        if not _launch_ensemble(step):
            _complete(step)
    return step.out


def _load(db: Session, runs: RunService, row: AutoMLSearch) -> _Pass | None:
    parent = db.get(models.Run, (row.workspace_id, row.run_id))
    if parent is None:
        row.state = "done"
        return None
    ws = db.get(models.Workspace, parent.workspace_id)
    experiment = db.get(models.Experiment, parent.experiment_id)
    assert ws is not None and experiment is not None
    spec = AutoMLCreate.model_validate(row.spec)
    iterations = iterations_of(db, row)
    return _Pass(
        db=db,
        runs=runs,
        row=row,
        spec=spec,
        parent=parent,
        ws=ws,
        experiment=experiment,
        maximize=goal(spec.primary_metric) == "maximize",
        iterations=iterations,
        child={it.run_id: db.get(models.Run, (row.workspace_id, it.run_id)) for it in iterations},
    )


def _stopped_by_parent(step: _Pass) -> bool:
    """An AutoML run canceled through the runs API: stop every iteration."""
    status = RunStatus(step.parent.status)
    if not (status.is_terminal or status is RunStatus.CANCEL_REQUESTED):
        return False
    reason = CANCELED_WITH_PARENT.format(parent=step.parent.id)
    stopped = cancel_active(step.db, step.runs, step.ws, step.row, reason, "AutoMLCanceled")
    step.out.lines.append(
        f"The AutoML run was canceled; {len(stopped)} running iterations canceled"
    )
    step.finish(RunStatus.CANCELED)
    return True


def _score(step: _Pass, run_id: str) -> float | None:
    value = metrics.metrics_of(step.db, step.ws.id, [run_id], step.spec.primary_metric)
    found = value.get(run_id, {}).get(step.spec.primary_metric)
    values = found if isinstance(found, list) else [found]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return numbers[-1] if numbers else None


def _better(value: float, than: float | None, maximize: bool) -> bool:
    return than is None or (value > than if maximize else value < than)


def _report_ended(step: _Pass) -> None:
    """Iterations that ended since the last pass: their score to the searcher and the log."""
    row = step.row
    searcher = None
    for it in step.iterations:
        status = step.status(it)
        if status is None or not status.is_terminal or it.reported == status.value:
            continue
        if searcher is None and it.learner not in ENSEMBLES:
            searcher = search.load(row.searcher)
        it.reported = status.value
        run = step.child[it.run_id]
        assert run is not None
        score = _score(step, it.run_id) if status is RunStatus.COMPLETED else None
        it.score = score
        seconds = (run.ended - run.started).total_seconds() if run.started and run.ended else 0.0
        if searcher is not None and it.learner not in ENSEMBLES:
            search.report(
                searcher,
                it.trial_id,
                search.Proposal(it.learner, dict(it.config)),
                score,
                step.maximize,
                seconds,
            )
        if score is not None and _better(score, row.best_value, step.maximize):
            row.best_run_id, row.best_value = it.run_id, score
        best = f"{row.best_value:.4f}" if row.best_value is not None else "nan"
        shown = f"{score:.4f}" if score is not None else status.value
        step.out.lines.append(
            f"ITERATION {it.index} PIPELINE {sdk_model_name(step.spec.task, it.learner)} "
            f"DURATION {seconds:.1f}s METRIC {shown} BEST {best}"
        )
    if searcher is not None:
        row.searcher = search.dump(searcher)


def _all_failing(step: _Pass) -> bool:
    ended = [it for it in step.iterations if it.reported is not None]
    limit = min(FAILURE_LIMIT, step.spec.iterations)
    if len(ended) < limit or any(it.reported != RunStatus.FAILED.value for it in ended):
        return False
    last = step.child[ended[-1].run_id]
    cause = (last.error or {}).get("message", "") if last is not None else ""
    message = (
        f"AutoML run failed: its first {len(ended)} iterations all failed. Last error: {cause}"
    )
    cancel_active(step.db, step.runs, step.ws, step.row, "The AutoML run failed", "AutoMLFailed")
    step.out.lines.append(message)
    step.finish(RunStatus.FAILED, ErrorDetail(code="UserError", message=message))
    return True


def _check_budgets(step: _Pass, now: datetime) -> None:
    """The experiment timeout, the exit score and early stopping end the search."""
    row, spec = step.row, step.spec
    if row.stop_reason is not None:
        return
    reason = None
    if row.deadline is not None and now >= row.deadline:
        reason = f"experiment_timeout_minutes={spec.experiment_timeout_minutes:g} reached"
        stopped = cancel_active(
            step.db,
            step.runs,
            step.ws,
            row,
            f"The iteration was canceled because its AutoML run reached {reason}",
            "AutoMLExperimentTimeout",
        )
        if stopped:
            step.out.runs_changed = True
    elif (
        spec.experiment_exit_score is not None
        and row.best_value is not None
        and not _better(spec.experiment_exit_score, row.best_value, step.maximize)
    ):
        reason = f"experiment_exit_score={spec.experiment_exit_score:g} reached"
    elif spec.enable_early_stopping:
        scores = [it.score for it in step.iterations if it.reported is not None]
        # A continued run stops early on its own iterations, not on the continued run's.
        own = sum(
            1
            for it in step.iterations
            if it.reported is not None and it.index >= spec.first_iteration
        )
        if len(scores) > EARLY_STOPPING_ITERATIONS and own >= EARLY_STOPPING_ITERATIONS:
            before = [s for s in scores[:-EARLY_STOPPING_ITERATIONS] if s is not None]
            recent = [s for s in scores[-EARLY_STOPPING_ITERATIONS:] if s is not None]
            best_before = (max if step.maximize else min)(before) if before else None
            if best_before is not None and not any(
                _better(s, best_before, step.maximize) for s in recent
            ):
                reason = (
                    f"early stopping: no better {spec.primary_metric} in the last "
                    f"{EARLY_STOPPING_ITERATIONS} iterations"
                )
    if reason is not None:
        row.stop_reason = reason
        step.out.lines.append(f"No more iterations: {reason}")


def _launch_more(step: _Pass) -> bool:
    """New iterations while the budgets allow; False when one could not be created (the
    AutoML run then failed)."""
    row, spec = step.row, step.spec
    active = step.active()
    if active >= spec.max_concurrent_iterations or row.next_index >= step.searched:
        return True
    searcher = search.load(row.searcher)
    try:
        return _ask(step, searcher, active)
    finally:
        row.searcher = search.dump(searcher)


def _ask(step: _Pass, searcher: object, active: int) -> bool:
    row, spec = step.row, step.spec
    asks = declined = 0
    while (
        active < spec.max_concurrent_iterations
        and row.next_index < step.searched
        # With nothing running, ask until the searcher proposes or counts as exhausted.
        and asks < (ASKS_PER_PASS if active else EXHAUSTED_ASKS)
    ):
        trial_id = f"t{row.calls}"
        row.calls += 1
        asks += 1
        proposal = search.propose(searcher, trial_id)
        if proposal is None:
            declined += 1
            if active == 0 and declined >= EXHAUSTED_ASKS:
                # Nothing running could give the searcher new results: it has no more.
                row.stop_reason = "the search space is exhausted"
                step.out.lines.append(f"No more iterations: {row.stop_reason}")
                return True
            continue
        declined = 0
        config = {key: search.plain(value) for key, value in proposal.config.items()}
        try:
            estimator, params = search.estimator_of(spec.task, proposal.learner, config)
            run = _start(step, trial_id, proposal.learner, config, estimator, params)
        except ServiceError as exc:  # e.g. the target cluster was deleted meanwhile
            message = (
                f"AutoML run failed: could not create iteration {row.next_index}: {exc.message}"
            )
            cancel_active(step.db, step.runs, step.ws, row, "The AutoML run failed", "AutoMLFailed")
            step.out.lines.append(message)
            step.finish(RunStatus.FAILED, ErrorDetail(code="UserError", message=message))
            return False
        step.out.lines.append(
            f"Iteration {row.next_index - 1} ({run.id}) queued: "
            f"{sdk_model_name(spec.task, proposal.learner)} {json.dumps(proposal.config)}"
        )
        step.out.runs_changed = True
        active += 1
    return True


def _launch_ensemble(step: _Pass) -> bool:
    """The next ensemble iteration of the best searched ones, once the search (and the
    ensemble before it) is over, not after the experiment timeout: the time is up;
    whether it was started."""
    row = step.row
    # A continued run ends with ensembles of its own (of the best of all iterations).
    done = {it.learner for it in step.iterations if it.index >= step.spec.first_iteration}
    kind = next((k for k in step.ensembles if k not in done), None)
    if kind is None or (row.stop_reason or "").startswith("experiment_timeout"):
        return False
    scored = [
        it
        for it in step.iterations
        if it.score is not None
        and it.reported == RunStatus.COMPLETED.value
        and it.learner not in ENSEMBLES
    ]
    if len(scored) < 2:
        return False
    scored.sort(key=lambda it: it.score or 0.0, reverse=step.maximize)
    best = scored[:ENSEMBLE_MEMBERS]
    members = []
    for it in best:
        estimator, params = search.estimator_of(step.spec.task, it.learner, it.config)
        members.append({"estimator": estimator, "params": params})
    try:
        run = _start(
            step,
            kind.lower(),
            kind,
            {"members": [it.run_id for it in best]},
            kind,
            {"members": members},
        )
    except ServiceError as exc:
        step.out.lines.append(f"The {kind} iteration could not be created: {exc.message}")
        return False
    step.out.lines.append(
        f"Iteration {row.next_index - 1} ({run.id}) queued: {kind} of iterations "
        f"{[it.index for it in best]}"
    )
    step.out.runs_changed = True
    return True


def _start(
    step: _Pass,
    trial_id: str,
    learner: str,
    config: dict[str, Any],
    estimator: str,
    params: dict[str, Any],
) -> models.Run:
    row, spec = step.row, step.spec
    index = row.next_index
    timeout = spec.iteration_timeout_minutes
    definition = spec.definition.model_copy(
        update={
            "arguments": [
                *spec.definition.arguments,
                "--iteration",
                str(index),
                "--learner",
                learner,
                "--config",
                json.dumps(config),
                "--estimator",
                estimator,
                "--params",
                json.dumps(params),
            ],
            "max_run_duration_seconds": max(1, round(timeout * 60))
            if timeout is not None
            else spec.definition.max_run_duration_seconds,
        }
    )
    algorithm = sdk_model_name(spec.task, learner)
    child = step.runs.create(
        step.db,
        step.ws,
        step.experiment.name,
        RunCreate(
            run_id=f"{step.parent.id}_{index}",
            kind="script",
            run_type="azureml.scriptrun",
            parent_run_id=step.parent.id,
            definition=definition,
            snapshot_id=spec.snapshot_id,
            properties={
                "ContentSnapshotId": spec.snapshot_id,
                "azureml.runsource": "automl",
                "iteration": str(index),
                "run_algorithm": algorithm,
                "run_preprocessor": "ColumnTransformer",
                "pipeline_spec": json.dumps(
                    {"learner": learner, "estimator": estimator, "params": params}
                ),
            },
            submitted_by=step.parent.submitted_by,
        ),
    )
    iteration = AutoMLIteration(
        workspace_id=row.workspace_id,
        automl_run_id=row.run_id,
        index=index,
        run_id=child.id,
        learner=learner,
        config=config,
        trial_id=trial_id,
    )
    step.db.add(iteration)
    row.next_index = index + 1
    step.iterations.append(iteration)
    step.child[child.id] = child
    return child


def _complete(step: _Pass) -> None:
    row = step.row
    counts = {s: 0 for s in ("Completed", "Failed", "Canceled")}
    for it in step.iterations:
        if it.reported in counts:
            counts[it.reported] += 1
    best = (
        f"best iteration {row.best_run_id} with {step.spec.primary_metric} {row.best_value:.6g}"
        if row.best_run_id
        else f"no iteration logged {step.spec.primary_metric}"
    )
    why = f" ({row.stop_reason})" if row.stop_reason else ""
    step.out.lines.append(
        f"AutoML run completed{why}: {len(step.iterations)} iterations ({counts['Completed']} "
        f"completed, {counts['Failed']} failed, {counts['Canceled']} canceled); {best}"
    )
    # (A continued run whose best is the earlier run's: that one's test run exists.)
    tested = f"{row.best_run_id}_test"
    if step.spec.test_run and row.best_run_id and not step.db.get(models.Run, (step.ws.id, tested)):
        test = _start_test(step, row.best_run_id, tested)
        step.out.lines.append(f"Test run {test.id} of the best model started")
    step.finish(RunStatus.COMPLETED)


def _start_test(step: _Pass, best_run_id: str, run_id: str) -> models.Run:
    """The best model's test run (``test_data``/``test_size``): a child of the best run,
    type ``automl.model_test``, on the AutoML run's compute, from its snapshot."""
    spec = step.spec
    definition = spec.definition.model_copy(
        update={"arguments": [*spec.definition.arguments, "--test", "--model-run", best_run_id]}
    )
    return step.runs.create(
        step.db,
        step.ws,
        step.experiment.name,
        RunCreate(
            run_id=run_id,
            kind="script",
            run_type=MODEL_TEST_RUN_TYPE,
            parent_run_id=best_run_id,
            definition=definition,
            snapshot_id=spec.snapshot_id,
            properties={
                "ContentSnapshotId": spec.snapshot_id,
                "azureml.runsource": "automl",
                "model_test_of": best_run_id,
            },
            submitted_by=step.parent.submitted_by,
        ),
    )
