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


def _newest(points: list[tuple[int, int | None, Any]]) -> list[Any]:
    """One name's values once attempts are merged, given (attempt, step, value) in logging order.

    A requeued run logs again: with steps, each step keeps its newest attempt's value (a
    run resumed from a checkpoint keeps its earlier steps); without steps, the newest
    attempt's series replaces the older ones (a run restarted from scratch).
    """
    if all(step is not None for _, step, _ in points):
        by_step: dict[int, tuple[int, list[Any]]] = {}
        for attempt, step, value in points:
            kept = by_step.get(step)  # type: ignore[arg-type]
            if kept is None or attempt > kept[0]:
                by_step[step] = (attempt, [value])  # type: ignore[index]
            elif attempt == kept[0]:
                kept[1].append(value)
        return [value for step in sorted(by_step) for value in by_step[step][1]]
    newest = max(attempt for attempt, _, _ in points)
    return [value for attempt, _, value in points if attempt == newest]


def metrics_of(
    db: Session, run_ids: list[str], name: str | None = None
) -> dict[str, dict[str, Any]]:
    """{run_id: {metric name: value}} for the given runs, in logging order."""
    query = select(
        models.Metric.run_id,
        models.Metric.name,
        models.Metric.kind,
        models.Metric.attempt,
        models.Metric.step,
        models.Metric.value,
    ).where(models.Metric.run_id.in_(run_ids))
    if name is not None:
        query = query.where(models.Metric.name == name)
    grouped: dict[str, dict[str, tuple[str, list[tuple[int, int | None, Any]]]]] = {
        run_id: {} for run_id in run_ids
    }
    for run_id, metric_name, kind, attempt, step, value in db.execute(
        query.order_by(models.Metric.id)
    ):
        grouped[run_id].setdefault(metric_name, (kind, []))[1].append((attempt, step, value))
    return {
        run_id: {
            metric: _shape(kind, _newest(points)) for metric, (kind, points) in by_name.items()
        }
        for run_id, by_name in grouped.items()
    }
