"""Schedules of published pipelines: create, read, list, update, and the one pass the
schedule loop makes over a due schedule (``fire_due``).

A recurrence fires once per slot: the firing (its slot in the key) and the pipeline run
are written in one transaction with the schedule's next slot, so a slot that fired has
its run, and a restart never fires it again. Slots missed while the control plane was
down are not backfilled: the latest one passed fires once, the others are only counted
(in the server's log), as Azure ML's schedules do. A schedule on a datastore looks at
the top level of ``path_on_datastore`` every ``polling_interval`` minutes; its first look
only notes what is there; each later new or changed file (by size and version or ETag)
fires a run once, with the file as the DataPath parameter ``data_path_parameter_name``
where one is named.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.pipelines import (
    DataPathValue,
    ParameterValue,
    PipelineGraph,
    parameter_from_json,
    parameter_json,
    parameter_values,
)
from trainforge.schemas.schedules import (
    SCHEDULE_ID_PROPERTY,
    Recurrence,
    ScheduleCreate,
    ScheduleFiringInfo,
    ScheduleInfo,
    ScheduleUpdate,
)
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services import datastores
from trainforge.server.services import published_pipelines as published
from trainforge.server.services.pipelines import check_datastores
from trainforge.server.services.recurrence import latest_due, next_slot
from trainforge.server.services.runs import RunService
from trainforge.server.services.secrets import Vault
from trainforge.server.store import models
from trainforge.server.store.published import PublishedPipelineRow, ScheduleFiringRow, ScheduleRow
from trainforge.storage import transfer
from trainforge.storage.locations import datastore_path, join, open_filesystem

log = logging.getLogger("trainforge.server")


def _json(values: dict[str, ParameterValue]) -> dict[str, object]:
    return {k: parameter_json(v) for k, v in values.items()}


def _loaded(values: dict[str, object]) -> dict[str, ParameterValue]:
    return {k: parameter_from_json(v) for k, v in values.items()}


def _pipeline(db: Session, ws: models.Workspace, row: ScheduleRow) -> PublishedPipelineRow:
    """The published pipeline a firing runs: the schedule's, or its endpoint's default."""
    if row.pipeline_id is not None:
        return published.get(db, ws, row.pipeline_id)
    assert row.pipeline_endpoint_id is not None
    endpoint = published.get_endpoint(db, ws, row.pipeline_endpoint_id)
    return published.endpoint_pipeline(db, ws, endpoint, None)


def _check(db: Session, ws: models.Workspace, row: ScheduleRow) -> None:
    """What a schedule names must exist and its parameters must be the pipeline's, now:
    a bad schedule is refused when made, not at its first slot."""
    pipeline = _pipeline(db, ws, row)
    graph = PipelineGraph.model_validate(pipeline.graph)
    values = _loaded(row.pipeline_parameters)
    if row.data_path_parameter_name is not None:
        defined = {p.name: p for p in graph.parameters}
        spec = defined.get(row.data_path_parameter_name)
        if spec is None or not isinstance(spec.default_value, DataPathValue):
            raise BadRequest(
                f"data_path_parameter_name: {row.data_path_parameter_name!r} is not a DataPath "
                "parameter of the pipeline"
            )
    try:
        parameter_values(graph, values)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    check_datastores(db, ws, values)
    if row.datastore_name is not None and datastores.find(db, ws, row.datastore_name) is None:
        raise NotFound(f"datastore: {row.datastore_name!r} not found in workspace {ws.name!r}")


def _first_due(row: ScheduleRow, now: datetime) -> datetime:
    if row.recurrence is None:
        return now  # the first look at the datastore, at once
    rec = Recurrence.model_validate(row.recurrence)
    # The first slot from now on: slots before the schedule existed are not backfilled.
    return next_slot(rec, row.anchor, now - timedelta(microseconds=1))


def create(
    db: Session, ws: models.Workspace, request: ScheduleCreate, now: datetime
) -> ScheduleRow:
    row = ScheduleRow(
        workspace_id=ws.id,
        id=str(uuid.uuid4()),
        name=request.name,
        description=request.description,
        pipeline_id=request.pipeline_id,
        pipeline_endpoint_id=None,
        experiment_name=request.experiment_name,
        status="Active",
        recurrence=request.recurrence.model_dump(mode="json") if request.recurrence else None,
        pipeline_parameters=_json(request.pipeline_parameters),
        continue_on_step_failure=request.continue_on_step_failure,
        datastore_name=request.datastore_name,
        polling_interval=request.polling_interval,
        data_path_parameter_name=request.data_path_parameter_name,
        path_on_datastore=request.path_on_datastore,
        seen=None,
        anchor=(request.recurrence.start() if request.recurrence else None) or now,
        created=now,
    )
    if request.pipeline_endpoint_id is not None:
        row.pipeline_endpoint_id = published.get_endpoint(db, ws, request.pipeline_endpoint_id).id
    _check(db, ws, row)
    row.next_due = _first_due(row, now)
    db.add(row)
    db.flush()
    return row


def get(db: Session, ws: models.Workspace, schedule_id: str) -> ScheduleRow:
    row = db.get(ScheduleRow, (ws.id, schedule_id))
    if row is None:
        raise NotFound(f"Schedule {schedule_id!r} not found in workspace {ws.name!r}")
    return row


def listing(
    db: Session,
    ws: models.Workspace,
    active_only: bool,
    pipeline_id: str | None = None,
    pipeline_endpoint_id: str | None = None,
) -> list[ScheduleRow]:
    query = select(ScheduleRow).where(ScheduleRow.workspace_id == ws.id)
    if active_only:
        query = query.where(ScheduleRow.status == "Active")
    if pipeline_id is not None:
        query = query.where(ScheduleRow.pipeline_id == pipeline_id)
    if pipeline_endpoint_id is not None:
        query = query.where(ScheduleRow.pipeline_endpoint_id == pipeline_endpoint_id)
    return list(db.scalars(query.order_by(ScheduleRow.created)))


def update(
    db: Session, ws: models.Workspace, row: ScheduleRow, request: ScheduleUpdate, now: datetime
) -> None:
    """Change what is given; a new recurrence (or a schedule enabled again) counts its
    slots from now on, with no backfill of the time it was off."""
    if request.recurrence is not None and row.recurrence is None:
        raise BadRequest("recurrence: this schedule is triggered by a datastore")
    if row.recurrence is not None and (
        request.datastore_name is not None
        or request.path_on_datastore is not None
        or request.data_path_parameter_name is not None
    ):
        raise BadRequest("datastore: this schedule is triggered by its recurrence")
    for field in (
        "name",
        "description",
        "datastore_name",
        "polling_interval",
        "data_path_parameter_name",
        "path_on_datastore",
        "continue_on_step_failure",
    ):
        value = getattr(request, field)
        if value is not None:
            setattr(row, field, value)
    if request.pipeline_parameters is not None:
        row.pipeline_parameters = _json(request.pipeline_parameters)
    rearm = False
    if request.recurrence is not None:
        row.recurrence = request.recurrence.model_dump(mode="json")
        row.anchor = request.recurrence.start() or now
        rearm = True
    if request.datastore_name is not None or request.path_on_datastore is not None:
        row.seen = None  # another place: its first look notes what is there
        rearm = True
    if request.status is not None and request.status != row.status:
        row.status = request.status
        rearm = True
    _check(db, ws, row)
    if rearm:
        row.next_due = _first_due(row, now)
    db.flush()


def info(row: ScheduleRow) -> ScheduleInfo:
    return ScheduleInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        pipeline_id=row.pipeline_id,
        pipeline_endpoint_id=row.pipeline_endpoint_id,
        experiment_name=row.experiment_name,
        status="Active" if row.status == "Active" else "Disabled",
        recurrence=Recurrence.model_validate(row.recurrence) if row.recurrence else None,
        pipeline_parameters=_loaded(row.pipeline_parameters),
        datastore_name=row.datastore_name,
        polling_interval=row.polling_interval,
        data_path_parameter_name=row.data_path_parameter_name,
        path_on_datastore=row.path_on_datastore,
        continue_on_step_failure=row.continue_on_step_failure,
        next_run_time=row.next_due if row.status == "Active" else None,
        created=row.created,
    )


def firings(db: Session, row: ScheduleRow) -> list[ScheduleFiringInfo]:
    """The pipeline runs the schedule submitted, newest first."""
    found = db.scalars(
        select(ScheduleFiringRow)
        .where(
            ScheduleFiringRow.workspace_id == row.workspace_id,
            ScheduleFiringRow.schedule_id == row.id,
        )
        .order_by(ScheduleFiringRow.created.desc(), ScheduleFiringRow.slot.desc())
    )
    return [ScheduleFiringInfo(slot=f.slot, run_id=f.run_id, created=f.created) for f in found]


# -- the schedule loop's pass ------------------------------------------------------------


def due(db: Session, now: datetime) -> list[tuple[str, str]]:
    """(workspace id, schedule id) of every active schedule whose slot or poll is due."""
    query = select(ScheduleRow.workspace_id, ScheduleRow.id).where(
        ScheduleRow.status == "Active", ScheduleRow.next_due <= now
    )
    return [(ws, sid) for ws, sid in db.execute(query)]


def next_due(db: Session) -> datetime | None:
    """When the next active schedule is due (the loop sleeps until then)."""
    return db.scalar(
        select(ScheduleRow.next_due)
        .where(ScheduleRow.status == "Active", ScheduleRow.next_due.is_not(None))
        .order_by(ScheduleRow.next_due)
        .limit(1)
    )


def _fire(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    row: ScheduleRow,
    slot: str,
    values: dict[str, ParameterValue],
    now: datetime,
) -> str | None:
    """Submit the slot's pipeline run, once: a slot already in the store is left alone."""
    if db.get(ScheduleFiringRow, (ws.id, row.id, slot)) is not None:
        return None
    pipeline = _pipeline(db, ws, row)
    run = published.submit(
        db,
        runs,
        ws,
        pipeline,
        row.experiment_name,
        values,
        continue_on_step_failure=row.continue_on_step_failure,
        run_source="Schedule",
        description=pipeline.description,
        submitted_by=f"schedule {row.name}",
        properties={SCHEDULE_ID_PROPERTY: row.id},
    )
    db.add(
        ScheduleFiringRow(
            workspace_id=ws.id, schedule_id=row.id, slot=slot, run_id=run.id, created=now
        )
    )
    db.flush()
    return run.id


