"""The 'local' compute target: each run's launcher is a process on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from trainforge.compute import processes
from trainforge.compute.backend import LaunchHandle, LaunchRequest


def launcher_environment(request: LaunchRequest) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRAINFORGE_ENDPOINT=request.endpoint,
        TRAINFORGE_RUN_TOKEN=request.run_token,
        TRAINFORGE_RUN_ID=request.run_id,
        TRAINFORGE_WORKSPACE=request.workspace_name,
        TRAINFORGE_ATTEMPT=str(request.attempt),
        TRAINFORGE_NODE_DIR=str(request.node_dir),
        TRAINFORGE_HOME=str(request.home),
    )
    return env


class LocalMachineBackend:
    name = "local"

    def __init__(self) -> None:
        # Popen objects of launchers this server started, kept so they get reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start_launcher(self, request: LaunchRequest) -> LaunchHandle:
        request.node_dir.mkdir(parents=True, exist_ok=True)
        with open(request.node_dir / "launcher.log", "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "trainforge.node.launcher"],
                env=launcher_environment(request),
                cwd=request.node_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: the run outlives a restart of the server.
                start_new_session=True,
            )
        self._children[child.pid] = child
        return LaunchHandle(
            backend=self.name,
            pid=child.pid,
            pid_create_time=psutil.Process(child.pid).create_time(),
        )

    def is_alive(self, handle: LaunchHandle) -> bool:
        child = self._children.get(handle.pid)
        if child is not None and child.poll() is not None:
            del self._children[handle.pid]
            return False
        return processes.find(handle.pid, handle.pid_create_time) is not None

    def terminate(self, handle: LaunchHandle) -> None:
        process = processes.find(handle.pid, handle.pid_create_time)
        if process is not None:
            process.send_signal(signal.SIGTERM)

    def kill(self, handle: LaunchHandle) -> None:
        process = processes.find(handle.pid, handle.pid_create_time)
        if process is not None:
            processes.kill_tree(process)
        self.is_alive(handle)
