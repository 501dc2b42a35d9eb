"""What each principal may reach: the one place that decides it for every route.

- admin (the token in ``server.json``): everything.
- run (a run's token, handed to its launcher and its processes): inside its own
  workspace it reads (runs, files, datastores, datasets, environments, secrets) and asks
  for datastore access; it writes only its own run and the runs below it (the child runs
  it creates): status, metrics, files, properties, children, its assignments and gang.
  It also registers models in its workspace (``run.register_model`` and ``Model.register``
  inside a training script), never updating or deleting them. It expires ``run_token_grace_s`` after its run has ended.
- node (a node agent's token): its own node's heartbeat only; the node must be the one
  the token names, of that cluster in that workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.runs import RunStatus
from trainforge.server.auth import Principal
from trainforge.server.errors import Forbidden, ServiceError
from trainforge.server.settings import API_PREFIX, ServerSettings
from trainforge.server.store import models

READS = frozenset({"GET", "HEAD"})
# Writes a run token may make, besides those under its own run (``RUN_TREE``).
RUN_POSTS = frozenset({"/workspaces/{ws}/datastores/{name}/access", "/workspaces/{ws}/models"})
# Reads a run token may not make: the keys of scoring services.
RUN_NO_READS = frozenset({"/workspaces/{ws}/services/{name}/keys"})
# A run stages the files of a model it registers.
RUN_PUTS = frozenset({"/workspaces/{ws}/model-uploads/{upload_id}/files/{name}"})
RUN_TREE = "/workspaces/{ws}/runs/{run_id}"
# A run may submit runs only as children in its own tree (``Run.child_run``).
RUN_SUBMIT = "/workspaces/{ws}/experiments/{experiment}/runs"
HEARTBEAT = "/workspaces/{ws}/agents/{node_id}/heartbeat"
# A parent chain longer than this is not followed (a sweep's trial is two levels down).
MAX_DEPTH = 64


class Unauthorized(ServiceError):
    status_code = 401
    code = "Unauthorized"


def _workspace(db: Session, name: str) -> models.Workspace | None:
    return db.scalar(select(models.Workspace).where(models.Workspace.name == name))


def _run(db: Session, ws: models.Workspace, run_id: str) -> models.Run | None:
    return db.get(models.Run, (ws.id, run_id))


def _check_run_alive(
    db: Session, settings: ServerSettings, principal: Principal
) -> models.Workspace:
    """The run token's workspace, once its run is known and has not ended too long ago."""
    ws = _workspace(db, principal.workspace or "")
    run = _run(db, ws, principal.run_id or "") if ws is not None else None
    if ws is None or run is None:
        raise Unauthorized(f"The run token of {principal.run_id!r} names no run of this server")
    if RunStatus(run.status).is_terminal:
        ended = models.as_utc(run.ended or run.created)
        if (datetime.now(UTC) - ended).total_seconds() > settings.run_token_grace_s:
            raise Unauthorized(
                f"The run token of {run.id!r} expired: the run ended at {ended.isoformat()}"
            )
    return ws


def _in_tree(db: Session, ws: models.Workspace, root_id: str, run_id: str) -> bool:
    """Whether ``run_id`` is ``root_id`` or one of the runs below it."""
    current: str | None = run_id
    for _ in range(MAX_DEPTH):
        if current is None:
            return False
        if current == root_id:
            return True
        run = _run(db, ws, current)
        current = run.parent_run_id if run is not None else None
    return False


@dataclass(frozen=True)
class Call:
    """What a request asks: its method, route template, path parameters and (where a rule
    needs it) its JSON body."""

    method: str
    path: str
    params: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


def _check_run(db: Session, settings: ServerSettings, principal: Principal, call: Call) -> None:
    method, path, params, body = call.method, call.path, call.params, call.body
    if params.get("ws") != principal.workspace:
        raise Forbidden(
            f"A run token of workspace {principal.workspace!r} cannot reach this resource"
        )
    ws = _check_run_alive(db, settings, principal)
    if method in READS and path in RUN_NO_READS:
        raise Forbidden(f"A run token cannot read the keys of scoring services ({path})")
    if (
        method in READS
        or (method == "POST" and path in RUN_POSTS)
        or (method == "PUT" and path in RUN_PUTS)
    ):
        return
    if method == "DELETE" and path == RUN_TREE:
        raise Forbidden(f"A run token cannot delete runs (run {params.get('run_id')!r})")
    target: str | None = None
    if path == RUN_TREE or path.startswith(RUN_TREE + "/"):
        target = str(params.get("run_id", ""))
    elif method == "POST" and path == RUN_SUBMIT:
        target = str(body.get("parent_run_id") or "")
    if target is not None:
        if _in_tree(db, ws, principal.run_id or "", target):
            return
        raise Forbidden(
            f"The token of run {principal.run_id!r} cannot change run {target!r}: "
            "a run token writes only its own run and the child runs it creates"
        )
    raise Forbidden(
        f"The token of run {principal.run_id!r} cannot {method} {path}: a run token reads "
        "its workspace and writes only its own run and the child runs it creates"
    )


def _check_node(db: Session, principal: Principal, call: Call) -> None:
    method, path, params = call.method, call.path, call.params
    if method != "POST" or path != HEARTBEAT or params.get("ws") != principal.workspace:
        raise Forbidden(f"A node token cannot {method} {path}: it sends its node's heartbeat only")
    if params.get("node_id") != principal.node_id:
        raise Forbidden(
            f"The token of node {principal.node_id!r} cannot send the heartbeat of node "
            f"{params.get('node_id')!r}"
        )
    node = db.get(models.Node, principal.node_id)
    if node is None:
        return  # released or deleted: the heartbeat answers 404 and the agent leaves
    compute = db.get(models.Compute, node.compute_id)
    ws = _workspace(db, principal.workspace or "")
    owner = (compute.workspace_id, compute.name) if compute is not None else None
    if ws is None or owner != (ws.id, principal.cluster):
        raise Forbidden(
            f"Node {principal.node_id!r} is not a node of cluster {principal.cluster!r} "
            f"in workspace {principal.workspace!r}"
        )


def route_path(route: object) -> str:
    """The route's template below the API prefix (``/workspaces/{ws}/runs/{run_id}``)."""
    path = route.path_format if isinstance(route, APIRoute) else ""
    return path.removeprefix(API_PREFIX)


def needs_body(principal: Principal, method: str, path: str) -> bool:
    """Whether ``check`` must see the JSON body: a run submitting a run names its parent."""
    return principal.kind == "run" and method == "POST" and path == RUN_SUBMIT


def check(db: Session, settings: ServerSettings, principal: Principal, call: Call) -> None:
    """Refuse (401/403) what ``principal`` may not do with this route; admin may do all."""
    if principal.kind == "run":
        _check_run(db, settings, principal, call)
    elif principal.kind == "node":
        _check_node(db, principal, call)
