"""One pass over a pipeline run: see which step runs ended, decide (``decide``, a pure
function of the steps' states) which steps start, which never will and which stop, then
submit or reuse the starting ones and end the pipeline run when every step is settled.

The pipeline loop calls ``advance`` whenever runs change and on a timer; everything it
decides is written to the pipeline tables in the same transaction, so a control plane
that restarts mid-pipeline goes on from the same place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import fsspec
from sqlalchemy.orm import Session

from trainforge.automl.core.shared.constants import MODEL_PATH
from trainforge.automl.guardrails import DataProblem, data_settings
from trainforge.automl.names import goal
from trainforge.schemas.automl import AutoMLCreate, AutoMLSettings, Guardrail
from trainforge.schemas.pipelines import (
    STEP_RUN_TYPE,
    OutputLocation,
    PipelineGraph,
    StepOutput,
    StepSpec,
    dependencies,
    training_kind,
)
from trainforge.schemas.runs import ErrorDetail, RunCreate, RunDefinition, RunStatus
from trainforge.schemas.sweeps import SweepCreate
from trainforge.server.errors import BadRequest, ServiceError
from trainforge.server.services import automl, datasets, datastores, metrics, run_states, sweeps
from trainforge.server.services.child_runs import Outcome, cancel_child
from trainforge.server.services.pipelines import (
    CANCELED_WITH_PARENT,
    ContentDigests,
    fingerprint,
    loaded_parameters,
    output_path,
    resolved_definition,
    reusable_step,
    steps_of,
    upstream_locations,
)
from trainforge.server.services.runs import RunService
from trainforge.server.services.secrets import Vault
from trainforge.server.store import models
from trainforge.server.store.automl import AutoMLSearch
from trainforge.server.store.pipelines import PipelineRunRow, PipelineStepRow
from trainforge.server.store.sweeps import Sweep
from trainforge.storage import dataset_files
from trainforge.storage.artifacts import ArtifactStore
from trainforge.storage.locations import datastore_path, join, open_filesystem
from trainforge.storage.transfer import put_file, write_bytes

REUSE_LOG = "azureml-logs/70_driver_log.txt"


# -- decisions (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    """What ``decide`` knows of a step: its state, its run's status, what it waits for."""

    name: str
    state: str  # waiting | running | done | skipped
    status: RunStatus
    waits_for: frozenset[str]


@dataclass
class Decision:
    start: list[str] = field(default_factory=list)
    # step -> why it never runs
    skip: dict[str, str] = field(default_factory=dict)
    # running steps to stop (a step failed and the pipeline does not go on)
    cancel: list[str] = field(default_factory=list)
    # The pipeline run's final status, once every step is settled.
    final: RunStatus | None = None


def decide(steps: Iterable[StepView], continue_on_step_failure: bool) -> Decision:
    """Which waiting steps start (everything they wait for completed), which are skipped
    (something they wait for failed, was canceled or skipped; or a step failed and the
    pipeline does not go on), which running steps stop, and, once nothing is waiting or
    running, the pipeline's status: Failed if a step failed, Canceled if one was
    canceled, else Completed."""
    views = {s.name: s for s in steps}
    out = Decision()
    failed = [s.name for s in views.values() if s.state == "done" and s.status is RunStatus.FAILED]
    stopping = bool(failed) and not continue_on_step_failure
    if stopping:
        out.cancel = sorted(
            s.name for s in views.values() if s.state == "running" and not s.status.is_terminal
        )
    state = {name: v.state for name, v in views.items()}
    changed = True
    while changed:  # a skip makes what waits for it skip too
        changed = False
        for name, view in views.items():
            if state[name] != "waiting":
                continue
            blocked = [
                w
                for w in sorted(view.waits_for)
                if state[w] == "skipped"
                or (state[w] == "done" and views[w].status is not RunStatus.COMPLETED)
            ]
            if blocked:
                why = blocked[0]
                out.skip[name] = (
                    f"step {why!r} did not complete ({views[why].status.value})"
                    if state[why] == "done"
                    else f"step {why!r} did not run"
                )
            elif stopping:
                out.skip[name] = f"step {failed[0]!r} failed and continue_on_step_failure is off"
            else:
                continue
            state[name] = "skipped"
            changed = True
    for name, view in views.items():
        if state[name] == "waiting" and all(
            state[w] == "done" and views[w].status is RunStatus.COMPLETED for w in view.waits_for
        ):
            out.start.append(name)
    settled = all(
        state[n] == "skipped" or (state[n] == "done" and n not in out.cancel) for n in views
    )
    if settled:
        statuses = {v.status for n, v in views.items() if state[n] == "done"}
        if RunStatus.FAILED in statuses:
            out.final = RunStatus.FAILED
        elif RunStatus.CANCELED in statuses:
            out.final = RunStatus.CANCELED
        else:
            out.final = RunStatus.COMPLETED
    return out


