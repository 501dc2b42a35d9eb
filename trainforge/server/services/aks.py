"""AKS-style services: replicas on the nodes of a compute cluster, behind one scoring
address that the control plane serves (``trainforge.server.scoring_router``).

Each replica is a service host (``trainforge.node.scoring_host``, the one Local and ACI
services use: it builds the environment, keeps the scoring process up, restarts it when
it dies and swaps versions without downtime) with a folder of its own,
``<service folder>/replicas/<replica>/``, a port of its own on loopback, and the node of
the cluster it is placed on: one replica per node, as AKS spreads a deployment's pods.
Its scoring process answers only the router (it needs the service's replica key); the
service's own keys or tokens are checked by the router. The replica loop
(``trainforge.server.replica_loop``) places, restarts and removes replicas; the functions
here are what it and the REST API do to the store and to the replicas' files.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge import processes
from trainforge.node import scoring_host
from trainforge.schemas.compute import NodeState
from trainforge.schemas.services import (
    HostState,
    ServiceCreate,
    ServiceKeys,
    ServiceState,
    ServiceToken,
)
from trainforge.server import service_tokens
from trainforge.server.errors import BadRequest
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models

log = logging.getLogger("trainforge.server")
REPLICAS_DIR = "replicas"
EVENTS_LOG = "logs/service.log"
# A node a replica may run on: up, and not on its way out.
LIVE_NODE_STATES = (NodeState.IDLE.value, NodeState.RUNNING.value)
STOP_GRACE_S = 15.0
# Written in a replica's folder before its host is stopped on purpose: the replica loop
# starts again only a host that died unasked.
STOPPING_MARK = "stopping"


def replica_folder(service_folder: Path, replica_name: str) -> Path:
    return service_folder / REPLICAS_DIR / replica_name


def say(service_folder: Path, line: str) -> None:
    """A line of the service's own log (placements, restarts, scaling), which
    ``get_logs`` shows before the replicas' logs."""
    path = service_folder / EVENTS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{stamp} [control plane] {line}\n")


def cluster(db: Session, ws: models.Workspace, name: str) -> models.Compute | None:
    return db.scalar(
        select(models.Compute).where(
            models.Compute.workspace_id == ws.id, models.Compute.name == name
        )
    )


def check_cluster(db: Session, ws: models.Workspace, body: ServiceCreate) -> None:
    """An AKS service's compute_target must be a cluster of its own workspace."""
    assert body.compute_target is not None  # ServiceCreate's rule for AKS
    found = cluster(db, ws, body.compute_target)
    if found is None:
        raise BadRequest(
            f"compute_target: no compute cluster {body.compute_target!r} in workspace "
            f"{ws.name!r} (create it with AmlCompute.provisioning_configuration first)"
        )
    if found.backend != "local":
        # A replica's host is started by the control plane on its own machine: that is
        # where a local cluster's nodes run, not where a Ray cluster's do.
        raise BadRequest(
            f"compute_target: cluster {found.name!r} is on the {found.backend!r} backend; "
            "AKS-style services run on local-backend clusters for now"
        )


def live_nodes(db: Session, ws: models.Workspace, cluster_name: str) -> list[models.Node]:
    """The cluster's nodes a replica may run on, by name."""
    compute = cluster(db, ws, cluster_name)
    if compute is None:
        return []
    query = (
        select(models.Node)
        .where(models.Node.compute_id == compute.id, models.Node.state.in_(LIVE_NODE_STATES))
        .order_by(models.Node.name)
    )
    return list(db.scalars(query))


def nodes_coming(db: Session, ws: models.Workspace, cluster_name: str) -> int:
    """The cluster's nodes still preparing: a service waiting for them is Transitioning,
    not Unschedulable."""
    compute = cluster(db, ws, cluster_name)
    if compute is None:
        return 0
    query = select(models.Node.id).where(
        models.Node.compute_id == compute.id, models.Node.state == NodeState.PREPARING.value
    )
    return len(list(db.scalars(query)))


def replicas_of(
    db: Session, ws: models.Workspace, service: models.Service
) -> list[models.ServiceReplica]:
    query = (
        select(models.ServiceReplica)
        .where(
            models.ServiceReplica.workspace_id == ws.id,
            models.ServiceReplica.service_id == service.id,
        )
        .order_by(models.ServiceReplica.name)
    )
    return list(db.scalars(query))


def next_replica_name(service_name: str, taken: set[str]) -> str:
    index = 1
    while f"{service_name}-r{index}" in taken:
        index += 1
    return f"{service_name}-r{index}"


# -- a replica's host, as its files and processes show it ---------------------------------
@dataclass
class Observed:
    host_alive: bool
    state: HostState
    stopping: bool = False

    def died_unasked(self) -> bool:
        """Whether the host is gone without having failed or been stopped."""
        return (
            not self.host_alive
            and not self.stopping
            and self.state.state is not ServiceState.FAILED
        )


def observe(folder: Path, replica: models.ServiceReplica) -> Observed:
    try:
        state = HostState.model_validate_json((folder / scoring_host.STATE_NAME).read_text())
    except (OSError, ValueError):
        state = HostState(state=ServiceState.TRANSITIONING)
    alive = (
        replica.pid is not None
        and replica.pid_create_time is not None
        and processes.find(replica.pid, replica.pid_create_time) is not None
    )
    return Observed(alive, state, (folder / STOPPING_MARK).exists())


