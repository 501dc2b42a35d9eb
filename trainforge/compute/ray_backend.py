"""The Ray backend: a cluster's nodes are detached Ray actors, one per Ray node.

A trainforge node on Ray is a detached actor named after the node id. It asks for all the
CPUs (and GPUs) of the cluster's VM size, so two nodes of a cluster never share a Ray
node and a pending node is a resource demand the Ray autoscaler answers by adding a Ray
node of the matching node type. Once placed, the actor starts the ordinary node agent
(``python -m trainforge.node.agent``) on its Ray node with ``TRAINFORGE_NODE_ADDR`` set to
that node's IP, so launchers publish the Ray node's address; from then on the node is
driven by its heartbeats exactly as on the local backend.

Nodes provisioned together for one gang are the bundles of one placement group
(``STRICT_SPREAD`` when there are several), so they are on distinct Ray nodes even when a
Ray node could hold more than one VM size; a pending placement group is the resource
demand the Ray autoscaler answers. Liveness and placement come from Ray: ``observe``
reads the placement groups and Ray's node table, and an actor whose Ray node died raises
``ActorDiedError``, so the scheduler marks the trainforge node lost and requeues or fails
its run with a message naming the Ray node.
A node whose bundle no Ray node can hold (Ray's placement group scheduling state
INFEASIBLE, and bigger than every live Ray node) is reported as infeasible unless an
autoscaler is adding Ray nodes; the scheduler shows it on the cluster and its runs.
Ray's token authentication is used as Ray configures it (``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``); a cluster's ``ray_auth_token_path``
setting points the server at the token file.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from trainforge import processes
from trainforge.compute import ray_auth, vm_sizes
from trainforge.compute.backend import (
    BackendConflict,
    BackendUnavailable,
    HostView,
    Infeasible,
    LaunchRequest,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.compute.ports import PortPicker
from trainforge.compute.ray_settings import RAY, RaySettings
from trainforge.node.ray_environ import without_ray
from trainforge.node.run_user import RUN_USER_VARIABLE
from trainforge.node.work_root import WORK_DIR_VARIABLE
from trainforge.schemas.compute import Resources

log = logging.getLogger("trainforge.ray")
NAMESPACE = "trainforge"
CALL_TIMEOUT_S = 10.0
# After a failed connection, calls fail at once for this long instead of each waiting
# for Ray: the scheduler loop also serves the other clusters.
RECONNECT_AFTER_S = 30.0
CONNECT_TIMEOUT_S = 2.0
AUTOSCALER_STATUS_FRESH_S = 30.0
# How long a placement group stays infeasible before it is reported: Ray's autoscaler
# shows a launch for it within two of its updates (5 s apart by default).
INFEASIBLE_SETTLE_S = 10.0


def actor_name(node_id: str) -> str:
    return f"trainforge-node-{node_id}"


def group_name(group: str) -> str:
    return f"trainforge-group-{group}"


def bundle(resources: Resources) -> dict[str, float]:
    """One node's reservation; Ray refuses zero amounts in a bundle."""
    wanted = {"CPU": float(resources.vcpus), "GPU": float(resources.gpus)}
    return {name: amount for name, amount in wanted.items() if amount > 0}


def host_resources(entry: dict[str, Any]) -> Resources:
    """What one Ray node has in all (an entry of ``ray.nodes()``)."""
    total = entry.get("Resources") or {}
    return Resources(
        vcpus=int(total.get("CPU", 0)),
        memory_gb=round(float(total.get("memory", 0)) / 2**30, 1),
        gpus=int(total.get("GPU", 0)),
    )