def fire_due(
    db: Session,
    runs: RunService,
    vault: Vault,
    ws: models.Workspace,
    row: ScheduleRow,
    now: datetime,
) -> list[str]:
    """One pass over a due schedule, in ``db``'s transaction: the runs it submitted."""
    if row.status != "Active" or row.next_due is None or row.next_due > now:
        return []
    values = _loaded(row.pipeline_parameters)
    if row.recurrence is not None:
        rec = Recurrence.model_validate(row.recurrence)
        slot, skipped, following = latest_due(rec, row.anchor, row.next_due, now)
        if skipped:
            log.warning(
                "schedule %s: %d slot(s) before %s passed while the control plane was away; "
                "not backfilled",
                row.id,
                skipped,
                slot.isoformat(),
            )
        row.next_due = following
        fired = _fire(db, runs, ws, row, slot.isoformat(), values, now)
        return [fired] if fired else []
    fired_runs = []
    row.next_due = now + timedelta(minutes=row.polling_interval)
    files = _top_level_files(db, vault, ws, row)
    if row.seen is None:
        row.seen = files
        return []
    changed = sorted(name for name, version in files.items() if row.seen.get(name) != version)
    row.seen = files
    if not changed:
        return []
    if row.data_path_parameter_name is None:
        digest = hashlib.sha256("\n".join(f"{n}@{files[n]}" for n in changed).encode())
        fired = _fire(db, runs, ws, row, f"files:{digest.hexdigest()}", values, now)
        return [fired] if fired else []
    assert row.datastore_name is not None
    base = (row.path_on_datastore or "").strip("/")
    for name in changed:
        path = f"{base}/{name}" if base else name
        value = DataPathValue(datastore_name=row.datastore_name, path_on_datastore=path)
        key = f"file:{path}@{files[name]}"
        fired = _fire(db, runs, ws, row, key, {**values, row.data_path_parameter_name: value}, now)
        if fired:
            fired_runs.append(fired)
    return fired_runs


def _top_level_files(
    db: Session, vault: Vault, ws: models.Workspace, row: ScheduleRow
) -> dict[str, str]:
    """{file name: size and version} of the files right under the watched path (its
    subfolders are not watched, as in Azure ML)."""
    assert row.datastore_name is not None
    access = datastores.access(db, ws, row.datastore_name, vault)
    fs = open_filesystem(access)
    base = join(access.root, datastore_path(row.path_on_datastore))
    prefix = fs._strip_protocol(base).rstrip("/") + "/"
    found = {}
    for remote, meta in transfer.list_files(fs, base).items():
        name = remote[len(prefix) :] if remote.startswith(prefix) else remote
        if "/" not in name:
            found[name] = f"{meta.size}:{meta.version}"
    return found
