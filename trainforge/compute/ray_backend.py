"""The Ray backend: a cluster's nodes are detached Ray actors, one per Ray node.

A trainforge node on Ray is a detached actor named after the node id. It asks for all the
CPUs (and GPUs) of the cluster's VM size, so two nodes of a cluster never share a Ray
node and a pending node is a resource demand the Ray autoscaler answers by adding a Ray
node of the matching node type. Once placed, the actor starts the ordinary node agent
(``python -m trainforge.node.agent``) on its Ray node with ``TRAINFORGE_NODE_ADDR`` set to
that node's IP, so launchers publish the Ray node's address; from then on the node is
driven by its heartbeats exactly as on the local backend.

Liveness comes from Ray: an actor whose Ray node died raises ``ActorDiedError``, so the
scheduler marks the trainforge node lost and requeues or fails its run.
Ray's token authentication is used as Ray configures it (``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``); a cluster's ``ray_auth_token_path``
setting points the server at the token file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from trainforge.compute import ray_auth
from trainforge.compute.backend import NodeRequest, ProcessHandle
from trainforge.compute.ports import PortPicker
from trainforge.node import processes
from trainforge.node.launch import LaunchRequest

log = logging.getLogger("trainforge.ray")
NAMESPACE = "trainforge"
CALL_TIMEOUT_S = 10.0


def actor_name(node_id: str) -> str:
    return f"trainforge-node-{node_id}"


class NodeHost:
    """The Ray actor that hosts one trainforge node agent on its Ray node."""

    def __init__(self) -> None:
        self.agent: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], node_dir: str) -> dict[str, Any]:
        """Start the node agent here; return its pid, start time and this Ray node's address."""
        import ray

        address = ray.util.get_node_ip_address()
        Path(node_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(node_dir) / "agent.log", "ab") as log_file:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "trainforge.node.agent"],
                env={**os.environ, **env, "TRAINFORGE_NODE_ADDR": address},
                cwd=node_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return {
            "pid": self.agent.pid,
            "pid_create_time": psutil.Process(self.agent.pid).create_time(),
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

    name = "ray"

    def __init__(self, address_of: Callable[[], dict[str, Any] | None]) -> None:
        self._address_of = address_of
        self._lock = threading.Lock()
        self._connected = False
        self._actors: dict[str, Any] = {}
        self._starts: dict[str, Any] = {}
        self._ports = PortPicker("")

    # -- connection ---------------------------------------------------------------------
    def _ray(self) -> Any:
        with self._lock:
            if not self._connected:
                settings = self._address_of()
                if not settings or not settings.get("ray_address"):
                    raise RuntimeError("no Ray cluster is configured (settings.ray_address)")
                ray_auth.use_cluster_token(settings.get("ray_auth_token_path"))
                import ray

                ray.init(
                    address=str(settings["ray_address"]),
                    namespace=NAMESPACE,
                    ignore_reinit_error=True,
                    log_to_driver=False,
                    configure_logging=False,
                )
                self._connected = True
        import ray

        return ray

    def disconnect(self) -> None:
        """Leave the Ray cluster once no cluster uses it (a Ray driver whose cluster goes
        away ends its own process after a while)."""
        with self._lock:
            if not self._connected:
                return
            import ray

            ray.shutdown()
            self._connected = False
            self._actors.clear()
            self._starts.clear()

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
    def rendezvous_port(self) -> int:
        """A port for rank 0's MASTER_PORT, free here and not handed out recently."""
        return self._ports.pick()

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        ray = self._ray()
        resources = request.resources
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
        if force:
            self._finish(handle, actor, kill_agent=True)
        else:
            ray.get(actor.leave.remote(), timeout=CALL_TIMEOUT_S)

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle | None:
        if request.node_id is None:
            raise ValueError("the Ray backend runs launchers on cluster nodes only")
        return None  # the node's agent picks the assignment up with its next heartbeat

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
