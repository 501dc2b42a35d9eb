"""Bearer tokens: the server's own token, and run tokens that only reach their workspace."""

from __future__ import annotations

import hashlib
import hmac

RUN_TOKEN_PREFIX = "run."


def run_token(signing_key: bytes, workspace_name: str, run_id: str) -> str:
    mac = hmac.new(signing_key, f"{workspace_name}\0{run_id}".encode(), hashlib.sha256)
    return f"{RUN_TOKEN_PREFIX}{workspace_name}.{run_id}.{mac.hexdigest()}"


def run_token_workspace(signing_key: bytes, token: str) -> str | None:
    """The workspace a valid run token grants, or None when the token is not one."""
    if not token.startswith(RUN_TOKEN_PREFIX):
        return None
    try:
        workspace_name, rest = token[len(RUN_TOKEN_PREFIX) :].split(".", 1)
        run_id, _mac = rest.rsplit(".", 1)
    except ValueError:
        return None
    if hmac.compare_digest(run_token(signing_key, workspace_name, run_id), token):
        return workspace_name
    return None
