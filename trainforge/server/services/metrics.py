"""Metric points: stored a batch at a time, read back in the SDK's shapes."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainforge.schemas.runs import MetricBatch
from trainforge.server.services.run_filters import number_of
from trainforge.server.store import models

T = TypeVar("T")


def add_batch(db: Session, run: models.Run, batch: MetricBatch) -> bool:
    """Store a batch once; False when it was stored before or comes from a superseded attempt."""
    key = {"workspace_id": run.workspace_id, "run_id": run.id}
    if batch.attempt is not None and batch.attempt < run.attempt:
        return False
    try:
        with db.begin_nested():
            db.add(models.MetricBatch(**key, batch_id=batch.batch_id))
    except IntegrityError:
        return False
    if batch.points:
        db.execute(
            insert(models.Metric),
            [
                {
                    **key,
                    "name": p.name,
                    "kind": p.kind,
                    "step": p.step,
                    "value": p.value,
                    "description": p.description,
                    "time": p.time or 0.0,
                    "attempt": batch.attempt or run.attempt,
                }
                for p in batch.points
            ],
        )
        names = sorted({p.name for p in batch.points if p.kind == "scalar"})
        if names:
            _keep_last_values(db, run, names)
    return True


def _keep_last_values(db: Session, run: models.Run, names: list[str]) -> None:
    """Point each (run, name) of the batch's scalar names at its newest stored point, in the
    batch's transaction: a batch stored is in the listings, one refused is not.

    Read back from ``metrics`` (the highest id, as the listing always defined "last")
    rather than from the batch, so a row never names a point older than one it had: a
    batch that commits after a newer one (PostgreSQL, two requests at once) leaves the
    newer point in place."""
    dialect = db.get_bind().dialect.name
    metric = models.Metric
    newest = (
        select(func.max(metric.id))
        .where(
            metric.workspace_id == run.workspace_id,
            metric.run_id == run.id,
            metric.name.in_(names),
            metric.kind == "scalar",
        )
        .group_by(metric.name)
    )
    points = select(
        metric.workspace_id,
        metric.run_id,
        metric.name,
        metric.id,
        metric.value,
        number_of(dialect, metric.value),
    ).where(metric.id.in_(newest))
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        models.MetricLastValue
    ).from_select(["workspace_id", "run_id", "name", "metric_id", "value", "number"], points)
    last = models.MetricLastValue
    db.execute(
        upsert.on_conflict_do_update(
            index_elements=[last.workspace_id, last.run_id, last.name],
            set_={
                "metric_id": upsert.excluded.metric_id,
                "value": upsert.excluded.value,
                "number": upsert.excluded.number,
            },
            where=upsert.excluded.metric_id > last.metric_id,
        )
    )


# The SDK's metric types: a row is a one-row table, so rows and tables of a name build one
# table; any other mix is a conflict, and the type logged first wins (azureml's
# ``dto_to_metrics_dict`` skips the points of a conflicting type).
SDK_TYPE = {"scalar": "scalar", "list": "list", "row": "table", "table": "table", "image": "image"}


def _table(points: list[tuple[str, dict[str, Any]]]) -> dict[str, list[Any]]:
    """Rows and tables of one name as {column: cells}, None where a row lacks a column."""
    columns: dict[str, list[Any]] = {}
    length = 0
    for kind, value in points:
        rows = {
            column: cell if kind == "table" and isinstance(cell, list) else [cell]
            for column, cell in value.items()
        }
        added = max((len(cells) for cells in rows.values()), default=0)
        for column, cells in rows.items():
            columns.setdefault(column, [None] * length).extend(cells)
        for cells in columns.values():
            cells.extend([None] * (length + added - len(cells)))
        length += added
    return columns


def _shape(sdk_type: str, points: list[tuple[str, Any]]) -> Any:
    """What ``Run.get_metrics`` returns for one name, given (kind, value) in logging order."""
    if sdk_type == "table":
        return _table(points)
    values = [value for _, value in points]
    return values[0] if len(values) == 1 else values


def _newest(points: list[tuple[int, int | None, T]]) -> list[T]:
    """One name's values once attempts are merged, given (attempt, step, value) in logging order.

    A requeued run logs again: with steps, each step keeps its newest attempt's value (a
    run resumed from a checkpoint keeps its earlier steps); without steps, the newest
    attempt's series replaces the older ones (a run restarted from scratch).
    """
    if all(step is not None for _, step, _ in points):
        by_step: dict[int, tuple[int, list[T]]] = {}
        for attempt, step, value in points:
            kept = by_step.get(step)  # type: ignore[arg-type]
            if kept is None or attempt > kept[0]:
                by_step[step] = (attempt, [value])  # type: ignore[index]
            elif attempt == kept[0]:
                kept[1].append(value)
        return [value for step in sorted(by_step) for value in by_step[step][1]]
    newest = max(attempt for attempt, _, _ in points)
    return [value for attempt, _, value in points if attempt == newest]


Points = list[tuple[int, int | None, tuple[str, Any]]]


def metrics_of(
    db: Session, workspace_id: str, run_ids: list[str], name: str | None = None
) -> dict[str, dict[str, Any]]:
    """{run_id: {metric name: value}} for the given runs of a workspace, in logging order."""
    query = select(
        models.Metric.run_id,
        models.Metric.name,
        models.Metric.kind,
        models.Metric.attempt,
        models.Metric.step,
        models.Metric.value,
    ).where(models.Metric.workspace_id == workspace_id, models.Metric.run_id.in_(run_ids))
    if name is not None:
        query = query.where(models.Metric.name == name)
    grouped: dict[str, dict[str, tuple[str, Points]]] = {run_id: {} for run_id in run_ids}
    for run_id, metric_name, kind, attempt, step, value in db.execute(
        query.order_by(models.Metric.id)
    ):
        sdk_type, points = grouped[run_id].setdefault(metric_name, (SDK_TYPE[kind], []))
        if SDK_TYPE[kind] == sdk_type:
            points.append((attempt, step, (kind, value)))
    return {
        run_id: {
            metric: _shape(sdk_type, _newest(points))
            for metric, (sdk_type, points) in by_name.items()
        }
        for run_id, by_name in grouped.items()
    }


def last_values(
    db: Session, workspace_id: str, run_ids: list[str], names: list[str]
) -> dict[str, dict[str, Any]]:
    """{run_id: {name: last scalar value}} of a workspace's runs, for the runs table's
    chosen metric columns: one query on the last values kept with each batch, one row per
    (run, name) whatever the length of the series."""
    found: dict[str, dict[str, Any]] = {run_id: {} for run_id in run_ids}
    if not run_ids or not names:
        return found
    last = models.MetricLastValue
    for run_id, name, value in db.execute(
        select(last.run_id, last.name, last.value).where(
            last.workspace_id == workspace_id, last.run_id.in_(run_ids), last.name.in_(names)
        )
    ):
        # NaN and infinities have no JSON of their own: a browser's JSON.parse refuses them.
        finite = not isinstance(value, float) or math.isfinite(value)
        found[run_id][name] = value if finite else None
    return found
