"""The local backend: nodes are node-agent processes and launchers are processes on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psutil
from pydantic import BaseModel

from trainforge import processes
from trainforge.compute import vm_sizes
from trainforge.compute.backend import (
    HostView,
    LaunchRequest,
    NodePlacement,
    NodeRequest,
    ProcessHandle,
)
from trainforge.compute.ports import PortPicker
from trainforge.node.launch import spawn_launcher
from trainforge.node.ray_environ import without_ray
from trainforge.schemas.compute import Resources


class LocalSettings(BaseModel):
    """A local cluster takes no settings of its own (the SDK's are accepted and unused)."""


class LocalBackend:
    name = "local"
    spreads_gangs = False  # every node is on this one host
    settings_model = LocalSettings
    sizes_from_hosts = False

    def __init__(self, settings_of: Callable[[], dict[str, Any] | None] | None = None) -> None:
        # Popen objects of processes this server started, kept so that they get reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._ports = PortPicker("127.0.0.1")

    def _handle(self, child: subprocess.Popen[bytes], node_id: str | None) -> ProcessHandle:
        self._children[child.pid] = child
        return ProcessHandle(
            backend=self.name,
            node_id=node_id,
            pid=child.pid,
            pid_create_time=processes.started(psutil.Process(child.pid)),
        )

    def rendezvous_port(self, node_id: str | None = None) -> int:
        """A free port on this host for a gang's rank 0; every node here shares the host,
        so ports handed out recently are not handed out again."""
        return self._ports.pick()

    def check_new_cluster(
        self, settings: dict[str, Any], others: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Local clusters share nothing but this host: any number of them may be made."""

    def vm_size_from_hosts(self, settings: dict[str, Any]) -> str:
        raise ValueError("vm_size: required (local nodes are not sized from the host)")

    def node_resources(self, vm_size: str) -> Resources:
        """The VM size, capped to this host: all local nodes share it."""
        return vm_sizes.node_resources(vm_size)

    def observe(self, nodes: list[NodePlacement]) -> dict[str, HostView]:
        """No view beyond the node processes: their health is ``is_alive``."""
        return {}

    def release_group(self, group: str) -> None:
        """Nothing is reserved for a group on this host."""

    def provision_node(self, request: NodeRequest) -> ProcessHandle:
        request.node_dir.mkdir(parents=True, exist_ok=True)
        env = without_ray(os.environ)  # the server may be a Ray driver too
        env.update(
            TRAINFORGE_ENDPOINT=request.endpoint,
            TRAINFORGE_AGENT_TOKEN=request.agent_token,
            TRAINFORGE_WORKSPACE=request.workspace_name,
            TRAINFORGE_CLUSTER=request.compute_name,
            TRAINFORGE_NODE_ID=request.node_id,
            TRAINFORGE_NODE_DIR=str(request.node_dir),
            TRAINFORGE_HOME=str(request.home),
            TRAINFORGE_NODE_RESOURCES=request.resources.model_dump_json(),
        )
        with open(request.node_dir / "agent.log", "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "trainforge.node.agent"],
                env=env,
                cwd=request.node_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self._handle(child, request.node_id)

    def release_node(self, handle: ProcessHandle, force: bool = False) -> None:
        if force:
            self.kill(handle)
            return
        process = processes.find(handle.pid, handle.pid_create_time)
        if process is not None:
            process.send_signal(signal.SIGTERM)

    def start_launcher(self, request: LaunchRequest) -> ProcessHandle:
        """A launcher process on this host, for the 'local' target's one node."""
        return self._handle(spawn_launcher(request), None)

    def is_alive(self, handle: ProcessHandle) -> bool:
        child = self._children.get(handle.pid)
        if child is not None and child.poll() is not None:
            del self._children[handle.pid]
            return False
        return processes.find(handle.pid, handle.pid_create_time) is not None

    def terminate(self, handle: ProcessHandle) -> None:
        process = processes.find(handle.pid, handle.pid_create_time)
        if process is not None:
            process.send_signal(signal.SIGTERM)

    def disconnect(self) -> None:
        """Nothing to let go of: local nodes are this machine's processes."""

    def kill(self, handle: ProcessHandle) -> None:
        process = processes.find(handle.pid, handle.pid_create_time)
        if process is not None:
            processes.kill_tree(process)
        self.is_alive(handle)
