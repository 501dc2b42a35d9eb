"""The scheduler and autoscaler loop.

Each pass, in one thread:
- places queued runs: the 'local' target starts a launcher at once; a cluster run gets
  ``node_count`` idle nodes all at once (FIFO within priority) or waits; where a host can
  hold several nodes (Ray), a gang only gets nodes of one placement group, and the
  nodes of a waiting gang are provisioned together as one group;
- scales clusters: grows toward ``max_nodes`` while work waits, lets nodes idle longer
  than ``idle_seconds_before_scaledown`` go (never below ``min_nodes``), marks nodes that
  stop heartbeating, or whose host the backend reports dead, unusable and retries their
  run once elsewhere (after a start of the server every node gets a fresh heartbeat
  window: an outage of the control plane is not a node's fault);
- stops what was canceled and reaps launchers that ended.
Database changes happen in short transactions; process work (spawning, signalling)
happens after them, so a slow spawn never holds the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trainforge.compute.backend import (
    BackendUnavailable,
    ComputeBackend,
    Infeasible,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.node.launch import LaunchRequest
from trainforge.node.work_root import nodes_root
from trainforge.schemas.compute import AssignmentState, NodeState
from trainforge.schemas.runs import ErrorDetail, RunStatus
from trainforge.server.auth import node_token, run_token
from trainforge.server.placement import idle_units, pick_gang
from trainforge.server.services import allocation, run_states
from trainforge.server.services.computes import LIVE_NODE_STATES, new_node_id, nodes_of
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


def without_pass_errors(compute: models.Compute) -> list[Any]:
    return [e for e in compute.provisioning_errors or [] if e.get("code") != PASS_FAILED]


def _handle(
    backend: str, pid: int | None, created: float | None, node_id: str | None = None
) -> ProcessHandle | None:
    if pid is None or created is None:
        return None
    return ProcessHandle(backend=backend, node_id=node_id, pid=pid, pid_create_time=created)


def _queued_on(db: Session, compute: models.Compute) -> list[models.Run]:
    return list(
        db.scalars(
            select(models.Run).where(
                models.Run.status == RunStatus.QUEUED.value,
                models.Run.target == compute.name,
                models.Run.workspace_id == compute.workspace_id,
            )
        )
    )


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
        self._step(self._place_local)
        self._clusters()
        self._step(self._stop_local)
        self._step(self._reap_local)

    def _step(self, step: Callable[[Session], list[Action]]) -> None:
        with self.store.session() as db:
            actions = step(db)
        self._act(actions)

    @staticmethod
    def _act(actions: list[Action]) -> None:
        for action in actions:
            try:
                action()
            except Exception:
                log.exception("scheduler action failed")

    # -- the 'local' target -------------------------------------------------------------
    def _place_local(self, db: Session) -> list[Action]:
        queued = db.scalars(
            select(models.Run)
            .where(
                models.Run.status == RunStatus.QUEUED.value,
                models.Run.kind == "script",
                models.Run.target == "local",
            )
            .order_by(models.Run.priority.desc(), models.Run.created)
        ).all()
        actions: list[Action] = []
        for run in queued:
            ws = db.get(models.Workspace, run.workspace_id)
            assert ws is not None
            run_states.transition(run, RunStatus.PREPARING)
            assignment = models.Assignment(
                run_id=run.id,
                attempt=run.attempt,
                backend="local",
                state=AssignmentState.ACTIVE.value,
                master_port=self.backends["local"].rendezvous_port(),
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
                / "local"
                / f"{run.id}.{run.attempt}",
            )
            actions.append(partial(self._launch_local, assignment.id, request))
        return actions

    def _launch_local(self, assignment_id: int, request: LaunchRequest) -> None:
        try:
            handle = self.backends["local"].start_launcher(request)
            assert handle is not None
        except Exception as exc:
            log.exception("could not start the launcher of %s", request.run_id)
            with self.store.session() as db:
                assignment = db.get(models.Assignment, assignment_id)
                run = db.get(models.Run, request.run_id)
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

    def _stop_local(self, db: Session) -> list[Action]:
        """SIGTERM launchers asked to stop; kill their trees once the grace period is over."""
        stopping = db.scalars(
            select(models.Assignment).where(
                models.Assignment.state == AssignmentState.STOPPING.value,
                models.Assignment.node_id.is_(None),
            )
        )
        actions: list[Action] = []
        backend = self.backends["local"]
        for assignment in stopping:
            handle = _handle(assignment.backend, assignment.pid, assignment.pid_create_time)
            if handle is None:
                continue
            overdue = time.time() - (assignment.stop_requested or 0) > self.settings.stop_grace_s
            actions.append(partial(backend.kill if overdue else backend.terminate, handle))
        return actions

    def _reap_local(self, db: Session) -> list[Action]:
        """End assignments whose launcher process is gone."""
        live = db.scalars(
            select(models.Assignment).where(
                models.Assignment.state.in_(
                    (AssignmentState.ACTIVE.value, AssignmentState.STOPPING.value)
                ),
                models.Assignment.node_id.is_(None),
            )
        ).all()
        backend = self.backends["local"]
        for assignment in live:
            handle = _handle(assignment.backend, assignment.pid, assignment.pid_create_time)
            if handle is None:
                # Placed but never got a pid: the server died between the two steps.
                if time.time() - assignment.created.timestamp() < 30:
                    continue
            elif backend.is_alive(handle):
                continue
            allocation.process_ended(db, assignment, None)
        return []

    # -- clusters -----------------------------------------------------------------------
    def _clusters(self) -> None:
        """Each cluster's pass in a transaction of its own: a pass that fails is rolled back
        and shown on its cluster's status, and never holds up the other clusters."""
        with self.store.session() as db:
            clusters = [(c.id, c.backend) for c in db.scalars(select(models.Compute))]
        for compute_id, backend_name in clusters:
            backend = self.backends.get(backend_name)
            if backend is None:
                continue
            try:
                with self.store.session() as db:
                    compute = db.get(models.Compute, compute_id)
                    if compute is None:
                        continue
                    actions = self._cluster_pass(db, compute, backend)
                    if compute.provisioning_errors and any(
                        error.get("code") == PASS_FAILED for error in compute.provisioning_errors
                    ):
                        compute.provisioning_errors = without_pass_errors(compute)
            except Exception as exc:
                self._pass_failed(compute_id, exc)
                continue
            self._act(actions)
        # A Ray driver left connected dies with its Ray cluster: drop unused connections.
        used = {backend_name for _, backend_name in clusters}
        self._act([b.disconnect for name, b in self.backends.items() if name not in used])

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

    def _cluster_pass(
        self, db: Session, compute: models.Compute, backend: ComputeBackend
    ) -> list[Action]:
        ws = db.get(models.Workspace, compute.workspace_id)
        assert ws is not None
        try:
            infeasible = self._observe(db, compute, backend)
        except BackendUnavailable as exc:
            self._unavailable(db, compute, exc)
            return []
        self._report_infeasible(db, compute, backend, infeasible)
        actions = self._check_nodes(db, compute, backend)
        nodes = nodes_of(db, compute)
        live = [node for node in nodes if node.state in LIVE_NODE_STATES]
        if compute.provisioning_state == "Deleting":
            for node in live:
                if node.state != NodeState.RUNNING:
                    allocation.set_node_state(db, node, NodeState.LEAVING)
            if not nodes:
                db.delete(compute)
            return actions
        idle = [node for node in live if node.state == NodeState.IDLE]
        queued = self._place_gangs(db, compute, backend, idle)
        busy = sum(1 for node in live if node.state == NodeState.RUNNING)
        wanted = busy + sum(run.definition["node_count"] for run in queued if run.definition)
        target = min(compute.max_nodes, max(compute.min_nodes, wanted))
        if target != compute.target_node_count:
            compute.target_node_count = target
            compute.allocation_changed = utcnow()
        if backend.spreads_gangs:
            sizes = self._groups_to_provision(db, compute, live, queued)
        else:
            sizes = [1] * (target - len(live))
        for size in sizes:
            actions += self._provision(db, ws, compute, backend, size)
        self._scale_down(db, compute, backend, live, target)
        return actions

    def _observe(
        self, db: Session, compute: models.Compute, backend: ComputeBackend
    ) -> list[Infeasible]:
        """Record where the backend says each node lives; return what it says no host can
        hold; raises BackendUnavailable."""
        nodes = nodes_of(db, compute)
        seen = backend.observe(
            [
                NodePlacement(
                    node_id=n.id, group=n.placement_group, bundle_index=n.bundle_index or 0
                )
                for n in nodes
            ]
        )
        for node in nodes:
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
        self, db: Session, compute: models.Compute, backend: ComputeBackend
    ) -> list[Action]:
        """Nodes that died or went silent become unusable; nodes that are gone leave the table."""
        actions: list[Action] = []
        now = time.time()
        gone_groups: set[str] = set()
        nodes = nodes_of(db, compute)
        for node in nodes:
            handle = _handle(compute.backend, node.pid, node.pid_create_time, node.id)
            alive = handle is not None and backend.is_alive(handle)
            if node.state in LIVE_NODE_STATES:
                heard = max(
                    (node.last_heartbeat or node.placed or node.created).timestamp(),
                    self.started,  # a fresh window for every node after a (re)start
                )
                limit = (
                    self.settings.heartbeat_timeout_s
                    if node.last_heartbeat
                    else NODE_START_TIMEOUT_S
                )
                where = f"Node {node.name} of cluster {compute.name}"
                if node.host_id:
                    where += f" on {backend.name} node {node.host_id} ({node.address})"
                if node.host_state == "dead":
                    reason = f"{where} was lost: the {backend.name} backend reports its host dead"
                elif handle is not None and not alive:
                    reason = f"{where} went away (its agent exited)"
                elif node.host_state == "pending":
                    continue  # waiting for a host: the autoscaler may be adding one
                elif now - heard > limit:
                    reason = f"{where} missed its heartbeats for {now - heard:.0f} s"
                else:
                    continue
                log.warning("%s: marking it unusable", reason)
                allocation.lose_node(db, node, NodeState.UNUSABLE, reason)
            if node.state in (NodeState.UNUSABLE, NodeState.PREEMPTED, NodeState.LEAVING):
                if alive:
                    force = node.state != NodeState.LEAVING
                    actions.append(lambda h=handle, f=force: backend.release_node(h, force=f))  # type: ignore[misc]
                else:
                    db.delete(node)
                    if node.placement_group:
                        gone_groups.add(node.placement_group)
        db.flush()
        # A group's reservation goes back once none of its nodes is left, on any cluster.
        for group in gone_groups:
            if (
                db.scalar(select(models.Node.id).where(models.Node.placement_group == group))
                is None
            ):
                actions.append(lambda g=group: backend.release_group(g))  # type: ignore[misc]
        return actions

    def _place_gangs(
        self, db: Session, compute: models.Compute, backend: ComputeBackend, idle: list[models.Node]
    ) -> list[models.Run]:
        """Give queued runs their nodes all at once, FIFO within priority; return those still waiting."""
        queued = db.scalars(
            select(models.Run)
            .where(
                models.Run.status == RunStatus.QUEUED.value,
                models.Run.target == compute.name,
                models.Run.workspace_id == compute.workspace_id,
            )
            .order_by(models.Run.priority.desc(), models.Run.created)
        ).all()
        waiting: list[models.Run] = []
        for run in queued:
            need = run.definition["node_count"] if run.definition else 1
            if need > compute.max_nodes:
                allocation.fail_run(
                    db,
                    run,
                    ErrorDetail(
                        code="ComputeTargetTooSmall",
                        message=f"The run needs {need} nodes but cluster {compute.name} now has max_nodes={compute.max_nodes}",
                    ),
                )
                continue
            gang = None if waiting else pick_gang(idle, need, backend.spreads_gangs)
            if gang is None:
                waiting.append(run)  # strict FIFO: nobody overtakes a waiting gang
                continue
            idle = [node for node in idle if node not in gang]
            run_states.transition(run, RunStatus.PREPARING)
            port = backend.rendezvous_port(gang[0].id)
            for rank, node in enumerate(gang):
                db.add(
                    models.Assignment(
                        run_id=run.id,
                        attempt=run.attempt,
                        backend=compute.backend,
                        node_id=node.id,
                        node_rank=rank,
                        node_count=need,
                        master_port=port,
                        state=AssignmentState.PENDING.value,
                    )
                )
                node.run_id = run.id
                allocation.set_node_state(db, node, NodeState.RUNNING)
        db.flush()
        return waiting

    def _groups_to_provision(
        self,
        db: Session,
        compute: models.Compute,
        live: list[models.Node],
        waiting: list[models.Run],
    ) -> list[int]:
        """The sizes of the node groups to add so that each waiting run, in order, finds a
        group it fits in, then one group up to ``min_nodes``. A gang that ``max_nodes``
        blocks gets room from idle groups no waiting run can use, once letting them go
        frees enough for it (all at once: going one by one would let ``min_nodes`` refill
        the room with nodes the gang cannot use either)."""
        free = [node for node in live if node.state in (NodeState.IDLE, NodeState.PREPARING)]
        room = compute.max_nodes - len(live)
        sizes: list[int] = []
        for run in waiting:
            need = run.definition["node_count"] if run.definition else 1
            served = pick_gang(free, need, spread=True)
            if served is not None:
                free = [node for node in free if node not in served]
                continue
            if need > room:
                spare = [u for u in idle_units(live, spread=True) if all(n in free for n in u)]
                if room + sum(len(unit) for unit in spare) >= need:
                    for unit in spare:
                        if room >= need:
                            break
                        for node in unit:
                            allocation.set_node_state(db, node, NodeState.LEAVING)
                        room += len(unit)
                return sizes  # the blocked gang comes first: no min_nodes refill meanwhile
            sizes.append(need)
            room -= need
        missing = compute.min_nodes - len(live) - sum(sizes)
        return [*sizes, missing] if missing > 0 else sizes

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

    def _scale_down(
        self,
        db: Session,
        compute: models.Compute,
        backend: ComputeBackend,
        live: list[models.Node],
        target: int,
    ) -> None:
        """Let idle nodes go: those idle too long while above min_nodes, and any beyond
        max_nodes; a placement group goes whole, once all its nodes are idle (its hosts
        stay reserved until then anyway)."""
        now = time.time()
        count = len(live)
        units = idle_units(live, backend.spreads_gangs)
        for unit in sorted(units, key=lambda u: max(n.state_changed for n in u)):
            idle_for = now - max(n.state_changed for n in unit).timestamp()
            over_max = count > compute.max_nodes
            timed_out = idle_for >= compute.idle_seconds_before_scaledown and count - len(
                unit
            ) >= max(compute.min_nodes, target)
            if over_max or timed_out:
                for node in unit:
                    allocation.set_node_state(db, node, NodeState.LEAVING)
                count -= len(unit)