# -- one pass ----------------------------------------------------------------------------


@dataclass
class _Pass:
    db: Session
    runs: RunService
    vault: Vault
    digests: ContentDigests
    row: PipelineRunRow
    parent: models.Run
    ws: models.Workspace
    experiment: models.Experiment
    graph: PipelineGraph
    specs: dict[str, StepSpec]
    steps: dict[str, PipelineStepRow]
    child: dict[str, models.Run]
    # (workspace name, run id) -> the run's files: where a step's model output is copied from.
    artifacts: Callable[[str, str], ArtifactStore]
    out: Outcome = field(default_factory=Outcome)

    def status(self, name: str) -> RunStatus:
        run = self.child.get(name)
        return RunStatus(run.status) if run is not None else RunStatus.NOT_STARTED


def advance(
    db: Session,
    runs: RunService,
    vault: Vault,
    digests: ContentDigests,
    row: PipelineRunRow,
    artifacts: Callable[[str, str], ArtifactStore],
) -> Outcome:
    """Move the pipeline run one step; return what to log and whether runs changed."""
    step = _load(db, runs, vault, digests, row, artifacts)
    if step is None:
        return Outcome()
    if not step.row.state == "running":
        return step.out
    _report_ended(step)
    if _stopped_by_parent(step):
        return step.out
    waits = dependencies(step.graph)
    decision = decide(
        [
            StepView(name, s.state, step.status(name), frozenset(waits[name]))
            for name, s in step.steps.items()
        ],
        step.row.continue_on_step_failure,
    )
    for name in decision.cancel:
        run = step.child[name]
        cancel_child(
            db,
            runs,
            step.ws,
            run,
            "The pipeline run stopped: another step failed",
            "PipelineStopped",
        )
        step.out.lines.append(f"Step {name} ({run.id}) is canceled: another step failed")
        step.out.runs_changed = True
    for name, why in decision.skip.items():
        step.steps[name].state = "skipped"
        step.out.lines.append(f"Step {name} does not run: {why}")
    for name in decision.start:
        try:
            _start(step, name)
        except ServiceError as exc:  # e.g. its cluster was deleted since the submit
            _fail(step, f"Step {name} could not be submitted: {exc.message}")
            return step.out
    if decision.final is not None and not decision.start:
        _finish(step, decision.final)
    return step.out


def _load(
    db: Session,
    runs: RunService,
    vault: Vault,
    digests: ContentDigests,
    row: PipelineRunRow,
    artifacts: Callable[[str, str], ArtifactStore],
) -> _Pass | None:
    parent = db.get(models.Run, (row.workspace_id, row.run_id))
    if parent is None:
        row.state = "done"
        return None
    ws = db.get(models.Workspace, row.workspace_id)
    experiment = db.get(models.Experiment, parent.experiment_id)
    assert ws is not None and experiment is not None
    graph = PipelineGraph.model_validate(row.graph)
    steps = {s.name: s for s in steps_of(db, row)}
    child = {}
    for name, s in steps.items():
        if s.run_id is not None:
            run = db.get(models.Run, (row.workspace_id, s.run_id))
            if run is not None:
                child[name] = run
    return _Pass(
        db=db,
        runs=runs,
        vault=vault,
        digests=digests,
        row=row,
        parent=parent,
        ws=ws,
        experiment=experiment,
        graph=graph,
        specs={s.name: s for s in graph.steps},
        steps=steps,
        child=child,
        artifacts=artifacts,
    )


