"""Refuse a NUL character in a request's path or query before any route sees it.

PostgreSQL cannot store NUL in text and file systems cannot name it, so a NUL anywhere in
a name would end in a 500 deep inside; at the edge it is a 400 naming where it was.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


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
