"""Experiments and runs: creation, lookup, listing, updates, properties and cancel."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trainforge.schemas.backend import LaunchContext
from trainforge.schemas.compute import AssignmentState
from trainforge.schemas.names import new_script_run_id
from trainforge.schemas.run_filters import Expression, RunOrder
from trainforge.schemas.runs import (
    ChildrenCreate,
    ErrorDetail,
    RunCreate,
    RunDefinition,
    RunInfo,
    RunStatus,
    RunUpdate,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import (
    allocation,
    request_keys,
    run_filters,
    run_states,
    workspaces,
)
from trainforge.server.store import models
from trainforge.server.store.database import hold, insert_unless_present

LOCAL_TARGETS = frozenset({"local"})
SCRIPT_RUN_TYPE = "azureml.scriptrun"


def to_info(run: models.Run, experiment_name: str, workspace_name: str) -> RunInfo:
    return RunInfo(
        run_id=run.id,
        experiment_name=experiment_name,
        experiment_id=run.experiment_id,
        workspace_name=workspace_name,
        number=run.number,
        kind=run.kind,
        run_type=run.run_type,
        status=RunStatus(run.status),
        parent_run_id=run.parent_run_id,
        display_name=run.display_name,
        description=run.description,
        target=run.target,
        definition=RunDefinition.model_validate(run.definition) if run.definition else None,
        snapshot_id=run.snapshot_id,
        tags=run.tags,
        properties=run.properties,
        error=ErrorDetail.model_validate(run.error) if run.error else None,
        warnings=run.warnings,
        attempt=run.attempt,
        submitted_by=run.submitted_by,
        created_utc=run.created,
        start_time_utc=run.started,
        end_time_utc=run.ended,
    )


def launch_context(db: Session, ws: models.Workspace, run: models.Run) -> LaunchContext:
    """What a launcher of ``run`` starts from: the run and its workspace as they are now."""
    exp = db.get(models.Experiment, run.experiment_id)
    assert exp is not None
    return LaunchContext(run=to_info(run, exp.name, ws.name), workspace=workspaces.to_info(ws))


class RunService:
    # -- experiments -------------------------------------------------------------------
    def experiment(self, db: Session, ws: models.Workspace, name: str) -> models.Experiment:
        """Get or create the experiment: the SDK's ``Experiment(ws, name)``."""
        query = select(models.Experiment).where(
            models.Experiment.workspace_id == ws.id, models.Experiment.name == name
        )
        exp = db.scalar(query)
        if exp is None:
            # First submits of a new experiment may come side by side: one row for all.
            insert_unless_present(
                db,
                models.Experiment,
                {"id": str(uuid.uuid4()), "workspace_id": ws.id, "name": name},
                ["workspace_id", "name"],
            )
            exp = db.scalars(query).one()
        return exp

    def experiments(self, db: Session, ws: models.Workspace) -> list[models.Experiment]:
        query = select(models.Experiment).where(models.Experiment.workspace_id == ws.id)
        return list(db.scalars(query.order_by(models.Experiment.name)))

    # -- runs --------------------------------------------------------------------------
    def row(self, db: Session, ws: models.Workspace, run_id: str) -> models.Run:
        run = db.get(models.Run, (ws.id, run_id))
        if run is None:
            raise NotFound(f"Run {run_id!r} not found in workspace {ws.name!r}")
        return run

    def info(self, db: Session, ws: models.Workspace, run: models.Run) -> RunInfo:
        exp = db.get(models.Experiment, run.experiment_id)
        assert exp is not None
        return to_info(run, exp.name, ws.name)

    def infos(
        self, db: Session, ws: models.Workspace, runs: builtins.list[models.Run]
    ) -> builtins.list[RunInfo]:
        """``info`` of many runs, their experiments' names read in one query (a page of a
        listing: one query per run would cost more than the listing itself)."""
        ids = {run.experiment_id for run in runs}
        found = db.execute(
            select(models.Experiment.id, models.Experiment.name).where(
                models.Experiment.id.in_(ids)
            )
        )
        names = {exp_id: name for exp_id, name in found}
        return [to_info(run, names[run.experiment_id], ws.name) for run in runs]

    def create(
        self, db: Session, ws: models.Workspace, experiment_name: str, request: RunCreate
    ) -> models.Run:
        exp = self.experiment(db, ws, experiment_name)
        parent = None
        if request.parent_run_id:
            parent = self.row(db, ws, request.parent_run_id)
        if request.kind == "script":
            if request.definition is None:
                raise BadRequest("definition: a submitted run needs a run definition")
            if not (request.definition.script or request.definition.command):
                raise BadRequest("definition.script: a submitted run needs a script or a command")
            self._check_target(db, ws, request.definition)
        run_id = request.run_id or (
            new_script_run_id(experiment_name) if request.kind == "script" else str(uuid.uuid4())
        )
        if db.get(models.Run, (ws.id, run_id)) is not None:
            raise Conflict(f"Run id {run_id!r} is already taken")
        # One UPDATE ... RETURNING: concurrent submits never get the same run number.
        number = db.execute(
            update(models.Experiment)
            .where(models.Experiment.id == exp.id)
            .values(run_counter=models.Experiment.run_counter + 1)
            .returning(models.Experiment.run_counter)
        ).scalar_one()
        run = models.Run(
            id=run_id,
            workspace_id=ws.id,
            experiment_id=exp.id,
            number=number,
            kind=request.kind,
            run_type=request.run_type or (SCRIPT_RUN_TYPE if request.kind == "script" else None),
            status=RunStatus.NOT_STARTED.value,
            parent_run_id=parent.id if parent else None,
            display_name=request.display_name,
            description=request.description,
            target=request.definition.target
            if request.definition
            else (parent.target if parent else "local"),
            definition=request.definition.model_dump(mode="json") if request.definition else None,
            snapshot_id=request.snapshot_id,
            tags=dict(request.tags),
            properties=dict(request.properties),
            warnings=[],
            attempt=1,
            priority=request.definition.priority if request.definition else 0,
            submitted_by=request.submitted_by,
        )
        db.add(run)
        run_states.transition(
            run, RunStatus.QUEUED if request.kind == "script" else RunStatus.RUNNING
        )
        db.flush()
        return run

    # -- idempotency keys ----------------------------------------------------------------
    def created_for(
        self, db: Session, ws: models.Workspace, key: str | None, request: str
    ) -> list[models.Run] | None:
        """The runs an earlier ``request`` with Idempotency-Key ``key`` created, if any."""
        found = request_keys.find(db, ws, key, request)
        if found is None:
            return None
        return [self.row(db, ws, run_id) for run_id in found.run_ids]

    def remember(
        self,
        db: Session,
        ws: models.Workspace,
        key: str | None,
        request: str,
        runs: list[models.Run],
    ) -> None:
        """Keep what ``request`` with Idempotency-Key ``key`` created, in its transaction."""
        request_keys.keep(db, ws, key, request, run_ids=[r.id for r in runs])

    def create_once(
        self,
        db: Session,
        ws: models.Workspace,
        key: str | None,
        request: str,
        create: Callable[[], models.Run],
    ) -> models.Run:
        """The run an earlier ``request`` with Idempotency-Key ``key`` created, or the one
        ``create()`` makes now, kept for the key in this transaction."""
        done = self.created_for(db, ws, key, request)
        if done:
            return done[0]
        run = create()
        self.remember(db, ws, key, request, [run])
        return run

    def _check_target(self, db: Session, ws: models.Workspace, definition: RunDefinition) -> None:
        """The target must exist and be able to hold the run's nodes."""
        if definition.target in LOCAL_TARGETS:
            if definition.node_count > 1:
                raise BadRequest(
                    f"definition.node_count: the 'local' target is one machine; {definition.node_count} "
                    "nodes need a compute cluster (AmlCompute)"
                )
            return
        compute = db.scalar(
            select(models.Compute).where(
                models.Compute.workspace_id == ws.id, models.Compute.name == definition.target
            )
        )
        if compute is None:
            raise NotFound(
                f"definition.target: compute target {definition.target!r} not found in workspace {ws.name!r}"
            )
        if compute.provisioning_state == "Deleting":
            raise Conflict(
                f"definition.target: compute target {definition.target!r} is being deleted"
            )
        if definition.node_count > compute.max_nodes:
            raise BadRequest(
                f"definition.node_count: the run needs {definition.node_count} nodes but cluster "
                f"{compute.name} has max_nodes={compute.max_nodes}"
            )

    def create_children(
        self, db: Session, ws: models.Workspace, parent_id: str, request: ChildrenCreate
    ) -> list[models.Run]:
        parent = self.row(db, ws, parent_id)
        exp = db.get(models.Experiment, parent.experiment_id)
        assert exp is not None
        if request.tag_values is not None:
            if not request.tag_key:
                raise BadRequest("tag_key: required when tag_values are given")
            tag_sets = [{request.tag_key: value} for value in request.tag_values]
        elif request.count is not None:
            key = request.tag_key or "azureml.batch_child_number"
            tag_sets = [{key: str(i)} for i in range(request.count)]
        else:
            raise BadRequest("count: give count or tag_values")
        return [
            self.create(
                db,
                ws,
                exp.name,
                RunCreate(kind="child", parent_run_id=parent.id, tags=tags),
            )
            for tags in tag_sets
        ]

    def list(
        self,
        db: Session,
        ws: models.Workspace,
        *,
        experiment_name: str | None = None,
        parent_run_id: str | None = None,
        recursive: bool = False,
        include_children: bool = False,
        tags: str | dict[str, Any] | list[str] | None = None,
        properties: str | dict[str, Any] | list[str] | None = None,
        status: str | None = None,
        run_type: str | None = None,
        target: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        oldest_first: bool = False,
        where: Expression | None = None,
        order: RunOrder | None = None,
    ) -> tuple[builtins.list[models.Run], str | None]:
        """Runs newest first (or oldest first, or in ``order``), filtered as
        ``Experiment.get_runs`` and ``Run.get_children`` do and by ``where``, all in SQL; a
        page of at most ``limit`` runs after ``cursor``, and the next cursor."""
        query = select(models.Run).where(models.Run.workspace_id == ws.id)
        if parent_run_id is not None:
            if recursive:
                ids = self._descendant_ids(db, ws, parent_run_id)
                query = query.where(models.Run.id.in_(ids))
            else:
                query = query.where(models.Run.parent_run_id == parent_run_id)
        else:
            if experiment_name is not None:
                exp = db.scalar(
                    select(models.Experiment).where(
                        models.Experiment.workspace_id == ws.id,
                        models.Experiment.name == experiment_name,
                    )
                )
                if exp is None:
                    return [], None
                query = query.where(models.Run.experiment_id == exp.id)
            if not include_children:
                query = query.where(models.Run.parent_run_id.is_(None))
        dialect = db.get_bind().dialect.name
        planned = run_filters.plan(db, ws.id, where)
        if planned.empty:  # a threshold no run meets: nothing to read
            return [], None
        if planned.driver is not None:
            query = run_filters.drive(query, ws.id, planned.driver)
        for condition in (
            *run_filters.key_value(dialect, models.Run.tags, tags, "tags"),
            *run_filters.key_value(dialect, models.Run.properties, properties, "properties"),
            *([] if planned.clause is None else [planned.clause]),
        ):
            query = query.where(condition)
        if status is not None:
            query = query.where(models.Run.status == status)
        if run_type is not None:
            query = query.where(models.Run.run_type == run_type)
        if target is not None:
            query = query.where(models.Run.target == target)
        if created_after is not None:
            query = query.where(models.Run.created >= created_after)
        if created_before is not None:
            query = query.where(models.Run.created < created_before)
        if order is not None:
            return run_filters.sorted_page(db, query, ws.id, order, limit, cursor)
        if cursor is not None:
            query = query.where(*run_filters.after(cursor, oldest_first))
        query = query.order_by(*run_filters.order_by(oldest_first))
        if limit is None:
            return builtins.list(db.scalars(query)), None
        rows = builtins.list(db.scalars(query.limit(limit + 1)))
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], run_filters.cursor_of(rows[limit - 1], oldest_first)

    def _descendant_ids(self, db: Session, ws: models.Workspace, run_id: str) -> set[str]:
        found: set[str] = set()
        frontier = [run_id]
        while frontier:
            level = builtins.list(
                db.scalars(
                    select(models.Run.id).where(
                        models.Run.workspace_id == ws.id, models.Run.parent_run_id.in_(frontier)
                    )
                )
            )
            frontier = [i for i in level if i not in found]
            found.update(frontier)
        return found

    def _children(
        self, db: Session, ws: models.Workspace, parent_ids: Iterable[str]
    ) -> builtins.list[models.Run]:
        ids = list(parent_ids)
        if not ids:
            return []
        query = select(models.Run).where(
            models.Run.workspace_id == ws.id, models.Run.parent_run_id.in_(ids)
        )
        return list(db.scalars(query))

    def _descendants(
        self, db: Session, ws: models.Workspace, run_id: str
    ) -> builtins.list[models.Run]:
        found: builtins.list[models.Run] = []
        frontier = [run_id]
        while frontier:
            level = self._children(db, ws, frontier)
            found.extend(level)
            frontier = [run.id for run in level]
        return found

    def subtree(self, db: Session, ws: models.Workspace, run_id: str) -> builtins.list[models.Run]:
        return [self.row(db, ws, run_id), *self._descendants(db, ws, run_id)]

    def update(
        self, db: Session, ws: models.Workspace, run_id: str, request: RunUpdate
    ) -> models.Run:
        run = self.row(db, ws, run_id)
        if request.attempt is not None and request.attempt != run.attempt:
            raise Conflict(
                f"Run {run_id} is on attempt {run.attempt}; attempt {request.attempt} is stale"
            )
        if request.status is not None:
            run_states.transition(run, request.status)
        if request.error is not None and run.error is None:
            run.error = request.error.model_dump(mode="json")
        if request.display_name is not None:
            run.display_name = request.display_name
        if request.description is not None:
            run.description = request.description
        if request.tags is not None or request.remove_tags is not None:
            tags = dict(run.tags)
            tags.update(request.tags or {})
            for key in request.remove_tags or []:
                tags.pop(key, None)
            run.tags = tags
        db.flush()
        return run

    def add_properties(
        self, db: Session, ws: models.Workspace, run_id: str, properties: dict[str, str]
    ) -> models.Run:
        run = self.row(db, ws, run_id)
        merged = dict(run.properties)
        for key, value in properties.items():
            if key in merged and merged[key] != value:
                raise Conflict(
                    f"Property {key!r} of run {run_id} is already set to {merged[key]!r}; "
                    "properties are add-only and cannot be changed"
                )
            merged[key] = value
        run.properties = merged
        db.flush()
        return run

    def delete(self, db: Session, ws: models.Workspace, run_id: str) -> builtins.list[models.Run]:
        """Batch AI's ``jobs.delete``: the run and the runs below it, once every one of them
        has ended and no launcher of theirs is still stopping (its last logs still count);
        what belongs to them goes with them. Returns the deleted runs (their files are the
        caller's to remove)."""
        return self._delete(db, self.subtree(db, ws, run_id))

    def delete_experiment(
        self, db: Session, ws: models.Workspace, name: str
    ) -> builtins.list[models.Run]:
        """Batch AI's ``experiments.delete``: the experiment with all its runs, once every
        one has ended. Returns the deleted runs."""
        exp = db.scalar(
            select(models.Experiment).where(
                models.Experiment.workspace_id == ws.id, models.Experiment.name == name
            )
        )
        if exp is None:
            raise NotFound(f"Experiment {name!r} not found in workspace {ws.name!r}")
        hold(db, exp)
        query = select(models.Run).where(
            models.Run.workspace_id == ws.id, models.Run.experiment_id == exp.id
        )
        runs = self._delete(db, builtins.list(db.scalars(query.order_by(models.Run.created))))
        db.delete(exp)
        db.flush()
        return runs

    def _delete(self, db: Session, runs: builtins.list[models.Run]) -> builtins.list[models.Run]:
        for run in runs:
            hold(db, run)
            if not RunStatus(run.status).is_terminal:
                raise Conflict(
                    f"Run {run.id} is {run.status}: cancel it first; a run is deleted once "
                    "it has ended"
                )
            if any(a.state != AssignmentState.ENDED for a in allocation.assignments_of(db, run)):
                raise Conflict(
                    f"Run {run.id} has ended but its launchers are still stopping; "
                    "delete it again in a few seconds"
                )
        for run in reversed(runs):
            db.delete(run)
        db.flush()
        return runs

    def cancel(self, db: Session, ws: models.Workspace, run_id: str) -> models.Run:
        """Cancel at once what never started; ask the processes of what did to stop."""
        run = self.row(db, ws, run_id)
        status = RunStatus(run.status)
        if status.is_terminal:
            return run
        if status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            run_states.transition(run, RunStatus.CANCELED)
            return run
        run_states.transition(run, RunStatus.CANCEL_REQUESTED)
        allocation.stop_assignments(db, run)
        if not any(a.state != AssignmentState.ENDED for a in allocation.assignments_of(db, run)):
            # Nothing runs for it (an interactive run's process is the caller itself).
            run_states.transition(run, RunStatus.CANCELED)
        return run
