"""Refuse a NUL character in a request's path, query or JSON body before any route uses it.

PostgreSQL cannot store NUL in text (nor in JSON) and file systems cannot name it, so a NUL
anywhere in a name or a value would end in a 500 deep inside on a team server; at the edge
it is a 400 naming where it was.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from trainforge.server.errors import BadRequest

# JSON can carry NUL only as the escape \u0000 (a raw control character is invalid JSON);
# an even number of backslashes before it (none included) leaves the escape unescaped.
ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RefuseNul:
    """Pure ASGI middleware: nothing is buffered and other requests pay one scan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _nul_in(scope)
            if where is not None:
                await _refuse(send, where)
                return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query.lower():
        return "query"
    return None


async def _refuse(send: Send, where: str) -> None:
    body: dict[str, Any] = {
        "error": {"code": "BadRequest", "message": f"{where}: the NUL character is not allowed"}
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def nul_field(value: Any) -> str | None:
    """The dotted path (``tags.team``, ``points.0.value``) of the first string or key of a
    parsed JSON value that holds a NUL; None when there is none."""
    pending: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return ".".join(where) or "body"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in str(key):
                    return f"{'.'.join(where) or 'body'} (a key)"
                pending.append(((*where, str(key)), inner))
        elif isinstance(item, list):
            pending.extend(((*where, str(index)), inner) for index, inner in enumerate(item))
    return None


async def refuse_nul_in_body(request: Request) -> None:
    """A route dependency: a JSON body holding a NUL is a 400 naming the field. Only routes
    that take a JSON body are looked at (file uploads stream past), and the body FastAPI
    has already read is scanned once; it is walked only when the scan finds the escape."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    raw = await request.body()
    if not ESCAPED_NUL.search(raw):
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return  # not JSON: the route's own validation answers
    where = nul_field(body)
    if where is not None:
        raise BadRequest(f"{where}: the NUL character is not allowed")
