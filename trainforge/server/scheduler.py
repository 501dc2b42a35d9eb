"""The scheduler and autoscaler loop.

Each pass, in one thread, goes over every compute target the same way: the clusters, and
the 'local' target of each workspace, which is a one-node cluster on the local backend
whose node is this machine (it holds every run at once, and its launchers are started by
the backend, as no node agent runs there). For each target it
- places queued runs: a run gets ``node_count`` idle nodes all at once (FIFO within
  priority) or waits; where a host can
  hold several nodes (Ray), a gang only gets nodes of one placement group, and the
  nodes of a waiting gang are provisioned together as one group;
- scales clusters: grows toward ``max_nodes`` while work waits, lets nodes idle longer
  than ``idle_seconds_before_scaledown`` go (never below ``min_nodes``), marks nodes that
  stop heartbeating, or whose host the backend reports dead, unusable and retries their
  run once elsewhere (after a start of the server every node gets a fresh heartbeat
  window: an outage of the control plane is not a node's fault);
- stops what was canceled and reaps the launchers the backend started itself.
What to do is decided by the pure functions of ``decisions``; this loop gathers their
input and applies their answers. The backend is asked about the nodes (where they live,
whether they are alive) from a read-only snapshot, before the pass's write transaction,
so a slow backend (Ray's state API under load) never holds the store's write lock that
heartbeats and metrics wait on. Database changes happen in short transactions; process
work (spawning, signalling) happens after them, so a slow spawn never holds the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trainforge.compute import registry
from trainforge.compute.backend import (
    BackendUnavailable,
    ComputeBackend,
    HostView,
    Infeasible,
    LaunchRequest,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.node.work_root import nodes_root
from trainforge.schemas.compute import AssignmentState, NodeState
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server import decisions
from trainforge.server.auth import node_token, run_token
from trainforge.server.decisions import QueuedRun
from trainforge.server.services import allocation, run_states
from trainforge.server.services.computes import LIVE_NODE_STATES, new_node_id, nodes_of
from trainforge.server.services.runs import launch_context
from trainforge.server.settings import ServerSettings
from trainforge.server.store import models
from trainforge.server.store.database import Store
from trainforge.server.store.models import utcnow
from trainforge.server.wake_loop import WakeLoop

log = logging.getLogger("trainforge.scheduler")
NODE_START_TIMEOUT_S = 60.0
INFEASIBLE = "NodeSizeInfeasible"
PASS_FAILED = "ClusterPassFailed"
Action = Callable[[], None]
# The SDK's target that is this machine, and the backend its one node is on.
LOCAL_TARGET = "local"
LOCAL_BACKEND = registry.DEFAULT_BACKEND


@dataclass(frozen=True)
class NodeSnapshot:
    """A node as the tick read it, before any pass: what the backend is asked about."""

    placement: NodePlacement
    handle: ProcessHandle | None


@dataclass(frozen=True)
class NodeCheck:
    """What the backend said of one node, asked outside any write transaction."""

    handle: ProcessHandle | None
    alive: bool


@dataclass(frozen=True)
class BackendView:
    """The backend's answers for one target's nodes, taken before the pass's transaction.

    ``began`` is when the tick began, before it read the heartbeats it judges: the
    backend's latency is the server's, never a node's silence."""

    began: float
    hosts: dict[str, HostView]
    checks: dict[str, NodeCheck]
    unavailable: BackendUnavailable | None = None


def without_pass_errors(compute: models.Compute) -> list[Any]:
    return [e for e in compute.provisioning_errors or [] if e.get("code") != PASS_FAILED]


def _handle(
    backend: str, pid: int | None, created: float | None, node_id: str | None = None
) -> ProcessHandle | None:
    if pid is None or created is None:
        return None
    return ProcessHandle(backend=backend, node_id=node_id, pid=pid, pid_create_time=created)


def _in_queue(query: Select[Any], compute: models.Compute) -> Select[Any]:
    """``query`` narrowed to the target's queued runs, in queue order: priority, then age."""
    return query.where(
        models.Run.status == RunStatus.QUEUED.value,
        models.Run.kind == "script",
        models.Run.target == compute.name,
        models.Run.workspace_id == compute.workspace_id,
    ).order_by(models.Run.priority.desc(), models.Run.created)


