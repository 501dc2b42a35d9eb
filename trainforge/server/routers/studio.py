"""Signing a browser in to the studio: the token goes into an HttpOnly cookie bound to this
server (SameSite=Strict), never into the page's storage or a URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from trainforge.server.access import Unauthorized
from trainforge.server.plane import ControlPlane
from trainforge.server.routers.deps import STUDIO_COOKIE, plane, principal_of

# Before the API's authorization: these are how a browser gets its cookie.
public_router = APIRouter()
# Behind it: only a caller holding a token may make a link that signs in as it.
router = APIRouter()
COOKIE_MAX_AGE_S = 30 * 24 * 3600


class SignIn(BaseModel):
    token: str = Field(min_length=1, max_length=4096)


class SignedIn(BaseModel):
    signed_in: bool = True
    kind: str | None = None
    workspace: str | None = None


class LoginLink(BaseModel):
    url: str


def _studio_path(raw: str) -> str:
    """Where to go after signing in: a page of the studio, nothing else (no open redirect)."""
    return raw if raw.startswith("/studio/") and "//" not in raw and "\\" not in raw else "/studio/"


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        STUDIO_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@public_router.post("/studio/session", response_model=SignedIn)
def sign_in(
    body: SignIn, request: Request, response: Response, cp: ControlPlane = Depends(plane)
) -> SignedIn:
    """Check the token and keep it in the browser's cookie."""
    principal = principal_of(cp, body.token.strip())
    if principal is None:
        raise Unauthorized("token: not a token of this server")
    _set_cookie(response, request, body.token.strip())
    return SignedIn(kind=principal.kind, workspace=principal.workspace)


@public_router.get("/studio/session", response_model=SignedIn)
def session(request: Request, cp: ControlPlane = Depends(plane)) -> SignedIn:
    """Whether this browser's cookie signs it in (the page asks before it reads anything)."""
    token = request.cookies.get(STUDIO_COOKIE)
    principal = principal_of(cp, token) if token else None
    if principal is None:
        return SignedIn(signed_in=False)
    return SignedIn(kind=principal.kind, workspace=principal.workspace)


@public_router.delete("/studio/session", status_code=204)
def sign_out(response: Response) -> Response:
    response.delete_cookie(STUDIO_COOKIE, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response


@router.post("/studio/login-links", response_model=LoginLink, status_code=201)
def login_link(
    request: Request,
    next: Annotated[str, Query(max_length=2048)] = "/studio/",
    cp: ControlPlane = Depends(plane),
) -> LoginLink:
    """A link that signs one browser in as the caller, once, within minutes."""
    token = request.headers.get("authorization", "").partition(" ")[2]
    code = cp.login_codes.issue(token or request.cookies[STUDIO_COOKIE])
    address = str(request.base_url).rstrip("/")
    return LoginLink(url=f"{address}/studio-login?code={code}&next={_studio_path(next)}")


def redeem_login(request: Request, code: str, next: str, cp: ControlPlane) -> Response:
    """``/studio-login``: set the cookie the code stands for and go to the page; a used or
    expired code goes to the sign-in box."""
    token = cp.login_codes.redeem(code)
    response = RedirectResponse(_studio_path(next), status_code=303)
    if token is not None and principal_of(cp, token) is not None:
        _set_cookie(response, request, token)
    return response