def _report_ended(step: _Pass) -> None:
    """Running steps whose run ended are done; a line in the pipeline's log for each status
    a step's run reached since the last pass."""
    for name, s in step.steps.items():
        run = step.child.get(name)
        if run is None:
            continue
        status = RunStatus(run.status)
        if s.reported != status.value:
            s.reported = status.value
            extra = f" (reused {s.reused_run_id})" if s.reused_run_id else ""
            line = f"StepRun( {name} ) Status: {status.value}{extra}, run {run.id}"
            if status is RunStatus.FAILED and run.error:
                first = str(run.error.get("message", "")).strip().splitlines()
                line += f": {first[0]}" if first else ""
            step.out.lines.append(line)
        if s.state == "running" and status.is_terminal:
            s.state = "done"
            if status is RunStatus.COMPLETED:
                _training_outputs(step, name)
                _register_outputs(step, name)


def _stopped_by_parent(step: _Pass) -> bool:
    """A pipeline run canceled through the runs API: stop every step."""
    status = RunStatus(step.parent.status)
    if not (status.is_terminal or status is RunStatus.CANCEL_REQUESTED):
        return False
    reason = CANCELED_WITH_PARENT.format(parent=step.parent.id)
    stopped = 0
    for name, s in step.steps.items():
        run = step.child.get(name)
        if run is not None and not RunStatus(run.status).is_terminal:
            cancel_child(step.db, step.runs, step.ws, run, reason, "PipelineCanceled")
            stopped += 1
        if s.state == "waiting":
            s.state = "skipped"
    step.out.lines.append(f"The pipeline run was canceled; {stopped} running step runs canceled")
    step.out.runs_changed = stopped > 0
    _finish(step, RunStatus.CANCELED)
    return True


def _digest(step: _Pass, store: str, path: str | None) -> str:
    access = datastores.access(step.db, step.ws, store, step.vault)
    return step.digests.of(access, path)


def _start(step: _Pass, name: str) -> None:
    """Submit the step's run, or reuse an earlier execution with its fingerprint."""
    spec, row = step.specs[name], step.steps[name]
    values = loaded_parameters(step.row)
    upstream = upstream_locations(step.graph, step.steps)
    row.fingerprint = fingerprint(spec, values, upstream, lambda s, p: _digest(step, s, p))
    earlier = None
    if spec.allow_reuse and not step.row.regenerate_outputs:
        earlier = reusable_step(step.db, step.ws, row.fingerprint)
    run_id = (
        f"HD_{uuid.uuid4()}"
        if spec.sweep is not None
        else f"AutoML_{uuid.uuid4()}"
        if spec.automl is not None
        else str(uuid.uuid4())
    )
    if earlier is not None:
        assert earlier.run_id is not None
        outputs = {k: OutputLocation.model_validate(v) for k, v in earlier.outputs.items()}
    else:
        outputs = {
            o.name: OutputLocation(
                datastore_name=o.datastore_name,
                path_on_datastore=output_path(run_id, o.name, o.destination),
            )
            for o in spec.outputs
        }
    definition = resolved_definition(spec, values, upstream, outputs)
    properties = {
        "azureml.runsource": "azureml.StepRun",
        "azureml.nodeid": name,
        "StepType": spec.kind,
        "ContentSnapshotId": spec.snapshot_id or "",
        "azureml.moduleid": row.fingerprint,
        "azureml.pipelinerunid": step.parent.id,
    }
    if earlier is not None:
        properties.update(
            {
                "azureml.reusedrunid": earlier.run_id or "",
                "azureml.reusedpipelinerunid": earlier.pipeline_run_id,
                "azureml.isreused": "true",
            }
        )
    if (spec.sweep is not None or spec.automl is not None) and earlier is None:
        run = _start_search(step, spec, run_id, definition, properties)
    else:
        run = step.runs.create(
            step.db,
            step.ws,
            step.experiment.name,
            RunCreate(
                run_id=run_id,
                kind="child" if earlier is not None else "script",
                run_type=STEP_RUN_TYPE,
                parent_run_id=step.parent.id,
                display_name=name,
                definition=definition,
                snapshot_id=spec.snapshot_id,
                properties=properties,
                submitted_by=step.parent.submitted_by,
            ),
        )
    row.run_id, row.outputs = run.id, {k: v.model_dump() for k, v in outputs.items()}
    step.child[name] = run
    if earlier is not None:
        row.reused_run_id = earlier.run_id
        run_states.transition(run, RunStatus.COMPLETED)
        row.state, row.reported = "done", RunStatus.COMPLETED.value
        line = (
            f"Step {name} reuses the outputs of step run {earlier.run_id} (pipeline run "
            f"{earlier.pipeline_run_id}): nothing changed since; it does not run again"
        )
        step.out.lines.append(
            f"StepRun( {name} ) Status: Completed (reused {earlier.run_id}), run {run.id}"
        )
        step.out.other_logs[(run.id, REUSE_LOG)] = [line]
        _register_outputs(step, name)
    else:
        row.state = "running"
        step.out.lines.append(f"Step {name} submitted: run {run.id} on {definition.target}")
        step.out.runs_changed = True