def largest_host(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The live Ray node with the most GPUs, then CPUs, then memory."""
    alive = [entry for entry in entries if entry.get("Alive")]
    if not alive:
        return None

    def size(entry: dict[str, Any]) -> tuple[int, int, float]:
        resources = host_resources(entry)
        return resources.gpus, resources.vcpus, resources.memory_gb

    return max(alive, key=size)


def describe_host(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "none (no Ray node is alive)"
    resources = host_resources(entry)
    return (
        f"Ray node {entry.get('NodeID', '?')[:12]} at {entry.get('NodeManagerAddress', '?')} "
        f"with {resources.vcpus} CPUs, {resources.gpus} GPUs and {resources.memory_gb:g} GB"
    )


def _holds(entry: dict[str, Any], wanted: dict[str, float]) -> bool:
    total = entry.get("Resources") or {}
    return all(float(total.get(name, 0)) >= amount for name, amount in wanted.items())


def _autoscaler_adding_nodes(ray: Any) -> bool:
    """Whether Ray's autoscaler is launching Ray nodes now (it may add one that fits).

    Ray has no public API for this: the autoscaler's monitor writes its status to the
    GCS's internal KV (what ``ray status`` prints), fresh each update."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    if not raw:
        return False
    try:
        status = json.loads(raw)
    except ValueError:
        return False
    if time.time() - float(status.get("time", 0)) > AUTOSCALER_STATUS_FRESH_S:
        return False  # no autoscaler runs any more
    report = status.get("autoscaler_report") or {}
    return bool(report.get("pending_launches") or report.get("pending_nodes"))


def _check_reachable(address: str) -> None:
    """Fail fast on an address where nothing listens (ray.init would retry for a minute)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S):
        pass


class NodeHost:
    """The Ray actor that hosts one trainforge node agent on its Ray node."""

    def __init__(self) -> None:
        self.agent: subprocess.Popen[bytes] | None = None
        self._ports = PortPicker("")

    def free_port(self) -> int:
        """A port free on this Ray node, for a gang whose rank 0 runs here."""
        return self._ports.pick()

    def start(self, env: dict[str, str], node_dir: str) -> dict[str, Any]:
        """Start the node agent here; return its pid, start time and this Ray node's address."""
        import ray

        address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        Path(node_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(node_dir) / "agent.log", "ab") as log_file:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "trainforge.node.agent"],
                env={
                    **without_ray(os.environ, in_ray_worker=True),
                    **env,
                    "TRAINFORGE_NODE_ADDR": address,
                },
                cwd=node_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return {
            "pid": self.agent.pid,
            "pid_create_time": processes.started(psutil.Process(self.agent.pid)),
            "address": address,
            "ray_node_id": ray.get_runtime_context().get_node_id(),
        }

    def alive(self) -> bool:
        return self.agent is not None and self.agent.poll() is None

    def leave(self) -> None:
        """Ask the agent to leave: it stops its launchers, then exits."""
        if self.alive():
            assert self.agent is not None
            self.agent.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the agent and everything it started."""
        if self.agent is not None and self.alive():
            processes.kill_tree(psutil.Process(self.agent.pid))
        if self.agent is not None:
            self.agent.poll()


class RayBackend:
    """The backend of clusters whose ``backend`` is 'ray'.

    ``address_of`` returns the Ray address and settings to connect with (read from the
    cluster records); one server connects to one Ray cluster, as a Ray driver can.
    """

    name = RAY
    spreads_gangs = True  # a Ray node may hold several VM sizes: gangs use one group
    settings_model = RaySettings
    sizes_from_hosts = True  # without vm_size, nodes are sized from the largest Ray node

    def __init__(self, address_of: Callable[[], dict[str, Any] | None]) -> None:
        self._address_of = address_of
        self._lock = threading.Lock()
        self._connected = False
        # (first, last, message, address) of the connection failures to one address
        self._failed: tuple[float, float, str, str] | None = None
        self._address: str | None = None
        self._actors: dict[str, Any] = {}
        self._starts: dict[str, Any] = {}
        self._groups: dict[str, Any] = {}
        # Placement groups Ray reports infeasible, and since when (Unix time).
        self._infeasible: dict[str, float] = {}
        self._ports = PortPicker("")

    # -- connection ---------------------------------------------------------------------
    def _ray(self, check_address: bool = False, settings: dict[str, Any] | None = None) -> Any:
        """Ray, connected; ``check_address`` first re-reads the configured address and
        reconnects when it changed (all Ray computes were deleted and a new one names
        another cluster before this server left the old one); ``settings`` names the
        cluster to connect to instead of the configured one (a cluster being attached)."""
        with self._lock:
            if settings is None and (check_address or not self._connected):
                settings = self._address_of()
            if settings is not None and self._connected:
                if settings.get("ray_address") != self._address:
                    self._leave()
            if not self._connected:
                self._connect(settings)
        import ray

        return ray

    def _connect(self, settings: dict[str, Any] | None) -> None:
        now = time.time()
        if not settings or not settings.get("ray_address"):
            raise RuntimeError("no Ray cluster is configured (settings.ray_address)")
        address = str(settings["ray_address"])
        if self._failed is not None and self._failed[3] != address:
            self._failed = None  # another cluster now: the last one's outage is not its own
        if self._failed is not None and now - self._failed[1] < RECONNECT_AFTER_S:
            raise BackendUnavailable(self._failed[2], since=self._failed[0])
        try:
            _check_reachable(address)
            ray_auth.use_cluster_token(settings.get("ray_auth_token_path"))
            import ray

            ray.init(
                address=address,
                namespace=NAMESPACE,
                ignore_reinit_error=True,
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as exc:
            first = self._failed[0] if self._failed is not None else now
            message = f"Cannot reach the Ray cluster at {address} (settings.ray_address): {exc}"
            self._failed = (first, now, message, address)
            log.warning("%s", message)
            raise BackendUnavailable(message, since=first) from exc
        self._failed = None
        self._connected = True
        self._address = address

    def disconnect(self) -> None:
        """Leave the Ray cluster once no cluster uses it (a Ray driver whose cluster goes
        away ends its own process after a while)."""
        with self._lock:
            self._failed = None  # a later cluster may name another address
            self._leave()

    def _leave(self) -> None:
        if not self._connected:
            return
        import ray

        ray.shutdown()
        self._connected = False
        self._address = None
        self._actors.clear()
        self._starts.clear()
        self._groups.clear()
        self._infeasible.clear()

    def _actor(self, node_id: str) -> Any | None:
        ray = self._ray()
        actor = self._actors.get(node_id)
        if actor is None:
            try:
                actor = ray.get_actor(actor_name(node_id), namespace=NAMESPACE)
            except ValueError:
                return None
            self._actors[node_id] = actor
        return actor

    # -- the protocol ---------------------------------------------------------------------
    def node_resources(self, vm_size: str) -> Resources:
        """The whole VM size: a node reserves it on a Ray node of its own."""
        return vm_sizes.vm_resources(vm_size)

    def rendezvous_port(self, node_id: str | None = None) -> int:
        """A port for rank 0's MASTER_PORT, free on rank 0's Ray node (asked of its actor)."""
        actor = self._actor(node_id) if node_id is not None else None
        if actor is not None:
            from ray.exceptions import GetTimeoutError, RayActorError

            try:
                return int(self._ray().get(actor.free_port.remote(), timeout=CALL_TIMEOUT_S))
            except (GetTimeoutError, RayActorError):
                log.warning("node %s could not pick a port; picking one here", node_id)
        return self._ports.pick()

    def _group(self, request: NodeRequest) -> Any:
        """The placement group of the request's gang, made by its first member."""
        ray = self._ray()
        name = group_name(request.group)
        group = self._groups.get(name)
        if group is None:
            try:
                group = ray.util.get_placement_group(name)
            except ValueError:
                group = ray.util.placement_group(
                    [bundle(request.resources)] * request.group_size,
                    strategy="STRICT_SPREAD" if request.group_size > 1 else "PACK",
                    name=name,
                    lifetime="detached",
                )
            self._groups[name] = group
        return group

    def largest_host(self, settings: dict[str, Any]) -> Resources:
        """What the largest live Ray node of the cluster ``settings`` names has (to size
        the nodes of a cluster attached without vm_size); raises BackendUnavailable."""
        entry = largest_host(self._ray(settings=settings).nodes())
        if entry is None:
            raise RuntimeError("the Ray cluster has no live Ray node")
        return host_resources(entry)

    def check_new_cluster(
        self, settings: dict[str, Any], others: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """The server is one Ray driver, so all its Ray-backed clusters share one Ray cluster."""
        if not others:
            return
        name, first = others[0]
        if first.get("ray_address") != settings.get("ray_address"):
            raise BackendConflict(
                f"settings.ray_address: this server already drives the Ray cluster at "
                f"{first.get('ray_address')} (compute {name!r}); one server "
                "drives one Ray cluster: use that address, or delete its Ray-backed computes first"
            )

    def vm_size_from_hosts(self, settings: dict[str, Any]) -> str:
        """The largest catalog size that fits the largest live Ray node."""
        address = settings.get("ray_address")
        try:
            host = self.largest_host(settings)
        except Exception as exc:
            raise ValueError(
                f"vm_size: not given, so the nodes are sized from the Ray nodes of {address}, "
                f"but {exc}; give vm_size"
            ) from exc
        size = vm_sizes.largest_fitting(host)
        if size is None:
            raise ValueError(
                f"vm_size: not given, and no VM size fits in the largest Ray node of {address} "
                f"({host.vcpus} CPUs, {host.gpus} GPUs); give vm_size or add a Ray node with CPUs"
            )
        return size

    def release_group(self, group: str) -> None:
        ray = self._ray()
        name = group_name(group)
        self._infeasible.pop(name, None)
        try:
            found = self._groups.pop(name, None) or ray.util.get_placement_group(name)
        except ValueError:
            return
        ray.util.remove_placement_group(found)

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        """Each node's Ray node from its bundle, and whether Ray still counts it alive."""
        if not nodes:
            return {}  # nothing placed: no reason to reach Ray yet
        ray = self._ray()
        groups = {
            info["name"]: info
            for info in ray.util.placement_group_table().values()
            if info.get("name", "").startswith("trainforge-group-")
        }
        entries = ray.nodes()
        hosts = {entry["NodeID"]: entry for entry in entries}
        infeasible = self._infeasible_groups(ray, groups, entries)
        seen: dict[str, HostView] = {}
        for node in nodes:
            info = groups.get(group_name(node.group)) if node.group else None
            if info is None:
                continue
            host_id = info.get("bundles_to_node_id", {}).get(node.bundle_index) or None
            if host_id is None:
                # Waiting for room (the autoscaler), or its Ray node died and Ray
                # reschedules the bundle: the actor placed there did not survive.
                state = "pending" if info.get("state") == "PENDING" else "dead"
                seen[node.node_id] = HostView(state=state, infeasible=infeasible.get(info["name"]))
                continue
            host = hosts.get(host_id, {})
            seen[node.node_id] = HostView(
                state="alive" if host.get("Alive") else "dead",
                host_id=host_id,
                address=host.get("NodeManagerAddress"),
            )
        return seen

    def _infeasible_groups(
        self, ray: Any, groups: dict[str, dict[str, Any]], entries: list[dict[str, Any]]
    ) -> dict[str, Infeasible]:
        """The pending groups Ray cannot place because a bundle is bigger than any live Ray
        node (not merely because the Ray nodes are busy or too few for STRICT_SPREAD), once
        they have been so for INFEASIBLE_SETTLE_S (an autoscaler answers within that)."""
        live = [entry for entry in entries if entry.get("Alive")]
        candidates = {
            name
            for name, info in groups.items()
            if info.get("state") == "PENDING"
            and (info.get("stats") or {}).get("scheduling_state") == "INFEASIBLE"
            and any(
                not any(_holds(entry, wanted) for entry in live)
                for wanted in (info.get("bundles") or {}).values()
            )
        }
        if candidates and _autoscaler_adding_nodes(ray):
            candidates = set()  # a Ray node on its way may hold them
        for name in set(self._infeasible) - candidates:
            del self._infeasible[name]
        now = time.time()
        found: dict[str, Infeasible] = {}
        for name in candidates:
            since = self._infeasible.setdefault(name, now)
            if now - since >= INFEASIBLE_SETTLE_S:
                found[name] = Infeasible(
                    since=since, largest_host=describe_host(largest_host(entries))
                )
        return found

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        ray = self._ray(check_address=True)
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        resources = request.resources
        placement = PlacementGroupSchedulingStrategy(
            placement_group=self._group(request),
            placement_group_bundle_index=request.bundle_index,
        )
        host = (
            ray.remote(NodeHost)
            .options(
                name=actor_name(request.node_id),
                namespace=NAMESPACE,
                lifetime="detached",
                num_cpus=resources.vcpus,
                num_gpus=resources.gpus,
                max_restarts=0,
                max_concurrency=4,
                scheduling_strategy=placement,
            )
            .remote()
        )
        env = {
            "TRAINFORGE_ENDPOINT": request.endpoint,
            "TRAINFORGE_AGENT_TOKEN": request.agent_token,
            "TRAINFORGE_WORKSPACE": request.workspace_name,
            "TRAINFORGE_CLUSTER": request.compute_name,
            "TRAINFORGE_NODE_ID": request.node_id,
            "TRAINFORGE_NODE_DIR": str(request.node_dir),
            "TRAINFORGE_HOME": str(request.home),
            "TRAINFORGE_NODE_RESOURCES": resources.model_dump_json(),
            # Where runs work and whom they run as, when the server is told (else the node's own).
            **{k: os.environ[k] for k in (WORK_DIR_VARIABLE, RUN_USER_VARIABLE) if k in os.environ},
        }
        self._actors[request.node_id] = host
        self._starts[request.node_id] = host.start.remote(env, str(request.node_dir))
        # The actor may wait for the autoscaler to add a Ray node: the scheduler does not
        # wait for it; the node counts as preparing until its agent's first heartbeat.
        return ProcessHandle(backend=self.name, node_id=request.node_id, pid=0, pid_create_time=0)

    def started(self, node_id: str, timeout: float = 0) -> dict[str, Any] | None:
        """What the node's actor reported once its agent started: pid, address, Ray node id."""
        ray = self._ray()
        ref = self._starts.get(node_id)
        if ref is None:
            return None
        ready, _ = ray.wait([ref], timeout=timeout)
        return ray.get(ref) if ready else None

    def release_node(self, handle: ProcessHandle, force: bool = False) -> None:
        actor = self._node_actor(handle)
        if actor is None:
            return
        ray = self._ray()
        ref = self._starts.get(str(handle.node_id))
        if ref is not None and not ray.wait([ref], timeout=0)[0]:
            # Never placed (still waiting for a Ray node): no agent to ask or stop.
            self._finish(handle, actor, kill_agent=False)
        elif force:
            self._finish(handle, actor, kill_agent=True)
        else:
            ray.get(actor.leave.remote(), timeout=CALL_TIMEOUT_S)

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle:
        """Never asked: a Ray cluster has no node without an agent (each node's agent
        starts its launchers)."""
        raise ValueError("the Ray backend runs launchers on cluster nodes only")

    def is_alive(self, handle: ProcessHandle) -> bool:
        actor = self._node_actor(handle)
        if actor is None:
            return False
        ray = self._ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        ref = self._starts.get(str(handle.node_id))
        try:
            if ref is not None and not ray.wait([ref], timeout=0)[0]:
                return True  # still waiting for a Ray node (the autoscaler may be adding one)
            alive = bool(ray.get(actor.alive.remote(), timeout=CALL_TIMEOUT_S))
        except GetTimeoutError:
            return True
        except RayActorError:
            log.warning("the Ray actor of node %s died (its Ray node is gone)", handle.node_id)
            self._forget(str(handle.node_id))
            return False
        if not alive:
            self._finish(handle, actor, kill_agent=False)
        return alive

    def terminate(self, handle: ProcessHandle) -> None:
        actor = self._node_actor(handle)
        if actor is not None:
            self._ray().get(actor.leave.remote(), timeout=CALL_TIMEOUT_S)

    def kill(self, handle: ProcessHandle) -> None:
        actor = self._node_actor(handle)
        if actor is not None:
            self._finish(handle, actor, kill_agent=True)

    # -- helpers --------------------------------------------------------------------------
    def _node_actor(self, handle: ProcessHandle) -> Any | None:
        if handle.node_id is None:
            raise ValueError("the Ray backend knows cluster nodes only (handle without node_id)")
        return self._actor(handle.node_id)

    def _finish(self, handle: ProcessHandle, actor: Any, kill_agent: bool) -> None:
        """Stop the node's agent (when asked) and free its Ray node for the autoscaler."""
        ray = self._ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        if kill_agent:
            try:
                ray.get(actor.kill.remote(), timeout=CALL_TIMEOUT_S)
            except (RayActorError, GetTimeoutError):
                pass
        ray.kill(actor, no_restart=True)
        self._forget(str(handle.node_id))

    def _forget(self, node_id: str) -> None:
        self._actors.pop(node_id, None)
        self._starts.pop(node_id, None)
