"""Metric points: stored a batch at a time, read back in the SDK's shapes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainforge.schemas.runs import MetricBatch
from trainforge.server.store import models


def add_batch(db: Session, run: models.Run, batch: MetricBatch) -> bool:
    """Store a batch once; False when it was stored before or comes from a superseded attempt."""
    run_id = run.id
    if batch.attempt is not None and batch.attempt < run.attempt:
        return False
    try:
        with db.begin_nested():
            db.add(models.MetricBatch(run_id=run_id, batch_id=batch.batch_id))
    except IntegrityError:
        return False
    if batch.points:
        db.execute(
            insert(models.Metric),
            [
                {
                    "run_id": run_id,
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
    return True


def _shape(kind: str, values: list[Any]) -> Any:
    """What ``Run.get_metrics`` returns for one name, by how it was logged."""
    if kind in ("row", "table"):
        columns: dict[str, list[Any]] = {}
        for value in values:
            for column, cell in value.items():
                cells = cell if kind == "table" and isinstance(cell, list) else [cell]
                columns.setdefault(column, []).extend(cells)
        return columns
    return values[0] if len(values) == 1 else values


def metrics_of(
    db: Session, run_ids: list[str], name: str | None = None
) -> dict[str, dict[str, Any]]:
    """{run_id: {metric name: value}} for the given runs, in logging order.

    A requeued run logs again from its start, so each name keeps only the values of
    the newest attempt that logged it: a preempted run's metrics are not duplicated.
    """
    columns = (models.Metric.run_id, models.Metric.name, models.Metric.kind, models.Metric.value)
    query = select(*columns, models.Metric.attempt).where(models.Metric.run_id.in_(run_ids))
    if name is not None:
        query = query.where(models.Metric.name == name)
    grouped: dict[str, dict[str, tuple[str, list[Any]]]] = {run_id: {} for run_id in run_ids}
    newest: dict[tuple[str, str], int] = {}
    for run_id, metric_name, kind, value, attempt in db.execute(query.order_by(models.Metric.id)):
        key = (run_id, metric_name)
        if attempt > newest.get(key, 0):
            newest[key] = attempt
            grouped[run_id][metric_name] = (kind, [])
        if attempt == newest[key]:
            grouped[run_id][metric_name][1].append(value)
    return {
        run_id: {metric: _shape(kind, values) for metric, (kind, values) in by_name.items()}
        for run_id, by_name in grouped.items()
    }