def _queued_on(db: Session, compute: models.Compute) -> list[models.Run]:
    """The target's queued runs, whole, in queue order."""
    return list(db.scalars(_in_queue(select(models.Run), compute)))


def _queue_of(db: Session, compute: models.Compute) -> list[QueuedRun]:
    """The target's queue as placement sees it. Every pass reads the whole queue, so it
    reads two columns of each run, not the rows and their JSON: a long queue must not
    slow every pass down."""
    need = models.Run.definition["node_count"].as_integer()
    rows = db.execute(_in_queue(select(models.Run.id, need), compute))
    return [QueuedRun(run_id, count or 1) for run_id, count in rows]


@dataclass(frozen=True)
class HostNode:
    """The one node of the 'local' target: this machine. It is always there, holds every
    run at once (so it never leaves idle) and runs no node agent."""

    id: str = LOCAL_TARGET
    state: str = NodeState.IDLE.value
    placement_group: str | None = None
    state_changed: datetime = datetime(2000, 1, 1, tzinfo=UTC)


HOST_NODE = HostNode()
PoolNode = models.Node | HostNode


@dataclass
class Target:
    """A compute target as a pass sees it: a cluster, or (``host``) a workspace's 'local'
    target, whose Compute the store never holds (it is in no list of compute targets), so
    what the pass writes on it is dropped with it."""

    compute: models.Compute
    host: bool = False


def local_target(ws_id: str) -> Target:
    """The 'local' target of a workspace: a one-node cluster on the local backend."""
    return Target(
        models.Compute(
            id=f"{LOCAL_TARGET}.{ws_id}",
            workspace_id=ws_id,
            name=LOCAL_TARGET,
            compute_type=LOCAL_TARGET,
            backend=LOCAL_BACKEND,
            vm_size="",
            vm_priority="dedicated",
            min_nodes=1,
            max_nodes=1,
            idle_seconds_before_scaledown=0,
            provisioning_state="Succeeded",
            provisioning_errors=None,
            node_counter=0,
            target_node_count=1,
        ),
        host=True,
    )


def _cluster(db: Session, compute_id: str) -> Target | None:
    compute = db.get(models.Compute, compute_id)
    return Target(compute) if compute is not None else None