def _start_search(
    step: _Pass, spec: StepSpec, run_id: str, definition: RunDefinition, properties: dict[str, str]
) -> models.Run:
    """A HyperDriveStep's or AutoMLStep's run: a HyperDrive run (each trial writes the
    step's other outputs to a place of its own; the best one's go on) or an AutoML run (its
    iterations its children), a step run of the pipeline run either way; the outputs the
    step fills when its search ends are not the children's to write."""
    filled = {o.name for o in spec.outputs if training_kind(spec, o) is not None}
    definition.data_references = {
        k: v for k, v in definition.data_references.items() if k not in filled
    }
    common: dict[str, Any] = {
        "run_id": run_id,
        "definition": definition,
        "snapshot_id": spec.snapshot_id or "",
        "properties": properties,
        "display_name": spec.name,
        "submitted_by": step.parent.submitted_by,
    }
    where = (step.db, step.runs, step.ws, step.experiment.name)
    if spec.sweep is not None:
        trial_outputs = [o.name for o in spec.outputs if o.name not in filled]
        sweep = SweepCreate(**spec.sweep.model_dump(), **common, trial_outputs=trial_outputs)
        return sweeps.create(*where, sweep, parent_run_id=step.parent.id, run_type=STEP_RUN_TYPE)
    assert spec.automl is not None
    settings = spec.automl
    if settings.rows is None:  # another step's output: read now that it is there
        settings = _read_training_data(step, spec, settings, definition)
    if settings.validation_input is not None:
        _check_validation_data(step, spec, settings, definition)
    search = AutoMLCreate(**settings.model_dump(), **common)
    return automl.create(*where, search, parent_run_id=step.parent.id, run_type=STEP_RUN_TYPE)


def _upstream_table(
    step: _Pass, spec: StepSpec, definition: RunDefinition, argument: str, input_name: str | None
) -> Any:
    """An AutoMLStep's dataset input ``input_name`` (another step's output), read as a
    table now that it is there."""
    wanted = definition.datasets.get(input_name or "")
    if wanted is None:
        raise BadRequest(f"{argument}: step {spec.name!r} has no input {input_name!r}")
    files, filesystems = dataset_files.resolve(
        wanted.definition, lambda name: datastores.access(step.db, step.ws, name, step.vault)
    )
    return dataset_files.read_table(wanted.definition, files, filesystems)


def _check_validation_data(
    step: _Pass, spec: StepSpec, settings: AutoMLSettings, definition: RunDefinition
) -> None:
    """Validation data from another step has the label column (else the step cannot start)."""
    frame = _upstream_table(step, spec, definition, "validation_data", settings.validation_input)
    label = settings.label_column_name or ""
    if label not in frame.columns:
        raise BadRequest(
            f"validation_data: {label!r} is not a column of step {spec.name!r}'s input "
            f"validation_data; its columns: {', '.join(map(str, frame.columns))}"
        )


def _read_training_data(
    step: _Pass, spec: StepSpec, settings: AutoMLSettings, definition: RunDefinition
) -> AutoMLSettings:
    """An AutoMLStep on another step's output: the output read when the step starts, for
    what ``experiment.submit`` reads of a DataFrame (the data's shape and guardrails, its
    label checked). A refusal names the field; the step then cannot start."""
    frame = _upstream_table(step, spec, definition, "training_data", settings.training_input)
    try:
        shape = data_settings(frame, settings.label_column_name or "", settings.task)
    except DataProblem as problem:
        raise BadRequest(
            f"{problem} (step {spec.name!r}'s input training_data); supported: {problem.supported}"
        ) from None
    return settings.model_copy(
        update={
            **shape,
            "guardrails": [Guardrail.model_validate(g) for g in shape["guardrails"]],
        }
    )


