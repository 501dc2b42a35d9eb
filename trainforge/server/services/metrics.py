"""Metric points: stored a batch at a time, read back in the SDK's shapes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainforge.schemas.runs import MetricBatch
from trainforge.server.store import models


def add_batch(db: Session, run_id: str, batch: MetricBatch) -> bool:
    """Store a batch once; return False when this batch id was stored before."""
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
    """{run_id: {metric name: value}} for the given runs, in logging order."""
    query = select(
        models.Metric.run_id, models.Metric.name, models.Metric.kind, models.Metric.value
    )
    query = query.where(models.Metric.run_id.in_(run_ids)).order_by(models.Metric.id)
    if name is not None:
        query = query.where(models.Metric.name == name)
    grouped: dict[str, dict[str, tuple[str, list[Any]]]] = {run_id: {} for run_id in run_ids}
    for run_id, metric_name, kind, value in db.execute(query):
        grouped[run_id].setdefault(metric_name, (kind, []))[1].append(value)
    return {
        run_id: {metric: _shape(kind, values) for metric, (kind, values) in by_name.items()}
        for run_id, by_name in grouped.items()
    }
