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
from typing import Any, NamedTuple

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
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql import Select

from trainforge.schemas.run_filters import (
    AllOf,
    AnyOf,
    Condition,
    Expression,
    KeyCondition,
    MetricCondition,
    RunOrder,
)
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


def _best_value(dialect: str, name: str, aggregate: str) -> Any:
    """A correlated scalar subquery: each listed run's max (or min) number logged as scalar
    ``name`` by its newest attempt. Each probe seeks ``ix_metrics_run_name``
    (workspace, run, name), so a page costs one probe per run it looks at."""
    metric = models.Metric
    run = models.Run
    own = (
        metric.workspace_id == run.workspace_id,
        metric.run_id == run.id,
        metric.name == name,
        metric.kind == "scalar",
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


def _last_value(name: str) -> Any:
    """A correlated probe: each listed run's last number of ``name``, one seek of the
    last values' primary key (workspace, run, name) per run looked at."""
    last = models.MetricLastValue
    run = models.Run
    return (
        select(last.number)
        .where(last.workspace_id == run.workspace_id, last.run_id == run.id, last.name == name)
        .correlate(run)
        .scalar_subquery()
    )


# A threshold that at most this many runs meet is read from the last-values index (the
# runs joined to the ids it yields); one that more meet, by probing the runs in listing
# order until the page is full. Either way a page reads about FEW rows at most: ~2 ms.
FEW = 2000


class Plan(NamedTuple):
    """How a listing's filter reads: its SQL on the runs, the threshold (if any) whose
    runs drive the query, and whether a threshold no run meets leaves nothing to list."""

    clause: ColumnElement[bool] | None
    driver: MetricCondition | None
    empty: bool


def _conjuncts(where: Expression) -> list[Expression]:
    if isinstance(where, AllOf):
        return [found for part in where.all_of for found in _conjuncts(part)]
    return [where]


def plan(db: Session, workspace_id: str, where: Expression | None) -> Plan:
    """The filter as SQL, choosing for each listing how its last-value thresholds read:
    counting (up to FEW + 1) the runs that each top-level one lets through, on the index."""
    if where is None:
        return Plan(None, None, False)
    last = models.MetricLastValue
    fewest: tuple[int, MetricCondition] | None = None
    for part in _conjuncts(where):
        if not (isinstance(part, MetricCondition) and part.aggregate == "last"):
            continue
        meeting = (
            select(literal(1))
            .where(
                last.workspace_id == workspace_id,
                last.name == part.name,
                _COMPARE[part.op](last.number, part.value),
            )
            .limit(FEW + 1)
        )
        count = db.scalar(select(func.count()).select_from(meeting.subquery())) or 0
        if count == 0:
            return Plan(None, None, True)
        if count <= FEW and (fewest is None or count < fewest[0]):
            fewest = (count, part)
    driver = None if fewest is None else fewest[1]
    dialect = db.get_bind().dialect.name
    return Plan(expression(dialect, where, driver), driver, False)


def drive(query: Select[Any], workspace_id: str, driver: MetricCondition) -> Select[Any]:
    """``query`` joined to the last values that meet ``driver``: the database reads the
    runs of those ids (the index range) rather than every run of the listing."""
    last = aliased(models.MetricLastValue, name="driver")
    run = models.Run
    return query.join(
        last,
        and_(
            last.workspace_id == workspace_id,
            last.run_id == run.id,
            last.name == driver.name,
            _COMPARE[driver.op](last.number, driver.value),
        ),
    )


def condition(
    dialect: str, wanted: Condition, driver: MetricCondition | None = None
) -> ColumnElement[bool]:
    """One parsed ``filter`` condition as SQL on the runs table; the ``driver`` is met by
    the join that ``drive`` adds."""
    if isinstance(wanted, MetricCondition):
        if wanted is driver:
            return true()
        if wanted.aggregate == "last":
            return _COMPARE[wanted.op](_last_value(wanted.name), wanted.value)
        # NULL (no number logged) compares as unknown: the run is not listed.
        return _COMPARE[wanted.op](
            _best_value(dialect, wanted.name, wanted.aggregate), wanted.value
        )
    assert isinstance(wanted, KeyCondition)
    column = models.Run.tags if wanted.field == "tags" else models.Run.properties
    matches = _has(dialect, column, wanted.key, wanted.value, True)
    return matches if wanted.op == "=" else not_(matches)


def expression(
    dialect: str, where: Expression, driver: MetricCondition | None = None
) -> ColumnElement[bool]:
    """A parsed ``filter`` expression (conditions joined by and / or) as SQL."""
    if isinstance(where, AllOf):
        return and_(*(expression(dialect, part, driver) for part in where.all_of))
    if isinstance(where, AnyOf):
        return or_(*(expression(dialect, part, driver) for part in where.any_of))
    return condition(dialect, where, driver)


# -- order_by ---------------------------------------------------------------------------
# A sorted listing is read in two parts: the runs with a value, by (value, id), then the
# runs without one (no such metric or tag, not ended), by id. Each part is a plain keyset
# on columns that are never NULL, so a cursor (the last run's part, value and id) continues
# exactly where its page stopped, and a metric's part walks the last-values index in order.
_TIMES = ("created", "start_time", "end_time")


def _duration(dialect: str) -> ColumnElement[Any]:
    run = models.Run
    if dialect == "postgresql":
        return cast(func.extract("epoch", run.ended - run.started), Float)
    return (func.julianday(run.ended) - func.julianday(run.started)) * 86400.0


def _sort_value(dialect: str, order: RunOrder) -> Any:
    run = models.Run
    if order.field in ("tags", "properties"):
        column = run.tags if order.field == "tags" else run.properties
        entry = _entries(dialect, column)
        return (
            select(cast(entry.c.value, String))
            .select_from(entry)
            .where(entry.c.key == order.name)
            .correlate(run)
            .scalar_subquery()
        )
    return {
        "created": run.created,
        "start_time": run.started,
        "end_time": run.ended,
        "duration": _duration(dialect),
        "status": run.status,
        "name": func.coalesce(run.display_name, run.id),
        "number": run.number,
        "target": run.target,
    }[order.field]


def _sorted_cursor(order: RunOrder, missing: bool, value: Any, run_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps(
        {"order": order.model_dump(), "missing": missing, "value": value, "id": run_id}
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _sorted_after(cursor: str, order: RunOrder) -> tuple[bool, Any, str]:
    """(in the part without values, the value, the run id) of a sorted listing's cursor."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise ValueError(cursor)
        given, missing, value = RunOrder.model_validate(raw["order"]), raw["missing"], raw["value"]
        if not isinstance(missing, bool):
            raise ValueError(cursor)
        if not missing and order.field in _TIMES:
            value = datetime.fromisoformat(value)
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise BadRequest("cursor: not a cursor this server gave (use next_cursor)") from None
    if given != order:
        raise BadRequest(
            f"cursor: it continues a listing ordered by {given.text()}; keep order_by as it was"
        )
    return missing, value, raw["id"]


def sorted_page(
    db: Session,
    query: Select[Any],
    workspace_id: str,
    order: RunOrder,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[models.Run], str | None]:
    """The runs of ``query`` in ``order``: a page of at most ``limit`` after ``cursor``, and
    the next cursor."""
    dialect = db.get_bind().dialect.name
    run = models.Run
    later = operator.lt if order.descending else operator.gt
    tie: Any = run.id
    if order.field == "metrics":
        last = models.MetricLastValue
        value: Any = last.number
        # The same id as the run's; named on the index's side, the index (workspace,
        # name, number, run_id) yields the whole order and ties need no sort.
        tie = last.run_id
        valued = query.join(
            last,
            and_(
                last.workspace_id == run.workspace_id,
                last.run_id == run.id,
                last.name == order.name,
            ),
        ).where(last.number.is_not(None))
        unvalued = query.where(
            run.id.not_in(
                select(last.run_id).where(
                    last.workspace_id == workspace_id,
                    last.name == order.name,
                    last.number.is_not(None),
                )
            )
        )
    else:
        value = _sort_value(dialect, order)
        valued = query.where(value.is_not(None))
        unvalued = query.where(value.is_(None))
    after = _sorted_after(cursor, order) if cursor is not None else None
    by_id = tie.desc() if order.descending else tie.asc()
    found: list[tuple[models.Run, bool, Any]] = []
    wanted = None if limit is None else limit + 1
    if after is None or not after[0]:
        part = valued.add_columns(value).order_by(
            value.desc() if order.descending else value.asc(), by_id
        )
        if after is not None:
            _, at, run_id = after
            part = part.where(or_(later(value, at), and_(value == at, later(tie, run_id))))
        found += [(row[0], False, row[1]) for row in db.execute(part.limit(wanted))]
    if wanted is None or len(found) < wanted:
        rest = unvalued.order_by(run.id.desc() if order.descending else run.id.asc())
        if after is not None and after[0]:
            rest = rest.where(later(run.id, after[2]))
        more = None if wanted is None else wanted - len(found)
        found += [(row, True, None) for row in db.scalars(rest.limit(more))]
    if limit is None or len(found) <= limit:
        return [row for row, _, _ in found], None
    run_at, missing, at = found[limit - 1]
    return [row for row, _, _ in found[:limit]], _sorted_cursor(order, missing, at, run_at.id)