class Scheduler(WakeLoop):
    thread_name = "trainforge-scheduler"

    def __init__(
        self, store: Store, settings: ServerSettings, backends: dict[str, ComputeBackend]
    ) -> None:
        super().__init__(settings.scheduler_interval_s)
        self.store = store
        self.settings = settings
        self.backends = backends
        self.endpoint = ""
        # No node is judged on heartbeats it could not send while this server was down.
        self.started = time.time()

    def start(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.started = time.time()
        self.start_loop()

    def tick(self) -> None:
        """One pass over every target, each in a transaction of its own: a pass that fails
        is rolled back (and shown on its cluster's status) and never holds up the others.
        The 'local' targets go first: their runs start at once, without waiting for the
        clusters' backends."""
        # One read-only snapshot for the whole tick: the targets and every node, which the
        # backends are then asked about with no transaction open (see _ask_backend).
        began = time.time()
        with self.store.reading() as db:
            hosts = self._local_workspaces(db)
            clusters = [(c.id, c.backend) for c in db.scalars(select(models.Compute))]
            backend_of = dict(clusters)
            snapshots: dict[str, list[NodeSnapshot]] = {}
            for n in db.scalars(select(models.Node).order_by(models.Node.created)):
                snapshots.setdefault(n.compute_id, []).append(
                    NodeSnapshot(
                        NodePlacement(
                            node_id=n.id, group=n.placement_group, bundle_index=n.bundle_index or 0
                        ),
                        _handle(backend_of.get(n.compute_id, ""), n.pid, n.pid_create_time, n.id),
                    )
                )
        for ws_id in hosts:
            self._pass(None, LOCAL_BACKEND, lambda db, w=ws_id: local_target(w), began, [])  # type: ignore[misc]
        for compute_id, backend_name in clusters:
            self._pass(
                compute_id,
                backend_name,
                lambda db, c=compute_id: _cluster(db, c),  # type: ignore[misc]
                began,
                snapshots.get(compute_id, []),
            )
        # A Ray driver left connected dies with its Ray cluster: drop unused connections.
        used = {backend_name for _, backend_name in clusters} | (
            {LOCAL_BACKEND} if hosts else set()
        )
        self._act([b.disconnect for name, b in self.backends.items() if name not in used])

    @staticmethod
    def _act(actions: list[Action]) -> None:
        for action in actions:
            try:
                action()
            except Exception:
                log.exception("scheduler action failed")

    @staticmethod
    def _local_workspaces(db: Session) -> list[str]:
        """The workspaces whose 'local' target has work: queued runs, or launchers to watch."""
        queued = select(models.Run.workspace_id).where(
            models.Run.status == RunStatus.QUEUED.value,
            models.Run.kind == "script",
            models.Run.target == LOCAL_TARGET,
        )
        hosted = (
            select(models.Run.workspace_id)
            .join(
                models.Assignment,
                (models.Assignment.workspace_id == models.Run.workspace_id)
                & (models.Assignment.run_id == models.Run.id),
            )
            .where(
                models.Assignment.node_id.is_(None),
                models.Assignment.state.in_(
                    (AssignmentState.ACTIVE.value, AssignmentState.STOPPING.value)
                ),
            )
        )
        return sorted(set(db.scalars(queued.distinct())) | set(db.scalars(hosted.distinct())))

    def _pass(
        self,
        compute_id: str | None,
        backend_name: str,
        load: Callable[[Session], Target | None],
        began: float,
        nodes: list[NodeSnapshot],
    ) -> None:
        backend = self.backends.get(backend_name)
        if backend is None:
            return
        try:
            view = self._ask_backend(backend, began, nodes)
            with self.store.session() as db:
                target = load(db)
                if target is None:
                    return
                actions = self._target_pass(db, target, backend, view)
                compute = target.compute
                if compute.provisioning_errors and any(
                    error.get("code") == PASS_FAILED for error in compute.provisioning_errors
                ):
                    compute.provisioning_errors = without_pass_errors(compute)
        except Exception as exc:
            if compute_id is None:
                log.exception("the scheduler pass of a 'local' target failed")
            else:
                self._pass_failed(compute_id, exc)
            return
        self._act(actions)

    def _pass_failed(self, compute_id: str, exc: Exception) -> None:
        """Show why the cluster's pass failed on its status (``get_status().errors``)."""
        # Store errors carry SQL and parameters: those stay in the server log.
        reason = "the store refused its changes" if isinstance(exc, SQLAlchemyError) else str(exc)
        try:
            with self.store.session() as db:
                compute = db.get(models.Compute, compute_id)
                if compute is None:
                    return
                message = f"The scheduler could not manage cluster {compute.name}: {reason}"
                known = any(
                    error.get("message") == message for error in compute.provisioning_errors or []
                )
                compute.provisioning_errors = [
                    *without_pass_errors(compute),
                    {"code": PASS_FAILED, "message": message},
                ]
        except Exception:
            log.exception("could not record the failed pass of cluster %s", compute_id)
            known = False
        if not known:  # once per new error, not once per pass
            log.error("the scheduler pass of cluster %s failed", compute_id, exc_info=exc)

    @staticmethod
    def _ask_backend(
        backend: ComputeBackend, began: float, nodes: list[NodeSnapshot]
    ) -> BackendView:
        """Where the target's nodes live and whether they are alive, asked with no
        transaction open while the backend answers."""
        try:
            hosts = backend.observe([n.placement for n in nodes])
            checks = {
                n.placement.node_id: NodeCheck(
                    n.handle, n.handle is not None and backend.is_alive(n.handle)
                )
                for n in nodes
            }
        except BackendUnavailable as exc:
            return BackendView(began, {}, {}, unavailable=exc)
        return BackendView(began, hosts, checks)

    def _target_pass(
        self, db: Session, target: Target, backend: ComputeBackend, view: BackendView
    ) -> list[Action]:
        compute = target.compute
        ws = db.get(models.Workspace, compute.workspace_id)
        assert ws is not None
        if view.unavailable is not None:
            self._unavailable(db, compute, view.unavailable)
            return []
        infeasible = self._observe(db, compute, view.hosts)
        self._report_infeasible(db, compute, backend, infeasible)
        actions = self._check_nodes(db, compute, backend, view)
        if target.host:
            actions += self._check_launchers(db, compute, backend)
        nodes = nodes_of(db, compute)
        live: list[PoolNode] = [node for node in nodes if node.state in LIVE_NODE_STATES]
        if compute.provisioning_state == "Deleting":
            for node in nodes:
                if node.state in LIVE_NODE_STATES and node.state != NodeState.RUNNING:
                    allocation.set_node_state(db, node, NodeState.LEAVING)
            if not nodes:
                db.delete(compute)
            return actions
        if target.host:
            live.append(HOST_NODE)
        else:
            surplus = decisions.beyond_max(live, compute.max_nodes, backend.spreads_gangs)
            self._let_go(db, surplus)
            live = [node for node in live if node not in surplus]
            self._deallocate(db, compute, live)
        idle = [node for node in live if node.state == NodeState.IDLE]
        waiting, launches = self._place_gangs(db, ws, target, backend, idle)
        actions += launches
        busy = sum(1 for node in live if node.state == NodeState.RUNNING)
        size = decisions.autoscale_target(busy, waiting, compute.min_nodes, compute.max_nodes)
        if size != compute.target_node_count:
            compute.target_node_count = size
            compute.allocation_changed = utcnow()
        growth = decisions.growth(
            live, waiting, size, compute.min_nodes, compute.max_nodes, backend.spreads_gangs
        )
        self._let_go(db, growth.leaving)
        for group_size in growth.sizes:
            actions += self._provision(db, ws, compute, backend, group_size)
        leaving = decisions.scale_down(
            live,
            size,
            compute.min_nodes,
            compute.max_nodes,
            compute.idle_seconds_before_scaledown,
            backend.spreads_gangs,
            time.time(),
        )
        self._let_go(db, leaving)
        return actions

    @staticmethod
    def _deallocate(db: Session, compute: models.Compute, live: Sequence[PoolNode]) -> None:
        """A resize left more busy nodes than ``max_nodes``: stop the newest runs on them,
        back to the queue (``requeue``) or for good (``terminate``), as the cluster's
        ``node_deallocation_option`` says; ``waitforjobcompletion`` lets them finish. Their
        nodes then leave idle, before any run is placed on them."""
        option = compute.node_deallocation_option
        busy = [n for n in live if isinstance(n, models.Node) and n.state == NodeState.RUNNING]
        excess = len(live) - compute.max_nodes
        if excess <= 0 or option == "waitforjobcompletion" or not busy:
            return
        stopping = set(
            db.scalars(
                select(models.Assignment.node_id).where(
                    models.Assignment.node_id.in_([n.id for n in busy]),
                    models.Assignment.state == AssignmentState.STOPPING.value,
                )
            )
        )
        excess -= len(stopping)
        runs: dict[str, tuple[models.Run, list[models.Node]]] = {}
        for node in busy:
            run = allocation.node_run(db, node)
            if node.id not in stopping and run is not None:
                runs.setdefault(run.id, (run, []))[1].append(node)
        candidates = [
            decisions.BusyRun(run.id, len(nodes), max(n.state_changed for n in nodes))
            for run, nodes in runs.values()
        ]
        said = (
            f"Cluster {compute.name} was resized to {compute.max_nodes} node(s) with "
            f"node_deallocation_option '{option}'"
        )
        for run_id in decisions.to_deallocate(candidates, excess):
            run = runs[run_id][0]
            if option == "requeue":
                allocation.requeue_run(
                    db, run, f"{said}: the run went back to the queue (attempt {run.attempt + 1})"
                )
            else:
                allocation.fail_run(
                    db,
                    run,
                    ErrorDetail(code="NodeDeallocated", message=f"{said}: the run was stopped"),
                )

    @staticmethod
    def _let_go(db: Session, nodes: Sequence[PoolNode]) -> None:
        for node in nodes:
            assert isinstance(node, models.Node), "the 'local' target's node never leaves"
            allocation.set_node_state(db, node, NodeState.LEAVING)

    @staticmethod
    def _observe(
        db: Session, compute: models.Compute, seen: dict[str, HostView]
    ) -> list[Infeasible]:
        """Record where the backend said each node lives; return what it said no host can
        hold."""
        for node in nodes_of(db, compute):
            view = seen.get(node.id)
            if view is None:
                continue
            node.host_state = view.state
            node.host_id = view.host_id or node.host_id
            node.address = node.address or view.address
            if view.state != "pending" and node.placed is None:
                node.placed = utcnow()
        if compute.provisioning_errors and any(
            error.get("code") == "BackendUnavailable" for error in compute.provisioning_errors
        ):
            compute.provisioning_errors = None
        return [view.infeasible for view in seen.values() if view.infeasible is not None]

    def _report_infeasible(
        self,
        db: Session,
        compute: models.Compute,
        backend: ComputeBackend,
        infeasible: list[Infeasible],
    ) -> None:
        """Nodes no host of the backend can hold: say so on the cluster and on its queued
        runs at once; fail those runs once it outlasts the grace."""
        errors = [e for e in compute.provisioning_errors or [] if e.get("code") != INFEASIBLE]
        if not infeasible:
            if len(errors) != len(compute.provisioning_errors or []):
                compute.provisioning_errors = errors or None
            return
        size = backend.node_resources(compute.vm_size)
        message = (
            f"Cluster {compute.name} cannot get nodes: a {compute.vm_size} node needs "
            f"{size.vcpus} CPUs and {size.gpus} GPUs on one {backend.name} node, and "
            f"{backend.name} reports that demand infeasible: its largest node is "
            f"{infeasible[0].largest_host}. Attach the cluster with a vm_size that fits, or "
            f"without vm_size to size its nodes from the {backend.name} nodes"
        )
        reported = [*errors, {"code": INFEASIBLE, "message": message}]
        if compute.provisioning_errors != reported:
            compute.provisioning_errors = reported
        overdue = time.time() - min(i.since for i in infeasible) >= self.settings.backend_grace_s
        for run in _queued_on(db, compute):
            if message not in run.warnings:
                run.warnings = [*run.warnings, message]
            if overdue:
                allocation.fail_run(db, run, ErrorDetail(code=INFEASIBLE, message=message))

    def _unavailable(self, db: Session, compute: models.Compute, exc: BackendUnavailable) -> None:
        """Show the outage on the cluster; runs queued on it fail once it outlasts the grace."""
        if compute.provisioning_state == "Deleting":
            # Nothing can be asked of an unreachable cluster manager: forget its nodes.
            log.warning("deleting %s without reaching its backend: %s", compute.name, exc)
            for node in nodes_of(db, compute):
                db.delete(node)
            db.delete(compute)
            return
        compute.provisioning_errors = [{"code": "BackendUnavailable", "message": str(exc)}]
        if time.time() - exc.since < self.settings.backend_grace_s:
            return
        for run in _queued_on(db, compute):
            allocation.fail_run(
                db,
                run,
                ErrorDetail(
                    code="ComputeUnavailable",
                    message=f"Cluster {compute.name} could not place the run: {exc}",
                ),
            )

    def _check_nodes(
        self, db: Session, compute: models.Compute, backend: ComputeBackend, view: BackendView
    ) -> list[Action]:
        """Nodes that died or went silent become unusable; nodes that are gone leave the table."""
        actions: list[Action] = []
        now = view.began
        gone_groups: set[str] = set()
        for node in nodes_of(db, compute):
            handle = _handle(compute.backend, node.pid, node.pid_create_time, node.id)
            check = view.checks.get(node.id)
            if check is None or check.handle != handle:
                continue  # new, or given its process since the backend was asked: next pass
            alive = check.alive
            if node.state in LIVE_NODE_STATES:
                where = f"Node {node.name} of cluster {compute.name}"
                if node.host_id:
                    where += f" on {backend.name} node {node.host_id} ({node.address})"
                health = decisions.NodeHealth(
                    where=where,
                    host_state=node.host_state,
                    has_process=handle is not None,
                    alive=alive,
                    heard=(node.last_heartbeat or node.placed or node.created).timestamp(),
                    has_beaten=node.last_heartbeat is not None,
                )
                reason = decisions.judge_node(
                    health,
                    backend.name,
                    now,
                    self.started,
                    self.settings.heartbeat_timeout_s,
                    NODE_START_TIMEOUT_S,
                )
                if reason is not None:
                    log.warning("%s: marking it unusable", reason)
                    allocation.lose_node(db, node, NodeState.UNUSABLE, reason)
            step = decisions.departure(node.state, alive)
            if step == "forget":
                db.delete(node)
                if node.placement_group:
                    gone_groups.add(node.placement_group)
            elif step is not None:
                force = step == "force"
                actions.append(lambda h=handle, f=force: backend.release_node(h, force=f))  # type: ignore[misc]
        db.flush()
        # A group's reservation goes back once none of its nodes is left, on any cluster.
        for group in gone_groups:
            if (
                db.scalar(select(models.Node.id).where(models.Node.placement_group == group))
                is None
            ):
                actions.append(lambda g=group: backend.release_group(g))  # type: ignore[misc]
        return actions

    def _check_launchers(
        self, db: Session, compute: models.Compute, backend: ComputeBackend
    ) -> list[Action]:
        """The launchers the backend started on its host, which no node agent watches: end
        the assignments of those gone; SIGTERM those asked to stop, and kill their trees
        once the grace period is over."""
        open_ones = db.scalars(
            select(models.Assignment)
            .join(
                models.Run,
                (models.Run.workspace_id == models.Assignment.workspace_id)
                & (models.Run.id == models.Assignment.run_id),
            )
            .where(
                models.Assignment.node_id.is_(None),
                models.Assignment.state.in_(
                    (AssignmentState.ACTIVE.value, AssignmentState.STOPPING.value)
                ),
                models.Run.workspace_id == compute.workspace_id,
                models.Run.target == compute.name,
            )
        ).all()
        actions: list[Action] = []
        now = time.time()
        for assignment in open_ones:
            handle = _handle(assignment.backend, assignment.pid, assignment.pid_create_time)
            verdict = decisions.judge_launcher(
                stopping=assignment.state == AssignmentState.STOPPING,
                has_process=handle is not None,
                alive=handle is not None and backend.is_alive(handle),
                age_s=now - assignment.created.timestamp(),
                stop_age_s=now - (assignment.stop_requested or 0),
                stop_grace_s=self.settings.stop_grace_s,
            )
            if verdict == "ended":
                allocation.process_ended(db, assignment, None)
            elif verdict == "terminate":
                actions.append(lambda h=handle: backend.terminate(h))  # type: ignore[misc]
            elif verdict == "kill":
                actions.append(lambda h=handle: backend.kill(h))  # type: ignore[misc]
        return actions

    def _place_gangs(
        self,
        db: Session,
        ws: models.Workspace,
        target: Target,
        backend: ComputeBackend,
        idle: list[PoolNode],
    ) -> tuple[list[QueuedRun], list[Action]]:
        """Give queued runs their nodes all at once, FIFO within priority; return those
        still waiting, and the launchers to start on the backend's host."""
        compute = target.compute
        queued = _queue_of(db, compute)
        plan = decisions.place_gangs(
            queued, idle, compute.max_nodes, backend.spreads_gangs, shared=target.host
        )

        def still_queued(run_id: str) -> models.Run | None:
            # Canceled since the queue was read (a store that reads committed rows).
            run = db.get(models.Run, (compute.workspace_id, run_id))
            return run if run is not None and run.status == RunStatus.QUEUED.value else None

        for too_big in plan.too_big:
            if (refused := still_queued(too_big.id)) is None:
                continue
            allocation.fail_run(
                db,
                refused,
                ErrorDetail(
                    code="ComputeTargetTooSmall",
                    message=f"The run needs {too_big.need} nodes but cluster {compute.name} now has max_nodes={compute.max_nodes}",
                ),
            )
        launches: list[Action] = []
        for placed, gang in plan.placed:
            if (run := still_queued(placed.id)) is None:
                continue
            run_states.transition(run, RunStatus.PREPARING)
            if target.host:
                launches.append(self._host_launch(db, ws, compute, backend, run))
                continue
            port = backend.rendezvous_port(gang[0].id)
            for rank, node in enumerate(gang):
                assert isinstance(node, models.Node)
                db.add(
                    models.Assignment(
                        workspace_id=run.workspace_id,
                        run_id=run.id,
                        attempt=run.attempt,
                        backend=compute.backend,
                        node_id=node.id,
                        node_rank=rank,
                        node_count=placed.need,
                        master_port=port,
                        state=AssignmentState.PENDING.value,
                    )
                )
                node.run_id = run.id
                allocation.set_node_state(db, node, NodeState.RUNNING)
        db.flush()
        return plan.waiting, launches

    def _host_launch(
        self,
        db: Session,
        ws: models.Workspace,
        compute: models.Compute,
        backend: ComputeBackend,
        run: models.Run,
    ) -> Action:
        """An assignment on the backend's own host, and the action that starts its launcher
        (no node agent is there to take it)."""
        assignment = models.Assignment(
            workspace_id=run.workspace_id,
            run_id=run.id,
            attempt=run.attempt,
            backend=compute.backend,
            state=AssignmentState.ACTIVE.value,
            master_port=backend.rendezvous_port(),
        )
        db.add(assignment)
        db.flush()
        request = LaunchRequest(
            run_id=run.id,
            workspace_name=ws.name,
            attempt=run.attempt,
            assignment_id=assignment.id,
            endpoint=self.endpoint,
            run_token=run_token(self.settings.signing_key, ws.name, run.id),
            master_port=assignment.master_port,
            home=self.settings.home,
            node_dir=nodes_root(self.settings.home, ws.name)
            / compute.name
            / f"{run.id}.{run.attempt}",
            context=launch_context(db, ws, run),
        )
        assignment_id = assignment.id
        return lambda: self._start_launcher(backend, assignment_id, request)

    def _start_launcher(
        self, backend: ComputeBackend, assignment_id: int, request: LaunchRequest
    ) -> None:
        try:
            handle = backend.start_launcher(request)
        except Exception as exc:
            log.exception("could not start the launcher of %s", request.run_id)
            with self.store.session() as db:
                assignment = db.get(models.Assignment, assignment_id)
                run = (
                    db.get(models.Run, (assignment.workspace_id, assignment.run_id))
                    if assignment is not None
                    else None
                )
                if assignment is not None and run is not None:
                    allocation.end_assignment(db, assignment)
                    allocation.fail_run(
                        db,
                        run,
                        ErrorDetail(
                            code="ServiceError",
                            message=f"Could not start the run's launcher: {exc}",
                        ),
                    )
            return
        with self.store.session() as db:
            assignment = db.get(models.Assignment, assignment_id)
            if assignment is not None:
                assignment.pid = handle.pid
                assignment.pid_create_time = handle.pid_create_time

    def _provision(
        self,
        db: Session,
        ws: models.Workspace,
        compute: models.Compute,
        backend: ComputeBackend,
        size: int = 1,
    ) -> list[Action]:
        """Add ``size`` nodes as one placement group (named after its first node)."""
        resources = backend.node_resources(compute.vm_size)
        # Ray names groups and actors once for its whole cluster: both take server-wide ids.
        group = new_node_id(compute, f"{compute.name}-n{compute.node_counter + 1:03d}")
        actions: list[Action] = []
        for index in range(size):
            compute.node_counter += 1
            name = f"{compute.name}-n{compute.node_counter:03d}"
            node_id = new_node_id(compute, name)
            db.add(
                models.Node(
                    id=node_id,
                    name=name,
                    compute_id=compute.id,
                    state=NodeState.PREPARING.value,
                    resources=resources.model_dump(),
                    placement_group=group,
                    bundle_index=index,
                )
            )
            request = NodeRequest(
                workspace_name=ws.name,
                compute_name=compute.name,
                node_id=node_id,
                endpoint=self.endpoint,
                agent_token=node_token(self.settings.signing_key, ws.name, compute.name, node_id),
                home=self.settings.home,
                node_dir=nodes_root(self.settings.home, ws.name) / compute.name / name,
                resources=resources,
                group=group,
                group_size=size,
                bundle_index=index,
            )
            actions.append(self._spawner(backend, request, name))
        db.flush()
        return actions

    def _spawner(self, backend: ComputeBackend, request: NodeRequest, name: str) -> Action:
        node_id = request.node_id

        def spawn() -> None:
            try:
                handle = backend.provision_node(request)
            except Exception as exc:
                log.exception("could not provision node %s", node_id)
                with self.store.session() as db2:
                    node = db2.get(models.Node, node_id)
                    if node is not None:
                        allocation.lose_node(
                            db2, node, NodeState.UNUSABLE, f"Node {name} could not start: {exc}"
                        )
                return
            with self.store.session() as db2:
                node = db2.get(models.Node, node_id)
                if node is not None:
                    node.pid, node.pid_create_time = handle.pid, handle.pid_create_time

        return spawn