@dataclass
class _Search:
    """What a HyperDriveStep's or AutoMLStep's run found: its children (trials or
    iterations, by run id), the best of them, and how to pick one by a metric."""

    children: list[str]
    best: str | None
    # An AutoML run's iterations by number (a HyperDrive run has none).
    iterations: dict[int, str] = field(default_factory=dict)
    # The file of a child that is its model, when a TrainingOutput names none.
    model_file: str | None = None


def _search_of(step: _Pass, spec: StepSpec, run_id: str) -> _Search | None:
    if spec.sweep is not None:
        sweep = step.db.get(Sweep, (step.ws.id, run_id))
        if sweep is None:
            return None
        trials = [t.run_id for t in sweeps.trials_of(step.db, sweep)]
        return _Search(children=trials, best=sweep.best_run_id)
    if spec.automl is not None:
        found = step.db.get(AutoMLSearch, (step.ws.id, run_id))
        if found is None:
            return None
        iterations = {it.index: it.run_id for it in automl.iterations_of(step.db, found)}
        return _Search(
            children=list(iterations.values()),
            best=found.best_run_id,
            iterations=iterations,
            model_file=MODEL_PATH,
        )
    return None


def _training_outputs(step: _Pass, name: str) -> None:
    """A HyperDriveStep or an AutoMLStep completed: a HyperDriveStep's other outputs become
    its best trial's; each TrainingOutput is filled: 'Metrics' with a JSON file of every
    child's metrics (``{run id: {name: value}}``), 'Model' with the chosen child's model."""
    spec, row = step.specs[name], step.steps[name]
    if row.reused_run_id is not None or row.run_id is None:
        return
    search = _search_of(step, spec, row.run_id)
    if search is None:
        return
    outputs = dict(row.outputs)
    if spec.sweep is not None:
        for output in spec.outputs:
            if training_kind(spec, output) is None and search.best is not None:
                outputs[output.name] = OutputLocation(
                    datastore_name=output.datastore_name,
                    # Where the trial wrote it (sweep_progress: one place per trial).
                    path_on_datastore=output_path(search.best, output.name),
                ).model_dump()
        row.outputs = outputs
        if search.best is None:
            step.out.lines.append(f"Step {name}: no trial logged its primary metric")
        else:
            step.out.lines.append(f"Step {name}: the outputs of its best trial {search.best} go on")
    for output in spec.outputs:
        kind = training_kind(spec, output)
        if kind is None:
            continue
        where = OutputLocation.model_validate(outputs[output.name])
        access = datastores.access(step.db, step.ws, where.datastore_name, step.vault)
        fs = open_filesystem(access)
        dest = join(access.root, datastore_path(where.path_on_datastore))
        if kind == "Metrics":
            found = metrics.metrics_of(step.db, step.ws.id, search.children)
            write_bytes(fs, dest, json.dumps(found, default=str).encode())
            continue
        chosen, why = _chosen_model(step, spec, output, search)
        if chosen is None:
            step.out.lines.append(f"Step {name}: output {output.name} holds no model: {why}")
            continue
        copied = _copy_model(step, output, search, chosen, fs, dest)
        step.out.lines.append(
            f"Step {name}: output {output.name} holds {copied} of run {chosen} ({why})"
            if copied
            else f"Step {name}: output {output.name} holds no model: run {chosen} ({why}) "
            "has no such file"
        )


def _chosen_model(
    step: _Pass, spec: StepSpec, output: StepOutput, search: _Search
) -> tuple[str | None, str]:
    """The child whose model a 'Model' TrainingOutput holds, and why that one."""
    wanted = output.training_output
    if wanted is not None and wanted.iteration is not None:
        run_id = search.iterations.get(wanted.iteration)
        run = step.db.get(models.Run, (step.ws.id, run_id)) if run_id else None
        if run is None or RunStatus(run.status) is not RunStatus.COMPLETED:
            return None, f"iteration {wanted.iteration} did not complete"
        return run_id, f"iteration {wanted.iteration}"
    if wanted is not None and wanted.metric is not None:
        completed = [
            r
            for r in search.children
            if (run := step.db.get(models.Run, (step.ws.id, r))) is not None
            and RunStatus(run.status) is RunStatus.COMPLETED
        ]
        logged = metrics.metrics_of(step.db, step.ws.id, completed, wanted.metric)
        values = {
            r: float(v)
            for r, found in logged.items()
            if isinstance(v := found.get(wanted.metric), int | float) and not isinstance(v, bool)
        }
        if not values:
            return None, f"no completed child logged {wanted.metric}"
        pick = max if goal(wanted.metric) == "maximize" else min
        return pick(values, key=values.__getitem__), f"the best by {wanted.metric}"
    if search.best is None:
        return None, "no child logged the primary metric"
    return search.best, "the best child"


