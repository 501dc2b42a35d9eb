"""What every route needs: the control plane and the principal its token names, checked."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from trainforge.server import access
from trainforge.server.access import Unauthorized
from trainforge.server.auth import ADMIN, Principal, verify
from trainforge.server.errors import Forbidden
from trainforge.server.plane import ControlPlane

# A client's retry of a create whose answer was lost sends the same key: nothing is made twice.
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
]


def plane(request: Request) -> ControlPlane:
    cp: ControlPlane = request.app.state.plane
    return cp


# The studio's sign-in: the token in an HttpOnly cookie, never where the page's scripts read it.
STUDIO_COOKIE = "trainforge_studio"
# Writes signed in by the cookie must carry this header, which a page of another site
# cannot send without the server's consent (CORS): no cross-site request forgery.
STUDIO_HEADER = "X-Trainforge-Studio"


def principal_of(cp: ControlPlane, token: str) -> Principal | None:
    """Who ``token`` names on this server, or None."""
    if hmac.compare_digest(token.encode(), cp.settings.token.encode()):
        return ADMIN
    return verify(cp.settings.signing_key, token)


def _principal(request: Request, cp: ControlPlane) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and STUDIO_COOKIE in request.cookies:
        token = request.cookies[STUDIO_COOKIE]
        if request.method not in access.READS and request.headers.get(STUDIO_HEADER) != "1":
            raise Forbidden(
                f"A write signed in by the studio's cookie needs the {STUDIO_HEADER} header"
            )
    elif scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer token is required (see server.json under TRAINFORGE_HOME)")
    principal = principal_of(cp, token)
    if principal is None:
        raise Unauthorized("The bearer token is not valid for this server")
    return principal


def _check(cp: ControlPlane, principal: Principal, call: access.Call) -> None:
    with cp.store.reading() as db:
        access.check(db, cp.settings, principal, call)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def authorize(request: Request, cp: ControlPlane = Depends(plane)) -> Principal:
    """The request's principal, refused (401/403) where its token does not reach."""
    principal = _principal(request, cp)
    if principal.kind != "admin":
        path = access.route_path(request.scope.get("route"))
        body = (
            await _json_body(request) if access.needs_body(principal, request.method, path) else {}
        )
        call = access.Call(request.method, path, dict(request.path_params), body)
        await run_in_threadpool(_check, cp, principal, call)
    request.state.principal = principal
    return principal
