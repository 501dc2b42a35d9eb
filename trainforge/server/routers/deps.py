"""What every route needs: the control plane and a checked token."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request

from trainforge.server.auth import run_token_workspace
from trainforge.server.errors import Forbidden, ServiceError
from trainforge.server.plane import ControlPlane


class Unauthorized(ServiceError):
    status_code = 401
    code = "Unauthorized"


def plane(request: Request) -> ControlPlane:
    return request.app.state.plane


def authorize(request: Request, cp: ControlPlane = Depends(plane)) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer token is required (see server.json under TRAINFORGE_HOME)")
    if hmac.compare_digest(token, cp.settings.token):
        return
    granted = run_token_workspace(cp.settings.signing_key, token)
    if granted is None:
        raise Unauthorized("The bearer token is not valid for this server")
    if request.path_params.get("ws") != granted:
        raise Forbidden(f"A run token of workspace {granted!r} cannot reach this resource")