def _copy_model(
    step: _Pass,
    output: StepOutput,
    search: _Search,
    run_id: str,
    fs: fsspec.AbstractFileSystem,
    dest: str,
) -> str | None:
    """Copy the child's model to ``dest`` on the output's datastore: one file (the
    TrainingOutput's model_file, or the AutoML iteration's model.pkl) or, for a
    HyperDriveStep's output naming no file, its whole ``outputs`` folder. What was copied."""
    files = step.artifacts(step.ws.name, run_id)
    wanted = output.training_output
    single = (wanted.model_file if wanted is not None else None) or search.model_file
    if single is not None:
        if not files.exists(single):
            return None
        put_file(fs, files.path(single), dest)
        return single
    found = files.list("outputs/")
    if not found:
        return None
    for file_name, _size in found:
        put_file(fs, files.path(file_name), f"{dest}/{file_name.removeprefix('outputs/')}")
    return "outputs/"


def _register_outputs(step: _Pass, name: str) -> None:
    """The step completed: each output with ``register_on_complete`` becomes a new version
    of its dataset. A refusal (the name is another dataset's) is a line in the log; the
    step stays completed."""
    spec, row = step.specs[name], step.steps[name]
    for output in spec.outputs:
        if output.registration is None or output.name not in row.outputs:
            continue
        where = OutputLocation.model_validate(row.outputs[output.name])
        request = datasets.registration_request(
            output.registration, where.datastore_name, where.path_on_datastore
        )
        try:  # its refusals come before it writes anything
            info = datasets.register(step.db, step.ws, request)
        except ServiceError as exc:
            step.out.lines.append(
                f"Step {name}: output {output.name} was not registered as dataset "
                f"{request.name!r}: {exc.message}"
            )
            continue
        step.out.lines.append(
            f"Step {name}: output {output.name} registered as dataset {info.name}:{info.version}"
        )


def _fail(step: _Pass, message: str) -> None:
    for name in step.steps:
        run = step.child.get(name)
        if run is not None and not RunStatus(run.status).is_terminal:
            cancel_child(step.db, step.runs, step.ws, run, message, "PipelineFailed")
    for s in step.steps.values():
        if s.state == "waiting":
            s.state = "skipped"
    step.out.lines.append(message)
    step.out.runs_changed = True
    if step.parent.error is None:
        step.parent.error = ErrorDetail(code="UserError", message=message).model_dump(mode="json")
    _finish(step, RunStatus.FAILED)


def _finish(step: _Pass, status: RunStatus) -> None:
    step.row.state = "done"
    if status is RunStatus.FAILED and step.parent.error is None:
        failed = [n for n in step.steps if step.status(n) is RunStatus.FAILED]
        step.parent.error = ErrorDetail(
            code="UserError",
            message=f"Pipeline run failed: step {', '.join(failed)} failed",
            details=[{"step": n, "run_id": step.child[n].id} for n in failed],
        ).model_dump(mode="json")
    current = RunStatus(step.parent.status)
    if current is RunStatus.CANCEL_REQUESTED:
        run_states.transition(step.parent, RunStatus.CANCELED)
    elif not current.is_terminal:
        run_states.transition(step.parent, status)
    counts = {
        s.value: sum(1 for n in step.steps if step.status(n) is s)
        for s in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)
    }
    reused = sum(1 for s in step.steps.values() if s.reused_run_id)
    skipped = sum(1 for s in step.steps.values() if s.state == "skipped")
    step.out.lines.append(
        f"PipelineRun Status: {step.parent.status}: {len(step.steps)} steps "
        f"({counts['Completed']} completed of which {reused} reused, {counts['Failed']} failed, "
        f"{counts['Canceled']} canceled, {skipped} not run)"
    )
    step.out.runs_changed = True
