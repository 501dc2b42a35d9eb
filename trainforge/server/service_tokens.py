"""The tokens of AKS-style services (``AksWebservice.get_token``).

A token names one service of one workspace and when it expires:
``tfs1.<base64url(JSON claims)>.<hex mac>``, signed with a key derived from the server's
signing key, so it needs no table and outlives a server restart. The claims carry the
service's row id and creation time: a service deleted and deployed again under the same
name refuses the old one's tokens. The prefix and the derived key keep these apart from
the control plane's own run and node tokens (``trainforge.server.auth``): a service token
never opens the REST API, and an API token never scores.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ValidationError

PREFIX = "tfs1."


class ServiceClaims(BaseModel):
    workspace_id: str
    service_id: int
    created: str  # the service's creation time, ISO 8601
    expires: float  # Unix time


def _key(signing_key: bytes) -> bytes:
    return hmac.new(signing_key, b"trainforge service tokens", hashlib.sha256).digest()


def _mac(signing_key: bytes, payload: str) -> str:
    return hmac.new(_key(signing_key), payload.encode(), hashlib.sha256).hexdigest()


def issue(
    signing_key: bytes,
    workspace_id: str,
    service_id: int,
    created: datetime,
    ttl_s: float,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A token for the service and when it expires."""
    moment = now or datetime.now(UTC)
    expires = moment + timedelta(seconds=ttl_s)
    claims = ServiceClaims(
        workspace_id=workspace_id,
        service_id=service_id,
        created=created.isoformat(),
        expires=expires.timestamp(),
    )
    payload = base64.urlsafe_b64encode(claims.model_dump_json().encode()).decode().rstrip("=")
    return f"{PREFIX}{payload}.{_mac(signing_key, payload)}", expires


def accepts(
    signing_key: bytes,
    token: str,
    workspace_id: str,
    service_id: int,
    created: datetime,
    now: datetime | None = None,
) -> bool:
    """Whether ``token`` is a valid, unexpired token of this very service."""
    if not token.startswith(PREFIX):
        return False
    payload, _, mac = token[len(PREFIX) :].partition(".")
    if not payload or not hmac.compare_digest(_mac(signing_key, payload), mac):
        return False
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = ServiceClaims.model_validate_json(raw)
    except (ValueError, ValidationError):
        return False
    moment = (now or datetime.now(UTC)).timestamp()
    return (
        claims.workspace_id == workspace_id
        and claims.service_id == service_id
        and claims.created == created.isoformat()
        and moment < claims.expires
    )


def replica_key(signing_key: bytes, workspace_id: str, service_id: int) -> str:
    """The key the service's router shows its replicas: they answer only the router, so
    nothing on this machine reaches a replica's port around the service's auth."""
    message = f"replica:{workspace_id}:{service_id}".encode()
    return hmac.new(_key(signing_key), message, hashlib.sha256).hexdigest()
