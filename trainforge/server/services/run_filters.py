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
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

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
