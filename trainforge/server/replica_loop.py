"""The replica loop: keeps every AKS-style service's replicas placed, alive and as many as
its load needs, and its router's table in step with them.

Each pass, for each AKS service (each in its own workspace's scope):

1. reads its replicas' hosts (their ``state.json`` and whether their process runs);
2. starts again the host of a replica that died without having failed (killed, or the
   machine's OOM killer), said in the service's log and counted in ``host_restarts``
   (the host itself restarts a scoring process that dies, said in the replica's log);
3. removes replicas whose node is gone or no longer live;
4. tells the router which replicas serve, then samples the router's load and asks
   ``decisions.replicas_wanted`` how many replicas the service should have (every
   ``autoscale_refresh_seconds``), placing new ones on nodes of the cluster that have none
   and removing the newest first;
5. keeps what it saw (state, error, replicas) as the service's view, which the REST API
   answers with: what a client reads is what the router routes by.

The store is read in one short read-only transaction per pass and written only when a
replica is placed, restarted or removed; stopping a replica's host (it drains first)
happens off the loop's thread.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from trainforge.schemas.services import ReplicaInfo, ServiceCreate, ServiceState
from trainforge.server import decisions, service_tokens
from trainforge.server.scoring_router import Auth, Replica, Route, ScoringRouter
from trainforge.server.services import aks, deployments
from trainforge.server.services.secrets import Vault
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.wake_loop import WakeLoop

log = logging.getLogger("trainforge.server")
INTERVAL_S = 0.25


@dataclass
class ServiceView:
    """What the loop last saw of one service."""

    state: ServiceState
    error: str | None
    desired: int
    replicas: list[ReplicaInfo]


@dataclass
class Memory:
    """What the loop remembers of one service between passes."""

    # The service's row id and creation time: a service deployed again under the same
    # name (SQLite may give it the same id) starts with a clean memory.
    service_id: int
    created: datetime
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    decided_at: float = 0.0
    desired: int | None = None
    # Replicas that have served since their host started: while a new version starts
    # beside it (Transitioning) the old one still answers.
    served: set[str] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def aggregate(states: list[ServiceState], healthy_needed: int, nodes: int) -> ServiceState:
    """The service's state from its replicas' (see ``trainforge.server.services.aks``)."""
    if not states:
        return ServiceState.UNSCHEDULABLE if nodes == 0 else ServiceState.TRANSITIONING
    if all(s is ServiceState.FAILED for s in states):
        return ServiceState.FAILED
    healthy = sum(s is ServiceState.HEALTHY for s in states)
    troubled = [s for s in states if s in (ServiceState.FAILED, ServiceState.UNHEALTHY)]
    if not troubled and healthy >= max(1, healthy_needed):
        return ServiceState.HEALTHY
    if ServiceState.FAILED in troubled:
        return ServiceState.FAILED  # a new version that failed: the old one goes on serving
    if troubled:
        return ServiceState.UNHEALTHY
    return ServiceState.TRANSITIONING


class ReplicaLoop(WakeLoop):
    thread_name = "trainforge-replicas"

    def __init__(self, store: Store, settings: ServerSettings, vault: Vault) -> None:
        super().__init__(INTERVAL_S)
        self.store = store
        self.settings = settings
        self.vault = vault
        self.router = ScoringRouter(self._token_ok)
        self.views: dict[tuple[str, str], ServiceView] = {}
        self.memory: dict[tuple[str, str], Memory] = {}

    def start(self) -> None:
        self.start_loop()

    def _token_ok(self, route: Route, token: str) -> bool:
        return service_tokens.accepts(
            self.settings.signing_key, token, route.workspace_id, route.service_id, route.created
        )

    def view(self, workspace: str, name: str, service_id: int, created: datetime) -> ServiceView:
        found = self.views.get((workspace, name))
        memory = self.memory.get((workspace, name))
        if (
            found is None
            or memory is None
            or (memory.service_id, memory.created)
            != (
                service_id,
                created,
            )
        ):
            return ServiceView(ServiceState.TRANSITIONING, None, 0, [])
        # The router's counts as they are now, not as of the last pass.
        counts = self.router.counts(workspace, name)
        replicas = [
            r.model_copy(update=dict(zip(("requests", "in_flight"), counts[r.name], strict=True)))
            if r.name in counts
            else r
            for r in found.replicas
        ]
        return ServiceView(found.state, found.error, found.desired, replicas)

    def forget_view(self, workspace: str, name: str) -> None:
        """The service changed (``update``): Transitioning until the next pass looks."""
        self.views.pop((workspace, name), None)

    # -- one pass -----------------------------------------------------------------------
    def tick(self) -> None:
        read_at = time.monotonic()
        with self.store.reading() as db:
            services = list(
                db.scalars(select(models.Service).where(models.Service.compute_type == "AKS"))
            )
            workspaces = {
                w.id: w
                for w in db.scalars(
                    select(models.Workspace).where(
                        models.Workspace.id.in_({s.workspace_id for s in services})
                    )
                )
            }
            work = []
            for service in services:
                ws = workspaces[service.workspace_id]
                body = ServiceCreate.model_validate(service.definition)
                assert body.compute_target is not None
                nodes = aks.live_nodes(db, ws, body.compute_target)
                coming = aks.nodes_coming(db, ws, body.compute_target)
                work.append((ws, service, body, aks.replicas_of(db, ws, service), nodes, coming))
        present = set()
        for ws, service, body, replicas, nodes, coming in work:
            present.add((ws.name, service.name))
            try:
                self._pass(ws, service, body, replicas, nodes, coming, read_at)
            except Exception:  # one service's failing pass must not stop the others'
                log.exception("replica loop: service %s of %s", service.name, ws.name)
        self.router.keep_only(present)
        for key in [k for k in self.memory if k not in present]:
            self.memory.pop(key, None)
            self.views.pop(key, None)

    def _pass(
        self,
        ws: models.Workspace,
        service: models.Service,
        body: ServiceCreate,
        replicas: list[models.ServiceReplica],
        nodes: list[models.Node],
        coming: int,
        read_at: float,
    ) -> None:
        key = (ws.name, service.name)
        memory = self.memory.get(key)
        if memory is None or (memory.service_id, memory.created) != (service.id, service.created):
            memory = self.memory[key] = Memory(service_id=service.id, created=service.created)
        service_folder = deployments.folder(self.settings, ws.name, service.name)
        live = {n.id: n for n in nodes}
        observed = {
            r.name: aks.observe(aks.replica_folder(service_folder, r.name), r) for r in replicas
        }

        restart = [r for r in replicas if observed[r.name].died_unasked() and r.node_id in live]
        gone = [r for r in replicas if r.node_id not in live]
        kept = [r for r in replicas if r not in gone]
        desired = self._decide(ws, service, body, service_folder, memory, len(kept), len(live))
        # Scaling down lets go of the replicas that serve least: those not serving, then
        # the newest.
        order = sorted(
            kept,
            key=lambda r: (
                not observed[r.name].host_alive
                or observed[r.name].state.state is not ServiceState.HEALTHY,
                r.id,  # the oldest are kept
            ),
        )
        extra = order[desired:]
        # The router first: a replica that goes gets no request more before it stops.
        self._route(
            ws, service, body, [r for r in kept if r not in extra], observed, memory, read_at
        )
        used_nodes = {r.node_id for r in kept}
        free_nodes = [n for n in nodes if n.id not in used_nodes]
        to_place = free_nodes[: max(0, desired - len(kept))]
        if restart or gone or extra or to_place:
            self._apply(ws, service, body, service_folder, restart, gone + extra, to_place, memory)
            return  # the next pass sees what this one did
        self._publish(ws, service, body, replicas, observed, memory, live, coming)

    def _decide(
        self,
        ws: models.Workspace,
        service: models.Service,
        body: ServiceCreate,
        service_folder: Path,
        memory: Memory,
        current: int,
        nodes: int,
    ) -> int:
        """How many replicas the service should have now: the router's load sampled each
        pass, a decision every ``autoscale_refresh_seconds``."""
        low, high = body.replica_bounds()
        now = time.monotonic()
        load = self.router.sample(ws.name, service.name)
        memory.samples.append((now, load))
        while memory.samples and memory.samples[0][0] < now - self.settings.service_scale_down_s:
            memory.samples.popleft()
        if memory.desired is not None and now - memory.decided_at < body.autoscale_refresh_seconds:
            return min(memory.desired, nodes)
        recent = max(
            (v for t, v in memory.samples if t >= now - body.autoscale_refresh_seconds),
            default=load,
        )
        window = max((v for _, v in memory.samples), default=load)
        wanted = decisions.replicas_wanted(
            current,
            decisions.ReplicaLoad(recent=recent, window=window),
            body.replica_max_concurrent_requests,
            body.autoscale_target_utilization,
            low,
            high,
            nodes,
        )
        if memory.desired is not None and wanted != memory.desired:
            aks.say(
                service_folder,
                f"scaling from {memory.desired} to {wanted} replica(s): {recent:.2f} "
                f"requests in flight (target {body.autoscale_target_utilization}% of "
                f"{body.replica_max_concurrent_requests} per replica)",
            )
        memory.desired, memory.decided_at = wanted, now
        return wanted

    def _route(
        self,
        ws: models.Workspace,
        service: models.Service,
        body: ServiceCreate,
        replicas: list[models.ServiceReplica],
        observed: dict[str, aks.Observed],
        memory: Memory,
        read_at: float,
    ) -> None:
        entries = []
        for replica in replicas:
            seen = observed[replica.name]
            state = seen.state.state
            if not seen.host_alive:
                memory.served.discard(replica.name)
            elif state is ServiceState.HEALTHY:
                memory.served.add(replica.name)
            # Failed with its host up: a new version failed and the old one serves.
            serving = seen.host_alive and (
                state in (ServiceState.HEALTHY, ServiceState.FAILED)
                or (state is ServiceState.TRANSITIONING and replica.name in memory.served)
            )
            entries.append(
                Replica(
                    name=replica.name,
                    url=f"http://127.0.0.1:{replica.port}",
                    serving=serving,
                    fallback=seen.host_alive and replica.name in memory.served,
                )
            )
        auth: Auth = "token" if body.token_auth_enabled else "key" if body.auth_enabled else "none"
        route = Route(
            workspace_id=ws.id,
            service_id=service.id,
            created=service.created,
            auth=auth,
            replica_key=service_tokens.replica_key(self.settings.signing_key, ws.id, service.id),
            max_request_bytes=body.max_request_bytes,
            timeout_s=body.scoring_timeout_ms / 1000.0,
            keys=[k.encode() for k in aks.keys_of(service.keys, self.vault.open)],
            read_at=read_at,
        )
        self.router.put(ws.name, service.name, route, entries)

    def _publish(
        self,
        ws: models.Workspace,
        service: models.Service,
        body: ServiceCreate,
        replicas: list[models.ServiceReplica],
        observed: dict[str, aks.Observed],
        memory: Memory,
        live: dict[str, models.Node],
        coming: int,
    ) -> None:
        nodes = len(live)
        counts = self.router.counts(ws.name, service.name)
        infos = []
        for replica in replicas:
            seen = observed[replica.name]
            state = seen.state.state
            error = seen.state.error
            if seen.died_unasked():
                state, error = ServiceState.UNHEALTHY, "its host stopped; it starts again"
            sent, in_flight = counts.get(replica.name, (0, 0))
            infos.append(
                ReplicaInfo(
                    name=replica.name,
                    # The node's name, as list_nodes() shows it.
                    node_id=live[replica.node_id].name
                    if replica.node_id in live
                    else replica.node_id,
                    port=replica.port,
                    state=state,
                    error=error,
                    restarts=seen.state.restarts,
                    host_restarts=replica.host_restarts,
                    scoring_pid=seen.state.scoring_pid if seen.host_alive else None,
                    requests=sent,
                    in_flight=in_flight,
                )
            )
        desired = memory.desired or 0
        low, _ = body.replica_bounds()
        state = aggregate([i.state for i in infos], min(low, nodes), nodes + coming)
        error = next(
            (i.error for i in infos if i.error and i.state is not ServiceState.HEALTHY), None
        )
        if state is ServiceState.UNSCHEDULABLE:
            error = (
                f"no live node in cluster {body.compute_target!r} to place a replica on "
                "(give it min_nodes, or wait for its nodes)"
            )
        elif state is ServiceState.FAILED and error is not None:
            error = f"replica {next(i.name for i in infos if i.error == error)}: {error}"
        self.views[(ws.name, service.name)] = ServiceView(state, error, desired, infos)

    def _apply(
        self,
        ws: models.Workspace,
        service: models.Service,
        body: ServiceCreate,
        service_folder: Path,
        restart: list[models.ServiceReplica],
        remove: list[models.ServiceReplica],
        place: list[models.Node],
        memory: Memory,
    ) -> None:
        with self.store.session() as db:
            row = db.get(models.Service, service.id)
            if row is None or row.workspace_id != ws.id:
                return  # deleted meanwhile: its delete stops its replicas
            current = {r.id: r for r in aks.replicas_of(db, ws, row)}
            for replica in remove:
                found = current.pop(replica.id, None)
                if found is None:
                    continue
                memory.served.discard(found.name)
                aks.say(service_folder, f"replica {found.name} leaves node {found.node_id}")
                db.delete(found)
                aks.stop_later(
                    found.pid,
                    found.pid_create_time,
                    aks.replica_folder(service_folder, found.name),
                )
            for replica in restart:
                found = current.get(replica.id)
                folder = aks.replica_folder(service_folder, replica.name)
                if found is None or (folder / aks.STOPPING_MARK).exists():
                    continue  # removed or being stopped meanwhile
                found.host_restarts += 1
                memory.served.discard(found.name)
                aks.say(
                    service_folder,
                    f"the host of replica {found.name} on node {found.node_id} stopped; "
                    f"starting it again (restart {found.host_restarts})",
                )
                aks.start_host(
                    self.settings, ws, found, aks.replica_folder(service_folder, found.name)
                )
            taken = {r.name for r in current.values()}
            for node in place:
                name = aks.next_replica_name(row.name, taken)
                taken.add(name)
                port = _free_port()
                replica = models.ServiceReplica(
                    workspace_id=ws.id, service_id=row.id, name=name, node_id=node.id, port=port
                )
                db.add(replica)
                # Written first: a delete of the service that comes now waits for this
                # transaction, and then finds this replica to stop.
                db.flush()
                folder = aks.replica_folder(service_folder, name)
                deployments.lay_out_replica(self.settings, ws, body, row, folder, port, "app")
                aks.say(service_folder, f"replica {name} placed on node {node.name} (port {port})")
                aks.start_host(self.settings, ws, replica, folder)
