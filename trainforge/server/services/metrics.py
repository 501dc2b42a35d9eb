"""Metric points: stored a batch at a time, read back in the SDK's shapes."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from sqlalchemy import BigInteger, cast, false, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from trainforge.schemas.limits import INT32_MAX, INT32_MIN
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


# The most points one chart request may ask for, and what it gets unasked: a chart is a
# few hundred pixels wide, so more points than this only cost transfer.
DEFAULT_SERIES_POINTS = 2000
MAX_SERIES_POINTS = 20000


def series_of(
    db: Session,
    run: models.Run,
    name: str,
    points: int = DEFAULT_SERIES_POINTS,
    x_min: int | None = None,
    x_max: int | None = None,
) -> dict[str, Any]:
    """One scalar metric of a run as a chart draws it: x, time and value arrays, exact when
    the range holds at most ``points`` points, else downsampled in SQL to a min and a max
    per bucket (about points / 2 buckets), so a spike stays visible at any zoom.

    x is the logged step when every point has one, else the point's index in logging
    order; ``x_min``/``x_max`` bound it (inclusive). Only the newest attempt's points are
    read (a requeued run logs again from its start). Values that are no number (NaN, an
    infinity, a string) are null.
    """
    dialect = db.get_bind().dialect.name
    metric = models.Metric
    scope: tuple[ColumnElement[bool], ...] = (
        metric.workspace_id == run.workspace_id,
        metric.run_id == run.id,
        metric.name == name,
        metric.kind == "scalar",
    )
    # One pass for the series' size and bounds; a second only when it has several attempts.
    stats = select(
        func.max(metric.attempt),
        func.min(metric.attempt),
        func.count(),
        func.count(metric.step),
        func.min(metric.step),
        func.max(metric.step),
    )
    attempt, oldest, total, with_step, first_step, last_step = db.execute(stats.where(*scope)).one()
    started = run.started.timestamp() if run.started is not None else None
    empty: dict[str, list[Any]] = {"x": [], "time": [], "value": []}
    if attempt is None:
        return {
            "name": name,
            "x_axis": "index",
            "total": 0,
            "count": 0,
            "downsampled": False,
            "started": started,
            "points": empty,
        }
    scope = (*scope, metric.attempt == attempt)
    # Steps are 32-bit (and so, in practice, is an index): bounds outside that range are
    # brought to its edge, or match nothing, so no bound overflows the column's type.
    if (x_min is not None and x_min > INT32_MAX) or (x_max is not None and x_max < INT32_MIN):
        scope = (*scope, false())
    x_min = None if x_min is None else max(x_min, INT32_MIN)
    x_max = None if x_max is None else min(x_max, INT32_MAX)
    if oldest != attempt:
        _, _, total, with_step, first_step, last_step = db.execute(stats.where(*scope)).one()
    by_step = total == with_step
    if by_step:
        # The bounds in the WHERE on the step itself: SQL reads only the range's points.
        within = [*scope]
        if x_min is not None:
            within.append(metric.step >= x_min)
        if x_max is not None:
            within.append(metric.step <= x_max)
        x: Any = metric.step
    else:
        within, x = [*scope], func.row_number().over(order_by=metric.id) - 1
    rows = (
        select(
            metric.id.label("id"),
            x.label("x"),
            metric.time.label("time"),
            number_of(dialect, metric.value).label("value"),
        )
        .where(*within)
        .subquery()
    )
    bounds: list[ColumnElement[bool]] = []
    if not by_step and x_min is not None:
        bounds.append(rows.c.x >= x_min)
    if not by_step and x_max is not None:
        bounds.append(rows.c.x <= x_max)
    if x_min is None and x_max is None:
        count = total
        lo, hi = (first_step, last_step) if by_step else (0, total - 1)
    else:
        count, lo, hi = db.execute(
            select(func.count(), func.min(rows.c.x), func.max(rows.c.x)).where(*bounds)
        ).one()
    found: dict[str, list[Any]] = {"x": [], "time": [], "value": []}
    downsampled = count > points
    if not downsampled:
        query = select(rows.c.x, rows.c.time, rows.c.value).where(*bounds).order_by(rows.c.id)
        for px, ptime, pvalue in db.execute(query):
            found["x"].append(px)
            found["time"].append(ptime)
            found["value"].append(pvalue)
    else:
        buckets = max(1, points // 2)
        # Integer division on x >= lo (a big integer: a step times the buckets may pass
        # 2**31): buckets 0 .. buckets - 1 alike on SQLite and PostgreSQL.
        bounds_x: Any = (lo, hi)  # not None: the range holds points
        low_x, span = int(bounds_x[0]), int(bounds_x[1]) - int(bounds_x[0]) + 1
        offset = cast(rows.c.x, BigInteger) - low_x
        bucket = ((offset * buckets) // span).label("bucket")
        query = (
            select(
                func.min(rows.c.x),
                func.max(rows.c.x),
                func.min(rows.c.time),
                func.max(rows.c.time),
                func.min(rows.c.value),
                func.max(rows.c.value),
            )
            .where(*bounds)
            .group_by(bucket)
            .order_by(bucket)
        )
        buckets_found: Any = db.execute(query)
        for first, last, tfirst, tlast, low, high in buckets_found:
            # Two points a bucket, its first x at its low and its last x at its high: the
            # line covers the bucket's whole range of values.
            found["x"] += [first, last] if last != first else [first]
            found["time"] += [tfirst, tlast] if last != first else [tfirst]
            found["value"] += [low, high] if last != first else [low]
    return {
        "name": name,
        "x_axis": "step" if by_step else "index",
        "total": total,
        "count": count,
        "downsampled": downsampled,
        "started": started,
        "points": found,
    }


def summaries_of(db: Session, run: models.Run) -> dict[str, dict[str, Any]]:
    """{name: {kind, count, last}} of a run's metrics, for a page that lists them without
    reading every point: the kinds logged under each name, the newest attempt's count of
    points (from the series index alone) and, for a name of scalars only, its last value
    (kept with each batch; NaN and infinities as null)."""
    metric = models.Metric
    counts: dict[str, dict[str, Any]] = {}
    query = (
        select(metric.name, metric.kind, metric.attempt, func.count())
        .where(metric.workspace_id == run.workspace_id, metric.run_id == run.id)
        .group_by(metric.name, metric.kind, metric.attempt)
    )
    newest: dict[str, int] = {}
    rows = list(db.execute(query))
    for name, _, attempt, _ in rows:
        newest[name] = max(attempt, newest.get(name, attempt))
    for name, kind, attempt, count in rows:
        found = counts.setdefault(name, {"kinds": [], "count": 0, "last": None})
        if kind not in found["kinds"]:
            found["kinds"].append(kind)
        if attempt == newest[name]:
            found["count"] += count
    last = last_values(db, run.workspace_id, [run.id], sorted(counts))[run.id]
    for name, found in counts.items():
        found["kinds"].sort()
        if found["kinds"] == ["scalar"]:
            found["last"] = last.get(name)
    return counts
