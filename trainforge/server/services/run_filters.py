"""The SQL of run listing: the SDK's tag and property filters, and the listing's cursor.

Tags and properties are JSON objects on the run row; a filter is an EXISTS over the
object's entries (``json_each`` on SQLite, ``json_each_text`` on PostgreSQL), so any key
works, a tag without a value (JSON null) counts as present, and nothing is filtered in
Python after the query. Runs list newest (or oldest) first by (created, number, id); the
cursor is the last run of a page in that order.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from trainforge.schemas.run_filters import Condition, KeyCondition, MetricCondition
from trainforge.server.errors import BadRequest
from trainforge.server.store import models

KeyValueFilter = str | dict[str, Any] | list[str] | None


def _entries(dialect: str, column: InstrumentedAttribute[Any]) -> Any:
    each = func.json_each_text if dialect == "postgresql" else func.json_each
    return each(column).table_valued("key", "value").alias("entry")


def _has(
    dialect: str, column: InstrumentedAttribute[Any], key: str, value: Any, match_value: bool
) -> ColumnElement[bool]:
    entry = _entries(dialect, column)
    condition = entry.c.key == key
    if match_value:
        condition = and_(
            condition, entry.c.value.is_(None) if value is None else entry.c.value == str(value)
        )
    return exists(select(literal(1)).select_from(entry).where(condition))


def key_value(
    dialect: str, column: InstrumentedAttribute[Any], wanted: KeyValueFilter, field: str
) -> list[ColumnElement[bool]]:
    """The SDK's filter as SQL: a key, a list of keys, or a key -> value object."""
    if wanted is None:
        return []
    if isinstance(wanted, str):
        return [_has(dialect, column, wanted, None, False)]
    if isinstance(wanted, list):
        if not all(isinstance(key, str) for key in wanted):
            raise BadRequest(f"{field}: a list of keys takes strings only")
        return [_has(dialect, column, key, None, False) for key in wanted]
    for value in wanted.values():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise BadRequest(f"{field}: each value to match must be a string or null")
    return [_has(dialect, column, key, value, True) for key, value in wanted.items()]


def cursor_of(run: models.Run, oldest_first: bool = False) -> str:
    """The cursor that continues after ``run`` in its listing's order."""
    raw = json.dumps([run.created.isoformat(), run.number, run.id, oldest_first])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def order_by(oldest_first: bool) -> list[ColumnElement[Any]]:
    run = models.Run
    keys = (run.created, run.number, run.id)
    return [key.asc() if oldest_first else key.desc() for key in keys]


def after(cursor: str, oldest_first: bool = False) -> list[ColumnElement[bool]]:
    """Conditions for the runs after ``cursor`` in listing order; a bad cursor, or one of a
    listing in the other order, is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_text, number, run_id, cursor_oldest = json.loads(raw)
        created = datetime.fromisoformat(created_text)
        if not isinstance(number, int) or not isinstance(run_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadRequest("cursor: not a cursor this server gave (use next_cursor)") from None
    if cursor_oldest is not oldest_first:
        raise BadRequest("cursor: it continues a listing in the other order; keep order as it was")
    run = models.Run
    if oldest_first:
        return [
            run.created >= created,
            or_(
                run.created > created,
                and_(run.created == created, run.number > number),
                and_(run.created == created, run.number == number, run.id > run_id),
            ),
        ]
    return [
        # The first term lets the (workspace, created) indexes seek to the cursor.
        run.created <= created,
        or_(
            run.created < created,
            and_(run.created == created, run.number < number),
            and_(run.created == created, run.number == number, run.id < run_id),
        ),
    ]


def number_of(dialect: str, value: Any) -> ColumnElement[Any]:
    """A metric's JSON text as a float, NULL when it is no number (a string, a bool, NaN).

    The value column is exact JSON text (``JSONText``); a plain cast would read a string
    as 0 on SQLite and fail on PostgreSQL, and ``json_type`` fails on the ``NaN`` that
    Python's ``json.dumps`` writes, hence the checks first (CASE evaluates lazily)."""
    if dialect == "postgresql":
        # A literal of its own type: beside the column it would be bound as JSONText, which
        # would write the pattern as a JSON string.
        pattern = literal(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$", String)
        is_number = value.op("~")(pattern)
        return case((is_number, cast(value, Float)), else_=None)
    return case(
        (
            func.json_valid(value) == 1,
            case((func.json_type(value).in_(("integer", "real")), cast(value, Float)), else_=None),
        ),
        else_=None,
    )


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}


def metric_value(dialect: str, name: str, aggregate: str) -> Any:
    """A correlated scalar subquery: each listed run's last (or max, or min) number logged
    as scalar ``name`` by its newest attempt. Each probe seeks ``ix_metrics_run_name``
    (workspace, run, name), so a page costs one probe per run it looks at, however many
    points other runs hold."""
    metric = models.Metric
    run = models.Run
    own = (
        metric.workspace_id == run.workspace_id,
        metric.run_id == run.id,
        metric.name == name,
        metric.kind == "scalar",
    )
    if aggregate == "last":
        # Ids grow with insertion and a superseded attempt's writes are refused, so the
        # highest id is the newest attempt's last point (SQLite's index holds the rowid).
        return (
            select(number_of(dialect, metric.value))
            .where(*own)
            .order_by(metric.id.desc())
            .limit(1)
            .correlate(run)
            .scalar_subquery()
        )
    other = models.Metric.__table__.alias("newest")
    newest = (
        select(func.max(other.c.attempt))
        .where(
            other.c.workspace_id == run.workspace_id,
            other.c.run_id == run.id,
            other.c.name == name,
            other.c.kind == "scalar",
        )
        .correlate(run)
        .scalar_subquery()
    )
    best = func.max if aggregate == "max" else func.min
    return (
        select(best(number_of(dialect, metric.value)))
        .where(*own, metric.attempt == newest)
        .correlate(run)
        .scalar_subquery()
    )


def condition(dialect: str, wanted: Condition) -> ColumnElement[bool]:
    """One parsed ``filter`` condition as SQL on the runs table."""
    if isinstance(wanted, MetricCondition):
        # NULL (no number logged) compares as unknown: the run is not listed.
        return _COMPARE[wanted.op](
            metric_value(dialect, wanted.name, wanted.aggregate), wanted.value
        )
    assert isinstance(wanted, KeyCondition)
    column = models.Run.tags if wanted.field == "tags" else models.Run.properties
    matches = _has(dialect, column, wanted.key, wanted.value, True)
    return matches if wanted.op == "=" else not_(matches)
