"""Bearer tokens and who they name: the admin, one run, or one node of a cluster.

The admin token is the random one in ``server.json``. Run and node tokens are claims
signed with the server's signing key (HMAC-SHA256), so they outlive a server restart and
need no table: ``tf1.<base64url(JSON claims)>.<hex mac>``. What each principal may reach
is decided in ``trainforge.server.access``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ValidationError

TOKEN_PREFIX = "tf1."


class Principal(BaseModel):
    """Who a request speaks for."""

    kind: Literal["admin", "run", "node"]
    workspace: str | None = None
    run_id: str | None = None
    cluster: str | None = None
    node_id: str | None = None


ADMIN = Principal(kind="admin")


def _mac(signing_key: bytes, payload: str) -> str:
    return hmac.new(signing_key, payload.encode(), hashlib.sha256).hexdigest()


def sign(signing_key: bytes, principal: Principal) -> str:
    claims = principal.model_dump_json(exclude_none=True).encode()
    payload = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{payload}.{_mac(signing_key, payload)}"


def run_token(signing_key: bytes, workspace_name: str, run_id: str) -> str:
    """The token of one run: it writes that run (and the child runs it creates) only."""
    return sign(signing_key, Principal(kind="run", workspace=workspace_name, run_id=run_id))


def node_token(signing_key: bytes, workspace_name: str, cluster: str, node_id: str) -> str:
    """The token of one node agent: its own heartbeat only."""
    principal = Principal(kind="node", workspace=workspace_name, cluster=cluster, node_id=node_id)
    return sign(signing_key, principal)


def verify(signing_key: bytes, token: str) -> Principal | None:
    """The run or node a validly signed token names, or None when it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    payload, _, mac = token[len(TOKEN_PREFIX) :].partition(".")
    if not payload or not hmac.compare_digest(_mac(signing_key, payload), mac):
        return None
    try:
        claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        principal = Principal.model_validate_json(claims)
    except (ValueError, ValidationError):
        return None
    return principal if principal.kind != "admin" else None