def mark_stopping(folder: Path) -> None:
    if folder.is_dir():
        (folder / STOPPING_MARK).touch()


def _orphans(folder: Path, state: HostState) -> list[psutil.Process]:
    """The scoring process a dead host left behind (it still holds the replica's port),
    known by its pid and by the replica's folder on its command line."""
    if state.scoring_pid is None:
        return []
    try:
        process = psutil.Process(state.scoring_pid)
        if any(str(folder) in part for part in process.cmdline()):
            return [process]
    except psutil.Error:
        pass
    return []


def start_host(
    settings: ServerSettings, ws: models.Workspace, replica: models.ServiceReplica, folder: Path
) -> None:
    """Start (or start again) the replica's host from the files in its folder."""
    try:
        state = HostState.model_validate_json((folder / scoring_host.STATE_NAME).read_text())
    except (OSError, ValueError):
        state = None
    if state is not None:
        for orphan in _orphans(folder, state):
            processes.kill_tree(orphan)
        # Transitioning until the new host says otherwise: the dead one's last word
        # (Healthy, its scoring process) is no longer true.
        state.state, state.error, state.scoring_pid = ServiceState.TRANSITIONING, None, None
        partial = folder / f".{scoring_host.STATE_NAME}.server"
        partial.write_text(state.model_dump_json())
        partial.replace(folder / scoring_host.STATE_NAME)
    replica.pid, replica.pid_create_time = scoring_host.spawn(folder, settings.home, ws.name)


def stop_later(replica_pid: int | None, created: float | None, folder: Path | None) -> None:
    """Stop a replica's host (it drains its scoring process) off the caller's thread, then
    remove its folder; the router has stopped sending it requests already."""

    if folder is not None:
        mark_stopping(folder)

    def stop() -> None:
        if replica_pid is not None and created is not None:
            host = processes.find(replica_pid, created)
            if host is not None:
                processes.stop_tree(host, grace=STOP_GRACE_S)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    threading.Thread(target=stop, name=f"stop replica {replica_pid}", daemon=True).start()


def stop_now(service_folder: Path, replicas: list[models.ServiceReplica]) -> None:
    """Stop every replica's host and wait for them (a service deleted or replaced)."""
    hosts = []
    for replica in replicas:
        mark_stopping(replica_folder(service_folder, replica.name))
        if replica.pid is not None and replica.pid_create_time is not None:
            host = processes.find(replica.pid, replica.pid_create_time)
            if host is not None:
                host.send_signal(signal.SIGTERM)
                hosts.append(host)
    for host in hosts:
        processes.stop_tree(host, grace=STOP_GRACE_S)


# -- the REST API's side ------------------------------------------------------------------
def update_replicas(
    settings: ServerSettings,
    db: Session,
    ws: models.Workspace,
    service: models.Service,
    service_folder: Path,
    body: ServiceCreate,
    lay_out: Callable[[Path, int, str], None],
) -> None:
    """New files for every replica (beside the ones serving) and a SIGHUP to each host,
    which starts the new version and stops the old one once the new one answers; a
    replica whose host is gone starts again from the new files."""
    for replica in replicas_of(db, ws, service):
        folder = replica_folder(service_folder, replica.name)
        lay_out(folder, replica.port, f"app-{int(time.time() * 1000):x}")
        seen = observe(folder, replica)
        state = seen.state
        state.state, state.error = ServiceState.TRANSITIONING, None
        partial = folder / f".{scoring_host.STATE_NAME}.server"
        partial.write_text(state.model_dump_json())
        partial.replace(folder / scoring_host.STATE_NAME)
        host = (
            processes.find(replica.pid, replica.pid_create_time)
            if seen.host_alive and replica.pid is not None and replica.pid_create_time is not None
            else None
        )
        if host is not None:
            host.send_signal(signal.SIGHUP)
        else:
            start_host(settings, ws, replica, folder)
    say(service_folder, "update: every replica starts the new version beside the one serving")


def token(settings: ServerSettings, ws: models.Workspace, service: models.Service) -> ServiceToken:
    body = ServiceCreate.model_validate(service.definition)
    if not body.token_auth_enabled:
        raise BadRequest(
            f"token_auth_enabled: service {service.name!r} does not use token auth "
            "(deploy it with AksWebservice.deploy_configuration(token_auth_enabled=True))"
        )
    now = datetime.now(UTC)
    ttl = settings.service_token_ttl_s
    access, expires = service_tokens.issue(
        settings.signing_key, ws.id, service.id, service.created, ttl, now
    )
    # As the SDK's: fetch the next token halfway through this one's life.
    return ServiceToken(access_token=access, refresh_by=now + (expires - now) / 2, expires=expires)


def keys_of(sealed: str | None, open_sealed: Callable[[str], str]) -> list[str]:
    """The service's primary and secondary keys, opened (none without key auth)."""
    if sealed is None:
        return []
    keys = ServiceKeys.model_validate(json.loads(open_sealed(sealed)))
    return [keys.primary_key, keys.secondary_key]
