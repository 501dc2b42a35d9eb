"""Idempotency keys of create requests: a client that sends a create again after its
answer was lost (the server went down while answering) gets the first answer back, and
nothing is made twice. The key and what the request made are kept in the transaction
that made it, per workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from trainforge.server.errors import Conflict
from trainforge.server.store import models

T = TypeVar("T")


def find(
    db: Session, ws: models.Workspace, key: str | None, request: str
) -> models.RequestKey | None:
    """What an earlier ``request`` with Idempotency-Key ``key`` made, if any; a key used
    for another request is refused."""
    if key is None:
        return None
    found = db.get(models.RequestKey, (ws.id, key))
    if found is not None and found.request != request:
        raise Conflict(
            f"Idempotency-Key: {key!r} was already used for another request; "
            "give each request its own key"
        )
    return found


def keep(
    db: Session,
    ws: models.Workspace,
    key: str | None,
    request: str,
    *,
    run_ids: list[str] | None = None,
    response: object = None,
) -> None:
    """Keep what ``request`` with Idempotency-Key ``key`` made, in its transaction."""
    if key is not None:
        db.add(
            models.RequestKey(
                workspace_id=ws.id,
                key=key,
                request=request,
                run_ids=run_ids or [],
                response=response,
            )
        )
        db.flush()


def once(
    db: Session,
    ws: models.Workspace,
    key: str | None,
    request: str,
    answer: type[T],
    make: Callable[[], T],
) -> T:
    """``make()``'s answer, made once per key: a retry gets the kept answer again."""
    adapter = TypeAdapter(answer)
    found = find(db, ws, key, request)
    if found is not None and found.response is not None:
        return adapter.validate_python(found.response)
    made = make()
    keep(db, ws, key, request, response=adapter.dump_python(made, mode="json"))
    return made


__all__ = ["find", "keep", "once"]
